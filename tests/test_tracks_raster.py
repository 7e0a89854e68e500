"""motion_i2v.tracks.raster: thick polylines and the motion brush, against hand-computed pixels and the definition."""

from __future__ import annotations

import torch

import time

import pytest

from motion_i2v.tracks.raster import brush_mask, near_polyline
from motion_i2v.tracks.value import BrushStroke, Drawing


def _pixels(mask: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(p) for p in mask.nonzero().tolist()}  # (row, col)


def test_brush_disk_hand_computed():
    # centres within 1 of (2.5, 2.5): the pixel itself and its 4 neighbours (distance exactly 1 counts)
    mask = brush_mask(Drawing(5, 5, strokes=[BrushStroke(((2.5, 2.5),), 1.0)]))
    assert mask.dtype == torch.float32 and mask.shape == (5, 5)
    assert _pixels(mask) == {(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)}


def test_brush_segment_and_erase_hand_computed():
    # row 1's centres lie on the segment y = 1.5 for x in [0.5, 3.5]; row 0/2 centres are 1 away
    stroke = BrushStroke(((0.5, 1.5), (3.5, 1.5)), 0.5)
    assert _pixels(brush_mask(Drawing(6, 4, strokes=[stroke]))) == {(1, 0), (1, 1), (1, 2), (1, 3)}
    eraser = BrushStroke(((2.0, 2.0),), 0.8, erase=True)  # reaches centres (1.5, 1.5) and (2.5, 1.5)
    assert _pixels(brush_mask(Drawing(6, 4, strokes=[stroke, eraser]))) == {(1, 0), (1, 3)}
    assert _pixels(brush_mask(Drawing(6, 4, strokes=[eraser, stroke]))) == {(1, 0), (1, 1), (1, 2), (1, 3)}  # order


def test_no_strokes_means_everything_movable():
    assert torch.equal(brush_mask(Drawing(7, 3)), torch.ones(3, 7))


def _brute_force(points, radius, height, width):
    """The definition, one segment at a time over the whole image."""
    rows, cols = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    points = torch.tensor(points, dtype=torch.float64)
    inside = torch.zeros(height, width, dtype=torch.bool)
    for a, b in zip(points, points[1:]) if len(points) > 1 else [(points[0], points[0])]:
        along = b - a
        length2 = float(along @ along)
        t = ((cols - a[0]) * along[0] + (rows - a[1]) * along[1]) / length2 if length2 else torch.zeros_like(cols)
        t = t.clamp(0, 1)
        inside |= (cols - a[0] - t * along[0]) ** 2 + (rows - a[1] - t * along[1]) ** 2 <= radius**2
    return inside


def test_polyline_matches_the_definition():
    generator = torch.Generator().manual_seed(3)
    for _ in range(12):
        count = int(torch.randint(1, 7, (1,), generator=generator))
        points = (torch.rand(count, 2, generator=generator, dtype=torch.float64) * torch.tensor([110.0, 90.0]) - 20)
        radius = float(torch.rand(1, generator=generator)) * 30 + 0.3
        got = near_polyline(points, radius, 50, 70)
        assert torch.equal(got, _brute_force(points.tolist(), radius, 50, 70))


def test_a_radius_past_the_image_costs_no_more_than_the_image():
    # 80000 px around a point of a 64 x 40 image once built a 160018-pixel-square window (3.2 GB); windows are
    # cut to the image now, so this is one 64 x 40 test and paints every pixel, as the definition says
    started = time.perf_counter()
    mask = near_polyline(torch.tensor([[10.0, 10.0], [50.0, 30.0]]), 8e4, 40, 64)
    assert mask.all() and time.perf_counter() - started < 2
    points = [[-30.0, 5.0], [20.0, 60.0], [90.0, -10.0]]  # windows sticking out on every side are moved inside
    for radius in (3.0, 25.0, 70.0, 500.0):
        assert torch.equal(near_polyline(torch.tensor(points), radius, 40, 64), _brute_force(points, radius, 40, 64))


def test_cancel_is_checked_while_painting():
    def cancel():
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        brush_mask(Drawing(64, 40, strokes=[BrushStroke(((1.0, 1.0), (60.0, 30.0)), 4.0)]), check_cancel=cancel)
