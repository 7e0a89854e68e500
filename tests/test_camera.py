"""Camera presets and field composition against their closed forms; the shared easing curves."""

import math

import pytest
import torch

from motion_i2v.camera import PRESETS, add, camera_field, compose, progress
from motion_i2v import memory
from motion_i2v.easing import EASINGS, ease

H, W, F = 12, 20, 5


def _grid():
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return xs, ys


def test_easing_curves_match_their_formulas():
    s = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(ease(s, "linear"), s)
    assert torch.allclose(ease(s, "ease_in"), torch.tensor([0.0, 0.0625, 0.25, 1.0]))
    assert torch.allclose(ease(s, "ease_out"), torch.tensor([0.0, 0.4375, 0.75, 1.0]))
    assert torch.allclose(ease(s, "ease_in_out"), torch.tensor([0.0, 0.15625, 0.5, 1.0]))
    with pytest.raises(ValueError, match="easing: expected one of"):
        ease(s, "bounce")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("easing", EASINGS)
def test_every_preset_starts_still_and_has_the_field_shape(preset, easing):
    field = camera_field(preset, F, H, W, 1.5, easing=easing)
    assert field.shape == (F, 2, H, W) and field.dtype == torch.float32
    assert field[0].abs().max() == 0


def test_pan_is_uniform_and_follows_the_easing():
    field = camera_field("pan_x", F, H, W, 40.0, easing="ease_in")
    u = torch.tensor([0.0, 0.0625, 0.25, 0.5625, 1.0])  # s = i/4, u = s^2
    assert torch.allclose(field[:, 0], (40 * u)[:, None, None].expand(F, H, W))
    assert field[:, 1].abs().max() == 0
    down = camera_field("pan_y", F, H, W, -8.0)
    assert torch.allclose(down[-1, 1], torch.full((H, W), -8.0)) and down[:, 0].abs().max() == 0


@pytest.mark.parametrize("preset,scale", [("zoom_in", 1.5), ("zoom_out", 1 / 1.5)])
def test_zoom_field_is_scale_minus_one_times_offset_from_centre(preset, scale):
    field = camera_field(preset, F, H, W, 1.5)
    xs, ys = _grid()
    cx, cy = (W - 1) / 2, (H - 1) / 2
    assert torch.allclose(field[-1, 0], (scale - 1) * (xs - cx), atol=1e-5)
    assert torch.allclose(field[-1, 1], (scale - 1) * (ys - cy), atol=1e-5)
    # Geometric interpolation: halfway in time is the square root of the scale.
    middle = camera_field(preset, 3, H, W, 1.5)[1]
    assert torch.allclose(middle[0], (math.sqrt(scale) - 1) * (xs - cx), atol=1e-5)


def test_zoom_about_a_given_centre_keeps_that_point_still():
    field = camera_field("zoom_in", F, H, W, 2.0, center=(3.0, 4.0))
    assert field[:, :, 4, 3].abs().max() < 1e-6
    assert torch.allclose(field[-1, :, 4, 5], torch.tensor([2.0, 0.0]))  # (2-1) * (5-3, 4-4)


def test_rotation_field_is_rotated_offset_minus_offset():
    theta = math.radians(30.0)
    field = camera_field("rotate", F, H, W, 30.0)
    xs, ys = _grid()
    dx, dy = xs - (W - 1) / 2, ys - (H - 1) / 2
    # Counter-clockwise on screen with y down: (dx, dy) -> (cos dx + sin dy, -sin dx + cos dy).
    assert torch.allclose(field[-1, 0], math.cos(theta) * dx + math.sin(theta) * dy - dx, atol=1e-5)
    assert torch.allclose(field[-1, 1], -math.sin(theta) * dx + math.cos(theta) * dy - dy, atol=1e-5)
    quarter = camera_field("rotate", 2, 3, 3, 90.0)[-1]
    assert torch.allclose(quarter[:, 1, 2], torch.tensor([-1.0, -1.0]), atol=1e-6)  # right of centre -> above it


def test_composing_two_pans_sums_them():
    first = camera_field("pan_x", F, H, W, 6.0)
    then = camera_field("pan_y", F, H, W, -3.0)
    total = compose(first, then)
    assert torch.allclose(total, first + then, atol=1e-5)
    assert torch.allclose(add(first, then), first + then)


def test_zoom_after_zoom_multiplies_the_scales():
    first = camera_field("zoom_in", F, H, W, 1.2)
    then = camera_field("zoom_in", F, H, W, 1.5)
    total = compose(first, then)
    expected = camera_field("zoom_in", F, H, W, 1.8)
    # Points the first zoom pushes outside the image read a clamped border value, so compare inside.
    inner = (slice(None), slice(None), slice(3, H - 3), slice(5, W - 5))
    assert torch.allclose(total[inner], expected[inner], atol=1e-4)


def test_camera_on_a_moving_scene_equals_composition_everywhere():
    scene = camera_field("pan_x", F, H, W, 5.0)
    on_scene = camera_field("zoom_in", F, H, W, 1.5, scene=scene)
    expected = compose(scene, camera_field("zoom_in", F, H, W, 1.5))
    inner = (slice(None), slice(None), slice(None), slice(0, W - 8))
    assert torch.allclose(on_scene[inner], expected[inner], atol=1e-4)
    # Exact also where the pan leaves the image: zoom of (p + 5) about the centre, plus the pan.
    xs, _ = _grid()
    assert torch.allclose(on_scene[-1, 0], 5 + 0.5 * (xs + 5 - (W - 1) / 2), atol=1e-4)


def test_progress_of_a_single_frame_is_zero():
    assert progress(1).tolist() == [0.0]


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: camera_field("dolly", F, H, W, 1.0), "camera preset: expected one of"),
        (lambda: camera_field("zoom_in", F, H, W, 0.0), "scale factor > 0"),
        (lambda: camera_field("pan_x", 0, H, W, 1.0), r"camera motion frames: expected an integer in 1\.\.256, got 0"),
        (lambda: camera_field("pan_x", 257, H, W, 1.0), r"camera motion frames: expected an integer in 1\.\.256, got 257"),
        (lambda: camera_field("pan_x", F, H, 4097, 1.0), r"camera motion width: expected an integer in 1\.\.4096"),
        (lambda: camera_field("pan_x", F, H, W, 1e300), r"camera amount: expected a finite number in -4096\.0\.\.4096"),
        (lambda: camera_field("zoom_out", F, H, W, 1e-30), "scale factor > 0"),
        (lambda: camera_field(3, F, H, W, 1.0), "camera preset: expected one of .*, got 3"),
        (lambda: camera_field("rotate", F, H, W, 1.0, center=(float("inf"), 0.0)), "camera centre x"),
        (lambda: camera_field("pan_x", F, H, W, float("nan")), "finite"),
        (lambda: camera_field("pan_x", F, H, W, 1.0, scene=torch.zeros(F, 2, H, W + 1)), "scene motion field"),
        (lambda: compose(torch.zeros(F, 2, H, W), torch.zeros(F + 1, 2, H, W)), "compose: the motion fields differ"),
        (lambda: add(torch.zeros(F, 3, H, W), torch.zeros(F, 3, H, W)), r"expected shape \[F, 2, H, W\]"),
    ],
)
def test_bad_camera_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_camera_move_larger_than_the_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(memory, "ram_available", lambda: 16 * 2**30)
    # 256 frames at 4096x4096: 5 fields of 32 GiB each (the field, the grid and the product's temporaries)
    with pytest.raises(memory.NotEnoughMemory, match=r"camera motion \(256 frames at 4096x4096\): needs about "
                                                     r"160\.0 GiB of RAM, but 16\.0 GiB is available"):
        camera_field("pan_x", 256, 4096, 4096, 1.0)
    assert camera_field("pan_x", 16, 512, 512, 1.0).shape == (16, 2, 512, 512)  # 80 MiB: fits
