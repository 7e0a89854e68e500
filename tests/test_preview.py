"""The warped preview: identity, exact integer shifts, occlusion and hole filling, the affine fit."""

import math

import pytest
import torch

from motion_i2v.camera import camera_field
from motion_i2v.preview import background_plate, dominant_motion, fill_from, warp_preview
from motion_i2v.warp import backward_warp, forward_splat

H, W = 24, 40


def _image(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.2 + 0.8 * torch.rand(1, 3, H, W, generator=generator)


def _translation(dx, dy, frames=2):
    field = torch.zeros(frames, 2, H, W)
    field[-1, 0], field[-1, 1] = dx, dy
    return field


def test_zero_field_is_the_identity():
    image = _image()
    frames = warp_preview(image, torch.zeros(3, 2, H, W))
    assert frames.shape == (3, 3, H, W)
    assert torch.allclose(frames, image.expand(3, -1, -1, -1), atol=1e-6)


def test_integer_shift_moves_the_image_and_mirrors_into_the_uncovered_border():
    image = _image()
    last = warp_preview(image, _translation(3, -2))[-1]
    assert torch.allclose(last[:, : H - 2, 3:], image[0, :, 2:, : W - 3], atol=1e-6)
    # Uncovered: the left 3 columns and the bottom 2 rows read the image mirrored at its edge
    # pixel centres: column x - 3 < 0 reflects to 3 - x, row y + 2 > H - 1 to 2 (H - 1) - (y + 2).
    assert torch.allclose(last[:, : H - 2, 0], image[0, :, 2:, 3], atol=1e-5)
    assert torch.allclose(last[:, H - 1, 3:], image[0, :, H - 3, : W - 3], atol=1e-5)
    assert last.min() >= 0.2 - 1e-6  # nothing left black


def test_output_stays_in_range_for_wild_fields():
    generator = torch.Generator().manual_seed(1)
    field = 30 * torch.randn(4, 2, H, W, generator=generator)
    field[0] = 0
    frames = warp_preview(torch.rand(1, 3, H, W, generator=generator), field)
    assert frames.min() >= 0 and frames.max() <= 1 and torch.isfinite(frames).all()


def _square_scene():
    """A red 8x8 square at columns 10..17 on a blue background; the square moves 10 px right."""
    image = torch.zeros(1, 3, H, W)
    image[0, 2] = 1
    image[0, :, 8:16, 10:18] = torch.tensor([1.0, 0, 0]).view(3, 1, 1)
    field = torch.zeros(2, 2, H, W)
    field[1, 0, 8:16, 10:18] = 10
    return image, field


def test_moving_content_is_in_front_and_leaves_background_behind():
    image, field = _square_scene()
    last = warp_preview(image, field)[-1]
    red, blue = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, 1])
    # Softmax weights e^10 : e^0 leave the background a 5e-5 share where the square lands.
    assert torch.allclose(last[:, 8:16, 20:28], red.view(3, 1, 1).expand(3, 8, 8), atol=1e-4)
    # The square's old place, now uncovered, shows the background behind it, not a red copy.
    assert torch.allclose(last[:, 8:16, 10:20], blue.view(3, 1, 1).expand(3, 8, 10), atol=1e-6)


def test_what_a_dragged_object_uncovers_is_the_background_not_the_object():
    """A yellow square moves (10, 8) px and drags a ring of background 6 px wide half as far, as the
    fading fields of tracks and brushes do, over a vertical ramp. Where nothing lands, the frame must
    show the ramp that was there. (Reading frame 0 back along each pixel's own motion, the gap the
    square leaves in the moved ring read the square itself: a yellow ghost.)"""
    height, width = 48, 64
    ramp = torch.linspace(0.2, 0.8, height)[:, None].expand(height, width)
    background = torch.stack((0.5 * ramp, ramp, torch.full((height, width), 0.6)))
    image = background.clone()[None]
    image[0, :, 18:30, 20:32] = torch.tensor([1.0, 0.9, 0.1]).view(3, 1, 1)
    field = torch.zeros(2, 2, height, width)
    field[1, :, 12:36, 14:38] = torch.tensor([5.0, 4.0]).view(2, 1, 1)
    field[1, :, 18:30, 20:32] = torch.tensor([10.0, 8.0]).view(2, 1, 1)
    last = warp_preview(image, field)[-1]
    uncovered = forward_splat(torch.ones(1, 1, height, width), field[1:], mode="sum")[0, 0] == 0
    # the ring's trailing L (4 x 24 + 20 x 5) and the part of its inner gap the square leaves (4 x 12 + 8 x 5)
    assert uncovered.sum() == 284
    # 0.04: the fill is a smooth mix of the ramp around the dragged region; one row of ramp is 0.013
    assert (last - background).abs()[:, uncovered].max() < 0.04


def test_fill_from_keeps_the_known_pixels_and_fills_the_rest_from_them():
    generator = torch.Generator().manual_seed(2)
    for height, width in ((H, W), (1, 37), (37, 1), (5, 7)):
        values = torch.rand(1, 3, height, width, generator=generator)
        known = torch.ones(1, 1, height, width)
        known[..., height // 2, width // 2] = known[..., 0, 0] = 0
        filled = fill_from(values, known)
        assert torch.equal(filled * known, values * known)
        low, high = values.amin(dim=(2, 3)), values.amax(dim=(2, 3))  # a mix of known colours stays in their range
        for row, col in ((height // 2, width // 2), (0, 0)):
            assert ((filled[..., row, col] >= low) & (filled[..., row, col] <= high)).all()
    flat = torch.full((1, 3, H, W), 0.25)
    hidden = torch.zeros(1, 1, H, W)
    hidden[..., :, :4] = 1  # only a strip is known: the whole image becomes its colour
    torch.testing.assert_close(fill_from(flat * hidden + 0.9 * (1 - hidden), hidden), flat)


def test_background_plate_without_any_background_is_frame_0():
    image = _image()
    assert torch.equal(background_plate(image, torch.ones(1, 1, H, W, dtype=torch.bool)), image)
    assert torch.equal(background_plate(image, torch.zeros(1, 1, H, W, dtype=torch.bool)), image)


def test_a_zoom_in_fills_its_cracks_with_the_exact_inverse():
    ys, xs = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    smooth = torch.stack((xs, ys, 0.5 * (xs + ys)))[None]  # linear ramps: bilinear sampling is exact
    field = camera_field("zoom_in", 2, H, W, 3.0)
    last = warp_preview(smooth, field)[-1]
    # Ground truth: the content at q came from c + (q - c) / 3.
    inverse = camera_field("zoom_out", 2, H, W, 3.0)[-1:]
    expected = backward_warp(smooth, inverse)[0]
    assert torch.allclose(last, expected, atol=2e-3)


def test_dominant_motion_recovers_a_camera_despite_a_moving_object():
    camera = camera_field("rotate", 3, H, W, 12.0) + camera_field("pan_x", 3, H, W, 5.0)
    field = camera.clone()
    field[1:, :, 4:10, 4:12] += 15.0  # an object moving against the camera
    linear, offset = dominant_motion(field)
    angle = math.radians(12.0)
    turn = torch.tensor([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    assert torch.allclose(linear[-1], turn, atol=1e-3)
    assert torch.allclose(offset[-1], torch.tensor([5.0, 0.0]), atol=2e-2)
    assert torch.allclose(linear[0], torch.eye(2), atol=1e-6)


def test_preview_checks_the_image_against_the_field():
    with pytest.raises(ValueError, match="preview image: the image is 40x24 but the motion field is 41x24"):
        warp_preview(_image(), torch.zeros(2, 2, H, W + 1))
    with pytest.raises(ValueError, match=r"preview image: expected \[1, 3, H, W\]"):
        warp_preview(torch.zeros(2, 3, H, W), torch.zeros(2, 2, H, W))


def test_cancel_is_checked_between_the_steps_and_at_every_frame_of_the_splat():
    calls = []
    warp_preview(_image(), _translation(1.0, 0.0, frames=5), check_cancel=lambda: calls.append(1))
    assert len(calls) == 2 + 5  # after the fit, after the plate, and before each of the 5 frames' splat

    class Cancelled(Exception):
        pass

    def cancel():
        raise Cancelled

    with pytest.raises(Cancelled):
        warp_preview(_image(), _translation(1.0, 0.0, frames=5), check_cancel=cancel)


def test_a_preview_larger_than_the_memory_or_with_nan_pixels_is_refused(monkeypatch):
    from motion_i2v import memory

    monkeypatch.setattr(memory, "ram_available", lambda: 2**30)
    image, flow = torch.zeros(1, 3, 1024, 1024), torch.zeros(1, 2, 1024, 1024).expand(64, -1, -1, -1)
    # 24 fields of 64 x 2 x 1024 x 1024 float32: 12 GiB
    with pytest.raises(memory.NotEnoughMemory, match=r"warp preview \(64 frames at 1024x1024\): needs about 12\.0 GiB"):
        warp_preview(image, flow)
    image = _image()
    image[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="preview image: contains NaN or infinite values"):
        warp_preview(image, _translation(1.0, 0.0))
