"""The tracks drawn over an image: what the Trajectories preview shows."""

from __future__ import annotations

import math

import torch
from einops import rearrange

from .raster import cover_pieces, polyline_pieces
from .value import Trajectories

# the preview's look: 10 distinct track colours (RGB 0..1), line and marker sizes in pixels
PALETTE = (
    (0.95, 0.26, 0.21), (0.13, 0.59, 0.95), (0.30, 0.69, 0.31), (1.00, 0.76, 0.03), (0.61, 0.15, 0.69),
    (0.00, 0.74, 0.83), (1.00, 0.44, 0.13), (0.91, 0.12, 0.39), (0.55, 0.76, 0.29), (0.47, 0.33, 0.28),
)
BRUSH_TINT = (0.5, 0.0, 0.5)  # the demo's purple over movable pixels (visualize_drag_v2)
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


def draw_trajectories(
    trajectories: Trajectories, background: torch.Tensor | None = None, brush: torch.Tensor | None = None
) -> torch.Tensor:
    """The tracks drawn over an image: [3, H, W] float32 0..1 on the CPU.

    ``background``: [3, H, W] 0..1 or None (mid grey); ``brush``: [H, W] 1 = movable, tinted purple
    as in the demo. Each track gets a palette colour with a dark outline: anchors are dots, moving
    tracks a polyline through their per-frame positions with a start dot and an arrowhead.
    """
    height, width = trajectories.height, trajectories.width
    if background is None:
        canvas = torch.full((3, height, width), 0.5)
    elif tuple(background.shape) != (3, height, width):
        raise ValueError(f"background: expected [3, {height}, {width}] for the tracks' image, got {list(background.shape)}")
    else:
        canvas = background.detach().float().cpu().clone()
    if brush is not None:
        if tuple(brush.shape) != (height, width):
            raise ValueError(f"brush: expected [{height}, {width}] for the tracks' image, got {list(brush.shape)}")
        tinted = 0.7 * canvas + 0.3 * torch.tensor(BRUSH_TINT).view(3, 1, 1)
        canvas = torch.where(brush.detach().cpu() > 0.5, tinted, canvas)
    # label 2n = outline of track n, 2n + 1 = its fill; later tracks cover earlier ones
    label = torch.full((height, width), -1, dtype=torch.long)
    for n in range(trajectories.count):
        shapes = _track_shapes(trajectories.path[:, n].detach().cpu().double())
        pieces = [polyline_pieces(points) for points, _ in shapes]
        radii = torch.cat([piece.new_full((len(piece),), radius) for piece, (_, radius) in zip(pieces, shapes)])
        pieces = torch.cat(pieces)
        for grow, value in ((OUTLINE, 2 * n), (0.0, 2 * n + 1)):
            label[cover_pieces(pieces, radii + grow, height, width)] = value
    colours = torch.tensor([c for n in range(trajectories.count) for c in ((0.0, 0.0, 0.0), PALETTE[n % len(PALETTE)])])
    drawn = label >= 0
    canvas[:, drawn] = rearrange(colours[label[drawn]], "p c -> c p")
    return canvas
