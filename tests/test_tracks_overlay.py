"""motion_i2v.track_drawing: tracks drawn over an image."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.tracks.overlay import PALETTE, draw_trajectories
from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.value import TrackSpec


def test_preview_draws_anchors_lines_and_brush():
    trajectories = sample_tracks([TrackSpec(points=[[10.5, 10.5]]), TrackSpec(points=[[30, 30], [60, 30]])], 8, 80, 48)
    background = torch.zeros(3, 48, 80)
    brush = torch.zeros(48, 80)
    brush[40:] = 1
    image = draw_trajectories(trajectories, background, brush)
    assert image.shape == (3, 48, 80)
    assert image[:, 10, 10].tolist() == pytest.approx(PALETTE[0])  # the anchor's dot
    assert image[:, 30, 45].tolist() == pytest.approx(PALETTE[1])  # on the line
    assert image[:, 2, 70].tolist() == [0, 0, 0]  # untouched background
    assert image[:, 46, 5].tolist() == pytest.approx([0.15, 0.0, 0.15])  # purple tint where movable
    grey = draw_trajectories(trajectories)
    assert grey[:, 2, 70].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"background: expected \[3, 48, 80\]"):
        draw_trajectories(trajectories, torch.zeros(3, 10, 10))
