"""motion_i2v.trajectories: parsers, PCHIP / arc-length sampling, brush and preview rasterising.

``tests/data/trajectory_samples.json`` is the JS editor's reference; regenerate it with
``PYTHONPATH=. python3 tests/test_trajectories.py`` after a deliberate change to sampling.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from motion_i2v.easing import EASINGS
from motion_i2v.trajectories import (
    INTERPOLATIONS,
    PALETTE,
    BrushStroke,
    TrackSpec,
    Trajectories,
    draw_trajectories,
    near_polyline,
    parse_trajectories,
    pchip,
    rasterize_brush,
    sample_track,
    sample_tracks,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parent / "data" / "trajectory_samples.json"
SAMPLE_FRAMES = 16
SAMPLE_TRACKS = {
    "official_three_clicks": {"points": [[10, 10], [100, 50], [60, 200]]},
    "two_points": {"points": [[0, 0], [300, 150]]},
    "anchor": {"points": [[256, 160]]},
    "flat_and_extremum": {"points": [[0, 0], [10, 100], [20, 100], [30, 0], [200, 10]]},
    "window": {"points": [[50, 50], [150, 80], [250, 60]], "start": 3, "end": 10},
    "ease_in": {"points": [[0, 0], [100, 40], [200, 0]], "easing": "ease_in"},
    "ease_out": {"points": [[0, 0], [100, 40], [200, 0]], "easing": "ease_out"},
    "ease_in_out_window": {"points": [[5, 300], [400, 20]], "start": 4, "end": 12, "easing": "ease_in_out"},
    "arc_length": {"points": [[20, 300], [200, 300], [220, 40], [500, 60]], "interpolation": "arc_length"},
    "arc_length_eased": {"points": [[0, 0], [30, 0], [30, 10]], "interpolation": "arc_length",
                         "easing": "ease_in_out", "start": 2, "end": 13},
}


def build_samples() -> dict:
    """Every SAMPLE_TRACKS case sampled to SAMPLE_FRAMES frames by ``sample_track``.

    Positions are rounded to 1e-9 px so the file does not churn with float noise. Layout, read by
    web/tests/trajectory_sampling.test.mjs: {"cases": [{"name", "frames", "track", "positions"}]}.
    """
    cases = []
    for name, track in SAMPLE_TRACKS.items():
        positions = sample_track(TrackSpec(**track), SAMPLE_FRAMES)
        rounded = [[round(x, 9), round(y, 9)] for x, y in positions.tolist()]
        cases.append({"name": name, "frames": SAMPLE_FRAMES, "track": track, "positions": rounded})
    return {"generator": "tests/test_trajectories.py::build_samples", "cases": cases}


def test_samples_file_is_up_to_date():
    stored = json.loads(SAMPLES.read_text())
    fresh = build_samples()
    assert [(c["name"], c["frames"], c["track"]) for c in stored["cases"]] == [
        (c["name"], c["frames"], c["track"]) for c in fresh["cases"]
    ], "run PYTHONPATH=. python3 tests/test_trajectories.py to regenerate"
    for old, new in zip(stored["cases"], fresh["cases"]):
        torch.testing.assert_close(torch.tensor(old["positions"]), torch.tensor(new["positions"]),
                                   rtol=0, atol=1e-8, msg=old["name"])


# ---------------------------------------------------------------------------------------------
# PCHIP and sampling


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_pchip_matches_scipy(count):
    interpolate = pytest.importorskip("scipy.interpolate")
    generator = torch.Generator().manual_seed(count)
    values = torch.randn(count, 3, generator=generator, dtype=torch.float64) * 50
    if count > 3:  # a flat secant and a repeated extremum exercise the zero-slope branches
        values[2] = values[1]
        values[3, 2] = values[2, 2]
    knots = torch.linspace(0, 1, count, dtype=torch.float64)
    query = torch.linspace(0, 1, 61, dtype=torch.float64)
    expected = interpolate.PchipInterpolator(knots.numpy(), values.numpy())(query.numpy())
    torch.testing.assert_close(pchip(knots, values, query), torch.from_numpy(expected), rtol=0, atol=1e-9)


def test_pchip_track_is_the_official_demo_interpolation():
    interpolate = pytest.importorskip("scipy.interpolate")
    clicks = [[100, 200], [180, 150], [260, 190], [300, 120]]
    t = torch.linspace(0, 1, len(clicks), dtype=torch.float64).numpy()
    new_t = torch.linspace(0, 1, 16, dtype=torch.float64).numpy()
    expected = interpolate.PchipInterpolator(t, torch.tensor(clicks, dtype=torch.float64).numpy())(new_t)
    torch.testing.assert_close(sample_track(TrackSpec(points=clicks), 16), torch.from_numpy(expected),
                               rtol=0, atol=1e-9)


def test_pchip_on_a_straight_line_is_the_line():
    positions = sample_track(TrackSpec(points=[[0, 0], [10, 20], [20, 40]]), 5)
    expected = torch.tensor([[5.0 * i, 10.0 * i] for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(positions, expected, rtol=0, atol=1e-12)


def test_pchip_hand_computed_corner():
    # x through 0, 30, 30 at t = 0, .5, 1: end slope (3 * 60 - 0) / 2 = 90, interior slope 0 (flat
    # secant); at t = .25 the Hermite cubic gives 0.125 * 0.5 * 90 + 0.5 * 30 = 20.625.
    positions = sample_track(TrackSpec(points=[[0, 0], [30, 0], [30, 10]]), 5)
    assert positions[1].tolist() == [20.625, 0.0]
    assert positions[2].tolist() == [30.0, 0.0]


def test_arc_length_moves_at_constant_speed_along_an_l():
    # the PCHIP curve through an L is the L itself (flat coordinates stay flat); its length is 40.
    # 1e-5 px: the table's linear inverse of the (non-uniform) speed, 2048 chords here
    positions = sample_track(TrackSpec(points=[[0, 0], [30, 0], [30, 10]], interpolation="arc_length"), 5)
    expected = torch.tensor([[0, 0], [10, 0], [20, 0], [30, 0], [30, 10]], dtype=torch.float64)
    torch.testing.assert_close(positions, expected, rtol=0, atol=1e-5)


def test_arc_length_of_a_curve_has_equal_steps():
    # a gently bent curve, so the chord of a ~1 px step equals its arc to far below the bound
    spec = TrackSpec(points=[[20, 200], [150, 100], [300, 150], [450, 60]], interpolation="arc_length")
    steps = sample_track(spec, 400).diff(dim=0).norm(dim=-1)
    assert steps.std() / steps.mean() < 1e-4
    by_index = sample_track(TrackSpec(points=spec.points), 400).diff(dim=0).norm(dim=-1)
    assert by_index.std() / by_index.mean() > 0.1  # the click-index parametrisation is not constant speed


@pytest.mark.parametrize("easing, curve", [
    ("linear", lambda s: s),
    ("ease_in", lambda s: s * s),
    ("ease_out", lambda s: 1 - (1 - s) ** 2),
    ("ease_in_out", lambda s: 3 * s * s - 2 * s**3),
])
def test_easing_of_a_two_point_track(easing, curve):
    positions = sample_track(TrackSpec(points=[[0, 7], [100, 7]], easing=easing), 5)
    expected = [[100 * curve(i / 4), 7.0] for i in range(5)]
    torch.testing.assert_close(positions, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)


def test_start_and_end_hold_the_track_outside_its_window():
    positions = sample_track(TrackSpec(points=[[0, 0], [100, 0]], start=2, end=6), 9)
    assert positions[:, 0].tolist() == [0, 0, 0, 25, 50, 75, 100, 100, 100]


def test_one_point_track_is_static():
    positions = sample_track(TrackSpec(points=[[12.5, 40]]), 6)
    assert positions.tolist() == [[12.5, 40.0]] * 6


@pytest.mark.parametrize("fields, frames, message", [
    ({"start": 15}, 16, "expected 0 <= start < end <= 15"),
    ({"end": 16}, 16, "expected 0 <= start < end <= 15"),
    ({"start": 3, "end": 3}, 16, "end: expected null or an integer frame after start 3"),
    ({"start": -1}, 16, "start: expected an integer frame >= 0"),
    ({"start": 1.5}, 16, "start: expected an integer frame >= 0"),
    ({}, 1, "frames: expected an integer of at least 2, got 1"),
])
def test_timing_errors(fields, frames, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        sample_tracks([TrackSpec(points=[[0, 0], [10, 0]], **fields)], frames, 64, 64)


def test_sample_tracks_stacks_frames_tracks_xy():
    trajectories = sample_tracks([TrackSpec(points=[[0, 0], [30, 0]]), TrackSpec(points=[[5, 6]])], 4, 64, 64)
    assert trajectories.path.shape == (4, 2, 2)  # [F, N, (x, y)]
    assert trajectories.path.dtype == torch.float32 and trajectories.visibility.all()
    assert trajectories.path[3].tolist() == [[30, 0], [5, 6]]


def test_no_tracks_is_an_error():
    with pytest.raises(ValueError, match="no tracks"):
        sample_tracks([], 16, 64, 64)


# ---------------------------------------------------------------------------------------------
# Parsing


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
    specs, strokes = parse_trajectories((ROOT / "examples" / "tracks.json").read_text(), 512, 320)
    assert len(specs) == 3 and len(strokes) >= 1
    assert any(len(spec.points) == 1 for spec in specs)
    specs, strokes = parse_trajectories((ROOT / "examples" / "tracks_kj.txt").read_text(), 512, 320)
    assert len(specs) == 2 and strokes == []


# ---------------------------------------------------------------------------------------------
# The Trajectories type


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


# ---------------------------------------------------------------------------------------------
# Rasterising


def _pixels(mask: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(p) for p in mask.nonzero().tolist()}  # (row, col)


def test_brush_disk_hand_computed():
    # centres within 1 of (2.5, 2.5): the pixel itself and its 4 neighbours (distance exactly 1 counts)
    mask = rasterize_brush([BrushStroke(((2.5, 2.5),), 1.0)], 5, 5)
    assert mask.dtype == torch.float32 and mask.shape == (5, 5)
    assert _pixels(mask) == {(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)}


def test_brush_segment_and_erase_hand_computed():
    # row 1's centres lie on the segment y = 1.5 for x in [0.5, 3.5]; row 0/2 centres are 1 away
    stroke = BrushStroke(((0.5, 1.5), (3.5, 1.5)), 0.5)
    assert _pixels(rasterize_brush([stroke], 6, 4)) == {(1, 0), (1, 1), (1, 2), (1, 3)}
    eraser = BrushStroke(((2.0, 2.0),), 0.8, erase=True)  # reaches centres (1.5, 1.5) and (2.5, 1.5)
    assert _pixels(rasterize_brush([stroke, eraser], 6, 4)) == {(1, 0), (1, 3)}
    assert _pixels(rasterize_brush([eraser, stroke], 6, 4)) == {(1, 0), (1, 1), (1, 2), (1, 3)}  # order matters


def test_no_strokes_means_everything_movable():
    assert torch.equal(rasterize_brush([], 7, 3), torch.ones(3, 7))


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


if __name__ == "__main__":
    SAMPLES.parent.mkdir(exist_ok=True)
    SAMPLES.write_text(json.dumps(build_samples(), indent=1) + "\n")
    print(f"wrote {SAMPLES}")
