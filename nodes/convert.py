"""Conversions between ComfyUI's tensor layouts and the engine's.

ComfyUI: IMAGE ``[B, H, W, C]`` float 0..1, MASK ``[B, H, W]`` float 0..1 (LoadImage's mask is
1 - alpha), both on the intermediate device. Engine: images ``[B, C, H, W]``.
"""

from __future__ import annotations

import torch
from einops import rearrange

from ..motion_i2v.checks import check_finite
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


def mask_to_engine(mask: torch.Tensor, height: int, width: int, name: str = "mask") -> torch.Tensor:
    """MASK [H, W] or [B, H, W] -> [H, W] float32 0..1 (first mask of a batch), checked against the image size."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name}: expected a MASK [B, H, W], got {type(mask).__name__}")
    if mask.ndim == 3 and len(mask):
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"{name}: expected a MASK [B, H, W], got shape {list(mask.shape)}")
    if tuple(mask.shape) != (height, width):
        raise ValueError(
            f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}; "
            "resize the mask to the image first"
        )
    check_finite(mask, name)
    return mask.float().clamp(0, 1)
