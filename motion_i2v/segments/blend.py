"""Per-segment frames joined into the long video: seams held once, overlaps blended with a linear ramp.

Where segments k and k+1 meet, the seam s = s_{k+1} is segment k's frame (segment k+1 started from it, so its own
frame 0 is the same picture and is not used), and the O frames s + i, i = 1..O, that both render are mixed as

    out[s + i] = (1 - i / (O + 1)) * segment_k[s + i] + (i / (O + 1)) * segment_{k+1}[s + i]

so the weight of the new segment rises by 1 / (O + 1) per frame, from 0 at the seam to 1 just after the overlap.
Every long frame's weights sum to 1; with O = 0 every weight is 0 or 1 and the join is a plain concatenation.

Which space: decoded images. The next segment's reference is an image anyway (stage 1 encodes it in [0, 1],
stage 2 in [-1, 1]), both stage-2 paths (the engine and ComfyUI's own sampler) end in images, and a ramp between
images is a cross-fade the user can predict, where a ramp between latents decodes to something else. ``join``
takes any per-frame tensors, latents included.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .plan import SegmentPlan


def blend_weights(plan: SegmentPlan) -> torch.Tensor:
    """Each segment's share of each long frame: [K, N] float32, K = segments; every column sums to 1."""
    weights = torch.zeros(len(plan), plan.frames)
    ramp = torch.arange(1, plan.overlap + 1, dtype=torch.float32) / (plan.overlap + 1)  # i / (O + 1), i = 1..O
    for segment in plan:
        weights[segment.index, segment.span] = 1
        if segment.index == 0:
            continue
        seam = segment.start
        weights[segment.index, seam] = 0  # the previous segment's frame
        blended = slice(seam + 1, seam + 1 + plan.overlap)
        weights[segment.index, blended] = ramp
        weights[segment.index - 1, blended] = 1 - ramp
    return weights


def check_parts(plan: SegmentPlan, parts: Sequence[torch.Tensor], what: str = "frames") -> None:
    """Raise unless ``parts`` holds one [L_k, ...] tensor per segment of ``plan``, all of one frame shape."""
    if len(parts) != len(plan):
        raise ValueError(f"segments: the plan has {len(plan)} segments, got {what} for {len(parts)}")
    first = parts[0]
    for segment, part in zip(plan, parts):
        if part.ndim < 1 or part.shape[0] != segment.frames or part.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"segment {segment.index}: expected {segment.frames} frames (long frames {segment.start}.."
                f"{segment.end}) of shape {list(first.shape[1:])}, got {list(part.shape)}"
            )


def join(plan: SegmentPlan, parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-segment frames -> the long video: ``parts[k]`` [L_k, ...] for segment k (its frames start..end, frame 0
    included) -> [N, ...] in the dtype of ``parts[0]``, with the seams and overlaps of ``blend_weights``."""
    check_parts(plan, parts)
    first = parts[0]
    weights = blend_weights(plan)
    out = first.new_zeros(plan.frames, *first.shape[1:], dtype=torch.float32)
    for segment, part in zip(plan, parts):
        share = weights[segment.index, segment.span].to(out.device)
        out[segment.span] += share.view(-1, *[1] * (out.ndim - 1)) * part.to(out.device, torch.float32)
    return out.to(first.dtype)
