"""Warping images and features along motion fields.

Forward splatting moves every source pixel to where the field sends it (the official stage-2
"softsplat" in "avg" mode); backward warping samples the source where the field points from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

SPLAT_EPS = 1e-7  # the official kernel's denominator guard


def _splat_targets(flow: torch.Tensor):
    """Yield (index, weight) for the 4 integer neighbours of every displaced source pixel.

    ``flow``: [N, 2, H, W] float32 pixels. ``index``: [N, H*W] int64 into the flattened target
    grid; ``weight``: [N, H*W] float32 bilinear weight, 0 where the neighbour lies outside the
    image or the displacement is not finite (so such contributions vanish).
    """
    _, _, height, width = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=flow.device, dtype=flow.dtype),
        torch.arange(width, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    target_x = rearrange(xs + flow[:, 0], "n h w -> n (h w)")
    target_y = rearrange(ys + flow[:, 1], "n h w -> n (h w)")
    finite = torch.isfinite(target_x) & torch.isfinite(target_y)
    target_x = torch.where(finite, target_x, torch.zeros_like(target_x))
    target_y = torch.where(finite, target_y, torch.zeros_like(target_y))
    left, top = target_x.floor(), target_y.floor()
    frac_x, frac_y = target_x - left, target_y - top
    left, top = left.long(), top.long()
    for dx, wx in ((0, 1 - frac_x), (1, frac_x)):
        for dy, wy in ((0, 1 - frac_y), (1, frac_y)):
            col, row = left + dx, top + dy
            inside = finite & (col >= 0) & (col < width) & (row >= 0) & (row < height)
            index = torch.where(inside, row * width + col, torch.zeros_like(col))
            yield index, torch.where(inside, wx * wy, torch.zeros_like(wx))


def forward_splat(source: torch.Tensor, flow: torch.Tensor, mode: str = "avg") -> torch.Tensor:
    """Forward-splat ``source`` along ``flow`` with bilinear weights (official softsplat).

    ``source``: [N, C, H, W]; ``flow``: [N, 2, H, W] pixels, channel 0 = dx. Each source pixel
    (x, y) lands on the 4 integer neighbours of (x + dx, y + dy); neighbours outside the image and
    non-finite displacements are dropped. ``mode="sum"`` returns the accumulated ``w * source``;
    ``mode="avg"`` divides by the accumulated weight plus 1e-7, so holes are 0.
    Accumulation runs in float32; the result has the dtype of ``source``.
    """
    if mode not in ("avg", "sum"):
        raise ValueError(f"forward_splat: mode must be 'avg' or 'sum', got {mode!r}")
    if source.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"forward_splat: expected source [N, C, H, W] and flow [N, 2, H, W], "
            f"got {list(source.shape)} and {list(flow.shape)}"
        )
    if source.shape[0] != flow.shape[0] or source.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"forward_splat: source {list(source.shape)} and flow {list(flow.shape)} differ in N, H or W"
        )
    batch, channels, height, width = source.shape
    values = rearrange(source.float(), "n c h w -> n c (h w)")
    out = values.new_zeros(batch, channels, height * width)
    weight_sum = values.new_zeros(batch, 1, height * width) if mode == "avg" else None
    for index, weight in _splat_targets(flow.float()):
        out.scatter_add_(2, index[:, None].expand(-1, channels, -1), values * weight[:, None])
        if weight_sum is not None:
            weight_sum.scatter_add_(2, index[:, None], weight[:, None])
    if weight_sum is not None:
        out = out / (weight_sum + SPLAT_EPS)
    return rearrange(out, "n c (h w) -> n c h w", h=height).to(source.dtype)


def backward_warp(source: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``source`` at (x + dx, y + dy) for every output pixel (bilinear, pixel centres).

    ``source``: [N, C, H, W]; ``flow``: [N, 2, H, W] pixels, read as "where each output pixel
    comes from". ``padding_mode`` as in ``torch.nn.functional.grid_sample``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or source.shape[0] != flow.shape[0] or source.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"backward_warp: expected source [N, C, H, W] and flow [N, 2, H, W] of the same N, H, W, "
            f"got {list(source.shape)} and {list(flow.shape)}"
        )
    _, _, height, width = source.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=flow.device, dtype=flow.dtype),
        torch.arange(width, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    # grid_sample's align_corners=True maps -1 and 1 to the first and last pixel centres.
    grid_x = (xs + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    grid_y = (ys + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=True)
