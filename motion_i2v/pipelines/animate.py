"""Stage 2: render frames from the first frame, guided by a motion field (OFFICIAL.md 3.3-3.4).

The loop of the official ``AnimationPipeline``, with its samplers swapped for ``sampling``:

1. The clean first-frame latent ``z_ref`` (SD VAE of the image in [-1, 1], sampled, x 0.18215)
   replaces latent frame 0 before every UNet call and at the end; frame 0 is embedded at t = 1.
2. Every temporal attention warps frame 0's features along the field (``MotionGuidance``).
3. Classifier-free guidance runs the batch [negative, positive] in one UNet call; under the
   "official" pairing the two halves' references alternate, as the released weights expect.
4. Motion brush (RePaint-style): after every step but the last, the static region of all frames is
   reset to ``z_ref`` noised to the next timestep with the initial noise,
   ``x <- (sqrt(a) z_ref + sqrt(1 - a) noise) * static + x * (1 - static)``.

Latents here are SD-scaled (x 0.18215); ComfyUI's LATENT holds them unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lcm
from typing import Callable

import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from ..checks import check_number
from ..flow import check_field
from ..models import UNet3DConfig
from ..models.motion_augmented import PAIRINGS, MotionGuidance
from ..sampling import (
    SAMPLERS,
    DdimSchedule,
    check_steps,
    ddim_schedule,
    linear_alphas_cumprod,
    sample_ddim,
    sample_diffusers,
)
from ..tracks.brush import static_region
from .flow_gen import LATENT_SCALE, MAX_GUIDANCE, check_size, encode_reference

VAE_FACTOR = 8
REFERENCE_TIMESTEP = 1  # the official forward_unet embeds frame 0 at time_proj(1.0)

# callback(step, total, denoised): denoised = the current prediction of the clean latents [F, 4, h, w]
Callback = Callable[[int, int, torch.Tensor], None]


@dataclass(frozen=True)
class AnimationSettings:
    """Sampling settings; the defaults are the official demo's (DDIM, 25 steps, CFG 7, eta 0)."""

    steps: int = 25
    cfg: float = 7.0
    sampler: str = "ddim"
    eta: float = 0.0
    pairing: str = "official"

    def __post_init__(self) -> None:
        check_steps(self.steps)
        check_number(self.cfg, "cfg", low=0, high=MAX_GUIDANCE)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler: expected one of {list(SAMPLERS)}, got {self.sampler!r}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {list(PAIRINGS)}, got {self.pairing!r}")
        check_number(self.eta, "eta", low=0, high=1)


def default_dtype(device: torch.device) -> torch.dtype:
    """The UNet precision to use on ``device``: bf16 on GPUs that have it, else fp16; fp32 on the CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device.type == "mps" else torch.float32


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
    text states (negative unused when ``cfg == 1``). ``x``: [1, 4, F, h, w] float32.
    ``denoised`` holds the latest prediction of the clean latents [F, 4, h, w] (for previews).
    """

    def __init__(self, unet: torch.nn.Module, reference: torch.Tensor, positive: torch.Tensor,
                 negative: torch.Tensor, guidance: MotionGuidance, cfg: float):
        self.unet, self.guidance, self.cfg = unet, guidance, cfg
        self.reference = reference[:, :, None]  # [1, 4, 1, h, w]
        self.text = positive if cfg == 1 else torch.cat(match_lengths(negative, positive))
        self.alphas_cumprod = linear_alphas_cumprod()
        self.denoised = None

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        frames = x.shape[2]
        x = torch.cat([self.reference.to(x), x[:, :, 1:]], dim=2)
        batch = x if self.cfg == 1 else torch.cat([x, x])
        dtype = next(self.unet.parameters()).dtype
        eps = self.unet(batch.to(dtype), frame_timesteps(t, batch.shape[0], frames).to(x.device),
                        self.text.to(x.device, dtype), temporal_context=self.guidance).float()
        if self.cfg != 1:
            uncond, cond = eps.chunk(2)
            eps = uncond + self.cfg * (cond - uncond)
        alpha = self.alphas_cumprod[int(round(float(t)))].to(x.device)
        self.denoised = rearrange((x - (1 - alpha) ** 0.5 * eps) / alpha**0.5, "1 c f h w -> f c h w")
        return eps


def check_inputs(config: UNet3DConfig, reference: torch.Tensor, flow: torch.Tensor, positive: torch.Tensor,
                 negative: torch.Tensor, brush: torch.Tensor | None) -> None:
    """Every input against the others and the animation UNet's ``config``, before any work.

    ``reference`` may be a stand-in of the latent's shape (callers check before encoding)."""
    if reference.ndim != 4 or reference.shape[:2] != (1, 4):
        raise ValueError(f"first frame latent: expected [1, 4, h, w], got {list(reference.shape)}")
    check_field(flow)
    frames, _, height, width = flow.shape
    latent_height, latent_width = reference.shape[2:]
    if (height, width) != (latent_height * VAE_FACTOR, latent_width * VAE_FACTOR):
        raise ValueError(f"motion field: it is {width}x{height} but the first frame is "
                         f"{latent_width * VAE_FACTOR}x{latent_height * VAE_FACTOR}; predict or resize the field "
                         f"at the image's size")
    max_frames = (config.motion_max_len + 1) // 2
    if not 2 <= frames <= max_frames:
        raise ValueError(f"motion field: {frames} frames; the animation UNet renders 2 to {max_frames} "
                         f"(its attention interleaves 2F-1 tokens over {config.motion_max_len} positions)")
    width_expected = config.cross_attention_dim
    for name, text in (("positive", positive), ("negative", negative)):
        if text.ndim != 3 or text.shape[0] != 1 or text.shape[2] != width_expected:
            raise ValueError(f"{name}: expected text states [1, T, {width_expected}] (SD1.5 CLIP), got "
                             f"{list(text.shape)}; encode the prompt with the SD1.5 text encoder")
    static_region(brush, height, width)


def latent_static_region(brush: torch.Tensor | None, latent_height: int, latent_width: int) -> torch.Tensor | None:
    """[8h, 8w] brush (1 = may move) -> [1, 1, 1, h, w] float still region at latent size, nearest
    (the top-left pixel of each 8x8 cell, as the official 1/8 interpolation), or None when all of it
    may move or, as in the official demo, when nothing is painted."""
    static = static_region(brush, latent_height * VAE_FACTOR, latent_width * VAE_FACTOR)
    if static is None or not static.any():
        return None
    return F.interpolate(static.float()[None, None], size=(latent_height, latent_width), mode="nearest")[:, :, None]


def _one_step(schedule: DdimSchedule, index: int) -> DdimSchedule:
    return DdimSchedule(schedule.timesteps[index:index + 1], schedule.alphas_cumprod[index:index + 1],
                        schedule.alphas_cumprod_prev[index:index + 1])


@torch.no_grad()
def animate(unet: torch.nn.Module, reference: torch.Tensor, flow: torch.Tensor, positive: torch.Tensor,
            negative: torch.Tensor, *, brush: torch.Tensor | None = None,
            settings: AnimationSettings = AnimationSettings(), generator: torch.Generator | None = None,
            callback: Callback | None = None) -> torch.Tensor:
    """Render the latent frames.

    ``unet``: the animation UNet (kind "animation_unet"). ``reference``: [1, 4, h, w] scaled clean
    first-frame latent. ``flow``: [F, 2, 8h, 8w] float32 pixels, frame 0 = 0. ``positive`` /
    ``negative``: [1, T, D] text states. ``brush``: [8h, 8w] 0..1, 1 = may move, or None.
    ``generator``: the initial noise (drawn on the CPU, so a seed gives the same video on any device).
    Returns [F, 4, h, w] float32 scaled latents; frame 0 is ``reference``.
    """
    check_inputs(unet.config, reference, flow, positive, negative, brush)
    frames = flow.shape[0]
    device = next(unet.parameters()).device
    reference = reference.to(device, torch.float32)
    static = latent_static_region(brush, *reference.shape[2:])
    if static is not None and settings.sampler != "ddim":
        raise ValueError(f"brush: the motion brush re-noises the still region between DDIM steps; use the ddim "
                         f"sampler with a brush (got {settings.sampler!r})")
    noise = torch.randn((1, 4, frames, *reference.shape[2:]), generator=generator).to(device)
    denoiser = AnimationDenoiser(unet, reference, positive, negative,
                                 MotionGuidance(flow.to(device), settings.pairing), settings.cfg)

    def report(step: int, total: int) -> None:
        if callback is not None:
            callback(step, total, denoiser.denoised)

    if settings.sampler == "ddim":
        schedule = ddim_schedule(settings.steps)
        x = noise
        for i in range(settings.steps):
            x = sample_ddim(denoiser, x, _one_step(schedule, i), eta=settings.eta, generator=generator)
            if static is not None and i < settings.steps - 1:
                alpha = schedule.alphas_cumprod[i + 1].to(device)
                renoised = alpha**0.5 * denoiser.reference + (1 - alpha) ** 0.5 * noise
                x = renoised * static.to(device) + x * (1 - static.to(device))
            report(i + 1, settings.steps)
    else:
        x = sample_diffusers(denoiser, noise, settings.sampler, settings.steps, generator=generator, callback=report)
    x = torch.cat([denoiser.reference, x[:, :, 1:]], dim=2)
    return rearrange(x, "1 c f h w -> f c h w")


def encode_first_frame(vae: torch.nn.Module, image: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """[1, 3, H, W] image in [0, 1] -> [1, 4, H/8, W/8] scaled latent. Unlike stage 1, stage 2 encodes
    the image in [-1, 1] (OFFICIAL.md 9.8); the posterior is sampled with ``generator``."""
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
