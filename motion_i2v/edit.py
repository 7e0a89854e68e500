"""Editing motion fields: scale, mask, smooth over time, reverse, loop, blend, resample.

Every function takes and returns ``flow: [F, 2, H, W] float32`` pixels (frame 0 = reference,
zero) and keeps frame 0 zero. Two kinds of "reverse" exist and both are offered:

* ``negate``: the same timing, the opposite direction (every displacement flips sign).
* ``reverse``: the path played backwards, starting from the reference image: a point that went
  p -> p + f(i) now goes p -> p + f(F-1-i) - f(F-1). A motion that eases in becomes one that
  eases out towards where it started. The field is indexed by the reference pixel, so this is
  exact for motion that is the same everywhere (pans) and an approximation for the rest.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from .checks import check_finite, check_number
from .flow import MAX_FRAMES, check_field
from .memory import check_memory, field_bytes

MAX_SIGMA = 100.0  # frames of temporal smoothing at most
# Peak memory of smooth_time in one-frame fields: ~18 per frame and ~2 per frame of the extended series (measured).
SMOOTH_COPIES, EXTENDED_COPIES = 20, 4


def retime_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``resample`` or ``ping_pong`` making ``frames`` frames: the result, the two frames
    interpolated and their weighted sum."""
    return 4 * field_bytes(frames, height, width)


def smooth_bytes(frames: int, height: int, width: int, sigma: float) -> int:
    """About the peak memory of ``smooth_time``: SMOOTH_COPIES a frame and EXTENDED_COPIES a frame of the series
    extended by the kernel's radius at both ends."""
    radius = math.ceil(3 * sigma)
    return (SMOOTH_COPIES * frames + EXTENDED_COPIES * (frames + 2 * radius)) * field_bytes(1, height, width)


def _check_frames(frames: int, flow: torch.Tensor, what: str) -> None:
    """``frames`` output frames of ``flow``'s size: within MAX_FRAMES and the memory."""
    check_number(frames, "frames", low=1, high=MAX_FRAMES, integer=True)
    height, width = flow.shape[-2:]
    check_memory(retime_bytes(frames, height, width), f"{what} ({frames} frames at {width}x{height})")


def scale(flow: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply every displacement by ``factor`` (0 = still, 2 = twice as far)."""
    check_field(flow)
    check_number(factor, "scale factor")
    return flow * factor


def negate(flow: torch.Tensor) -> torch.Tensor:
    """Motion in the opposite direction with the same timing."""
    check_field(flow)
    return -flow


def multiply_mask(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Weight the motion per pixel: ``mask`` [H, W] or [F, H, W], 1 = keep, 0 = hold still."""
    check_field(flow)
    check_finite(mask, "mask")
    frames, _, height, width = flow.shape
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or tuple(mask.shape[-2:]) != (height, width) or mask.shape[0] not in (1, frames):
        raise ValueError(
            f"mask: expected [H, W] or [F, H, W] = {[frames, height, width]} to match the motion field, "
            f"got {list(mask.shape)}"
        )
    return flow * mask[:, None].to(flow)


def _sample_time(flow: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Frames at fractional times ``positions`` [G] (0..F-1) by linear interpolation: [G, 2, H, W]."""
    lower = positions.floor().long().clamp(0, flow.shape[0] - 1)
    upper = (lower + 1).clamp(max=flow.shape[0] - 1)
    weight = (positions - lower).to(flow)[:, None, None, None]
    return flow[lower] * (1 - weight) + flow[upper] * weight


def resample(flow: torch.Tensor, frames: int) -> torch.Tensor:
    """Change the frame count, interpolating linearly over time; first and last frames are kept."""
    check_field(flow)
    _check_frames(frames, flow, "resample")
    positions = torch.linspace(0, flow.shape[0] - 1, frames, dtype=torch.float64) if frames > 1 else torch.zeros(1)
    return _sample_time(flow, positions)


def reverse(flow: torch.Tensor) -> torch.Tensor:
    """The path played backwards from the reference: frame i = f(F-1-i) - f(F-1) (see the module doc)."""
    check_field(flow)
    return flow.flip(0) - flow[-1:]


def ping_pong(flow: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """Forward then back as a seamless loop: [frames, 2, H, W].

    The loop 0, 1, .., F-1, F-2, .., 1 has period P = 2 (F - 1) and wraps back to frame 0.
    Without ``frames`` those P frames are returned; otherwise the loop is sampled at ``frames``
    evenly spaced times (frame j at time j P / frames), e.g. ``frames=F`` keeps the frame count.
    """
    check_field(flow)
    period = 2 * (flow.shape[0] - 1)
    frames = period if frames is None else frames
    _check_frames(frames, flow, "ping-pong")
    if period == 0:
        return flow.expand(frames, -1, -1, -1).clone()
    time = torch.arange(frames, dtype=torch.float64) * (period / frames)
    return _sample_time(flow, torch.where(time <= period / 2, time, period - time))


def blend(first: torch.Tensor, second: torch.Tensor, weight: float) -> torch.Tensor:
    """``(1 - weight) * first + weight * second`` for two fields of the same shape."""
    check_field(first, "blend: first motion field")
    check_field(second, "blend: second motion field")
    if first.shape != second.shape:
        raise ValueError(
            f"blend: the motion fields differ in shape, {list(first.shape)} and {list(second.shape)}; "
            "resize or resample one of them first"
        )
    check_number(weight, "blend weight")
    return torch.lerp(first, second.to(first), weight)


def smooth_time(flow: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing over frames with standard deviation ``sigma`` (in frames; 0 = unchanged).

    Frame 0 stays zero because the field is extended oddly before it (f(-k) = -f(k), which a
    symmetric kernel averages to zero there) and held at its last value after the end, so a motion
    that starts from rest keeps its start and a straight uniform motion stays straight in between.
    """
    check_field(flow)
    check_number(sigma, "smoothing sigma", low=0, high=MAX_SIGMA)
    frames, _, height, width = flow.shape
    check_memory(smooth_bytes(frames, height, width, sigma), f"smoothing ({frames} frames at {width}x{height}, "
                 f"sigma {sigma})")
    radius = math.ceil(3 * sigma)
    if radius == 0 or frames == 1:
        return flow.clone()
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(flow)
    time = torch.arange(-radius, frames + radius)
    sign = torch.where(time < 0, -1.0, 1.0).to(flow)
    extended = flow[time.abs().clamp(max=frames - 1)] * sign[:, None, None, None]
    series = rearrange(extended, "f c h w -> (c h w) 1 f")
    smoothed = torch.nn.functional.conv1d(series, kernel.view(1, 1, -1))
    out = rearrange(smoothed, "(c h w) 1 f -> f c h w", c=2, h=height)
    out[0] = 0  # exact zero, not rounding noise of the odd extension
    return out
