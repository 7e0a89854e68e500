"""motion_i2v.tracks.hint (and brush.Brush): the official sparse hint, against hand-computed small grids (H = 10, W = 12)."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.tracks.brush import Brush
from motion_i2v.tracks.hint import sparse_hint
from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.value import Drawing, DrawnTrack, Tracks

HEIGHT, WIDTH = 10, 12


def _square(rows: slice, cols: slice) -> torch.Tensor:
    region = torch.zeros(HEIGHT, WIDTH)
    region[rows, cols] = 1
    return region


def test_one_track_writes_its_displacement_in_a_square_at_its_start():
    # P = (5, 4), (6, 3.5), (7, 3) at frames 0, 1, 2; r = 2: rows [2, 6), cols [3, 7)
    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 4], [7, 3]])]), 3)
    flow, mask = sparse_hint(tracks, flow_unit=2)
    assert flow.shape == (3, 2, HEIGHT, WIDTH) and mask.shape == (3, HEIGHT, WIDTH)
    assert flow.dtype == torch.float32 and mask.dtype == torch.float32
    square = _square(slice(2, 6), slice(3, 7))
    for frame, (dx, dy) in enumerate([(0, 0), (1, -0.5), (2, -1)]):
        assert torch.equal(flow[frame, 0], dx * square) and torch.equal(flow[frame, 1], dy * square)
        assert torch.equal(mask[frame], square)


def test_square_centre_is_the_pixel_holding_the_start_and_clips_at_the_border():
    # (0.7, 8.9) lies in pixel (col 0, row 8); r = 3: rows [5, 11) -> [5, 10), cols [-3, 3) -> [0, 3)
    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[0.7, 8.9], [3.7, 8.9]])]), 2)
    flow, mask = sparse_hint(tracks, flow_unit=3)
    square = _square(slice(5, 10), slice(0, 3))
    assert torch.equal(mask[1], square)
    torch.testing.assert_close(flow[1, 0], 3 * square)
    assert not flow[1, 1].any()


def test_later_tracks_overwrite_earlier_ones():
    tracks = [DrawnTrack(points=[[4, 4], [5, 4]]), DrawnTrack(points=[[6, 5], [6, 7]])]
    flow, mask = sparse_hint(sample_tracks(Drawing(WIDTH, HEIGHT, tracks), 2), flow_unit=2)
    first, second = _square(slice(2, 6), slice(2, 6)), _square(slice(3, 7), slice(4, 8))
    only_first = first * (1 - second)
    assert torch.equal(flow[1, 0], only_first)  # dx = 1 survives only where the second square is absent
    assert torch.equal(flow[1, 1], 2 * second)
    assert torch.equal(mask[1], torch.maximum(first, second))


def test_invisible_frames_are_skipped():
    path = torch.tensor([[[5.0, 5.0]], [[6.0, 5.0]], [[7.0, 5.0]]])
    visibility = torch.tensor([[True], [False], [True]])
    flow, mask = sparse_hint(Tracks(path, visibility, WIDTH, HEIGHT), flow_unit=1)
    assert not mask[1].any() and not flow[1].any()
    assert mask[2, 5, 5] == 1 and flow[2, 0, 5, 5] == 2


def test_one_point_track_is_an_exact_anchor():
    # deliberate deviation from the demo's [p, p + (1, 1)]: zero displacement, mask 1
    flow, mask = sparse_hint(sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 5]])]), 4), flow_unit=1)
    assert not flow.any()
    assert torch.equal(mask[3], _square(slice(4, 6), slice(4, 6)))


def test_brush_holds_unpainted_pixels_still_with_an_explicit_hint():
    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 4], [7, 3]])]), 3)
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[:, :5] = 1  # painted = movable: the left 5 columns
    flow, mask = sparse_hint(tracks, flow_unit=2, brush=Brush.from_mask(brush, HEIGHT, WIDTH))
    square = _square(slice(2, 6), slice(3, 7))
    assert torch.equal(flow[2, 0], 2 * square * brush)
    assert torch.equal(mask[2], torch.maximum(square, 1 - brush))


def test_empty_brush_means_no_brush_as_in_the_demo():
    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 4], [7, 3]])]), 3)
    plain = sparse_hint(tracks, flow_unit=2)
    for brush in (torch.zeros(HEIGHT, WIDTH), torch.ones(HEIGHT, WIDTH), torch.full((HEIGHT, WIDTH), 0.5)):
        assert Brush.from_mask(brush, HEIGHT, WIDTH) is None  # nothing painted, or nothing held: no brush
    flow, mask = sparse_hint(tracks, flow_unit=2, brush=None)
    assert torch.equal(flow, plain[0]) and torch.equal(mask, plain[1])


@pytest.mark.parametrize("mask, message", [
    (torch.ones(HEIGHT, WIDTH + 1), "brush: the mask is 13x10 but the image is 12x10"),
    (torch.ones(1, HEIGHT, WIDTH), r"brush: expected a mask \[H, W\], got \[1, 10, 12\]"),
    (torch.full((HEIGHT, WIDTH), float("nan")), "brush: contains NaN or infinite values"),
    ([[1.0]], r"brush: expected a mask \[H, W\], got list"),
])
def test_a_brush_is_checked_when_made(mask, message):
    with pytest.raises(ValueError, match=message):
        Brush.from_mask(mask, HEIGHT, WIDTH)


@pytest.mark.parametrize("flow_unit, brush, message", [
    (0, None, "flow_unit: expected an integer number of pixels >= 1, got 0"),
    (2.5, None, "flow_unit: expected an integer"),
    (2, Brush(torch.ones(HEIGHT, WIDTH + 1, dtype=torch.bool)), "brush: the mask is 13x10 but the tracks' canvas is 12x10"),
])
def test_errors(flow_unit, brush, message):
    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 4]])]), 2)
    with pytest.raises(ValueError, match=message):
        sparse_hint(tracks, flow_unit=flow_unit, brush=brush)


def test_cancel_is_checked_between_tracks():
    def cancel():
        raise InterruptedError("cancelled")

    tracks = sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=[[5, 4]])]), 2)
    with pytest.raises(InterruptedError):
        sparse_hint(tracks, flow_unit=2, check_cancel=cancel)
