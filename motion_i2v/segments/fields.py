"""A long motion field re-based to a segment's first frame, and per-segment fields composed back.

Notation: D_t [2, H, W] is the long field's displacement of frame-0 pixel q to frame t (``flow.py``); a segment
starts at frame s; phi_s(q) = q + D_s(q) is where q is at frame s.

Re-basing (``rebase_field``). The segment's field moves pixels of frame s: for p = phi_s(q),

    R_t(p) = D_t(q) - D_s(q),   q = phi_s^-1(p)   (``inverse.invert``), t = s..e,

with D_t read bilinearly at q. So R_s = 0 exactly, and a segment starting at 0 is the long field's slice.
Pixels of frame s that no frame-0 pixel reaches (disocclusions; content that came in from outside the image)
have no D to re-base: they get ``fill_unreached``'s value, the average of the nearest reached displacements
(a push-pull pyramid: each hole takes the reached average of the finest level at which its block holds any),
and are reported in ``reached``. A long field's reliability r_t becomes min(r_t(q), r_s(q)) on reached pixels
and 0 elsewhere.

Composing back (``compose_segments``). Segment k's field R^k (frames s_k..e_k) continues the long field from its
seam: D_t(q) = D_{s_k}(q) + R^k_t(phi_{s_k}(q)), R^k read bilinearly, D_{s_k} from the segments before; overlaps
are blended as the frames are (``blend.join``). A frame-0 pixel that is off the canvas at a seam (it left the
image) or hidden there (the frame-0 point seen where it lands is another one: an occlusion) is not in the next
segment's reference image; it is not followed into that segment, and ``tracked`` says so from there on.

Re-basing and composing back give the long field again up to interpolation: D_t is read bilinearly at
non-integer q and R_t at non-integer phi_s(q). End-point errors over the tracked pixels of 46 frames at 96x64,
3 segments (overlap 0) or 4 (overlap 3), as tests/test_segments_fields.py measures them:

=============================================  ========  =========  ========  =======
field                                          tracked   mean px    p99 px    max px
=============================================  ========  =========  ========  =======
camera pan 40 px / zoom in, out 1.6x / 25 deg  73-100 %  < 1e-6     < 1e-5    < 1e-4
camera zoom in 6x (3.3x at the last seam)      43-48 %   < 3e-4     < 2e-4    0.18
12 tracks, ``tracks.dense`` (radius 24)        97 %      3e-3       0.04      0.44
V2V (DIS) of a moving texture: pan/turn/zoom   81-97 %   1-3e-3     0.02      0.32
=============================================  ========  =========  ========  =======

Affine fields interpolate exactly, until content is magnified 2x or more and unreached pixels get the fill.
``tracks.dense`` divides by max(1, sum of weights), so its gradient jumps where that sum crosses 1, and bilinear
reads are only first-order exact there (with a smooth normalisation the worst case is 0.02 px).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F

from ..checks import CheckCancel, cancel_point
from ..flow import MotionField, check_field
from ..memory import check_memory, field_bytes
from .blend import blend_weights, check_parts, join
from .inverse import invert, on_canvas, pixel_grid, sample_at
from .plan import Segment, SegmentPlan

# Peak memory of ``rebase_field`` in [L, 2, H, W] float32 fields (measured 7.1 for 16 frames at 512x320): the slice
# extended and read at q, the re-based field, the fill's pyramid and its result.
REBASE_COPIES = 8
# Peak memory of ``compose_segments`` in [N, 2, H, W] float32 fields (measured 2.4 for 46 frames at 512x320): the
# segments moved to frame 0, the joined field, a segment's reads.
COMPOSE_COPIES = 3
SEEN_TOLERANCE = 0.5  # pixels between a frame-0 pixel and the point seen where it lands, for it to be the one seen


class SegmentField(NamedTuple):
    """``motion``: the segment's field [L, 2, H, W] from its first frame (frame 0 zero), with the re-based
    reliability when the long field has one; ``reached``: [H, W] bool, the pixels of that frame some frame-0
    pixel lands on (elsewhere the displacements are filled)."""

    motion: MotionField
    reached: torch.Tensor


class ComposedField(NamedTuple):
    """``flow``: [N, 2, H, W] float32 pixels from frame 0; ``tracked``: [N, H, W] bool, whether each frame-0 pixel
    was on the canvas and in view at every seam up to that frame (elsewhere ``flow`` is a guess)."""

    flow: torch.Tensor
    tracked: torch.Tensor


def fill_unreached(values: torch.Tensor, reached: torch.Tensor) -> torch.Tensor:
    """``values`` [..., H, W] with the pixels where ``reached`` [H, W] is False filled (module doc); all zeros
    when nothing is reached. Reached pixels keep their values exactly."""
    if bool(reached.all()):
        return values
    if not bool(reached.any()):
        return torch.zeros_like(values)
    shape = values.shape
    total = values.reshape(-1, *shape[-2:]).float() * reached
    weight = reached.float()[None]
    levels = []
    while True:
        levels.append((total, weight))
        if bool((weight > 0).all()):
            break
        total, weight = (F.avg_pool2d(level, 2, ceil_mode=True) for level in (total, weight))
    estimate = total / weight
    for total, weight in reversed(levels[:-1]):
        coarse = F.interpolate(estimate[None], size=weight.shape[-2:], mode="bilinear", align_corners=False)[0]
        estimate = torch.where(weight > 0, total / weight.clamp_min(torch.finfo(torch.float32).tiny), coarse)
    return estimate.reshape(shape).to(values.dtype)


def rebase_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``rebase_field`` for a segment of ``frames`` at ``width`` x ``height``."""
    return REBASE_COPIES * field_bytes(frames, height, width)


def rebase_field(field: MotionField, segment: Segment, *, check_cancel: CheckCancel | None = None) -> SegmentField:
    """The long ``field`` [N, 2, H, W] re-based to ``segment``'s first frame (module doc)."""
    if segment.end >= field.frames:
        raise ValueError(f"motion field: segment {segment.index} covers long frames {segment.start}..{segment.end}, "
                         f"but the field has {field.frames} frames; plan the segments for {field.frames} frames")
    height, width = field.height, field.width
    check_memory(rebase_bytes(segment.frames, height, width),
                 f"re-basing a motion field ({segment.frames} frames at {width}x{height})")
    flow = field.flow[segment.span].float()
    reliability = None if field.reliability is None else field.reliability[segment.span].float()
    if segment.start == 0:
        reached = torch.ones(height, width, dtype=torch.bool, device=flow.device)
        return SegmentField(MotionField(flow, reliability), reached)
    cancel_point(check_cancel)
    source, reached = invert(flow[0])
    cancel_point(check_cancel)
    moved = sample_at(flow, source)  # D_t(q), t = s..e
    rebased = fill_unreached(moved - moved[:1], reached)
    if reliability is not None:
        reliability = sample_at(reliability[:, None], source)[:, 0].clamp(0, 1)
        reliability = torch.minimum(reliability, reliability[:1]) * reached
    return SegmentField(MotionField(rebased, reliability), reached)


def compose_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``compose_segments`` for ``frames`` long frames at ``width`` x ``height``."""
    return COMPOSE_COPIES * field_bytes(frames, height, width)


def compose_segments(plan: SegmentPlan, flows: Sequence[torch.Tensor]) -> ComposedField:
    """Per-segment fields ``flows[k]`` [L_k, 2, H, W] (from segment k's first frame) -> the long field (module doc)."""
    for segment, flow in zip(plan, flows):
        check_field(flow, f"segment {segment.index} motion field")
    check_parts(plan, flows, "fields")
    height, width = flows[0].shape[-2:]
    check_memory(compose_bytes(plan.frames, height, width),
                 f"composing a motion field ({plan.frames} frames at {width}x{height})")
    grid = pixel_grid(height, width, flows[0].device)
    pieces, followed = [flows[0].float()], [torch.ones(height, width, dtype=torch.bool, device=grid.device)]
    for previous, segment in zip(plan, plan.segments[1:]):
        base = pieces[-1][segment.start - previous.start]  # D_s [2, H, W]
        landing = grid + base
        # q is seen at the seam when the frame-0 point seen where it lands is q itself (not an occluder)
        seen = sample_at(invert(base).source[None], landing)[0]
        visible = (seen - grid).norm(dim=0) <= SEEN_TOLERANCE
        pieces.append(base + sample_at(flows[segment.index].float(), landing))
        followed.append(followed[-1] & on_canvas(landing) & visible)
    flow = join(plan, pieces)
    # a frame is followed where the last segment with a share in it follows (later segments follow fewer pixels)
    shares = blend_weights(plan)
    last = torch.arange(len(plan))[:, None].expand_as(shares).masked_fill(shares == 0, -1).amax(0)  # [N]
    tracked = torch.stack(followed)[last.to(grid.device)]
    return ComposedField(flow, tracked)
