"""motion_i2v.tracks.sampling: drawn tracks at every frame (PCHIP and arc-length timing, easing, windows).

``tests/data/trajectory_samples.json`` is the JS editor's reference; regenerate it with
``PYTHONPATH=. python3 tests/test_tracks_sampling.py`` after a deliberate change to sampling.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from motion_i2v.tracks.sampling import sample_track, sample_tracks
from motion_i2v.tracks.value import Drawing, DrawnTrack

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
        positions = sample_track(DrawnTrack(**track), SAMPLE_FRAMES)
        rounded = [[round(x, 9), round(y, 9)] for x, y in positions.tolist()]
        cases.append({"name": name, "frames": SAMPLE_FRAMES, "track": track, "positions": rounded})
    return {"generator": "tests/test_tracks_sampling.py::build_samples", "cases": cases}


def test_samples_file_is_up_to_date():
    stored = json.loads(SAMPLES.read_text())
    fresh = build_samples()
    assert [(c["name"], c["frames"], c["track"]) for c in stored["cases"]] == [
        (c["name"], c["frames"], c["track"]) for c in fresh["cases"]
    ], "run PYTHONPATH=. python3 tests/test_tracks_sampling.py to regenerate"
    for old, new in zip(stored["cases"], fresh["cases"]):
        torch.testing.assert_close(torch.tensor(old["positions"]), torch.tensor(new["positions"]),
                                   rtol=0, atol=1e-8, msg=old["name"])


def test_pchip_track_is_the_official_demo_interpolation():
    interpolate = pytest.importorskip("scipy.interpolate")
    clicks = [[100, 200], [180, 150], [260, 190], [300, 120]]
    t = torch.linspace(0, 1, len(clicks), dtype=torch.float64).numpy()
    new_t = torch.linspace(0, 1, 16, dtype=torch.float64).numpy()
    expected = interpolate.PchipInterpolator(t, torch.tensor(clicks, dtype=torch.float64).numpy())(new_t)
    torch.testing.assert_close(sample_track(DrawnTrack(points=clicks), 16), torch.from_numpy(expected),
                               rtol=0, atol=1e-9)


def test_pchip_on_a_straight_line_is_the_line():
    positions = sample_track(DrawnTrack(points=[[0, 0], [10, 20], [20, 40]]), 5)
    expected = torch.tensor([[5.0 * i, 10.0 * i] for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(positions, expected, rtol=0, atol=1e-12)


def test_pchip_hand_computed_corner():
    # x through 0, 30, 30 at t = 0, .5, 1: end slope (3 * 60 - 0) / 2 = 90, interior slope 0 (flat
    # secant); at t = .25 the Hermite cubic gives 0.125 * 0.5 * 90 + 0.5 * 30 = 20.625.
    positions = sample_track(DrawnTrack(points=[[0, 0], [30, 0], [30, 10]]), 5)
    assert positions[1].tolist() == [20.625, 0.0]
    assert positions[2].tolist() == [30.0, 0.0]


def test_arc_length_moves_at_constant_speed_along_an_l():
    # the PCHIP curve through an L is the L itself (flat coordinates stay flat); its length is 40.
    # 1e-5 px: the table's linear inverse of the (non-uniform) speed, 2048 chords here
    positions = sample_track(DrawnTrack(points=[[0, 0], [30, 0], [30, 10]], interpolation="arc_length"), 5)
    expected = torch.tensor([[0, 0], [10, 0], [20, 0], [30, 0], [30, 10]], dtype=torch.float64)
    torch.testing.assert_close(positions, expected, rtol=0, atol=1e-5)


def test_arc_length_of_a_curve_has_equal_steps():
    # a gently bent curve, so the chord of a ~1 px step equals its arc to far below the bound
    track = DrawnTrack(points=[[20, 200], [150, 100], [300, 150], [450, 60]], interpolation="arc_length")
    steps = sample_track(track, 400).diff(dim=0).norm(dim=-1)
    assert steps.std() / steps.mean() < 1e-4
    by_index = sample_track(DrawnTrack(points=track.points), 400).diff(dim=0).norm(dim=-1)
    assert by_index.std() / by_index.mean() > 0.1  # the click-index parametrisation is not constant speed


@pytest.mark.parametrize("easing, curve", [
    ("linear", lambda s: s),
    ("ease_in", lambda s: s * s),
    ("ease_out", lambda s: 1 - (1 - s) ** 2),
    ("ease_in_out", lambda s: 3 * s * s - 2 * s**3),
])
def test_easing_of_a_two_point_track(easing, curve):
    positions = sample_track(DrawnTrack(points=[[0, 7], [100, 7]], easing=easing), 5)
    expected = [[100 * curve(i / 4), 7.0] for i in range(5)]
    torch.testing.assert_close(positions, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)


def test_start_and_end_hold_the_track_outside_its_window():
    positions = sample_track(DrawnTrack(points=[[0, 0], [100, 0]], start=2, end=6), 9)
    assert positions[:, 0].tolist() == [0, 0, 0, 25, 50, 75, 100, 100, 100]


def test_one_point_track_is_static():
    positions = sample_track(DrawnTrack(points=[[12.5, 40]]), 6)
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
        sample_tracks(Drawing(64, 64, [DrawnTrack(points=[[0, 0], [10, 0]], **fields)]), frames)


def test_sample_tracks_stacks_frames_tracks_xy():
    tracks = sample_tracks(Drawing(64, 64, [DrawnTrack(points=[[0, 0], [30, 0]]), DrawnTrack(points=[[5, 6]])]), 4)
    assert tracks.path.shape == (4, 2, 2)  # [F, N, (x, y)]
    assert tracks.path.dtype == torch.float32 and tracks.visibility.all()
    assert tracks.path[3].tolist() == [[30, 0], [5, 6]]


def test_no_tracks_is_an_error():
    with pytest.raises(ValueError, match="no tracks"):
        sample_tracks(Drawing(64, 64, []), 16)



def test_cancel_is_checked_between_tracks():
    def cancel():
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        sample_tracks(Drawing(64, 64, [DrawnTrack(points=[[0, 0], [10, 0]])]), 16, check_cancel=cancel)

if __name__ == "__main__":
    SAMPLES.parent.mkdir(exist_ok=True)
    SAMPLES.write_text(json.dumps(build_samples(), indent=1) + "\n")
    print(f"wrote {SAMPLES}")
