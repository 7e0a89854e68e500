"""The inverse of a field's forward map: which frame-0 point lands on each pixel, and which pixels none reaches."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.camera import camera_field
from motion_i2v.segments.inverse import invert, on_canvas, pixel_grid, sample_at
from motion_i2v.warp import backward_warp

pytestmark = pytest.mark.usefixtures("single_thread")
HEIGHT, WIDTH = 64, 96


def residual(displacement: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """|q + D(q) - p| per pixel p: [H, W]."""
    return (source + sample_at(displacement[None], source)[0] - pixel_grid(HEIGHT, WIDTH)).norm(dim=0)


@pytest.mark.parametrize("preset, amount, start_error", [
    ("pan_x", 20.3, 0.0),  # the start p - D(p) is exact for a translation
    ("zoom_in", 1.25, 0.2),
    ("zoom_out", 1.25, 0.5),
    ("rotate", 10.0, 1.0),
    ("zoom_in", 2.5, 1.0),  # |grad D| = 1.5: the plain fixed point q = p - D(q) diverges here
])
def test_newton_from_the_starts_solves_camera_maps(preset, amount, start_error):
    displacement = camera_field(preset, 2, HEIGHT, WIDTH, amount)[1]
    starts_only, refined = invert(displacement, iterations=0), invert(displacement)
    reached = refined.reached
    assert torch.equal(reached, starts_only.reached)
    assert residual(displacement, starts_only.source)[reached].max() >= start_error  # the better start
    assert residual(displacement, refined.source)[reached].max() < 1e-4


def test_what_came_in_from_outside_is_not_reached():
    displacement = camera_field("pan_x", 2, HEIGHT, WIDTH, 20.0)[1]  # content moves 20 px right
    inverse = invert(displacement)
    assert not inverse.reached[:, :20].any()  # columns 0..19 show what was left of the image
    assert inverse.reached[:, 20:].all()
    torch.testing.assert_close(inverse.source[:, :, 20:], pixel_grid(HEIGHT, WIDTH)[:, :, :-20])


def test_a_disocclusion_is_not_reached_and_an_occlusion_resolves_to_one_side():
    displacement = torch.zeros(2, HEIGHT, WIDTH)
    displacement[0, 16:32, 10:26] = 12  # a square moves 12 px right over a still background
    inverse = invert(displacement)
    uncovered = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    uncovered[16:32, 11:21] = True  # left behind by the square, one pixel from where frame-0 pixels land
    assert not (inverse.reached & uncovered).any()
    assert inverse.reached[~uncovered].float().mean() > 0.97
    # where square and background both land, the point found is one of them, exactly
    landed = inverse.source[:, 16:32, 27:37]
    grid = pixel_grid(HEIGHT, WIDTH)[:, 16:32, 27:37]
    from_square, from_background = (landed - (grid - torch.tensor([12.0, 0])[:, None, None])).norm(dim=0), \
        (landed - grid).norm(dim=0)
    assert (torch.minimum(from_square, from_background) < 1e-4).all()


def test_magnified_content_leaves_unreached_pixels_with_exact_sources():
    displacement = camera_field("zoom_in", 2, HEIGHT, WIDTH, 3.0)[1]
    inverse = invert(displacement)
    assert 0.1 < inverse.reached.float().mean() < 0.2  # landing points 3 px apart, on pixels: 1 in 9 reached
    interior = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    interior[4:-4, 4:-4] = True
    assert residual(displacement, inverse.source)[interior].max() < 1e-3  # the inverse holds between them too


def test_sample_at_is_bilinear_inside_and_linear_just_outside():
    values = torch.randn(3, 2, 7, 9, generator=torch.Generator().manual_seed(0))
    grid = pixel_grid(7, 9)
    points = (grid + torch.rand(2, 7, 9, generator=torch.Generator().manual_seed(1)) - 0.5).clamp(
        min=torch.zeros(2, 1, 1), max=torch.tensor([8.0, 6.0])[:, None, None])
    expected = backward_warp(values, (points - grid)[None].expand(3, -1, -1, -1))
    torch.testing.assert_close(sample_at(values, points), expected, rtol=0, atol=1e-5)
    # an affine field continues exactly for MARGIN = 2 pixels beyond each edge, then stays at that value
    ys, xs = grid[1], grid[0]
    affine = (0.3 * xs - 0.2 * ys + 1)[None, None]
    outside = torch.stack([torch.tensor([-2.0, -1.5, 9.7, 4.0]), torch.tensor([3.0, -1.0, 7.5, 8.0])])[:, :, None]
    x, y = outside
    torch.testing.assert_close(sample_at(affine, outside)[0, 0], 0.3 * x - 0.2 * y + 1, rtol=0, atol=1e-5)
    far = torch.tensor([[-5.0], [3.0]])[:, :, None]
    torch.testing.assert_close(sample_at(affine, far)[0, 0], 0.3 * -2 - 0.2 * 3 + 1 + torch.zeros(1, 1))


def test_on_canvas_allows_half_a_pixel_beyond_the_outer_pixel_centres():
    points = pixel_grid(HEIGHT, WIDTH)  # one point per pixel of a 96x64 canvas
    tried = [(-0.5, 0.0), (-0.6, 0.0), (95.5, 63.5), (95.6, 10.0), (10.0, 63.6), (10.0, -0.4)]
    for index, point in enumerate(tried):
        points[:, 0, index] = torch.tensor(point)
    assert on_canvas(points)[0, : len(tried)].tolist() == [True, False, True, False, False, True]
    assert on_canvas(points)[1:].all()
