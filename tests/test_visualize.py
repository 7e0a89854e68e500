"""The Middlebury colour coding at known directions, the legend, arrows, the strip."""

import time

import pytest
import torch

from motion_i2v.visualize import color_wheel, draw_arrows, field_strip, flow_to_color, legend


def _one_pixel_fields(vectors):
    """[2, 2, 1, N]: frame 0 still, frame 1 holding one vector per pixel."""
    field = torch.zeros(2, 2, 1, len(vectors))
    field[1] = torch.tensor(vectors, dtype=torch.float32).T[:, None]
    return field


def test_wheel_has_the_middlebury_segments():
    wheel = torch.round(color_wheel() * 255)
    assert wheel.shape == (55, 3)  # 15 + 6 + 4 + 11 + 13 + 6
    assert wheel[0].tolist() == [255, 0, 0]  # red
    assert wheel[15].tolist() == [255, 255, 0]  # yellow
    assert wheel[21].tolist() == [0, 255, 0]  # green
    assert wheel[25].tolist() == [0, 255, 255]  # cyan
    assert wheel[36].tolist() == [0, 0, 255]  # blue
    assert wheel[49].tolist() == [255, 0, 255]  # magenta
    assert wheel[54].tolist() == [255, 0, 43]  # 255 - floor(255 * 5 / 6)


def test_axis_directions_get_the_known_colours():
    colors = flow_to_color(_one_pixel_fields([(3, 0), (-3, 0), (0, 3), (0, -3)]))[1, :, 0].T * 255
    assert torch.allclose(colors[0], torch.tensor([255.0, 0, 0]))  # +x: wheel index 0
    assert torch.allclose(colors[1], torch.tensor([0.0, 209, 255]))  # -x: index 27
    assert torch.allclose(colors[2], torch.tensor([255.0, 229.5, 0]))  # +y (down): between 13 and 14
    assert torch.allclose(colors[3], torch.tensor([88.0, 0, 255]))  # -y (up): between 40 and 41


def test_negative_zero_components_do_not_change_the_hue():
    field = -_one_pixel_fields([(-3, 0)])  # +x with dy = -0.0
    assert torch.allclose(flow_to_color(field)[1, :, 0, 0], torch.tensor([1.0, 0, 0]))


def test_zero_motion_is_white_and_saturation_grows_with_magnitude():
    field = _one_pixel_fields([(4, 0), (2, 0), (0, 0)])
    colors = flow_to_color(field)
    assert torch.equal(colors[0], torch.ones(3, 1, 3))
    assert torch.allclose(colors[1, :, 0, 1], torch.tensor([1.0, 0.5, 0.5]))  # half way from white to red
    assert torch.equal(flow_to_color(torch.zeros(3, 2, 4, 4)), torch.ones(3, 3, 4, 4))


def test_given_max_magnitude_darkens_longer_vectors():
    colors = flow_to_color(_one_pixel_fields([(4, 0)]), max_magnitude=2.0)
    assert torch.allclose(colors[1, :, 0, 0], torch.tensor([0.75, 0, 0]))
    with pytest.raises(ValueError, match="max_magnitude"):
        flow_to_color(torch.zeros(1, 2, 2, 2), max_magnitude=0.0)


def test_legend_centre_is_white_and_rim_is_the_wheel():
    picture = legend(65)  # centre pixel 32, rim 32 px away
    assert picture.shape == (3, 65, 65)
    assert torch.equal(picture[:, 32, 32], torch.ones(3))
    assert torch.allclose(picture[:, 32, 64], torch.tensor([1.0, 0, 0]))  # right of centre = +x = red
    assert torch.equal(picture[:, 0, 0], torch.ones(3))  # corner, outside the disk


def test_arrows_are_drawn_where_the_field_moves():
    field = torch.zeros(2, 2, 32, 32)
    field[1, 0, :, :16] = 10.0
    background = torch.full((1, 3, 32, 32), 0.5)
    drawn = draw_arrows(background, field, spacing=16, scale=1.0)
    assert drawn.shape == (2, 3, 32, 32)
    assert (drawn[0] - 0.5).abs().max() < 1 / 255  # no motion, no arrow
    changed = (drawn[1] - 0.5).abs().amax(0) > 0.01
    assert changed[8, 9:18].all()  # the shaft from (8, 8) to (18, 8)
    assert not changed[:, 24:].any()  # the still right half


def test_strip_shows_frames_and_legend():
    field = torch.zeros(16, 2, 20, 30)
    field[:, 0] = torch.arange(16.0).view(16, 1, 1)
    strip = field_strip(field, count=3, gap=2)
    assert strip.shape == (3, 20, 3 * (30 + 2) + 20)
    # Frames 5, 10, 15 share one scale: saturation 5/15, 10/15, 15/15 of red.
    assert torch.allclose(strip[:, 0, 0], torch.tensor([1.0, 2 / 3, 2 / 3]), atol=1e-5)
    assert torch.allclose(strip[:, 0, 64], torch.tensor([1.0, 0, 0]), atol=1e-5)


def test_bad_visualisation_inputs_raise():
    with pytest.raises(ValueError, match="arrow background: the image is 8x8 but the motion field is 9x8"):
        draw_arrows(torch.zeros(1, 3, 8, 8), torch.zeros(2, 2, 8, 9))
    with pytest.raises(ValueError, match="legend size"):
        legend(2)


class Cancelled(Exception):
    pass


def cancel_after(calls: int):
    """A check_cancel that lets ``calls`` calls pass and raises on the next, as ComfyUI does after Cancel."""
    made = []

    def check():
        made.append(1)
        if len(made) > calls:
            raise Cancelled
    return check, made


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -1.0, 1e9])
def test_arrow_scales_that_are_not_finite_and_positive_are_refused_before_drawing(scale):
    # NaN came through the API and hand-edited workflows: PIL then spent ~3 s per arrow, hours per field
    with pytest.raises(ValueError, match=r"arrow scale: expected a finite number > 0 and <= 1000\.0"):
        draw_arrows(torch.zeros(1, 3, 320, 512), torch.ones(16, 2, 320, 512), 4, scale)


def test_huge_displacements_draw_as_quickly_as_short_ones_and_look_the_same():
    background = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(2, 2, 64, 96)
    flow[1, 0], flow[1, 1] = 3e38, -1e38  # finite, but PIL walks every pixel of a 3e38-pixel line
    started = time.perf_counter()
    arrows = draw_arrows(background, flow, spacing=16, scale=1000.0)
    assert time.perf_counter() - started < 5
    # the same directions 3000 px long leave the 96x64 image the same way (the colours share one scale either way)
    assert torch.equal(arrows, draw_arrows(background, flow * 1e-35, spacing=16, scale=1.0))


def test_too_many_arrows_are_refused_with_the_spacing_to_raise():
    with pytest.raises(ValueError, match=r"arrow spacing: 1 pixels gives 2048x2048 arrows on each of 1 frames, more "
                                         r"than the 2097152 drawn at most; raise the spacing"):
        draw_arrows(torch.zeros(1, 3, 2048, 2048), torch.zeros(1, 2, 2048, 2048), spacing=1)


def test_cancel_stops_the_drawing_within_a_row_of_arrows():
    check, made = cancel_after(5)
    with pytest.raises(Cancelled):
        draw_arrows(torch.zeros(1, 3, 64, 64), torch.ones(16, 2, 64, 64), spacing=8, check_cancel=check)
    assert len(made) == 6  # 8 rows a frame: stopped in the first frame, at its sixth row
    check, made = cancel_after(0)
    with pytest.raises(Cancelled):
        flow_to_color(torch.ones(16, 2, 64, 64), check_cancel=check)


def test_colour_coding_is_the_same_in_groups_of_frames(monkeypatch):
    import motion_i2v.visualize as visualize

    flow = torch.randn(5, 2, 8, 8, generator=torch.Generator().manual_seed(1)) * 4
    whole = flow_to_color(flow)
    monkeypatch.setattr(visualize, "COLOR_CHUNK", 2 * 64)  # two frames a group
    made = []
    assert torch.equal(flow_to_color(flow, check_cancel=lambda: made.append(1)), whole)
    assert len(made) == 3  # frames 0-1, 2-3, 4


def test_max_magnitude_must_be_finite_and_positive():
    for value in (float("nan"), 0.0, -2.0, float("inf")):
        with pytest.raises(ValueError, match="max_magnitude: expected a finite number > 0"):
            flow_to_color(torch.zeros(1, 2, 4, 4), value)
