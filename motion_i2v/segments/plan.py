"""The segment plan: which long-video frames each pass renders.

With N frames, segment length L and overlap O, segment k starts at s_k = k (L - 1 - O) and ends at
e_k = min(s_k + L - 1, N - 1); the plan has as many segments as it takes to reach frame N - 1. Consecutive
segments share O + 1 frames: the seam s_{k+1} = e_k - O (rendered by segment k, the reference of segment k+1)
and the O frames after it (rendered by both and blended, ``blend``). 46 frames, L = 16, O = 0:
[0..15], [15..30], [30..45]. Only the last segment may be shorter than L; it renders at least one frame of
its own (it has at least O + 2 frames).

Why 2 O < L - 1: the next segment starts at s_{k+1} + (L - 1 - O) > e_k, after every frame segment k blends, so
each segment starts from a frame that no blend changes later (the seam stays exact) and no frame is rendered by
three segments.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from ..checks import check_number
from ..models import UNet3DConfig
from ..models.motion_augmented import max_guided_frames

MIN_FRAMES = 2  # frame 0 (the image) and at least one rendered frame
MAX_FRAMES = 1024  # the longest video planned: issue #16's longest trajectories (two minutes at 8 fps)


@dataclass(frozen=True)
class Segment:
    """The long-video frames ``start``..``end`` (inclusive) of pass ``index``; frame ``start`` is its reference."""

    index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start + 1

    @property
    def span(self) -> slice:
        """The segment's frames in a [N, ...] long-video tensor."""
        return slice(self.start, self.end + 1)


def max_overlap(length: int) -> int:
    """The largest overlap segments of ``length`` frames allow: 2 O < L - 1 (see the module doc)."""
    return (length - 2) // 2


@dataclass(frozen=True)
class SegmentPlan:
    """N long-video frames rendered in segments of at most ``length`` frames sharing ``overlap`` + 1 frames.

    ``segments``: computed from the three numbers, checked when the plan is made (``plan_segments`` reads the
    length limit off the animation UNet's config).
    """

    frames: int
    length: int
    overlap: int = 0
    segments: tuple[Segment, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_number(self.frames, "frames", low=MIN_FRAMES, high=MAX_FRAMES, integer=True)
        check_number(self.length, "segment_length", low=MIN_FRAMES, integer=True)
        largest = max_overlap(self.length)
        integer = isinstance(self.overlap, numbers.Integral) and not isinstance(self.overlap, bool)
        if not integer or not 0 <= self.overlap <= largest:
            raise ValueError(
                f"overlap: expected an integer in 0..{largest} for segment_length {self.length} (each segment must "
                f"start after the frames the previous one blends: 2 x overlap < segment_length - 1), "
                f"got {self.overlap!r}"
            )
        step = self.length - 1 - self.overlap
        segments, start = [], 0
        while True:
            end = min(start + self.length - 1, self.frames - 1)
            segments.append(Segment(len(segments), start, end))
            if end == self.frames - 1:
                break
            start += step
        object.__setattr__(self, "segments", tuple(segments))

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):
        return iter(self.segments)

    def __getitem__(self, index: int) -> Segment:
        return self.segments[index]


def plan_segments(frames: int, config: UNet3DConfig, *, overlap: int = 0, length: int | None = None) -> SegmentPlan:
    """The plan for ``frames`` frames rendered by the animation UNet of ``config``.

    ``length``: frames per segment, at most what one pass of that UNet renders (16 for the official
    model); None = that limit.
    """
    limit = max_guided_frames(config.motion_max_len)
    if length is None:
        length = limit
    check_number(length, "segment_length", low=MIN_FRAMES, integer=True)
    if length > limit:
        raise ValueError(f"segment_length: expected 2..{limit}, got {length}: one pass of the animation UNet renders "
                         f"at most {limit} frames (its attention interleaves 2F-1 tokens over "
                         f"{config.motion_max_len} positions)")
    return SegmentPlan(frames, length, overlap)
