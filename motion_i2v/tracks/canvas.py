"""The canvas: the pixel grid that track coordinates belong to, and the one rule for points off it.

A canvas is ``width x height`` pixels; origin top-left, x right, y down. A point on it satisfies
0 <= x <= W-1 and 0 <= y <= H-1; pixel (col, row) covers [col, col+1) x [row, row+1), so its centre is
(col + 0.5, row + 0.5).

The edge rule, the same in the editor (web/js/trajectory_model.js) and for every source of points (our JSON,
KJNodes strings and lists, TRACKS): a point at most ``edge_margin`` beyond an edge is moved onto that edge,
because a spline drawn to the edge, KJNodes' canvas border at x = W and core GenerateTracks' end at 1.0 all
land just outside; a point further out is refused, naming it. The margin is a share of the side with a
floor in pixels (web/js/tracks_shared.js).
"""

from __future__ import annotations

import reprlib
from typing import Callable

import torch

from .shared import EDGE_MARGIN_FRACTION, EDGE_MARGIN_PIXELS


class OffCanvasError(ValueError):
    """A point further beyond the canvas than the edge rule allows."""


def short_repr(value) -> str:
    """A short repr for messages that never goes deep (a deeply nested value would overflow ``repr``)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 4, 4, 40, 40
    return short.repr(value)


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_canvas_size(width, height, what: str = "canvas") -> None:
    if not (is_integer(width) and is_integer(height) and width > 0 and height > 0):
        raise ValueError(f"{what}: expected a positive integer width and height, got {short_repr(width)} x {short_repr(height)}")


def check_frame_count(frames, what: str = "frames") -> None:
    if not is_integer(frames) or frames < 2:
        raise ValueError(f"{what}: expected an integer of at least 2, got {short_repr(frames)}")


def edge_margin(side: int) -> float:
    """How far beyond an edge of a ``side``-pixel axis a point is still moved onto it, in pixels."""
    return max(EDGE_MARGIN_FRACTION * side, EDGE_MARGIN_PIXELS)


def onto_canvas(points: torch.Tensor, width: int, height: int, *, what: str, name: Callable[..., str],
                considered: torch.Tensor | None = None) -> torch.Tensor:
    """``points`` [..., 2] (x, y) pixels with the edge rule applied: moved onto the canvas, or refused.

    ``name(*index)`` names a point for the error, e.g. ``lambda i: f"point {i} of track 3"``;
    ``considered`` [...] bool limits the refusal to some points (others are only moved onto the canvas).
    Raises ``OffCanvasError``.
    """
    size = points.new_tensor([width - 1, height - 1])
    margin = points.new_tensor([edge_margin(width), edge_margin(height)])
    far = ((points < -margin) | (points > size + margin)).any(dim=-1)
    if considered is not None:
        far &= considered
    if far.any():
        index = far.nonzero()[0].tolist()
        x, y = (round(float(v), 2) for v in points[tuple(index)])
        raise OffCanvasError(f"{what}: {name(*index)} is at ({x}, {y}), outside the {width}x{height} canvas")
    return torch.minimum(points.clamp(min=0), size)
