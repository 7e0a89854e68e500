"""motion_i2v.tracks.parsing: our widget JSON, KJNodes coordinates and hostile text -> a Drawing.

``tests/data/kj_outputs.json`` holds KJNodes outputs written from their format (ECOSYSTEM.md 2.3-2.7), not
from their code: SplineEditor's coord_str is ``json.dumps(splines if more than one else splines[0])`` of
integer {"x", "y"} samples, one per frame, on its mask_width x mask_height canvas (its default spline runs
from (0, mask_height) to (mask_width, 0)); old SplineEditors wrote ``str(list)`` with single quotes;
PointsEditor's positive_coords is ``json.dumps`` of the clicked points; AppendStringsToList gives a Python
list of the strings it joins. The JS tests (web/tests/) read the same file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from motion_i2v.easing import EASINGS
from motion_i2v.tracks.canvas import OffCanvasError
from motion_i2v.tracks.parsing import MAX_POINTS, MAX_TEXT, MAX_TRACKS, parse_drawing
from motion_i2v.tracks.value import INTERPOLATIONS, BrushStroke, Drawing, DrawnTrack

ROOT = Path(__file__).resolve().parents[1]
KJ = json.loads((ROOT / "tests" / "data" / "kj_outputs.json").read_text())


def _ours(tracks, brush=None, **top):
    data = {"version": 1, "width": 512, "height": 320, "tracks": tracks, **top}
    if brush is not None:
        data["brush"] = {"strokes": brush}
    return json.dumps(data)


def _points(drawing: Drawing) -> list:
    return [track.points for track in drawing.tracks]


def test_our_json_with_every_field():
    text = _ours(
        [{"points": [[10, 20], [30, 40]], "start": 1, "end": 9, "easing": "ease_out", "interpolation": "arc_length"},
         {"points": [[5, 5]]}],
        brush=[{"points": [[100, 100]], "radius": 24, "erase": False}, {"points": [[1, 2], [3, 4]], "radius": 3, "erase": True}],
    )
    drawing = parse_drawing(text, 512, 320)
    assert drawing == Drawing(512, 320, (
        DrawnTrack(points=((10.0, 20.0), (30.0, 40.0)), start=1, end=9, easing="ease_out", interpolation="arc_length"),
        DrawnTrack(points=((5.0, 5.0),)),
    ), (BrushStroke(points=((100.0, 100.0),), radius=24), BrushStroke(((1.0, 2.0), (3.0, 4.0)), 3, True)))


def test_our_json_rescales_to_the_image():
    text = _ours([{"points": [[511, 0], [256, 160]]}], brush=[{"points": [[100, 40]], "radius": 20}])
    drawing = parse_drawing(text, 256, 80)  # x / 2, y / 4
    assert (drawing.width, drawing.height) == (256, 80)
    assert drawing.tracks[0].points == ((255.0, 0.0), (128.0, 40.0))  # 255.5 moved onto the edge
    assert drawing.strokes[0].points == ((50.0, 10.0),)
    assert drawing.strokes[0].radius == pytest.approx(20 * math.sqrt(0.5 * 0.25))


@pytest.mark.parametrize("text, message", [
    ("", "trajectories: empty"),
    ('{\n  "version": 1,\n  "width": 512,,\n  "tracks": []\n}', "not valid JSON at line 3, column 16"),
    ('{"width": 512, "height": 320, "tracks": []}', 'has no "version"'),
    ('{"version": 2, "width": 512, "height": 320, "tracks": []}', "unsupported version 2; this pack reads version 1"),
    (_ours([], colour="red"), r"unknown keys \['colour'\]"),
    (_ours([{"points": [[1, 1]], "speed": 2}]), r"track 0 has unknown keys \['speed'\]"),
    (_ours([{"points": []}]), "track 0: points: expected a non-empty list"),
    (_ours([{"points": [[1, 1]]}, {"start": 0}]), 'track 1 should be an object with "points"'),
    (_ours([{"points": [[1, "a"]]}]), r"track 0: point 0: expected \[x, y\] numbers, got \[1, 'a'\]"),
    (_ours([{"points": [[1, True]]}]), r"track 0: point 0: expected \[x, y\] numbers"),
    (_ours([{"points": [[1, 1]]}], width=0), "canvas: expected a positive integer width and height"),
    (_ours([{"points": [[1, 1]]}], width=1 << 20), "canvas: 1048576x320 is larger than 65536 pixels a side"),
    (_ours({"points": [[1, 1]]}), '"tracks" should be a list'),
    (_ours([{"points": [[1, 1]]}], brush=[{"points": [[1, 1]], "radius": 0}]), "brush stroke 0: radius: expected a positive"),
    (_ours([{"points": [[1, 1]]}], brush=[{"points": [[1, 1]], "radius": 4, "erase": "no"}]), "brush stroke 0: erase"),
    (_ours([{"points": [[1, 1]]}], brush=[{"points": [[1, 1]], "radius": 8e4}]),
     r"brush stroke 0: radius 80000.0 is more than the 512x320 canvas's diagonal \(603.8 pixels\)"),
    ("42", "expected our JSON object"),
])
def test_our_json_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_drawing(text, 512, 320)


def test_point_outside_the_canvas_is_named():
    text = _ours([{"points": [[1, 1]]}, {"points": [[0, 0], [5, 5], [600, 10]]}])
    with pytest.raises(OffCanvasError) as error:
        parse_drawing(text, 512, 320)
    assert str(error.value) == "trajectories: point 2 of track 1 is at (600.0, 10.0), outside the 512x320 canvas"


def test_choice_errors_list_the_real_choices():
    with pytest.raises(ValueError) as error:
        parse_drawing(_ours([{"points": [[1, 1]], "easing": "bounce"}]), 512, 320)
    assert f"expected one of {list(EASINGS)}, got 'bounce'" in str(error.value)
    with pytest.raises(ValueError) as error:
        parse_drawing(_ours([{"points": [[1, 1]], "interpolation": "cardinal"}]), 512, 320)
    assert f"expected one of {list(INTERPOLATIONS)}, got 'cardinal'" in str(error.value)


# ----------------------------------------------------------------------------------------------- KJNodes


def test_kj_formats():
    one = '[{"x": 10, "y": 20}, {"x": 30, "y": 40}]'
    several = '[[{"x": 10, "y": 20}], [{"x": 1, "y": 2}, {"x": 3, "y": 4}]]'
    assert _points(parse_drawing(one, 64, 64)) == [((10.0, 20.0), (30.0, 40.0))]
    assert _points(parse_drawing(several, 64, 64)) == [((10.0, 20.0),), ((1.0, 2.0), (3.0, 4.0))]
    assert parse_drawing(one.replace('"', "'"), 64, 64) == parse_drawing(one, 64, 64)
    assert len(parse_drawing(json.dumps([one, several]), 64, 64).tracks) == 3  # a JSON list of strings
    assert parse_drawing(one, 64, 64).strokes == ()  # KJ strings carry no brush


def test_kj_default_spline_starts_on_the_border_and_is_accepted():
    # issue 14.1: SplineEditor's default spline runs from (0, H) to (W, 0), on the border: moved onto the canvas
    drawing = parse_drawing(KJ["spline_default_512x320"], 512, 320)
    (track,) = drawing.tracks
    assert len(track.points) == 16 and track.points[0] == (0.0, 319.0) and track.points[-1] == (511.0, 0.0)


def test_kj_canvas_stretched_from_the_source_size():
    # issue 14.2: drawn on SplineEditor's 512 x 512 canvas, used on a 512 x 320 image
    with pytest.raises(OffCanvasError, match=r"point 0 of track 0 is at \(0.0, 512.0\), outside the 512x320 canvas"
                                             r"; see source"):
        parse_drawing(KJ["spline_default_512x512"], 512, 320, foreign_hint="; see source")
    drawing = parse_drawing(KJ["spline_default_512x512"], 512, 320, source=(512, 512))
    raw = json.loads(KJ["spline_default_512x512"])
    assert drawing.tracks[0].points[0] == (0.0, 319.0)  # (0, 512) -> its edge 511 -> x 320/512 = 319.4 -> the edge
    assert drawing.tracks[0].points[1] == pytest.approx((raw[1]["x"], raw[1]["y"] * 320 / 512))
    assert (drawing.width, drawing.height) == (512, 320)


def test_kj_lists_as_appendstringstolist_gives_them():
    # issue 14.3: a Python list of coordinate strings, or of parsed track lists, wherever a string goes
    joined = parse_drawing(KJ["append_strings_to_list"], 512, 320)
    assert len(joined.tracks) == 2
    assert joined == parse_drawing(KJ["two_splines_512x320"], 512, 320)
    parsed = [json.loads(text) for text in KJ["append_strings_to_list"]]
    assert parse_drawing(parsed, 512, 320) == joined
    assert parse_drawing([KJ["two_splines_512x320"], KJ["legacy_single_quotes"]], 512, 320).tracks[2] == joined.tracks[1]
    with pytest.raises(ValueError, match="item 1 of the list is an empty string"):
        parse_drawing([KJ["legacy_single_quotes"], ""], 512, 320)
    with pytest.raises(ValueError, match="trajectories: the coordinate list is empty"):
        parse_drawing([], 512, 320)


def test_points_editor_points_are_anchors_or_one_track():
    # issue 14.5: two PointsEditor points are two still anchors with point_lists="anchors"
    anchors = parse_drawing(KJ["points_editor_two_points"], 512, 320, point_lists="anchors")
    assert _points(anchors) == [((100.0, 200.0),), ((400.0, 80.0),)]
    assert _points(parse_drawing(KJ["points_editor_two_points"], 512, 320)) == [((100.0, 200.0), (400.0, 80.0))]
    with pytest.raises(ValueError, match=r"point_lists: expected one of \['tracks', 'anchors'\], got 'dots'"):
        parse_drawing(KJ["points_editor_two_points"], 512, 320, point_lists="dots")


@pytest.mark.parametrize("text, message", [
    ("[]", "the coordinate list is empty"),
    ('[{"x": 1, "y": 2}, [{"x": 1, "y": 2}]]', r"item 0 of the list should be a non-empty coordinate list"),
    ('[{"x": 1}]', r'point 0 of track 0 should be \{"x": .., "y": ..\}'),
    ('[{"x": "1", "y": 2}]', r"track 0: point 0: expected \[x, y\] numbers, got \('1', 2\)"),
    ("[{'x': 1, 'y': }]", "not valid JSON at line 1, column 16"),
    ('[{"x": 100, "y": 2}]', r"point 0 of track 0 is at \(100.0, 2.0\), outside the 64x64 canvas"),
    ('["[1, 2]"]', r'holds \{"x": .., "y": ..\} objects'),
])
def test_kj_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_drawing(text, 64, 64)


def test_shipped_examples_parse():
    drawing = parse_drawing((ROOT / "example_inputs" / "tracks.json").read_text(), 512, 320)
    assert len(drawing.tracks) == 3 and len(drawing.strokes) >= 1
    assert any(len(track.points) == 1 for track in drawing.tracks)
    drawing = parse_drawing((ROOT / "example_inputs" / "tracks_kj.txt").read_text(), 512, 320)
    assert len(drawing.tracks) == 2 and drawing.strokes == ()


# ----------------------------------------------------------------------------------------------- hostile text


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nests lists or objects deeper than can be read"),
    ('{"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[1, NaN]]}]}', "the JSON holds NaN"),
    ('[{"x": Infinity, "y": 1}]', "the JSON holds Infinity"),
    ('[{"x": -Infinity, "y": 1}]', "the JSON holds -Infinity"),
    ('[{"x": 1e999, "y": 1}]', "the JSON number 1e999 is too large to be finite"),
    ('[{"x": ' + "9" * 5000 + ', "y": 1}]', "has more digits than any size or coordinate"),
    ("[" + " " * MAX_TEXT + "]", f"the text is {MAX_TEXT + 2} characters long; at most {MAX_TEXT} are read"),
    (json.dumps([[{"x": 1, "y": 1}]] * (MAX_TRACKS + 1)), f"holds {MAX_TRACKS + 1} items; at most {MAX_TRACKS}"),
    (_ours([{"points": [[1, 1]] * (MAX_POINTS + 1)}]), f"track 0's points holds {MAX_POINTS + 1} items"),
    (_ours([{"points": [[1, 1]], "easing": [[[[[[["deep"]]]]]]]}]), r"easing: expected a name, got \[\[\[\[\.\.\.\]\]\]\]"),
    (_ours([{"points": [[1, 1]], "start": "0"}]), "start: expected an integer frame >= 0, got '0'"),
])
def test_hostile_text_gets_our_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_drawing(text, 64, 64)


def test_cancel_is_checked_between_tracks():
    calls = []

    def cancel():
        calls.append(1)
        if len(calls) == 3:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        parse_drawing(_ours([{"points": [[1, 1]]}] * 10), 512, 320, check_cancel=cancel)
    assert len(calls) == 3
