"""A dense motion field from point tracks without any model, for previews.

Each track n carries its displacement d_n(i) = P_n(i) - P_n(0) at its start point s_n = P_n(0).
Every pixel q (centre (col + 0.5, row + 0.5)) blends the tracks visible at frame i with Gaussian
weights w_n(q) = exp(-|q - s_n|^2 / (2 sigma^2)), sigma = radius / 2:

    flow_i(q) = sum_n w_n(q) d_n(i) / max(1, sum_n w_n(q))

Dividing by at least 1 makes this a normalised (partition-of-unity) average where tracks overlap,
and lets the motion fade to zero away from every track (the weights sum to much less than 1 there)
instead of sliding the whole background with the nearest track. At an isolated track's start the
weight is 1, so the field equals that track's displacement; at ``radius`` from a lone track it is
e^-2 ~ 14 % of it, at 1.5 ``radius`` about 1 %. With a motion brush the field is zero outside the
painted region (``brush.Brush``).
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from ..memory import FLOAT_BYTES, check_memory
from .brush import Brush
from .value import Tracks


def dense_bytes(tracks: int, frames: int, height: int, width: int) -> int:
    """About the peak memory of ``dense_field``: per pixel a weight per track, and about five floats per frame (the
    products, the weight sums, the result; measured 3.5)."""
    return FLOAT_BYTES * (tracks + 5 * frames) * height * width


def dense_field(tracks: Tracks, radius: float = 64.0, brush: Brush | None = None) -> torch.Tensor:
    """The blended field of the tracks: [F, 2, H, W] float32 pixels, channel 0 = dx, frame 0 zero.

    ``radius``: how far a track's motion reaches, in pixels (twice the Gaussian sigma);
    ``brush``: on the tracks' canvas, or None.
    """
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius: expected a positive number of pixels, got {radius!r}")
    height, width = tracks.height, tracks.width
    frames, count = tracks.path.shape[:2]
    check_memory(dense_bytes(count, frames, height, width),
                 f"tracks to motion field ({count} tracks, {frames} frames at {width}x{height})")
    path = tracks.path.float()
    device = path.device
    if brush is not None:
        brush.check_size(height, width, "the tracks' canvas")
    sigma = radius / 2
    start = path[0]  # [N, 2]
    # the Gaussian separates: w_n(q) = exp(-dx^2 / 2 sigma^2) * exp(-dy^2 / 2 sigma^2)
    cols = torch.arange(width, device=device) + 0.5
    rows = torch.arange(height, device=device) + 0.5
    weight_x = torch.exp(-((cols[None] - start[:, :1]) ** 2) / (2 * sigma**2))  # [N, W]
    weight_y = torch.exp(-((rows[None] - start[:, 1:]) ** 2) / (2 * sigma**2))  # [N, H]
    weight = rearrange(weight_y[:, :, None] * weight_x[:, None, :], "n h w -> n (h w)")
    visible = tracks.visibility.to(device).float()  # [F, N]
    displacement = rearrange((path - start) * visible[..., None], "f n c -> (f c) n")
    total = (visible @ weight).clamp_(min=1)  # [F, H*W]
    flow = rearrange(displacement @ weight, "(f c) (h w) -> f c h w", c=2, w=width)
    flow /= rearrange(total, "f (h w) -> f 1 h w", w=width)
    if brush is not None:
        flow = flow.masked_fill(brush.still.to(device), 0)
    return flow
