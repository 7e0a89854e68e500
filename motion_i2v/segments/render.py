"""The long-video loop: segment after segment, each started from the frame the previous one rendered at its seam.

For segment k of the plan (``plan``), with L_k frames:

1. its first frame: the image for k = 0, else the previous segment's frame at the seam, a picture in [0, 1] (stage 1
   encodes it as it is, stage 2 in [-1, 1]: each stage gets the picture, never the other's latent);
2. its motion [L_k, 2, H, W], pixels from that frame: stage 1 predicting it from that frame and the segment's tracks
   (``PredictedMotion``), or a long field re-based to that frame (``RebasedMotion``: a camera move, a video's motion,
   an edited field);
3. its brush: the image's. Stage 2 keeps the held cells at the first frame's picture, so at every seam they still
   show the image there; stage 1 predicts no motion there. The same pixels are held in every segment, and the moving
   region moves anywhere else;
4. stage 2 renders its frames from that first frame along that motion (``EngineRender``; the native node brings
   ComfyUI's sampler as another ``SegmentRender``);
5. its frames join the long video (``blend.VideoJoin``): the seam once, an overlap cross-faded.

Segment k is seeded with seed + k: each segment gets its own noise and a seed still gives one video. Every denoising
step of both stages reports to one ``callback(step, total, preview)`` counted over the whole video, which is where a
node's Cancel raises; ``preview`` is stage 2's current prediction of the segment's latents [L, 4, h, w] (else None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol

import torch

from ..checks import CheckCancel
from ..flow import MotionField
from ..memory import FLOAT_BYTES, check_memory, field_bytes
from ..models import UNet3D, UNet3DConfig
from ..models.motion_augmented import max_guided_frames
from ..pipelines.animate import AnimationRequest, AnimationSettings, animate
from ..pipelines.flow_gen import (
    FRAME_STRIDE,
    FlowModel,
    FlowModelSpec,
    FlowRequest,
    TrajectoryControl,
    check_size,
    predict_motion_field,
)
from ..sampling import SamplerSettings, check_seed, seeded
from ..tracks.brush import Brush
from ..tracks.value import Tracks
from .blend import VideoJoin
from .fields import rebase_bytes, rebase_field
from .plan import Segment, SegmentPlan
from .tracks import segment_tracks

SEED_RANGE = 2**64  # seeds wrap here, as ComfyUI's widgets and torch's generators take them

# callback(step, total, preview): ``step`` of ``total`` denoising steps of the whole video; ``preview`` is stage 2's
# prediction of the segment's latents [L, 4, h, w], or None.
Callback = Callable[[int, int, "torch.Tensor | None"], None]
# image [1, 3, H, W] in [0, 1], generator -> its SD-scaled latent [1, 4, H/8, W/8] (each stage its own encoding)
Encode = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class SegmentMotion(Protocol):
    """Where each segment's pixels move. ``steps``: denoising steps per segment (0 for a given field)."""

    steps: int

    def check(self, plan: SegmentPlan, height: int, width: int, brush: Brush | None) -> None:
        """Raise unless every segment of ``plan`` can get its motion at ``width`` x ``height``; no heavy work."""

    def __call__(self, segment: Segment, image: torch.Tensor, brush: Brush | None, seed: int,
                 callback: Callback) -> MotionField:
        """The segment's field [L, 2, H, W] pixels from ``image`` [1, 3, H, W] in [0, 1], its first frame."""


class SegmentRender(Protocol):
    """Stage 2 for one segment. ``steps``: denoising steps per segment."""

    steps: int

    def check(self, plan: SegmentPlan, height: int, width: int, brush: Brush | None) -> None:
        """Raise unless every segment of ``plan`` can be rendered at ``width`` x ``height``; no heavy work."""

    def __call__(self, segment: Segment, image: torch.Tensor, field: MotionField, brush: Brush | None, seed: int,
                 callback: Callback) -> torch.Tensor:
        """The segment's frames [L, 3, H, W] in [0, 1], frame 0 ``image`` as stage 2 reproduces it."""


class LongVideo(NamedTuple):
    """``frames``: [N, 3, H, W] float32 in [0, 1]; ``fields``: each segment's field [L_k, 2, H, W] from its first
    frame (``fields.compose_segments`` gives the long field from frame 0)."""

    frames: torch.Tensor
    fields: list[torch.Tensor]


def segment_seed(seed: int, segment: Segment) -> int:
    return (seed + segment.index) % SEED_RANGE


def long_bytes(plan: SegmentPlan, height: int, width: int) -> int:
    """About the memory the loop keeps besides the stages': the long video and every segment's field (float32)."""
    fields = sum(field_bytes(segment.frames, height, width) for segment in plan)
    return plan.frames * 3 * height * width * FLOAT_BYTES + fields


def _counted(callback: Callback | None, before: int, total: int) -> Callback:
    """A stage's ``callback(step, steps, preview)`` as steps of the whole video, ``before`` of them done."""
    def report(step: int, _: int, preview: torch.Tensor | None = None) -> None:
        if callback is not None:
            callback(before + step, total, preview)

    return report


def render_long(plan: SegmentPlan, image: torch.Tensor, motion: SegmentMotion, render: SegmentRender, *,
                brush: Brush | None = None, seed: int = 0, callback: Callback | None = None) -> LongVideo:
    """The video of ``plan`` from ``image`` [1, 3, H, W] in [0, 1] (module doc); ``brush``: on the image, held in
    every segment. Everything is checked before the first step."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        shape = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image: expected [1, 3, H, W], got {shape}")
    height, width = image.shape[-2:]
    check_size(height, width)
    check_seed(seed)
    if brush is not None:
        brush.check_size(height, width, "the image")
    motion.check(plan, height, width, brush)
    render.check(plan, height, width, brush)
    check_memory(long_bytes(plan, height, width), f"long video ({plan.frames} frames at {width}x{height})")

    per_segment = motion.steps + render.steps
    total = len(plan) * per_segment
    video = VideoJoin(plan, (3, height, width))
    fields, first = [], image.float().cpu()
    for segment in plan:
        done = segment.index * per_segment
        seed_k = segment_seed(seed, segment)
        field = motion(segment, first, brush, seed_k, _counted(callback, done, total))
        frames = render(segment, first, field, brush, seed_k, _counted(callback, done + motion.steps, total))
        video.add(segment, frames)
        fields.append(field.flow.float().cpu())
        if segment.index + 1 < len(plan):
            seam = plan[segment.index + 1].start - segment.start
            first = frames[seam:seam + 1].float().cpu()
    return LongVideo(video.video, fields)


@dataclass(frozen=True)
class RebasedMotion:
    """A long field [N, 2, H, W] from frame 0, re-based to each segment's first frame (``fields.rebase_field``)."""

    field: MotionField
    check_cancel: CheckCancel | None = None
    steps: int = 0

    def check(self, plan: SegmentPlan, height: int, width: int, brush: Brush | None) -> None:
        if self.field.frames != plan.frames:
            raise ValueError(f"motion field: it has {self.field.frames} frames, the video {plan.frames}; give the "
                             f"video the field's frame count")
        if (self.field.height, self.field.width) != (height, width):
            raise ValueError(f"motion field: it is {self.field.width}x{self.field.height} but the image is "
                             f"{width}x{height}; resize the field to the image")
        check_memory(rebase_bytes(plan.length, height, width),
                     f"re-basing a motion field ({plan.length} frames at {width}x{height})")

    def __call__(self, segment, image, brush, seed, callback) -> MotionField:
        return rebase_field(self.field, segment, check_cancel=self.check_cancel).motion


def check_track_frames(tracks: Tracks, plan: SegmentPlan) -> None:
    """Nothing is resampled: long tracks must have the video's frame count."""
    if tracks.frames != plan.frames:
        raise ValueError(f"tracks: they have {tracks.frames} frames, the video {plan.frames}; give Motion-I2V "
                         f"Trajectories the video's frame count")


@dataclass(frozen=True)
class PredictedMotion:
    """Stage 1 per segment: the field predicted from the segment's first frame and its tracks (the long tracks cut at
    its frames, ``tracks.segment_tracks``; none visible there, or no tracks: from the prompt alone).

    ``model()``: the stage-1 networks on their device (called per segment, so a node can load them through ComfyUI's
    memory management); ``spec``: what they are, to check before anything loads. ``encode``: the first frame in
    [0, 1] -> its latent (``encode_reference``). ``tracks``: over the whole video, on the image's canvas. The others
    are ``FlowRequest``'s.
    """

    model: Callable[[], FlowModel]
    spec: FlowModelSpec
    encode: Encode
    text: torch.Tensor
    negative_text: torch.Tensor | None = None
    tracks: Tracks | None = None
    flow_unit: int = 64
    strength: float = 1.0
    settings: SamplerSettings = SamplerSettings()
    stride: int = FRAME_STRIDE

    @property
    def steps(self) -> int:
        return self.settings.steps

    def request(self, segment: Segment, height: int, width: int, brush: Brush | None, seed: int) -> FlowRequest:
        tracks = None if self.tracks is None else segment_tracks(self.tracks, segment)
        control = None if tracks is None else TrajectoryControl(tracks, self.flow_unit, self.strength, brush)
        return FlowRequest(self.spec, height, width, self.text, self.negative_text, frames=segment.frames,
                           settings=self.settings, seed=seed, control=control, brush=brush, stride=self.stride)

    def check(self, plan: SegmentPlan, height: int, width: int, brush: Brush | None) -> None:
        if self.tracks is not None:
            check_track_frames(self.tracks, plan)
        for segment in plan:  # cheap: the tracks are cut, nothing is rasterised or encoded
            self.request(segment, height, width, brush, 0)

    def __call__(self, segment, image, brush, seed, callback) -> MotionField:
        request = self.request(segment, *image.shape[-2:], brush, seed)
        latent = self.encode(image, seeded(seed))
        return MotionField(predict_motion_field(self.model(), latent, request, callback=callback))


@dataclass(frozen=True)
class EngineRender:
    """Stage 2 per segment in our engine (the Motion-Guided Sampler's loop): encode the first frame, ``animate``,
    decode every frame.

    ``unet()``: the animation UNet on its device (called per segment); ``config``: its config, to check before
    anything loads. ``encode``: the first frame in [0, 1] -> its latent (``encode_first_frame``); ``decode``:
    latents [L, 4, h, w] -> frames [L, 3, H, W] in [0, 1] (``decode_frames``).
    """

    unet: Callable[[], UNet3D]
    config: UNet3DConfig
    encode: Encode
    decode: Callable[[torch.Tensor], torch.Tensor]
    positive: torch.Tensor
    negative: torch.Tensor
    settings: AnimationSettings = AnimationSettings()

    @property
    def steps(self) -> int:
        return self.settings.steps

    def request(self, height: int, width: int, field: MotionField, brush: Brush | None) -> AnimationRequest:
        return AnimationRequest(self.config, height, width, field, self.positive, self.negative, self.settings, brush)

    def check(self, plan: SegmentPlan, height: int, width: int, brush: Brush | None) -> None:
        limit = max_guided_frames(self.config.motion_max_len)
        if plan.length > limit:
            raise ValueError(f"segment_length: {plan.length} frames; one pass of the animation UNet renders at most "
                             f"{limit}")
        self.request(height, width, MotionField(torch.zeros(plan.length, 2, height, width)), brush)

    def __call__(self, segment, image, field, brush, seed, callback) -> torch.Tensor:
        request = self.request(*image.shape[-2:], field, brush)
        generator = seeded(seed)  # the first frame's encoding, then the noise
        reference = self.encode(image, generator)
        return self.decode(animate(self.unet(), reference, request, generator=generator, callback=callback))
