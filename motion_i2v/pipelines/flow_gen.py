"""Stage 1: predict a motion field from one image, text, and optional trajectories and brush.

The official ``FlowGenPipeline`` with the demo's defaults (OFFICIAL.md 1-2, 9):

1. The reference image, in [0, 1] (not [-1, 1]), is encoded by the SD1.5 VAE, sampled, x 0.18215,
   and repeated over the frames: ``image_latent`` (``encode_reference``; ComfyUI nodes use the core VAE).
2. Optional trajectory hint: the sparse flow of frames 1..F-1 in the official encoding
   ``(flow01 - 0.5) * mask + 0.5`` is encoded by the flow VAE (sampled, NOT scaled), and the mask
   nearest-downsampled to latent size (the top-left pixel of each 8x8 cell): 5 control channels.
3. DDIM (25 steps, eta 0) from Gaussian noise over F-1 frames of 4-channel flow latents; each step the
   UNet sees ``[image_latent, x]`` (8 channels), per-frame strides 8, 16, ..., 8 (F-1), the ControlNet
   residuals, and classifier-free guidance (7) acts on the text only.
4. The flow VAE decodes ``x / 0.18215`` frame by frame; ``flow = clamp(2 dec - 1, -1, 1) * [W, H]``,
   zeroed outside the motion brush; a zero frame 0 is prepended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from einops import rearrange, repeat

from ..checks import check_number
from ..flow import from_normalized, to_normalized
from ..models import ControlResiduals, TrajectoryControlNet, UNet3D
from ..sampling import SAMPLERS, Callback, check_steps, sample
from ..tracks.brush import static_region
from ..tracks.hint import sparse_hint
from ..tracks.value import Tracks
from ..weights.loader import load_models

LATENT_SCALE = 0.18215  # SD's latent scale, used for the image and the flow latents alike
FRAME_STRIDE = 8  # source-video frames between generated frames, as the model was trained
DEFAULT_FRAMES, DEFAULT_STEPS, DEFAULT_GUIDANCE = 16, 25, 7.0
TRAINED_SIZE = (320, 512)  # (H, W) of the released weights' final training stage
VAE_CHUNK = 4  # frames per flow-VAE call: bounds memory at full size; results do not depend on it
MAX_GUIDANCE = 30.0  # classifier-free guidance scales accepted by both stages (the official demo uses 7)
MAX_FLOW_UNIT = 1024  # pixels: the largest half-side of a track's hint square
# The demo's hard-coded negative prompt (app.py), for callers that want the official setting.
NEGATIVE_PROMPT = (
    "(blur, haze, deformed iris, deformed pupils, semi-realistic, cgi, 3d, render, sketch, cartoon, drawing, "
    "anime, mutated hands and fingers:1.4), (deformed, distorted, disfigured:1.3), poorly drawn, bad anatomy, "
    "wrong anatomy, extra limb, missing limb, floating limbs, disconnected limbs, mutation, mutated, ugly, "
    "disgusting, amputation"
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowModel:
    """The stage-1 networks: flow UNet, 2-channel flow VAE, optional trajectory ControlNet."""

    unet: UNet3D
    flow_vae: AutoencoderKL
    controlnet: TrajectoryControlNet | None = None


@dataclass(frozen=True)
class TrajectoryHint:
    """A sparse motion hint for the ControlNet.

    ``flow``: [F, 2, H, W] float32 pixels incl. frame 0 (``tracks.hint.sparse_hint``); ``mask``: [F, H, W]
    1 = hinted; ``strength``: the ControlNet conditioning scale (official 1.0); ``brush``: optional
    [H, W] motion brush (1 = may move) used when the pipeline is given none.
    """

    flow: torch.Tensor
    mask: torch.Tensor
    strength: float = 1.0
    brush: torch.Tensor | None = None

    def __post_init__(self) -> None:
        frames, _, height, width = self.flow.shape
        if tuple(self.mask.shape) != (frames, height, width):
            raise ValueError(f"control mask: expected [F, H, W] = {[frames, height, width]}, "
                             f"got {list(self.mask.shape)}")


@dataclass(frozen=True)
class TrajectoryControl:
    """Tracks, the hint's square half-size, the ControlNet strength and an optional brush, not yet rasterised.

    ``trajectories``: on their own ``width x height`` canvas; ``brush``: [H, W] on that canvas, 1 = may
    move. ``hint`` rasterises for an image of another size or frame count (points, square size and
    brush follow the image).
    """

    trajectories: Tracks
    flow_unit: int = 64
    strength: float = 1.0
    brush: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_number(self.flow_unit, "flow_unit", low=1, high=MAX_FLOW_UNIT, integer=True)
        static_region(self.brush, self.trajectories.height, self.trajectories.width)
        if not 0 <= self.strength <= 10:
            raise ValueError(f"strength: expected 0..10, got {self.strength}")

    def hint(self, frames: int, height: int, width: int) -> TrajectoryHint:
        """The sparse hint for ``frames`` frames of a ``width x height`` image."""
        tracks = self.trajectories.rescaled(width, height).resampled(frames)
        scale = (width / self.trajectories.width * height / self.trajectories.height) ** 0.5
        brush = self.brush
        if brush is not None and tuple(brush.shape) != (height, width):
            brush = F.interpolate(brush[None, None].float(), size=(height, width), mode="nearest")[0, 0]
        flow, mask = sparse_hint(tracks, max(1, round(self.flow_unit * scale)), brush)
        return TrajectoryHint(flow, mask, self.strength, brush)


def load_flow_model(unet, flow_vae, controlnet=None, *, device="cpu", dtype="fp32") -> FlowModel:
    """Load the stage-1 files (paths; ``controlnet`` optional), all checked before any is built.

    ``dtype`` applies to the UNet and ControlNet; the flow VAE stays float32 (83 M parameters, and
    SD-style VAEs overflow in float16).
    """
    files = {"flow_unet": unet, "flow_vae": flow_vae} | ({"controlnet": controlnet} if controlnet else {})
    dtypes = {kind: "fp32" if kind == "flow_vae" else dtype for kind in files}
    models = load_models(files, device=device, dtype=dtypes)
    return FlowModel(models["flow_unet"], models["flow_vae"], models.get("controlnet"))


def frame_strides(frames: int) -> torch.Tensor:
    """[1, F-1] int64: 8, 16, ..., 8 (F-1), the source-video offsets of frames 1..F-1."""
    return torch.arange(1, frames, dtype=torch.int64)[None] * FRAME_STRIDE


@torch.no_grad()
def encode_reference(vae: AutoencoderKL, image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The official reference latent: ``image`` [1, 3, H, W] in [0, 1] -> [1, 4, H/8, W/8], sampled, x 0.18215."""
    return _vae_sample(vae, image.to(vae.device, vae.dtype), generator) * LATENT_SCALE


def _vae_sample(vae: AutoencoderKL, pixels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Posterior samples of [N, C, H, W]: encoded in chunks, one noise draw for all (so chunking never changes them)."""
    posteriors = [vae.encode(chunk).latent_dist for chunk in pixels.split(VAE_CHUNK)]
    mean = torch.cat([p.mean for p in posteriors]).float()
    std = torch.cat([p.std for p in posteriors]).float()
    noise = torch.randn(mean.shape, generator=generator, device=_generator_device(generator)).to(mean.device)
    return mean + std * noise


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def encode_control(flow_vae: AutoencoderKL, hint: TrajectoryHint,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The ControlNet input for frames 1..F-1: [1, 5, F-1, H/8, W/8] = [flow latent (4, unscaled), mask (1)]."""
    flow, mask = hint.flow[1:].float(), hint.mask[1:, None].float()
    sparse = (to_normalized(flow) - 0.5) * mask + 0.5  # unknown pixels read as "no motion" (0.5)
    latent = _vae_sample(flow_vae, sparse.to(flow_vae.device, flow_vae.dtype), generator)
    # nearest with a 1/8 scale = the top-left pixel of every 8x8 cell, as upstream's F.interpolate
    small_mask = F.interpolate(mask.to(latent.device), size=latent.shape[-2:], mode="nearest")
    return rearrange(torch.cat([latent, small_mask], dim=1), "f c h w -> 1 c f h w")


def decode_flow(flow_vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """[1, 4, F, h, w] scaled flow latents -> [F, 2, 8h, 8w] pixels (the official raw decode)."""
    frames = rearrange(latents, "1 c f h w -> f c h w") / LATENT_SCALE
    decoded = torch.cat([flow_vae.decode(chunk.to(flow_vae.dtype)).sample.float()
                         for chunk in frames.split(VAE_CHUNK)])
    return from_normalized(decoded)


@dataclass(frozen=True)
class FlowDenoiser:
    """``denoise(x, t) -> eps`` for the flow UNet, with the image latent, ControlNet and CFG inside.

    ``image_latent``: [1, 4, F, h, w]; ``text`` / ``negative_text``: [1, T, D] (the negative half is
    skipped when ``guidance`` <= 1); ``stride``: [1, F]; ``control``: [1, 5, F, h, w] or None.
    The image latent and the control are the same in both CFG halves, so guidance acts on text only.
    """

    unet: UNet3D
    image_latent: torch.Tensor
    text: torch.Tensor
    negative_text: torch.Tensor | None
    stride: torch.Tensor
    guidance: float
    controlnet: TrajectoryControlNet | None = None
    control: torch.Tensor | None = None
    control_scale: float = 1.0

    def _eps(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        dtype = self.unet.conv_in.weight.dtype
        batch = text.shape[0]
        sample = repeat(torch.cat([self.image_latent, x], dim=1).to(dtype), "1 c f h w -> b c f h w", b=batch)
        text = text.to(dtype)
        residuals: ControlResiduals | None = None
        if self.control is not None:
            embedding = repeat(self._control_embedding, "1 c f h w -> b c f h w", b=batch)
            residuals = self.controlnet(sample, t, text, control_embedding=embedding, stride=self.stride,
                                        scale=self.control_scale)
        return self.unet(sample, t, text, stride=self.stride, control=residuals).float()

    @cached_property
    def _control_embedding(self) -> torch.Tensor:
        # The same at every step and in both CFG halves: computed once per run.
        return self.controlnet.embed(self.control.to(self.unet.conv_in.weight.dtype))

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.guidance <= 1 or self.negative_text is None:
            return self._eps(x, t, self.text)
        if self.negative_text.shape == self.text.shape:
            eps_uncond, eps_cond = self._eps(x, t, torch.cat([self.negative_text, self.text])).chunk(2)
        else:  # prompts of different token counts cannot share a batch
            eps_uncond, eps_cond = self._eps(x, t, self.negative_text), self._eps(x, t, self.text)
        return eps_uncond + self.guidance * (eps_cond - eps_uncond)


def check_size(height: int, width: int, name: str = "image") -> None:
    """Raise unless the size is a positive multiple of 8 (one latent pixel per 8x8 block)."""
    if height < 8 or width < 8 or height % 8 or width % 8:
        raise ValueError(f"{name}: width and height must be multiples of 8 (64 recommended; the model was trained "
                         f"at 512x320), got {width}x{height}")


def check_request(image_latent: torch.Tensor, text: torch.Tensor, negative_text: torch.Tensor | None, *, frames: int,
                  steps: int, sampler: str, hint: TrajectoryHint | None, brush: torch.Tensor | None,
                  max_frames: int, guidance: float = DEFAULT_GUIDANCE, eta: float = 0.0) -> None:
    """All input checks of ``predict_motion_field``, before any network runs."""
    check_number(guidance, "cfg", low=0, high=MAX_GUIDANCE)
    check_number(eta, "eta", low=0, high=1)
    if image_latent.ndim != 4 or image_latent.shape[:2] != (1, 4):
        raise ValueError(f"image_latent: expected [1, 4, h, w], got {list(image_latent.shape)}")
    for name, states in (("text", text), ("negative_text", negative_text)):
        if states is not None and (states.ndim != 3 or states.shape[0] != 1):
            raise ValueError(f"{name}: expected prompt embeddings [1, T, D], got {list(states.shape)}")
    if not 2 <= frames <= max_frames:
        raise ValueError(f"frames: expected 2..{max_frames} (frame 0 is the image), got {frames}")
    check_steps(steps)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler: expected one of {list(SAMPLERS)}, got {sampler!r}")
    height, width = image_latent.shape[-2] * 8, image_latent.shape[-1] * 8
    if hint is not None and tuple(hint.flow.shape[-2:]) != (height, width):
        raise ValueError(f"control: the hint is {hint.flow.shape[-1]}x{hint.flow.shape[-2]} but the image is "
                         f"{width}x{height}")
    if hint is not None and hint.flow.shape[0] != frames:
        raise ValueError(f"control: the hint has {hint.flow.shape[0]} frames, expected {frames}")
    static_region(brush, height, width)


def predict_motion_field(model: FlowModel, image_latent: torch.Tensor, text: torch.Tensor,
                         negative_text: torch.Tensor | None = None, *, hint: TrajectoryHint | None = None,
                         brush: torch.Tensor | None = None, frames: int = DEFAULT_FRAMES, steps: int = DEFAULT_STEPS,
                         guidance: float = DEFAULT_GUIDANCE, sampler: str = "ddim", eta: float = 0.0, seed: int = 0,
                         callback: Callback | None = None) -> torch.Tensor:
    """Predict the motion field of an image: [F, 2, H, W] float32 pixels, frame 0 = 0 (``flow.py``).

    ``image_latent``: [1, 4, H/8, W/8] reference latent, already x 0.18215 (``encode_reference``).
    ``text`` / ``negative_text``: [1, T, D] CLIP states. ``hint``: trajectory control (needs the
    ControlNet). ``brush``: [H, W], 1 = may move; the predicted flow is zeroed elsewhere (the hint's
    brush when None). ``seed``: drives every random draw, on the CPU so results match across devices.
    ``callback(step, total)`` after every denoising step.
    """
    max_frames = model.unet.config.motion_max_len + 1
    brush = hint.brush if brush is None and hint is not None else brush
    check_request(image_latent, text, negative_text, frames=frames, steps=steps, sampler=sampler, hint=hint,
                  brush=brush, max_frames=max_frames, guidance=guidance, eta=eta)
    if hint is not None and model.controlnet is None:
        raise ValueError("control: a trajectory hint needs the ControlNet; load the flow model with its "
                         "controlnet file")
    height, width = image_latent.shape[-2] * 8, image_latent.shape[-1] * 8
    if (height, width) != TRAINED_SIZE:
        log.info("Motion-I2V stage 1 at %dx%d; the released model was trained at 512x320", width, height)
    device = model.unet.conv_in.weight.device
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        noise = torch.randn(1, 4, frames - 1, *image_latent.shape[-2:], generator=generator).to(device)
        control = encode_control(model.flow_vae, hint, generator).to(device) if hint is not None else None
        denoiser = FlowDenoiser(
            unet=model.unet,
            image_latent=repeat(image_latent.float().to(device), "1 c h w -> 1 c f h w", f=frames - 1),
            text=text.to(device), negative_text=None if negative_text is None else negative_text.to(device),
            stride=frame_strides(frames).to(device), guidance=guidance, controlnet=model.controlnet,
            control=control, control_scale=hint.strength if hint is not None else 1.0,
        )
        latents = sample(denoiser, noise, sampler, steps, eta=eta, generator=generator, callback=callback)
        flow = decode_flow(model.flow_vae, latents)
    static = static_region(brush, height, width)
    if static is not None:
        flow = flow.masked_fill(static.to(flow.device), 0)
    return torch.cat([flow.new_zeros(1, 2, height, width), flow]).cpu()

