"""The warped preview: identity, exact integer shifts, occlusion and hole filling, the affine fit."""

import math

import pytest
import torch

from motion_i2v.camera import camera_field
from motion_i2v.preview import dominant_motion, warp_preview
from motion_i2v.warp import backward_warp

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
