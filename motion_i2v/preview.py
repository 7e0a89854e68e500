"""The warped preview: the reference image pushed along a motion field, without holes.

Forward splatting (``warp.forward_splat``) moves every pixel of frame 0 to where the field sends
it, but leaves holes where content moves away (disocclusions), where it spreads apart (zoom in)
and along the border a pan uncovers; and where two pixels land on one target, the official "avg"
mode shows both half-transparent. The preview resolves both without depth, from one assumption:
the camera-like part of the motion is the background, content moving unlike it is in front.

1. Background motion: the affine map a (pan, zoom, rotation) that best fits each frame, by
   robust least squares (``dominant_motion``). Priority e(p) = exp(min(|f(p) - a(p)|, 20)).
2. Softmax splatting (Niklaus and Liu, CVPR 2020) of [image, -flow] weighted by e along ``flow``
   gives, at each target q, the colour and inverse displacement of the front-most pixels landing
   there, and a plain weight channel the coverage w(q) (total bilinear weight).
3. Where w = 0 the source is guessed in frame 0. Each source pixel's own motion relative to the
   background is d(p) = a^-1(p + f(p)) - p (0 for background). A hole at q would, as background,
   come from s = a^-1(q); it is a hole because the content at s moved away by d(s), so the pixel
   reads frame 0 at s - d(s). For content that moves rigidly over the background this is exactly
   the background behind it (s - d(s) lies outside its footprint whenever q is uncovered); on the
   background (d = 0) it is the camera's exact inverse, for cracks of a zoom and uncovered borders.
4. Sampling frame 0 at q + inverse(q), the inverse being the splatted one where w > 0 and the
   guess elsewhere (bilinear, mirrored at the image border), gives a complete frame; the splatted
   colour is blended over it with opacity min(w, 1), so partly covered pixels, e.g. between the
   spread-apart pixels of a zoom, get a sharp interpolation.

Covered pixels keep the exact splat (an integer shift reproduces the shifted image). No pixel
stays empty.
"""

from __future__ import annotations

import torch
from einops import rearrange

from .camera import affine_field
from .flow import check_field
from .warp import backward_warp, forward_splat

WEIGHT_EPS = 1e-6  # below this total splat weight a target pixel counts as empty
MAX_PRIORITY = 20.0  # pixels of motion unlike the background beyond which content is simply "in front"
FIT_STRIDE = 4  # the affine fit reads every 4th pixel in each direction; plenty for 6 parameters
FIT_SCALE = 2.0  # pixels: residuals beyond this count less and less in the robust fit (Cauchy weights)


def dominant_motion(flow: torch.Tensor, iterations: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine maps p -> c + A (p - c) + t that best explain each frame, ignoring outliers.

    ``flow``: [F, 2, H, W] pixels. Returns ``linear`` [F, 2, 2] and ``offset`` [F, 2] about the
    image centre c (as ``camera.affine_field`` takes them). Least squares, then ``iterations``
    reweightings with Cauchy weights 1 / (1 + (r / FIT_SCALE)^2) of the residual r.
    """
    frames, _, height, width = flow.shape
    half = max(height - 1, width - 1, 1) / 2  # one isotropic scale keeps the system well conditioned
    ys = (torch.arange(0, height, FIT_STRIDE, dtype=torch.float64) - (height - 1) / 2) / half
    xs = (torch.arange(0, width, FIT_STRIDE, dtype=torch.float64) - (width - 1) / 2) / half
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    basis = torch.stack((grid_x.flatten(), grid_y.flatten(), torch.ones(grid_x.numel(), dtype=torch.float64)), dim=1)
    target = rearrange(flow[:, :, ::FIT_STRIDE, ::FIT_STRIDE], "f c h w -> f (h w) c").double()
    weight = torch.ones(frames, basis.shape[0], dtype=torch.float64)
    for _ in range(iterations + 1):
        weighted = basis * weight[..., None]  # [F, N, 3]
        normal = weighted.transpose(1, 2) @ basis + 1e-9 * torch.eye(3, dtype=torch.float64)
        params = torch.linalg.solve(normal, weighted.transpose(1, 2) @ target)  # [F, 3, 2]: rows x, y, 1
        residual = target - basis @ params
        weight = 1 / (1 + residual.square().sum(-1) / FIT_SCALE**2)
    linear = torch.eye(2, dtype=torch.float64) + rearrange(params[:, :2], "f i c -> f c i") / half
    return linear.float(), params[:, 2].float()


def warp_preview(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Animate ``image`` along ``flow``: [1, 3, H, W] 0..1 and [F, 2, H, W] pixels -> [F, 3, H, W] 0..1.

    Frame 0 of a field is zero, so frame 0 of the result is the image itself (see the module doc
    for occlusions and hole filling).
    """
    check_field(flow)
    frames, _, height, width = flow.shape
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"preview image: expected [1, 3, H, W], got {list(image.shape)}")
    if tuple(image.shape[2:]) != (height, width):
        raise ValueError(
            f"preview image: the image is {image.shape[3]}x{image.shape[2]} but the motion field is "
            f"{width}x{height}; resize one of them first"
        )
    flow = flow.float()
    source = image.float().expand(frames, -1, -1, -1)
    linear, offset = dominant_motion(flow)
    background = affine_field(linear, offset, height, width)
    priority = (flow - background).square().sum(1, keepdim=True).sqrt().clamp(max=MAX_PRIORITY).exp()
    # [image x e, -flow x e, e, 1], written in place: the largest temporaries of the preview.
    carried = flow.new_empty(frames, 7, height, width)
    torch.mul(source, priority, out=carried[:, :3])
    torch.mul(flow, -priority, out=carried[:, 3:5])
    carried[:, 5:6] = priority
    carried[:, 6:].fill_(1)
    splat = forward_splat(carried, flow, mode="sum")
    votes, coverage = splat[:, 5:6], splat[:, 6:]
    mean = splat[:, :5] / votes.clamp_min(WEIGHT_EPS)
    opacity = coverage.clamp(0, 1)
    # pinv, not inv: a fit that collapses the image (zoom out to a point) still gives a usable map.
    inverse_linear = torch.linalg.pinv(linear)
    inverse_offset = -(inverse_linear @ offset[..., None])[..., 0]
    camera_inverse = affine_field(inverse_linear, inverse_offset, height, width)
    own_motion = affine_field(inverse_linear, inverse_offset, height, width, scene=flow)  # d(p)
    guess = camera_inverse - backward_warp(own_motion, camera_inverse, padding_mode="border")
    inverse = torch.where(coverage > WEIGHT_EPS, mean[:, 3:], guess)
    pulled = backward_warp(source, inverse, padding_mode="reflection")
    return torch.lerp(pulled, mean[:, :3], opacity).clamp(0, 1)
