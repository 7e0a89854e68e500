"""motion_i2v.tracks.overlay: tracks drawn over an image, in the editor's colours."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.tracks.overlay import overlay_tracks
from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.shared import BRUSH_OPACITY, BRUSH_TINT, PALETTE
from motion_i2v.tracks.value import Drawing, DrawnTrack


def test_preview_draws_anchors_lines_and_brush():
    tracks = sample_tracks(Drawing(80, 48, [DrawnTrack(points=[[10.5, 10.5]]), DrawnTrack(points=[[30, 30], [60, 30]])]), 8)
    background = torch.zeros(3, 48, 80)
    brush = torch.zeros(48, 80)
    brush[40:] = 1
    image = overlay_tracks(tracks, background, brush)
    assert image.shape == (3, 48, 80)
    assert image[:, 10, 10].tolist() == pytest.approx(PALETTE[0])  # the anchor's dot
    assert image[:, 30, 45].tolist() == pytest.approx(PALETTE[1])  # on the line
    assert image[:, 2, 70].tolist() == [0, 0, 0]  # untouched background
    # the editor's tint where movable: opacity * tint over black
    assert image[:, 46, 5].tolist() == pytest.approx([BRUSH_OPACITY * c for c in BRUSH_TINT])
    grey = overlay_tracks(tracks)
    assert grey[:, 2, 70].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"background: expected \[3, 48, 80\]"):
        overlay_tracks(tracks, torch.zeros(3, 10, 10))


def test_every_track_takes_the_shared_palette_in_order():
    # twelve anchors in a row: the palette cycles after its last colour, as the editor's trackColor does
    anchors = [DrawnTrack(points=[[8 + 16 * n, 8]]) for n in range(12)]
    image = overlay_tracks(sample_tracks(Drawing(192, 16, anchors), 2))
    for n in range(12):
        assert image[:, 8, 8 + 16 * n].tolist() == pytest.approx(PALETTE[n % len(PALETTE)]), f"track {n}"


def test_cancel_stops_between_tracks():
    calls = []

    def cancel():
        calls.append(1)
        if len(calls) == 2:
            raise InterruptedError("cancelled")

    tracks = sample_tracks(Drawing(64, 64, [DrawnTrack(points=[[8, 8]]), DrawnTrack(points=[[20, 20]])] * 3), 2)
    with pytest.raises(InterruptedError):
        overlay_tracks(tracks, check_cancel=cancel)
    assert len(calls) == 2
