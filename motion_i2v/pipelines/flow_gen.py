"""Stage 1: predict a motion field from one image, text, and optional trajectories and brush.

The official ``FlowGenPipeline`` with the demo's defaults
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/flowgen/pipelines/pipeline_flow_gen.py#L392-L547,
called from https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L431-L490):

1. The reference image, in [0, 1] (not [-1, 1]), is encoded by the SD1.5 VAE, sampled, x 0.18215,
   and repeated over the frames: ``image_latent`` (``encode_reference``; ComfyUI nodes use the core VAE).
2. Optional trajectory hint: the sparse flow of frames 1..F-1 in the official encoding
   ``(flow01 - 0.5) * mask + 0.5`` is encoded by the flow VAE (sampled, NOT scaled), and the mask
   nearest-downsampled to latent size (the top-left pixel of each 8x8 cell): 5 control channels.
3. DDIM (25 steps, eta 0) from Gaussian noise over F-1 frames of 4-channel flow latents; each step the
   UNet sees ``[image_latent, x]`` (8 channels), per-frame strides s, 2s, ..., s (F-1) (s = 8 officially, see
   ``frame_strides``), the ControlNet residuals, and classifier-free guidance (7) acts on the text only.
4. The flow VAE decodes ``x / 0.18215`` frame by frame; ``flow = clamp(2 dec - 1, -1, 1) * [W, H]``,
   zeroed outside the motion brush; a zero frame 0 is prepended.

A run is described by a ``FlowRequest``, checked once when made (before any model moves); the brush acts as
officially, through the hint's explicit "no motion" and the zeroing of step 4, which hold for every sampler.
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
from ..models import ControlResiduals, TrajectoryControlNet, UNet3D, UNet3DConfig
from ..sampling import Callback, SamplerSettings, check_seed, sample, seeded
from ..tracks.brush import Brush
from ..tracks.hint import sparse_hint
from ..tracks.value import Tracks
from ..weights.loader import load_models

LATENT_SCALE = 0.18215  # SD's latent scale, used for the image and the flow latents alike
FRAME_STRIDE = 8  # source-video frames between generated frames, as the model was trained
# The widest stride accepted: at 16 frames its last offset is 240, twice the largest the model ever saw (120).
MAX_FRAME_STRIDE = 16
TRAINED_MAX_OFFSET = 120  # the largest per-frame offset in training (2D stage: random 1..120; 3D stages: 8..120)
DEFAULT_FRAMES, DEFAULT_STEPS, DEFAULT_GUIDANCE = 16, 25, 7.0
TRAINED_SIZE = (320, 512)  # (H, W) of the released weights' final training stage
VAE_CHUNK = 4  # frames per flow-VAE call: bounds memory at full size; results do not depend on it
MAX_FLOW_UNIT = 1024  # pixels: the largest half-side of a track's hint square
MAX_STRENGTH = 10.0  # the largest ControlNet conditioning scale accepted (the demo uses 1)
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

    @property
    def spec(self) -> FlowModelSpec:
        return FlowModelSpec(self.unet.config, self.controlnet is not None)


@dataclass(frozen=True)
class FlowModelSpec:
    """What a stage-1 request must fit, known before any weight moves: the flow UNet's config and whether the
    trajectory ControlNet is loaded."""

    config: UNet3DConfig
    controlnet: bool

    @property
    def max_frames(self) -> int:
        """The longest field, frame 0 included: the temporal attention's positions for frames 1..F-1, plus frame 0."""
        return self.config.motion_max_len + 1


@dataclass(frozen=True)
class TrajectoryHint:
    """A sparse motion hint for the ControlNet.

    ``flow``: [F, 2, H, W] float32 pixels incl. frame 0 (``tracks.hint.sparse_hint``); ``mask``: [F, H, W]
    1 = hinted; ``strength``: the ControlNet conditioning scale (official 1.0).
    """

    flow: torch.Tensor
    mask: torch.Tensor
    strength: float = 1.0

    def __post_init__(self) -> None:
        frames, _, height, width = self.flow.shape
        if tuple(self.mask.shape) != (frames, height, width):
            raise ValueError(f"control mask: expected [F, H, W] = {[frames, height, width]}, "
                             f"got {list(self.mask.shape)}")


@dataclass(frozen=True)
class TrajectoryControl:
    """Tracks, the hint's square half-size, the ControlNet strength and an optional brush, not yet rasterised.

    ``trajectories``: F frames on their ``width x height`` canvas, which must be the image's (nothing is resampled
    or rescaled here); ``flow_unit``: pixels of that canvas; ``brush``: on that canvas, or None.
    """

    trajectories: Tracks
    flow_unit: int = 64
    strength: float = 1.0
    brush: Brush | None = None

    def __post_init__(self) -> None:
        check_number(self.flow_unit, "flow_unit", low=1, high=MAX_FLOW_UNIT, integer=True)
        check_number(self.strength, "strength", low=0, high=MAX_STRENGTH)
        if self.brush is not None:
            self.brush.check_size(self.trajectories.height, self.trajectories.width, "the tracks' canvas")

    def hint(self) -> TrajectoryHint:
        """The sparse hint of the tracks, at their canvas size and frame count."""
        flow, mask = sparse_hint(self.trajectories, self.flow_unit, self.brush)
        return TrajectoryHint(flow, mask, self.strength)


def load_flow_model(unet, flow_vae, controlnet=None, *, device="cpu", dtype="fp32") -> FlowModel:
    """Load the stage-1 files (paths; ``controlnet`` optional), all checked before any is built.

    ``dtype`` applies to the UNet and ControlNet; the flow VAE stays float32 (83 M parameters, and
    SD-style VAEs overflow in float16).
    """
    files = {"flow_unet": unet, "flow_vae": flow_vae} | ({"controlnet": controlnet} if controlnet else {})
    dtypes = {kind: "fp32" if kind == "flow_vae" else dtype for kind in files}
    models = load_models(files, device=device, dtype=dtypes)
    return FlowModel(models["flow_unet"], models["flow_vae"], models.get("controlnet"))


def frame_strides(frames: int, stride: int = FRAME_STRIDE) -> torch.Tensor:
    """[1, F-1] int64: s, 2s, ..., s (F-1), the source-video offsets of frames 1..F-1 (s = ``stride``).

    The UNet adds ``stride_embedding(time_proj(offset))`` to each frame's time embedding: the offset says how far
    in source-video time the predicted frame lies. The single-frame stage was trained on random offsets 1..120,
    the motion modules and the full model at s = 8 only (8, 16, ..., 120 for 16 frames). A smaller s asks for the
    motion of a shorter time span (slower motion per frame), with offsets the frame-wise embedding knows but a
    spacing the motion modules never saw; a larger s asks for a longer span, and offsets past 120 (s > 8 at 16
    frames) are outside anything the model was trained on.
    """
    return torch.arange(1, frames, dtype=torch.int64)[None] * stride


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


def check_text(states: torch.Tensor, name: str, width: int) -> None:
    """Raise unless ``states`` are one prompt's text states [1, T, ``width``] (``width``: the UNet's)."""
    if not isinstance(states, torch.Tensor) or states.ndim != 3 or states.shape[0] != 1 or states.shape[2] != width:
        shape = list(states.shape) if isinstance(states, torch.Tensor) else type(states).__name__
        raise ValueError(f"{name}: expected SD1.5 text states [1, T, {width}], got {shape}; encode the prompt with "
                         "the SD1.5 CLIP")


@dataclass(frozen=True, eq=False)
class FlowRequest:
    """One stage-1 run, checked as a whole when made: before any model moves or the image is encoded.

    ``model``: what it must fit (``FlowModel.spec``, or the loader's before loading). ``height``, ``width``: the
    image's size. ``text`` / ``negative_text``: [1, T, D] CLIP states (the negative pass runs only when
    ``settings.guided``). ``frames``: of the field, frame 0 included. ``seed``: drives every random draw, on the
    CPU, so results match across devices. ``control``: tracks on the image's canvas with ``frames`` frames
    (needs the ControlNet). ``brush``: at the image's size; without it, the control's brush applies. ``stride``:
    source-video frames between predicted frames (``frame_strides``; the model was trained at 8).

    Nothing is resampled: a control of another size or frame count is refused, naming both.
    """

    model: FlowModelSpec
    height: int
    width: int
    text: torch.Tensor
    negative_text: torch.Tensor | None = None
    frames: int = DEFAULT_FRAMES
    settings: SamplerSettings = SamplerSettings()
    seed: int = 0
    control: TrajectoryControl | None = None
    brush: Brush | None = None
    stride: int = FRAME_STRIDE

    def __post_init__(self) -> None:
        check_size(self.height, self.width)
        check_number(self.frames, "frames", low=2, high=self.model.max_frames, integer=True)
        check_number(self.stride, "stride", low=1, high=MAX_FRAME_STRIDE, integer=True)
        check_seed(self.seed)
        check_text(self.text, "positive", self.model.config.cross_attention_dim)
        if self.negative_text is not None:
            check_text(self.negative_text, "negative", self.model.config.cross_attention_dim)
        if self.brush is not None:
            self.brush.check_size(self.height, self.width, "the image")
        if self.control is not None:
            self._check_control(self.control)

    def _check_control(self, control: TrajectoryControl) -> None:
        if not isinstance(control, TrajectoryControl):
            raise ValueError("control: expected a Motion-I2V control (from Motion-I2V Trajectory Control), got "
                             f"{type(control).__name__}")
        tracks = control.trajectories
        if not self.model.controlnet:
            raise ValueError("control: the flow model was loaded without its ControlNet; choose the controlnet file "
                             "in Motion-I2V Load Flow Model")
        if (tracks.width, tracks.height) != (self.width, self.height):
            raise ValueError(f"control: the tracks are on a {tracks.width}x{tracks.height} canvas but the image is "
                             f"{self.width}x{self.height}; give Motion-I2V Trajectories this image (or its width and "
                             "height)")
        if tracks.frames != self.frames:
            raise ValueError(f"frames: the field is to have {self.frames} frames but the control's tracks have "
                             f"{tracks.frames} (the frames of Motion-I2V Trajectories); set both to the same number")

    @property
    def held(self) -> Brush | None:
        """The brush in effect: the request's, else the control's."""
        if self.brush is not None or self.control is None:
            return self.brush
        return self.control.brush


def predict_motion_field(model: FlowModel, image_latent: torch.Tensor, request: FlowRequest,
                         callback: Callback | None = None) -> torch.Tensor:
    """Predict the motion field of an image: [F, 2, H, W] float32 pixels on the CPU, frame 0 = 0 (``flow.py``).

    ``image_latent``: [1, 4, H/8, W/8] reference latent of the request's image, already x 0.18215
    (``encode_reference``). ``request``: made for this model (``model.spec``). ``callback(step, total)`` after
    every denoising step.
    """
    if model.spec != request.model:
        raise ValueError("request: made for another flow model (its UNet config or ControlNet differ)")
    height, width, frames = request.height, request.width, request.frames
    expected = (1, 4, height // 8, width // 8)
    if tuple(image_latent.shape) != expected:
        raise ValueError(f"image_latent: expected {list(expected)} for the {width}x{height} image, got "
                         f"{list(image_latent.shape)}")
    if (height, width) != TRAINED_SIZE:
        log.info("Motion-I2V stage 1 at %dx%d; the released model was trained at 512x320", width, height)
    if request.stride * (frames - 1) > TRAINED_MAX_OFFSET:
        log.info("Motion-I2V stage 1 with stride %d: the last frame lies %d source frames ahead, past the %d the "
                 "model was trained on", request.stride, request.stride * (frames - 1), TRAINED_MAX_OFFSET)
    device, settings = model.unet.conv_in.weight.device, request.settings
    generator = seeded(request.seed)
    hint = request.control.hint() if request.control is not None else None
    with torch.inference_mode():
        noise = torch.randn(1, 4, frames - 1, *image_latent.shape[-2:], generator=generator).to(device)
        control = encode_control(model.flow_vae, hint, generator).to(device) if hint is not None else None
        negative_text = request.negative_text
        denoiser = FlowDenoiser(
            unet=model.unet,
            image_latent=repeat(image_latent.float().to(device), "1 c h w -> 1 c f h w", f=frames - 1),
            text=request.text.to(device), negative_text=None if negative_text is None else negative_text.to(device),
            stride=frame_strides(frames, request.stride).to(device), guidance=settings.cfg, controlnet=model.controlnet,
            control=control, control_scale=hint.strength if hint is not None else 1.0,
        )
        latents = sample(denoiser, noise, settings.sampler, settings.steps, eta=settings.eta, generator=generator,
                         callback=callback)
        flow = decode_flow(model.flow_vae, latents)
    held = request.held
    if held is not None:
        flow = flow.masked_fill(held.still.to(flow.device), 0)
    return torch.cat([flow.new_zeros(1, 2, height, width), flow]).cpu()
