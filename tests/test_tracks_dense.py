"""motion_i2v.tracks.dense: the model-free field blended from tracks."""

from __future__ import annotations

import math
import time

import pytest
import torch

from motion_i2v.tracks.brush import Brush
from motion_i2v.tracks.dense import dense_field
from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.value import Drawing, DrawnTrack, Tracks

HEIGHT, WIDTH = 48, 64


def _tracks(*drawn, frames=5):
    return sample_tracks(Drawing(WIDTH, HEIGHT, [DrawnTrack(points=points) for points in drawn]), frames)


def test_shape_and_frame_zero():
    flow = dense_field(_tracks([[10.5, 20.5], [30.5, 25.5]], [[40, 10]]), radius=16)
    assert flow.shape == (5, 2, HEIGHT, WIDTH) and flow.dtype == torch.float32
    assert not flow[0].any()


def test_isolated_track_start_gets_its_exact_displacement():
    # pixel (row 20, col 10) has its centre on the start (10.5, 20.5), so its weight is exactly 1
    flow = dense_field(_tracks([[10.5, 20.5], [30.5, 25.5]]), radius=16)
    displacement = torch.tensor([[20.0 * i / 4, 5.0 * i / 4] for i in range(5)])
    assert torch.equal(flow[:, :, 20, 10], displacement)
    # a second track far away (about 50 px = 3 radii) changes that by a negligible weight
    flow = dense_field(_tracks([[10.5, 20.5], [30.5, 25.5]], [[60.5, 40.5], [50.5, 40.5]]), radius=16)
    torch.testing.assert_close(flow[:, :, 20, 10], displacement, rtol=0, atol=1e-5)


def test_lone_track_falls_off_as_a_gaussian_of_sigma_radius_over_two():
    flow = dense_field(_tracks([[20.5, 20.5], [28.5, 20.5]]), radius=16)
    assert flow[4, 0, 20, 36].item() == pytest.approx(8 * math.exp(-2))  # 16 px right of the start
    assert flow[4, 0, 20, 44].item() == pytest.approx(8 * math.exp(-4.5), rel=1e-5)  # 1.5 radii
    assert flow[4, :, 0, 63].abs().max() < 1e-3  # far corner: the background stays put


def test_overlapping_tracks_average_instead_of_adding():
    # two tracks 10 px apart with the same motion: the weights sum to > 1 between them, so the
    # normalised blend gives that motion, not twice it
    flow = dense_field(_tracks([[25.5, 20.5], [31.5, 20.5]], [[35.5, 20.5], [41.5, 20.5]]), radius=32)
    assert flow[4, 0, 20, 30].item() == pytest.approx(6.0)
    assert flow[4, 1, 20, 30].item() == pytest.approx(0.0)


def test_brush_zeroes_unpainted_pixels():
    tracks = _tracks([[20.5, 20.5], [28.5, 24.5]])
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[:, :24] = 1
    plain, brushed = dense_field(tracks, 16), dense_field(tracks, 16, Brush.from_mask(brush, HEIGHT, WIDTH))
    assert not brushed[:, :, :, 24:].any()
    assert torch.equal(brushed[:, :, :, :24], plain[:, :, :, :24])


def test_invisible_tracks_drop_out_of_their_frames():
    path = torch.tensor([[[10.5, 10.5]], [[14.5, 10.5]], [[18.5, 10.5]]])
    visibility = torch.tensor([[True], [False], [True]])
    flow = dense_field(Tracks(path, visibility, WIDTH, HEIGHT), radius=8)
    assert not flow[1].any()
    assert flow[2, 0, 10, 10] == 8


def test_radius_must_be_positive():
    with pytest.raises(ValueError, match="radius: expected a positive number of pixels, got 0"):
        dense_field(_tracks([[1, 1]]), radius=0)


def test_fast_enough_for_previews():
    # 16 frames at 320x512 with 10 tracks: the node promises an interactive preview. CPU time of
    # the process (all its threads), so other jobs sharing the machine do not make this flaky.
    drawn = [DrawnTrack(points=[[40 * k + 20, 100], [40 * k + 40, 200]]) for k in range(10)]
    tracks = sample_tracks(Drawing(512, 320, drawn), 16)
    best = math.inf
    for _ in range(5):
        start = time.process_time()
        dense_field(tracks, radius=64)
        best = min(best, time.process_time() - start)
    assert best < 0.3


def test_a_field_larger_than_the_memory_is_refused_before_allocating(monkeypatch):
    from motion_i2v import memory

    monkeypatch.setattr(memory, "ram_available", lambda: 2**30)
    path = torch.full((128, 1000, 2), 10.0)  # 1000 tracks over 128 frames of 4096x4096
    tracks = Tracks(path, torch.ones(128, 1000, dtype=torch.bool), 4096, 4096)
    # 4 bytes x (1000 + 5 x 128) floats per pixel x 4096^2 pixels = 102.5 GiB
    with pytest.raises(memory.NotEnoughMemory, match=r"tracks to motion field \(1000 tracks, 128 frames at "
                                                     r"4096x4096\): needs about 102\.5 GiB of RAM, but 1\.0 GiB"):
        dense_field(tracks)
