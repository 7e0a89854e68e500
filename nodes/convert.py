"""ComfyUI's data conventions on one side, the engine's on the other: every conversion, in one place each.

ComfyUI: IMAGE ``[B, H, W, C]`` float 0..1, MASK ``[B, H, W]`` float 0..1 (LoadImage's mask is 1 - alpha), both on
the intermediate device; CONDITIONING ``[[cond [1, T, D], {...}], ...]``; a VAE whose ``encode`` takes an IMAGE and
maps it to ``2x - 1`` itself; LATENT ``{"samples": [B, 4, h, w]}`` unscaled. Engine: images ``[B, C, H, W]``, masks
``[H, W]``, a motion brush as ``Brush``, latents scaled by SD's 0.18215.
"""

from __future__ import annotations

import torch
from einops import rearrange

from ..motion_i2v.checks import check_finite
from ..motion_i2v.flow import MotionField
from ..motion_i2v.pipelines.flow_gen import LATENT_SCALE
from ..motion_i2v.tracks.brush import Brush
from .comfy import intermediate_device


def image_to_engine(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """IMAGE [B, H, W, C] 0..1 -> [B, 3, H, W] float32 0..1 (alpha dropped, grey repeated); NaN or infinite
    pixels are refused."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (1, 3, 4) or not image.numel():
        shape = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name}: expected an IMAGE [B, H, W, C] with C = 1, 3 or 4, got {shape}")
    image = image[..., :3] if image.shape[-1] != 1 else image.expand(-1, -1, -1, 3)
    check_finite(image, name)
    return rearrange(image.float(), "b h w c -> b c h w")


def image_from_engine(frames: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] 0..1 -> IMAGE [B, H, W, C] on the intermediate device, clamped to 0..1."""
    return rearrange(frames.float().clamp(0, 1), "b c h w -> b h w c").to(intermediate_device())


def _first_mask(mask, name: str) -> torch.Tensor:
    """MASK [B, H, W] or [H, W] -> its first mask [H, W] (no other check)."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name}: expected a MASK [B, H, W], got {type(mask).__name__}")
    if mask.ndim == 3 and len(mask):
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"{name}: expected a MASK [B, H, W], got shape {list(mask.shape)}")
    return mask


def mask_to_engine(mask: torch.Tensor, height: int, width: int, name: str = "mask") -> torch.Tensor:
    """MASK [H, W] or [B, H, W] -> [H, W] float32 0..1 (first mask of a batch), checked against the image size."""
    mask = _first_mask(mask, name)
    if tuple(mask.shape) != (height, width):
        raise ValueError(
            f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}; "
            "resize the mask to the image first"
        )
    check_finite(mask, name)
    return mask.float().clamp(0, 1)


def brush_to_engine(mask, height: int, width: int, against: str = "the image") -> Brush | None:
    """A motion-brush MASK (1 = may move; first mask of a batch) -> ``Brush`` of ``width x height`` (the size of
    ``against``), checked once; None when it holds nothing still."""
    return Brush.from_mask(_first_mask(mask, "brush").float(), height, width, against=against)


def conditioning_states(conditioning, name: str) -> torch.Tensor:
    """CONDITIONING of one prompt ``[[cond [1, T, D], {...}]]`` -> cond [1, T, D] (its shape is the engine's to
    check, against the UNet)."""
    if not isinstance(conditioning, list) or len(conditioning) != 1 or not isinstance(conditioning[0][0], torch.Tensor):
        count = len(conditioning) if isinstance(conditioning, list) else type(conditioning).__name__
        raise ValueError(f"{name}: expected the CONDITIONING of one CLIP Text Encode, got {count} entries")
    return conditioning[0][0].float()


def vae_latent(vae, pixels: torch.Tensor, *, signed: bool = True) -> torch.Tensor:
    """[1, 3, H, W] 0..1 -> ComfyUI's (unscaled) latent [1, 4, H/8, W/8] float32 on the CPU, through a ComfyUI VAE.

    ``signed``: the VAE sees the pixels in [-1, 1], SD's convention (stage 2). Otherwise it sees them in [0, 1]
    unchanged, as the official stage 1 encodes its image: ComfyUI's VAE applies 2x - 1 to the IMAGE it gets, so
    it gets (x + 1) / 2.
    """
    image = image_from_engine(pixels)
    return vae.encode(image if signed else (image + 1) / 2).float().cpu()


def encode_image(vae, pixels: torch.Tensor, *, signed: bool = True) -> torch.Tensor:
    """``vae_latent`` scaled as the engine's latents are (x 0.18215)."""
    return vae_latent(vae, pixels, signed=signed) * LATENT_SCALE


def latent_samples(latent, name: str) -> torch.Tensor:
    """A LATENT of an SD VAE -> its samples [B, 4, h, w] float32 on the CPU (unscaled)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4 or samples.shape[1] != 4:
        shape = list(samples.shape) if isinstance(samples, torch.Tensor) else type(latent).__name__
        raise ValueError(f"{name}: expected an SD LATENT [B, 4, h, w], got {shape}")
    return samples.float().cpu()


def latent_to_comfy(samples: torch.Tensor) -> dict:
    """Unscaled latents [F, 4, h, w] (ComfyUI's) -> a LATENT on the intermediate device."""
    return {"samples": samples.to(intermediate_device())}


def scaled_latent_to_comfy(latents: torch.Tensor) -> dict:
    """The engine's SD-scaled latents [F, 4, h, w] -> a LATENT (unscaled, as ComfyUI's VAE Decode expects)."""
    return latent_to_comfy(latents / LATENT_SCALE)


def field_to_comfy(flow: torch.Tensor, reliability: torch.Tensor | None = None) -> MotionField:
    """A motion field output on the intermediate device (checked once, as every ``MotionField`` is when made)."""
    device = intermediate_device()
    return MotionField(flow.to(device), None if reliability is None else reliability.to(device))
