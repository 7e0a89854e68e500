"""motion_i2v.tracks.value: the value types (Tracks, Drawing) and their invariants, the edge rule included."""

from __future__ import annotations

import math

import pytest
import torch

from motion_i2v.tracks.canvas import OffCanvasError, edge_margin
from motion_i2v.tracks.sampling import sample_tracks
from motion_i2v.tracks.value import VALUE_KEY, BrushStroke, Drawing, DrawnTrack, Tracks


def test_tracks_dict_round_trip_and_core_dicts():
    tracks = sample_tracks(Drawing(64, 48, [DrawnTrack(points=[[0, 0], [30, 0]])]), 4)
    socket = tracks.to_tracks()
    assert set(socket) == {"track_path", "track_visibility", "width", "height", VALUE_KEY}
    assert Tracks.from_tracks(socket) is tracks  # untouched: the value made and checked already
    copied = {key: value for key, value in socket.items() if key != VALUE_KEY}
    back = Tracks.from_tracks(copied, width=1, height=1)  # the dict's own canvas wins
    assert (back.width, back.height) == (64, 48) and torch.equal(back.path, tracks.path)
    edited = socket | {"track_path": socket["track_path"] + 100}  # another node changed it: checked again
    with pytest.raises(OffCanvasError):
        Tracks.from_tracks(edited)
    core = {"track_path": socket["track_path"], "track_visibility": socket["track_visibility"]}
    with pytest.raises(ValueError, match="carry no canvas size"):
        Tracks.from_tracks(core)
    assert Tracks.from_tracks(core, 64, 48).width == 64
    assert Tracks.from_tracks({"track_path": socket["track_path"]}, 64, 48).visibility.all()


def test_core_visibility_of_one_column_holds_for_every_track():
    # core GenerateTracks with a track_mask: (mask > 0).any(dim=(1, 2)).unsqueeze(-1) -> [F, 1]
    path = torch.tensor([[[1.0, 1.0], [2.0, 2.0]]] * 3)
    visibility = torch.tensor([[True], [False], [True]])
    tracks = Tracks.from_tracks({"track_path": path, "track_visibility": visibility}, 8, 8)
    assert tracks.visibility.tolist() == [[True, True], [False, False], [True, True]]


@pytest.mark.parametrize("path, visibility, message", [
    (torch.zeros(4, 2), torch.ones(4, 2, dtype=torch.bool), r"track_path \[F, N, 2\]"),
    (torch.zeros(4, 2, 2), torch.ones(4, 3, dtype=torch.bool), r"track_visibility \[F, N\] = \[4, 2\] bool"),
    (torch.full((4, 2, 2), math.nan), torch.ones(4, 2, dtype=torch.bool), "NaN or infinite"),
    (torch.zeros(4, 2, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.bool), "must hold floats"),
])
def test_tracks_validation(path, visibility, message):
    with pytest.raises(ValueError, match=message):
        Tracks(path, visibility, 64, 64)


def test_resampled_rescaled_merged():
    path = torch.tensor([[[0.0, 0.0]], [[10.0, 5.0]], [[20.0, 10.0]], [[30.0, 15.0]]])  # a straight line, T = 4
    visibility = torch.tensor([[True], [True], [False], [False]])
    tracks = Tracks(path, visibility, 64, 32)
    longer = tracks.resampled(7)
    torch.testing.assert_close(longer.path[:, 0, 0], torch.linspace(0, 30, 7))
    assert longer.visibility[:, 0].tolist() == [True, True, True, False, False, False, False]  # nearest of 0, .5, 1, ...
    bigger = tracks.rescaled(128, 16)
    assert bigger.path[3, 0].tolist() == [60.0, 7.5]
    assert tracks.merged(tracks).count == 2
    with pytest.raises(ValueError, match="cannot merge 1 tracks of 7 frames"):
        tracks.merged(longer)


def test_the_edge_rule_moves_near_points_onto_the_canvas():
    # 512 x 320: margins 3 % of a side = 15.36 px in x, 9.6 px in y; a point on the border x = W (KJNodes' canvas
    # edge) or 15 px out is moved onto the edge x = W - 1
    assert (edge_margin(512), edge_margin(320), edge_margin(8)) == (pytest.approx(15.36), pytest.approx(9.6), 2)
    path = torch.tensor([[[512.0, 320.0], [-15.0, 100.0], [300.0, -9.5]]])
    tracks = Tracks(path, torch.ones(1, 3, dtype=torch.bool), 512, 320)
    assert tracks.path.tolist() == [[[511.0, 319.0], [0.0, 100.0], [300.0, 0.0]]]
    drawing = Drawing(512, 320, [DrawnTrack(points=[[0, 320], [205, 150], [512, 0]])])
    assert drawing.tracks[0].points == ((0.0, 319.0), (205.0, 150.0), (511.0, 0.0))


def test_the_edge_rule_refuses_far_points_naming_them():
    path = torch.tensor([[[10.0, 10.0]], [[600.0, 10.0]]])
    with pytest.raises(OffCanvasError) as error:
        Tracks(path, torch.ones(2, 1, dtype=torch.bool), 512, 320)
    assert str(error.value) == "tracks: track 0 in frame 1 is at (600.0, 10.0), outside the 512x320 canvas"
    hidden = Tracks(path, torch.tensor([[True], [False]]), 512, 320)  # a hidden point may be anywhere
    assert hidden.path[1, 0].tolist() == [511.0, 10.0]
    with pytest.raises(OffCanvasError) as error:
        Drawing(512, 320, [DrawnTrack(points=[[1, 1]]), DrawnTrack(points=[[0, 0], [5, 5], [600, 10]])])
    assert str(error.value) == "trajectories: point 2 of track 1 is at (600.0, 10.0), outside the 512x320 canvas"
    with pytest.raises(OffCanvasError, match="point 0 of brush stroke 0 is at"):
        Drawing(64, 40, strokes=[BrushStroke(((200.0, 1.0),), 4.0)])


def test_drawing_radius_at_most_the_diagonal_and_rescaled_with_the_canvas():
    with pytest.raises(ValueError, match=r"brush stroke 0: radius 80000.0 is more than the 64x40 canvas's diagonal "
                                         r"\(75.5 pixels\)"):
        Drawing(64, 40, strokes=[BrushStroke(((10.0, 10.0),), 8e4)])
    drawing = Drawing(64, 40, [DrawnTrack(points=[[63, 39]])], [BrushStroke(((10.0, 10.0),), 75.0)])
    half = drawing.rescaled(32, 20)
    assert half.tracks[0].points == ((31.0, 19.0),)  # 63 / 2 = 31.5, half a pixel past the edge: moved onto it
    assert half.strokes[0].radius == pytest.approx(37.5)
    thin = Drawing(100, 2, strokes=[BrushStroke(((10.0, 1.0),), 100.0)])
    stretched = thin.rescaled(100, 20)  # y x 10: sqrt(10) * 100 > the new diagonal (102 px), so it is cut to it
    assert stretched.strokes[0].radius == pytest.approx(math.hypot(100, 20))
    assert drawing.rescaled(64, 40) is drawing
