"""Where a drawn track is at every frame: ``DrawnTrack`` -> positions, a ``Drawing`` -> ``Tracks``.

Sampling a track to F frames (``sample_track``; the JS editor mirrors it in web/js/trajectory_sampling.js):
1. s = clamp((i - start) / (end - start), 0, 1) for frame i, with end = F - 1 unless given;
2. u = easing(s) (``motion_i2v.easing``);
3. "pchip": position = C(u), where C is the monotone cubic through the K control points at
   t_k = k / (K - 1) (``pchip``, x and y separately). With the defaults and F = 16 this
   is the official demo's ``interpolate_trajectory`` (app.py:195-212).
   "arc_length": position = C(u'), where u' puts the point at the fraction u of C's length
   (C cut into ARC_LENGTH_STEPS chords per segment, chord lengths summed, u' linearly interpolated
   in that table), i.e. constant speed along the same curve.
A one-point track is a static anchor.
"""

from __future__ import annotations

import torch

from ..easing import ease
from .pchip import pchip
from . import CheckCancel
from .canvas import check_frame_count
from .value import Drawing, DrawnTrack, Tracks

ARC_LENGTH_STEPS = 1024  # chords per PCHIP segment; the JS editor uses the same table


def _arc_length_parameter(knots: torch.Tensor, points: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
    """The curve parameters at which C has covered ``fraction`` [Q] of its length (see module doc)."""
    fine = torch.linspace(0, 1, ARC_LENGTH_STEPS * (len(knots) - 1) + 1, dtype=torch.float64)
    chords = pchip(knots, points, fine).diff(dim=0).norm(dim=-1)
    covered = torch.cat([chords.new_zeros(1), chords.cumsum(0)])
    if covered[-1] == 0:
        return fraction
    target = fraction * covered[-1]
    right = torch.searchsorted(covered, target, right=True).clamp(1, len(fine) - 1)
    left = right - 1
    span = (covered[right] - covered[left]).clamp(min=torch.finfo(torch.float64).tiny)
    weight = ((target - covered[left]) / span).clamp(0, 1)
    return fine[left] + weight * (fine[right] - fine[left])


def sample_track(track: DrawnTrack, frames: int) -> torch.Tensor:
    """Positions of one track at frames 0..F-1: [F, 2] float64 pixels (see the module doc)."""
    check_frame_count(frames)
    end = frames - 1 if track.end is None else track.end
    if end > frames - 1 or track.start >= end:
        raise ValueError(f"start {track.start} / end {track.end}: expected 0 <= start < end <= {frames - 1} "
                         f"for {frames} frames")
    points = torch.tensor(track.points, dtype=torch.float64)  # [K, 2]
    if len(points) == 1:
        return points.expand(frames, 2)
    s = ((torch.arange(frames, dtype=torch.float64) - track.start) / (end - track.start)).clamp(0, 1)
    u = ease(s, track.easing)
    knots = torch.linspace(0, 1, len(points), dtype=torch.float64)
    if track.interpolation == "arc_length":
        u = _arc_length_parameter(knots, points, u)
    return pchip(knots, points, u)


def sample_tracks(drawing: Drawing, frames: int, *, check_cancel: CheckCancel | None = None) -> Tracks:
    """Every drawn track at frames 0..F-1 on the drawing's canvas, visible throughout."""
    check_frame_count(frames)
    if not drawing.tracks:
        raise ValueError("trajectories: no tracks; draw at least one (a single point makes a static anchor)")
    paths = []
    for k, track in enumerate(drawing.tracks):
        if check_cancel is not None:
            check_cancel()
        try:
            paths.append(sample_track(track, frames))
        except ValueError as error:
            raise ValueError(f"trajectories: track {k}: {error}") from None
    path = torch.stack(paths, dim=1).float()  # [F, N, 2]
    return Tracks(path, torch.ones(frames, len(paths), dtype=torch.bool), drawing.width, drawing.height)
