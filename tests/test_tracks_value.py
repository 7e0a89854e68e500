"""motion_i2v.trajectories: the per-frame Trajectories type (TRACKS dicts, validation, resampling, merging)."""

from __future__ import annotations

import math

import pytest
import torch

from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.value import TrackSpec, Trajectories


def test_tracks_dict_round_trip_and_core_dicts():
    trajectories = sample_tracks([TrackSpec(points=[[0, 0], [30, 0]])], 4, 64, 48)
    tracks = trajectories.to_tracks()
    assert set(tracks) == {"track_path", "track_visibility", "width", "height"}
    back = Trajectories.from_tracks(tracks, width=1, height=1)  # the dict's own size wins
    assert (back.width, back.height) == (64, 48) and torch.equal(back.path, trajectories.path)
    core = {"track_path": tracks["track_path"], "track_visibility": tracks["track_visibility"]}
    with pytest.raises(ValueError, match="carries no width/height"):
        Trajectories.from_tracks(core)
    assert Trajectories.from_tracks(core, 64, 48).width == 64
    assert Trajectories.from_tracks({"track_path": tracks["track_path"]}, 64, 48).visibility.all()


@pytest.mark.parametrize("path, visibility, message", [
    (torch.zeros(4, 2), torch.ones(4, 2, dtype=torch.bool), r"track_path \[F, N, 2\]"),
    (torch.zeros(4, 2, 2), torch.ones(4, 3, dtype=torch.bool), r"track_visibility \[F, N\] = \[4, 2\] bool"),
    (torch.full((4, 2, 2), math.nan), torch.ones(4, 2, dtype=torch.bool), "NaN or infinite"),
    (torch.zeros(4, 2, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.bool), "must hold floats"),
])
def test_trajectories_validation(path, visibility, message):
    with pytest.raises(ValueError, match=message):
        Trajectories(path, visibility, 64, 64)


def test_resampled_rescaled_merged():
    path = torch.tensor([[[0.0, 0.0]], [[10.0, 5.0]], [[20.0, 10.0]], [[30.0, 15.0]]])  # a straight line, T = 4
    visibility = torch.tensor([[True], [True], [False], [False]])
    trajectories = Trajectories(path, visibility, 64, 32)
    longer = trajectories.resampled(7)
    torch.testing.assert_close(longer.path[:, 0, 0], torch.linspace(0, 30, 7))
    assert longer.visibility[:, 0].tolist() == [True, True, True, False, False, False, False]  # nearest of 0, .5, 1, ...
    bigger = trajectories.rescaled(128, 16)
    assert bigger.path[3, 0].tolist() == [60.0, 7.5]
    assert trajectories.merged(trajectories).count == 2
    with pytest.raises(ValueError, match="cannot merge 1 tracks of 7 frames"):
        trajectories.merged(longer)
