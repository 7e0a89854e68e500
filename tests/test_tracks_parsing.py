"""motion_i2v.trajectory_json: our widget JSON and KJNodes coordinates -> track specs and brush strokes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from motion_i2v.easing import EASINGS
from motion_i2v.tracks.value import INTERPOLATIONS, BrushStroke, TrackSpec
from motion_i2v.tracks.parsing import parse_trajectories

ROOT = Path(__file__).resolve().parents[1]


def _ours(tracks, brush=None, **top):
    data = {"version": 1, "width": 512, "height": 320, "tracks": tracks, **top}
    if brush is not None:
        data["brush"] = {"strokes": brush}
    return json.dumps(data)


def test_our_json_with_every_field():
    text = _ours(
        [{"points": [[10, 20], [30, 40]], "start": 1, "end": 9, "easing": "ease_out", "interpolation": "arc_length"},
         {"points": [[5, 5]]}],
        brush=[{"points": [[100, 100]], "radius": 24, "erase": False}, {"points": [[1, 2], [3, 4]], "radius": 3, "erase": True}],
    )
    specs, strokes = parse_trajectories(text, 512, 320)
    assert specs == [
        TrackSpec(points=((10.0, 20.0), (30.0, 40.0)), start=1, end=9, easing="ease_out", interpolation="arc_length"),
        TrackSpec(points=((5.0, 5.0),)),
    ]
    assert strokes == [BrushStroke(points=((100.0, 100.0),), radius=24), BrushStroke(((1.0, 2.0), (3.0, 4.0)), 3, True)]


def test_our_json_rescales_to_the_image():
    text = _ours([{"points": [[511, 0], [256, 160]]}], brush=[{"points": [[100, 40]], "radius": 20}])
    specs, strokes = parse_trajectories(text, 256, 80)  # x / 2, y / 4
    assert specs[0].points == ((255.0, 0.0), (128.0, 40.0))  # 255.5 clamped into the image
    assert strokes[0].points == ((50.0, 10.0),)
    assert strokes[0].radius == pytest.approx(20 * math.sqrt(0.5 * 0.25))


@pytest.mark.parametrize("text, message", [
    ("", "trajectories: empty"),
    ('{\n  "version": 1,\n  "width": 512,,\n  "tracks": []\n}', "not valid JSON at line 3, column 16"),
    ('{"width": 512, "height": 320, "tracks": []}', 'has no "version"'),
    ('{"version": 2, "width": 512, "height": 320, "tracks": []}', "unsupported version 2; this pack reads version 1"),
    (_ours([], colour="red"), r"unknown keys \['colour'\]"),
    (_ours([{"points": [[1, 1]], "speed": 2}]), r"track 0 has unknown keys \['speed'\]"),
    (_ours([{"points": []}]), "track 0: points: expected a non-empty list"),
    (_ours([{"points": [[1, 1]]}, {"start": 0}]), 'track 1 should be an object with "points"'),
    (_ours([{"points": [[1, "a"]]}]), r"track 0: point 0: expected \[x, y\] numbers"),
    ('{"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[1, NaN]]}]}', r"point 0 is not finite: \(1.0, nan\)"),
    (_ours([{"points": [[1, 1]]}], width=0), "canvas: expected a positive integer width and height"),
    (_ours({"points": [[1, 1]]}), '"tracks" should be a list'),
    (_ours([{"points": [[1, 1]]}], brush=[{"points": [[1, 1]], "radius": 0}]), "brush stroke 0: radius: expected a positive"),
    (_ours([{"points": [[1, 1]]}], brush=[{"points": [[1, 1]], "radius": 4, "erase": "no"}]), "brush stroke 0: erase"),
    ("42", "expected our JSON object"),
])
def test_our_json_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_trajectories(text, 512, 320)


def test_point_outside_the_image_is_named():
    text = _ours([{"points": [[1, 1]]}, {"points": [[0, 0], [5, 5], [600, 10]]}])
    with pytest.raises(ValueError) as error:
        parse_trajectories(text, 512, 320)
    assert str(error.value) == "trajectories: point 2 of track 1 is at (600.0, 10.0), outside the 512x320 image"


def test_choice_errors_list_the_real_choices():
    with pytest.raises(ValueError) as error:
        parse_trajectories(_ours([{"points": [[1, 1]], "easing": "bounce"}]), 512, 320)
    assert f"expected one of {list(EASINGS)}, got 'bounce'" in str(error.value)
    with pytest.raises(ValueError) as error:
        parse_trajectories(_ours([{"points": [[1, 1]], "interpolation": "cardinal"}]), 512, 320)
    assert f"expected one of {list(INTERPOLATIONS)}, got 'cardinal'" in str(error.value)


def test_kj_formats():
    one = '[{"x": 10, "y": 20}, {"x": 30, "y": 40}]'
    several = '[[{"x": 10, "y": 20}], [{"x": 1, "y": 2}, {"x": 3, "y": 4}]]'
    assert [s.points for s in parse_trajectories(one, 64, 64)[0]] == [((10.0, 20.0), (30.0, 40.0))]
    assert [s.points for s in parse_trajectories(several, 64, 64)[0]] == [((10.0, 20.0),), ((1.0, 2.0), (3.0, 4.0))]
    assert parse_trajectories(one.replace('"', "'"), 64, 64) == parse_trajectories(one, 64, 64)
    strings = json.dumps([one, several])  # AppendStringsToList's list of coordinate strings
    assert len(parse_trajectories(strings, 64, 64)[0]) == 3
    assert parse_trajectories(one, 64, 64)[1] == []  # KJ strings carry no brush


@pytest.mark.parametrize("text, message", [
    ("[]", "the coordinate list is empty"),
    ('[{"x": 1, "y": 2}, [{"x": 1, "y": 2}]]', "holds {\"x\": .., \"y\": ..} objects"),
    ('[{"x": 1}]', r'point 0 of track 0 should be \{"x": .., "y": ..\}'),
    ("[{'x': 1, 'y': }]", "not valid JSON at line 1, column 16"),
    ('[{"x": 100, "y": 2}]', r"point 0 of track 0 is at \(100.0, 2.0\), outside the 64x64 image"),
    ('["[1, 2]"]', "holds {\"x\": .., \"y\": ..} objects"),
])
def test_kj_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_trajectories(text, 64, 64)


def test_shipped_examples_parse():
    specs, strokes = parse_trajectories((ROOT / "example_inputs" / "tracks.json").read_text(), 512, 320)
    assert len(specs) == 3 and len(strokes) >= 1
    assert any(len(spec.points) == 1 for spec in specs)
    specs, strokes = parse_trajectories((ROOT / "example_inputs" / "tracks_kj.txt").read_text(), 512, 320)
    assert len(specs) == 2 and strokes == []
