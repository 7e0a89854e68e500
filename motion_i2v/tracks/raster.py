"""Rasterising thick polylines: a pixel is inside when its centre lies within a radius of the line.

The motion brush is painted this way (``brush_mask``), and ``overlay`` draws tracks with it.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from . import CheckCancel
from .value import Drawing

PIECE_LENGTH = 16.0  # rasterising cuts polylines into pieces this long (pixels), each in its own window
_WINDOW_BUDGET = 1 << 21  # window pixels tested at once (about 16 MiB per float64 temporary)


def polyline_pieces(points: torch.Tensor) -> torch.Tensor:
    """The polyline ``points`` [K, 2] as segments [S, 2 (start, end), 2] no longer than PIECE_LENGTH
    (K = 1: one zero-length segment), so each fits a small fixed window."""
    if len(points) == 1:
        return points[None].expand(1, 2, 2)
    start, along = points[:-1], points[1:] - points[:-1]
    counts = (along.norm(dim=-1) / PIECE_LENGTH).ceil().clamp(min=1).long()
    segment = torch.repeat_interleave(torch.arange(len(counts)), counts)
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    step = (torch.arange(len(segment)) - first).double()
    begin = (step / counts[segment]).unsqueeze(-1)
    finish = ((step + 1) / counts[segment]).unsqueeze(-1)
    return torch.stack([start[segment] + begin * along[segment], start[segment] + finish * along[segment]], dim=1)


def cover_pieces(pieces: torch.Tensor, radii: torch.Tensor, height: int, width: int,
                 check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Pixels whose centre lies within ``radii`` [S] of a piece [S, 2, 2] -> [H, W] bool.

    Every piece is tested over its own window of pixels, all windows at once (in chunks that bound
    memory). A window holds its piece plus the radius, cut to the image: a window wider than the image
    is the image, one sticking out is moved inside, where it still covers every pixel it could reach.
    """
    side = math.ceil(PIECE_LENGTH + 2 * radii.max().item()) + 2
    col_offsets = torch.arange(min(side, width), dtype=torch.float64)
    row_offsets = torch.arange(min(side, height), dtype=torch.float64)
    last = torch.tensor([width - len(col_offsets), height - len(row_offsets)], dtype=torch.float64)  # largest corner
    inside = torch.zeros(height * width, dtype=torch.bool)
    step = max(1, _WINDOW_BUDGET // (len(col_offsets) * len(row_offsets)))
    for chunk, radius in zip(pieces.split(step), radii.split(step)):
        if check_cancel is not None:
            check_cancel()
        corner = (chunk.amin(dim=1) - radius[:, None]).floor()  # [S, 2] top-left (col, row) of each window
        corner = torch.minimum(corner.clamp(min=0), last)
        cols = corner[:, 0, None, None] + col_offsets[None, None, :]  # [S, 1, side]
        rows = corner[:, 1, None, None] + row_offsets[None, :, None]  # [S, side, 1]
        start, along = chunk[:, 0, :, None, None], (chunk[:, 1] - chunk[:, 0])[..., None, None]  # [S, 2, 1, 1]
        dx, dy = cols + 0.5 - start[:, 0], rows + 0.5 - start[:, 1]
        length2 = (along * along).sum(1).clamp(min=torch.finfo(torch.float64).tiny)  # 0-length piece: t = 0
        t = ((dx * along[:, 0] + dy * along[:, 1]) / length2).clamp(0, 1)
        gap2 = (dx - t * along[:, 0]) ** 2 + (dy - t * along[:, 1]) ** 2  # [S, side, side]
        hit = gap2 <= radius[:, None, None] ** 2
        inside[(rows * width + cols).expand_as(hit)[hit].long()] = True
    return rearrange(inside, "(h w) -> h w", w=width)


def near_polyline(points: torch.Tensor, radius: float, height: int, width: int,
                  check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Pixels whose centre lies within ``radius`` of the polyline ``points`` [K, 2] (K = 1: a disk):
    [H, W] bool."""
    pieces = polyline_pieces(points.double())
    return cover_pieces(pieces, pieces.new_full((len(pieces),), float(radius)), height, width, check_cancel)


def brush_mask(drawing: Drawing, *, check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """The drawing's motion brush: [H, W] float32 on its canvas, 1 = painted = may move, 0 = held still.

    A pixel is painted when its centre lies within a stroke's radius of its polyline; strokes apply
    in order and erase strokes clear. No strokes = no brush = everything may move (all ones).
    """
    height, width = drawing.height, drawing.width
    if not drawing.strokes:
        return torch.ones(height, width)
    painted = torch.zeros(height, width, dtype=torch.bool)
    for stroke in drawing.strokes:
        region = near_polyline(torch.tensor(stroke.points), stroke.radius, height, width, check_cancel)
        painted = painted & ~region if stroke.erase else painted | region
    return painted.float()
