"""Stage 2: render frames from the first frame, guided by a motion field.

The loop of the official ``AnimationPipeline``
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/animation/pipelines/pipeline_animation.py#L388-L556),
with its samplers swapped for ``sampling``:

1. The clean first-frame latent ``z_ref`` (SD VAE of the image in [-1, 1], sampled, x 0.18215)
   replaces latent frame 0 before every UNet call and at the end; frame 0 is embedded at t = 1.
2. Every temporal attention warps frame 0's features along the field (``MotionGuidance``).
3. Classifier-free guidance (above 1) runs the batch [negative, positive] in one UNet call; under the
   "official" pairing the two halves' references alternate, as the released weights expect.
4. Motion brush: the still region (unpainted cells) is held at ``z_ref`` inside the denoiser, for every
   sampler (``sampling.StillRegionDenoiser``). The official loop (pipeline_animation.py#L525-L535) blends
   ``x <- (sqrt(a) z_ref + sqrt(1 - a) noise) * still + x * (1 - still)`` after every DDIM step but the last,
   so DDIM alone can run it. Here the UNet sees that same renoised reference in the still region at every call.
   Under DDIM two things differ: the first call already sees it (the official first call sees the initial noise
   alone, without the sqrt(a_961) z_ref ~ 0.05 z_ref term), which reaches the moving region only through the
   UNet's spatial layers; and
   the still region ends exactly on ``z_ref``, where the official last step leaves its own x_0 prediction (its
   noise term is sqrt((1 - a_1) / a_1) ~ 0.04 of the predicted noise). tests/test_animate.py compares the two.

A run is described by an ``AnimationRequest``, checked once when made (before the UNet moves or the image is
encoded). Latents here are SD-scaled (x 0.18215); ComfyUI's LATENT holds them unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lcm
from typing import Callable

import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from ..checks import check_choice
from ..flow import MotionField
from ..models import UNet3DConfig
from ..models.motion_augmented import PAIRINGS, MotionGuidance, max_guided_frames
from ..sampling import SamplerSettings, StillRegionDenoiser, alpha_bar, linear_alphas_cumprod, sample
from ..tracks.brush import Brush
from .flow_gen import LATENT_SCALE, check_size, check_text, encode_reference

VAE_FACTOR = 8
REFERENCE_TIMESTEP = 1  # the official forward_unet embeds frame 0 at time_proj(1.0)

# callback(step, total, denoised): denoised = the current prediction of the clean latents [F, 4, h, w]
Callback = Callable[[int, int, torch.Tensor], None]


@dataclass(frozen=True)
class AnimationSettings(SamplerSettings):
    """Sampling settings and the CFG pairing; the defaults are the official demo's (DDIM, 25 steps, CFG 7, eta 0)."""

    pairing: str = "official"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.pairing, PAIRINGS, "pairing")


def check_video(config: UNet3DConfig, field: MotionField, height: int, width: int) -> None:
    """A motion field (checked when made) against the first frame's size and the animation UNet's ``config``: the
    same size, a multiple of 8, and a frame count one pass renders."""
    check_size(height, width)
    if not isinstance(field, MotionField):
        raise ValueError(f"motion field: expected a MotionField, got {type(field).__name__}")
    if (field.height, field.width) != (height, width):
        raise ValueError(f"motion field: it is {field.width}x{field.height} but the first frame is {width}x{height}; "
                         "predict or resize the field at the image's size")
    max_frames = max_guided_frames(config.motion_max_len)
    if not 2 <= field.frames <= max_frames:
        raise ValueError(f"motion field: {field.frames} frames; the animation UNet renders 2 to {max_frames} "
                         f"(its attention interleaves 2F-1 tokens over {config.motion_max_len} positions)")


@dataclass(frozen=True, eq=False)
class AnimationRequest:
    """One stage-2 run, checked as a whole when made: before the UNet moves or the image is encoded.

    ``config``: the animation UNet's. ``height``, ``width``: the first frame's size. ``field``: the motion field at
    that size (checked when it was made); its frame count is the video's. ``positive`` / ``negative``: [1, T, D]
    text states (the negative pass runs only when ``settings.guided``). ``brush``: at the image's size, or None.
    """

    config: UNet3DConfig
    height: int
    width: int
    field: MotionField
    positive: torch.Tensor
    negative: torch.Tensor
    settings: AnimationSettings = AnimationSettings()
    brush: Brush | None = None

    def __post_init__(self) -> None:
        check_video(self.config, self.field, self.height, self.width)
        check_text(self.positive, "positive", self.config.cross_attention_dim)
        check_text(self.negative, "negative", self.config.cross_attention_dim)
        if self.brush is not None:
            self.brush.check_size(self.height, self.width, "the image")

    @property
    def frames(self) -> int:
        return self.field.frames


def frame_timesteps(timestep, batch: int, frames: int) -> torch.Tensor:
    """[B, F] float32 timesteps: frame 0 at ``REFERENCE_TIMESTEP`` (it is clean), the others at ``timestep``."""
    steps = torch.full((batch, frames), float(timestep))
    steps[:, 0] = REFERENCE_TIMESTEP
    return steps


def match_lengths(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat [1, T, D] token sequences to a common length; cross-attention over a sequence repeated
    k times equals attention over it once, so this changes nothing but the shape."""
    length = lcm(first.shape[1], second.shape[1])
    return (repeat(first, "b t d -> b (k t) d", k=length // first.shape[1]),
            repeat(second, "b t d -> b (k t) d", k=length // second.shape[1]))


class AnimationDenoiser:
    """``denoise(x, t) -> eps`` for the animation UNet, with the reference frame, the field and CFG inside.

    ``reference``: [1, 4, h, w] scaled clean first-frame latent. ``positive``/``negative``: [1, T, D]
    text states (negative unused unless ``cfg`` > 1). ``x``: [1, 4, F, h, w] float32.
    ``denoised`` holds the latest prediction of the clean latents [F, 4, h, w] (for previews).
    """

    def __init__(self, unet: torch.nn.Module, reference: torch.Tensor, positive: torch.Tensor,
                 negative: torch.Tensor, guidance: MotionGuidance, cfg: float):
        self.unet, self.guidance, self.cfg = unet, guidance, cfg
        self.reference = reference[:, :, None]  # [1, 4, 1, h, w]
        self.text = torch.cat(match_lengths(negative, positive)) if cfg > 1 else positive
        self.alphas_cumprod = linear_alphas_cumprod()
        self.denoised = None

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        frames = x.shape[2]
        x = torch.cat([self.reference.to(x), x[:, :, 1:]], dim=2)
        batch = torch.cat([x, x]) if self.cfg > 1 else x
        dtype = next(self.unet.parameters()).dtype
        eps = self.unet(batch.to(dtype), frame_timesteps(t, batch.shape[0], frames).to(x.device),
                        self.text.to(x.device, dtype), temporal_context=self.guidance).float()
        if self.cfg > 1:
            uncond, cond = eps.chunk(2)
            eps = uncond + self.cfg * (cond - uncond)
        alpha = alpha_bar(self.alphas_cumprod, t).to(x.device)
        self.denoised = rearrange((x - (1 - alpha) ** 0.5 * eps) / alpha**0.5, "1 c f h w -> f c h w")
        return eps


def latent_still_region(brush: Brush | None, latent_height: int, latent_width: int) -> torch.Tensor | None:
    """The brush's still region at latent size: [1, 1, 1, h, w] float, 1 = held, from the top-left pixel of each
    8x8 cell (the official 1/8 nearest interpolation); None when no cell is held."""
    if brush is None:
        return None
    still = F.interpolate(brush.still.float()[None, None], size=(latent_height, latent_width), mode="nearest")
    return still[:, :, None] if still.any() else None


@torch.no_grad()
def animate(unet: torch.nn.Module, reference: torch.Tensor, request: AnimationRequest, *,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """Render the latent frames of ``request``.

    ``unet``: the animation UNet (kind "animation_unet") the request was made for. ``reference``: [1, 4, h, w]
    scaled clean latent of the request's first frame. ``generator``: the initial noise, drawn on the CPU as
    ComfyUI draws a LATENT's ([F, 4, h, w], frames first), so a seed gives the same video on any device and the
    same noise as ComfyUI's KSampler. Returns [F, 4, h, w] float32 scaled latents; frame 0 is ``reference``.
    """
    if unet.config != request.config:
        raise ValueError("request: made for another animation UNet (the configs differ)")
    shape = (1, 4, request.height // VAE_FACTOR, request.width // VAE_FACTOR)
    if tuple(reference.shape) != shape:
        raise ValueError(f"first frame latent: expected {list(shape)} for the {request.width}x{request.height} "
                         f"image, got {list(reference.shape)}")
    settings = request.settings
    device = next(unet.parameters()).device
    reference = reference.to(device, torch.float32)
    noise = rearrange(torch.randn((request.frames, 4, *reference.shape[2:]), generator=generator),
                      "f c h w -> 1 c f h w").to(device)
    denoiser = AnimationDenoiser(unet, reference, request.positive, request.negative,
                                 MotionGuidance(request.field.flow.to(device), settings.pairing), settings.cfg)
    still = latent_still_region(request.brush, *reference.shape[2:])
    denoise = denoiser if still is None else StillRegionDenoiser(denoiser, denoiser.reference, still.to(device), noise)

    def report(step: int, total: int) -> None:
        if callback is not None:
            callback(step, total, denoiser.denoised)

    x = sample(denoise, noise, settings.sampler, settings.steps, eta=settings.eta, generator=generator,
               callback=report)
    x = torch.cat([denoiser.reference, x[:, :, 1:]], dim=2)
    return rearrange(x, "1 c f h w -> f c h w")


def encode_first_frame(vae: torch.nn.Module, image: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """[1, 3, H, W] image in [0, 1] -> [1, 4, H/8, W/8] scaled latent. Unlike stage 1, stage 2 encodes the image
    in [-1, 1] (https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L493);
    the posterior is sampled with ``generator``."""
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"image: expected [1, 3, H, W], got {list(image.shape)}")
    check_size(*image.shape[2:])
    return encode_reference(vae, image * 2 - 1, generator).float()


@torch.no_grad()
def decode_frames(vae: torch.nn.Module, latents: torch.Tensor, callback: Callable[[int, int], None] | None = None
                  ) -> torch.Tensor:
    """[F, 4, h, w] scaled latents -> [F, 3, 8h, 8w] float32 images in [0, 1], one frame at a time
    (the memory of one frame's decoder activations, as the official pipeline)."""
    dtype, device = next(vae.parameters()).dtype, next(vae.parameters()).device
    frames = []
    for index, latent in enumerate(latents):
        decoded = vae.decode((latent[None] / LATENT_SCALE).to(device, dtype)).sample
        frames.append((decoded[0].float() / 2 + 0.5).clamp(0, 1).cpu())
        if callback is not None:
            callback(index + 1, len(latents))
    return torch.stack(frames)


def latent_preview(reference: torch.Tensor, image: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A cheap latent -> RGB map for previews, fitted on the first frame: least squares (with a bias)
    from its latent [1, 4, h, w] to the image [1, 3, 8h, 8w] in [0, 1] averaged over 8x8 cells, so it
    suits whatever SD-like VAE made the latent. Returns ``preview(latent [4, h, w]) -> [3, h, w]`` in [0, 1]."""
    pooled = F.adaptive_avg_pool2d(image.float().cpu(), reference.shape[2:])
    inputs = F.pad(rearrange(reference.float().cpu(), "1 c h w -> (h w) c"), (0, 1), value=1.0)
    solution = torch.linalg.lstsq(inputs, rearrange(pooled, "1 c h w -> (h w) c")).solution  # [4 + 1, 3]

    def preview(latent: torch.Tensor) -> torch.Tensor:
        rgb = torch.einsum("chw,cr->rhw", latent.float().cpu(), solution[:4]) + solution[4, :, None, None]
        return rgb.clamp(0, 1)

    return preview
