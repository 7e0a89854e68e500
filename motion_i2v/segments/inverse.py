"""Which frame-0 point lands on each pixel of a later frame: the inverse of a field's forward map.

A field frame D (``[2, H, W]`` pixels) moves frame-0 pixel q to phi(q) = q + D(q). Re-basing a motion to that
later frame needs, for every pixel p of it, the point q = phi^-1(p). Two ways are known, each with a weakness:

- forward-splatting the frame-0 grid along D (the official stage-2 warp): every pixel p learns which q landed
  within one pixel of it, so the pixels nothing lands on (disocclusions, content that came in from outside the
  image) are found; but the bilinear average of the landing points is only a first guess where the map
  stretches, squeezes or turns (errors of 0.2-1 px in q for a 1.25 zoom or a 10 degree turn);
- solving phi(q) = p with D sampled bilinearly (Newton's method, or the fixed point q = p - D(q), which
  converges only while |grad D| < 1, i.e. below a 2x zoom): exact for the interpolated map, but blind to
  disocclusions, where the interpolated map stretches over the gap and still has an inverse.

So both: the splat finds what is reached and gives a start, and ``ITERATIONS`` Newton steps
q <- q - J^-1 (q + D(q) - p), J = I + grad D (central differences, sampled bilinearly at q), refine it, side by
side with a second run from q = p - D(p) (the fixed point's first step, exact for a translation). D is read with
``sample_at``, which continues it linearly for ``MARGIN`` pixels beyond the canvas, so points just off frame 0
(at the edges of a zoom out) are solved as exactly as inner ones. Each pixel keeps, over both runs and every
step, the iterate of least residual |q + D(q) - p|, a solution where the map turns over (det J <= 0) counting
``FOLD_PENALTY`` more: where two frame-0 regions land on the same pixel (an occlusion) the interpolated map also
folds back over the gap between them, and that sliver is no surface. The field has no depth to say which of the
two regions is in front; the inverse takes one of them.

A pixel is ``reached`` when the splat's summed bilinear weight there is above ``REACHED_WEIGHT``: some frame-0
pixel landed within one pixel of it. Where content is magnified 2x or more since frame 0, the pixels between
landing points count as not reached too (their ``source`` is still the converged inverse).

Measured on camera fields at 96x64 (tests/test_segments_inverse.py): after 4 steps the residual of reached
pixels is below 1e-4 px for a pan, 1.25 zooms in and out, a 10 degree turn and a 2.5x zoom, where the better
start alone leaves 0.2-1.3 px for the zooms and the turn.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from ..warp import forward_splat

ITERATIONS = 4  # Newton steps: one solves an affine map; 4 leave < 1e-4 px on the camera fields of the tests
FOLD_PENALTY = 1.0  # pixels of residual a solution where the map turns over counts as, against any real surface's
SINGULAR = 0.05  # |det J| below which the map folds or crushes the area 20 times, and Newton's step is not taken
REACHED_WEIGHT = 1e-3  # summed splat weight below which no frame-0 pixel counts as landing on a pixel
MARGIN = 2  # pixels beyond the canvas over which sampled fields are extrapolated linearly
CANVAS_SLACK = 0.5  # pixels beyond the outermost pixel centres a point still counts as on the canvas (their extent)


class Inverse(NamedTuple):
    """``source``: [2, H, W] float32, the frame-0 point (x, y) that lands on each pixel; ``reached``: [H, W] bool,
    whether a frame-0 pixel lands there (elsewhere ``source`` is the iteration's best guess)."""

    source: torch.Tensor
    reached: torch.Tensor


def pixel_grid(height: int, width: int, device=None) -> torch.Tensor:
    """Pixel positions (x, y): [2, H, W] float32, pixel (col, row) at (col, row) as in ``warp.py``."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                            torch.arange(width, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack((xs, ys))


def on_canvas(points: torch.Tensor) -> torch.Tensor:
    """[2, H, W] points (x, y) -> [H, W] bool: within ``CANVAS_SLACK`` of the H x W canvas's outermost pixel centres."""
    height, width = points.shape[1:]
    x, y = points
    return ((x >= -CANVAS_SLACK) & (x <= width - 1 + CANVAS_SLACK)
            & (y >= -CANVAS_SLACK) & (y <= height - 1 + CANVAS_SLACK))


def _extended(values: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H + 2M, W + 2M]: ``MARGIN`` pixels more on each side, extrapolated linearly from the
    two outermost rows and columns (a constant where there is only one)."""
    for dim in (-1, -2):
        size = values.shape[dim]
        steps = torch.arange(MARGIN, 0, -1, dtype=values.dtype, device=values.device)
        steps = steps.view(-1, *[1] * (-dim - 1))  # along ``dim``
        first, inner = values.narrow(dim, 0, 1), values.narrow(dim, min(1, size - 1), 1)
        last, before_last = values.narrow(dim, size - 1, 1), values.narrow(dim, max(size - 2, 0), 1)
        values = torch.cat([first + steps * (first - inner), values, last + steps.flip(0) * (last - before_last)],
                           dim=dim)
    return values


def sample_at(values: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``values`` [N, C, H, W] read bilinearly at ``points`` [2, H', W'] (x, y pixels) -> [N, C, H', W'].

    Up to ``MARGIN`` pixels beyond the canvas the values continue linearly (an affine field stays exact at the
    border), further out they stay at that margin's value.
    """
    height, width = values.shape[-2:]
    extended = _extended(values.float())
    # align_corners=True puts -1 and 1 on the first and last pixel centres of the extended canvas
    scale = points.new_tensor([2 / max(width - 1 + 2 * MARGIN, 1), 2 / max(height - 1 + 2 * MARGIN, 1)])
    grid = rearrange((points + MARGIN) * scale[:, None, None] - 1, "two h w -> 1 h w two")
    return F.grid_sample(extended, grid.expand(values.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True)


def invert(displacement: torch.Tensor, iterations: int = ITERATIONS) -> Inverse:
    """The inverse of p = q + D(q) for one field frame ``displacement`` D [2, H, W] float pixels (module doc)."""
    _, height, width = displacement.shape
    displacement = displacement.float()
    grid = pixel_grid(height, width, displacement.device)
    # 1. Splat (x, y, 1) of every frame-0 pixel: the weighted sum of the points landing near p, and their weight.
    splat = forward_splat(torch.cat([grid, grid.new_ones(1, height, width)])[None], displacement[None], "sum")[0]
    weight = splat[2]
    reached = weight > REACHED_WEIGHT
    backward = grid - displacement  # the first fixed-point step from p, the start where nothing lands
    starts = torch.stack([torch.where(reached, splat[:2] / weight.clamp_min(REACHED_WEIGHT), backward), backward])

    # 2. Newton's method on phi(q) - p = 0 from both starts at once (side by side along the width), with D and its
    # Jacobian sampled bilinearly at q (exact in one step for an affine map); where the Jacobian is near-singular
    # the step is the fixed point's, q <- p - D(q).
    gradient = torch.stack(torch.gradient(displacement, dim=(2, 1)), dim=1)  # [2 (dx, dy), 2 (by x, by y), H, W]
    fields = torch.cat([displacement, gradient.flatten(0, 1)])[None]  # [1, 6, H, W]
    targets = repeat(grid, "two h w -> two h (s w)", s=2)
    candidate = rearrange(starts, "s two h w -> two h (s w)")
    best, best_score = candidate, torch.full_like(targets[0], torch.inf)
    for step in range(iterations + 1):
        sampled = sample_at(fields, candidate)[0]
        error = candidate + sampled[:2] - targets  # phi(q) - p
        (a, b), (c, d) = (1 + sampled[2], sampled[3]), (sampled[4], 1 + sampled[5])  # J = I + grad D
        determinant = a * d - b * c
        # where the map turns over (det J <= 0) no surface is: the interpolated sliver of a fold scores 1 px worse
        score = error.norm(dim=0) + (determinant <= 0).float() * FOLD_PENALTY
        better = score < best_score
        best = torch.where(better, candidate, best)
        best_score = torch.where(better, score, best_score)
        if step == iterations:
            break
        regular = determinant.abs() > SINGULAR
        safe = torch.where(regular, determinant, torch.ones_like(determinant))
        newton = torch.stack(((d * error[0] - b * error[1]) / safe, (a * error[1] - c * error[0]) / safe))
        candidate = candidate - torch.where(regular, newton, error)
    best, best_score = (rearrange(tensor, "... h (s w) -> s ... h w", s=2) for tensor in (best, best_score))
    return Inverse(torch.where(best_score[1] < best_score[0], best[1], best[0]), reached)
