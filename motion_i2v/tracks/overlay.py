"""The tracks drawn over an image: what the Trajectories node's preview shows.

Colours and the brush tint are the editor's (``shared``), so the preview and the editor look alike.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from . import CheckCancel
from .raster import cover_pieces, polyline_pieces
from .shared import BRUSH_OPACITY, BRUSH_TINT, PALETTE
from .value import Tracks

# line and marker sizes in pixels
LINE_RADIUS, START_RADIUS, ANCHOR_RADIUS, OUTLINE = 1.5, 3.0, 5.0, 1.0
ARROW_LENGTH, ARROW_ANGLE = 10.0, math.radians(28)


def _track_shapes(positions: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
    """(polyline, radius) pairs drawing one track: a dot for an anchor, else a line with a start dot
    and an arrowhead along its last moving step. ``positions``: [F, 2] float64 pixels."""
    steps = positions.diff(dim=0).norm(dim=-1)
    moving = steps.nonzero()
    if len(moving) == 0:
        return [(positions[:1], ANCHOR_RADIUS)]
    last = moving[-1].item()
    direction = (positions[last + 1] - positions[last]) / steps[last]
    tip = positions[last + 1]
    wings = []
    for angle in (ARROW_ANGLE, -ARROW_ANGLE):
        cos, sin = math.cos(angle), math.sin(angle)
        back = torch.stack([direction[0] * cos - direction[1] * sin, direction[0] * sin + direction[1] * cos])
        wings.append(tip - ARROW_LENGTH * back)
    arrow = torch.stack([wings[0], tip, wings[1]])
    return [(positions, LINE_RADIUS), (arrow, LINE_RADIUS), (positions[:1], START_RADIUS)]


def overlay_tracks(tracks: Tracks, background: torch.Tensor | None = None, brush: torch.Tensor | None = None, *,
                   check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """The tracks drawn over an image: [3, H, W] float32 0..1 on the CPU.

    ``background``: [3, H, W] 0..1 or None (mid grey); ``brush``: [H, W] 1 = may move, tinted as in
    the editor. Each track gets a palette colour with a dark outline: anchors are dots, moving
    tracks a polyline through their per-frame positions with a start dot and an arrowhead.
    """
    height, width = tracks.height, tracks.width
    if background is None:
        picture = torch.full((3, height, width), 0.5)
    elif tuple(background.shape) != (3, height, width):
        raise ValueError(f"background: expected [3, {height}, {width}] for the tracks' canvas, got {list(background.shape)}")
    else:
        picture = background.detach().float().cpu().clone()
    if brush is not None:
        if tuple(brush.shape) != (height, width):
            raise ValueError(f"brush: expected [{height}, {width}] for the tracks' canvas, got {list(brush.shape)}")
        tinted = (1 - BRUSH_OPACITY) * picture + BRUSH_OPACITY * torch.tensor(BRUSH_TINT).view(3, 1, 1)
        picture = torch.where(brush.detach().cpu() > 0.5, tinted, picture)
    # label 2n = outline of track n, 2n + 1 = its fill; later tracks cover earlier ones
    label = torch.full((height, width), -1, dtype=torch.long)
    for n in range(tracks.count):
        if check_cancel is not None:
            check_cancel()
        shapes = _track_shapes(tracks.path[:, n].detach().cpu().double())
        pieces = [polyline_pieces(points) for points, _ in shapes]
        radii = torch.cat([piece.new_full((len(piece),), radius) for piece, (_, radius) in zip(pieces, shapes)])
        pieces = torch.cat(pieces)
        for grow, value in ((OUTLINE, 2 * n), (0.0, 2 * n + 1)):
            label[cover_pieces(pieces, radii + grow, height, width)] = value
    colours = torch.tensor([c for n in range(tracks.count) for c in ((0.0, 0.0, 0.0), PALETTE[n % len(PALETTE)])])
    drawn = label >= 0
    picture[:, drawn] = rearrange(colours[label[drawn]], "p c -> c p")
    return picture
