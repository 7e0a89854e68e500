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
3. Background plate: frame 0 with its foreground, the pixels with |f(p) - a(p)| > MOVING in any
   frame and one pixel around them, filled from the other pixels by pull-push (``background_plate``).
   It is the best guess of what any content that moves away uncovers, and holds nothing of it.
4. Where w = 0 (a hole), and on the 1-pixel rim around holes where the trailing edge of moved
   content covers only part of a pixel, the frame reads the plate at the camera's inverse a^-1(q):
   for the camera alone that is frame 0 exactly (cracks of a zoom, uncovered borders). Elsewhere it
   reads frame 0 at q + the splatted inverse (bilinear, mirrored at the image border), and the
   splatted colour is blended over that with opacity min(w, 1), so partly covered pixels, e.g.
   between the spread-apart pixels of a zoom, get a sharp interpolation.

Why a plate: reading frame 0 back along the own motion of the content that left a hole is exact for
rigid content, but content dragged along beside an object (the fading fields of tracks and brushes)
moves less than the object, so reading back from where it was lands in the object and left a ghost
of it; and at the rim, reading back along the splatted inverse fetches the moved content again.

Covered pixels keep the exact splat (an integer shift reproduces the shifted image). No pixel
stays empty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from .camera import affine_field
from .checks import CheckCancel, cancel_point, check_finite
from .flow import check_field
from .memory import check_memory, field_bytes
from .warp import backward_warp, forward_splat

WEIGHT_EPS = 1e-6  # below this total splat weight a target pixel counts as empty
MAX_PRIORITY = 20.0  # pixels of motion unlike the background beyond which content is simply "in front"
FIT_STRIDE = 4  # the affine fit reads every 4th pixel in each direction; plenty for 6 parameters
FIT_SCALE = 2.0  # pixels: residuals beyond this count less and less in the robust fit (Cauchy weights)
MOVING = 0.5  # pixels of motion unlike the background from which a pixel of frame 0 is foreground
FIELD_COPIES = 24  # peak memory in [F, 2, H, W] float32 fields (measured: 22)


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


def fill_from(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``values`` [1, C, H, W] with the pixels where ``known`` [1, 1, H, W] is 0 filled from those where it is 1.

    Pull-push (Gortler et al., "The Lumigraph", 1996): halve the resolution with weighted means until
    every pixel has a known neighbour, then blend back up with bilinear upsampling, so a gap gets a
    smooth mix of the known colours around it (fractional ``known`` weighs pixels in between).
    """
    height, width = values.shape[-2:]
    if known.amin() >= 1 or height * width == 1:
        return values
    kernel = (min(height, 2), min(width, 2))
    coarse_known = F.avg_pool2d(known, kernel, ceil_mode=True)
    coarse_sum = F.avg_pool2d(values * known, kernel, ceil_mode=True)
    coarse = coarse_sum / coarse_known.clamp_min(torch.finfo(values.dtype).tiny)
    filled = fill_from(coarse, (coarse_known * kernel[0] * kernel[1]).clamp(max=1))
    upsampled = F.interpolate(filled, size=(height, width), mode="bilinear", align_corners=False)
    return torch.lerp(upsampled, values, known)


def grow(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` [..., H, W] bool and its 8 neighbours: a 3x3 dilation (slices; max_pool2d is slower on CPU)."""
    tall = mask.clone()
    tall[..., 1:, :] |= mask[..., :-1, :]
    tall[..., :-1, :] |= mask[..., 1:, :]
    grown = tall.clone()
    grown[..., 1:] |= tall[..., :-1]
    grown[..., :-1] |= tall[..., 1:]
    return grown


def background_plate(image: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Frame 0 without its foreground: ``image`` [1, C, H, W] with the ``foreground`` [1, 1, H, W] bool
    pixels filled from the others around them.

    One pixel around the foreground goes too: a bilinear edge pixel holds some of the object's colour.
    With no background pixel at all there is nothing to fill from, and frame 0 is its own plate.
    """
    known = ~grow(foreground)
    if not known.any():
        return image
    return fill_from(image, known.to(image.dtype))


def preview_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``warp_preview`` for ``frames`` frames of ``width`` x ``height``."""
    return FIELD_COPIES * field_bytes(frames, height, width)


def warp_preview(image: torch.Tensor, flow: torch.Tensor, *, check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Animate ``image`` along ``flow``: [1, 3, H, W] 0..1 and [F, 2, H, W] pixels -> [F, 3, H, W] 0..1.

    Frame 0 of a field is zero, so frame 0 of the result is the image itself (see the module doc
    for occlusions and hole filling). ``check_cancel`` is called between the steps and frames of the splat.
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
    check_finite(image, "preview image")
    check_memory(preview_bytes(frames, height, width), f"warp preview ({frames} frames at {width}x{height})")
    image, flow = image.float(), flow.float()
    source = image.expand(frames, -1, -1, -1)
    linear, offset = dominant_motion(flow)
    cancel_point(check_cancel)
    background = affine_field(linear, offset, height, width)
    unlike = (flow - background).square().sum(1, keepdim=True).sqrt()  # |f(p) - a(p)|, [F, 1, H, W]
    priority = unlike.clamp(max=MAX_PRIORITY).exp()
    # [image x e, -flow x e, e, 1], written in place: the largest temporaries of the preview.
    carried = flow.new_empty(frames, 7, height, width)
    torch.mul(source, priority, out=carried[:, :3])
    torch.mul(flow, -priority, out=carried[:, 3:5])
    carried[:, 5:6] = priority
    carried[:, 6:].fill_(1)
    splat = forward_splat(carried, flow, mode="sum", check_cancel=check_cancel)
    votes, coverage = splat[:, 5:6], splat[:, 6:]
    mean = splat[:, :5] / votes.clamp_min(WEIGHT_EPS)
    opacity = coverage.clamp(0, 1)
    # pinv, not inv: a fit that collapses the image (zoom out to a point) still gives a usable map.
    inverse_linear = torch.linalg.pinv(linear)
    inverse_offset = -(inverse_linear @ offset[..., None])[..., 0]
    camera_inverse = affine_field(inverse_linear, inverse_offset, height, width)
    plate = background_plate(image, unlike.amax(0, keepdim=True) > MOVING)
    cancel_point(check_cancel)
    from_plate = grow(coverage <= WEIGHT_EPS)  # the holes and their rims
    inverse = torch.where(from_plate, camera_inverse, mean[:, 3:])
    both = torch.cat((image, plate), dim=1).expand(frames, -1, -1, -1)
    pulled = backward_warp(both, inverse, padding_mode="reflection")  # [F, 6, H, W]: frame 0, then the plate
    under = torch.where(from_plate, pulled[:, 3:], pulled[:, :3])
    return torch.lerp(under, mean[:, :3], opacity).clamp(0, 1)
