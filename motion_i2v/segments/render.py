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
from ..pipelines.animate import AnimationSettings, animate, check_inputs
from ..pipelines.flow_gen import (
    FRAME_STRIDE,
    FlowModel,
    TrajectoryControl,
    check_request,
    check_size,
    predict_motion_field,
)
from ..tracks.brush import static_region
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

    def check(self, plan: SegmentPlan, height: int, width: int) -> None:
        """Raise unless every segment of ``plan`` can get its motion at ``width`` x ``height``; no heavy work."""

    def __call__(self, segment: Segment, image: torch.Tensor, brush: torch.Tensor | None, seed: int,
                 callback: Callback) -> torch.Tensor:
        """The segment's field [L, 2, H, W] pixels from ``image`` [1, 3, H, W] in [0, 1], its first frame."""


class SegmentRender(Protocol):
    """Stage 2 for one segment. ``steps``: denoising steps per segment."""

    steps: int

    def check(self, plan: SegmentPlan, height: int, width: int, brush: torch.Tensor | None) -> None:
        """Raise unless every segment of ``plan`` can be rendered at ``width`` x ``height``; no heavy work."""

    def __call__(self, segment: Segment, image: torch.Tensor, flow: torch.Tensor, brush: torch.Tensor | None,
                 seed: int, callback: Callback) -> torch.Tensor:
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
                brush: torch.Tensor | None = None, seed: int = 0, callback: Callback | None = None) -> LongVideo:
    """The video of ``plan`` from ``image`` [1, 3, H, W] in [0, 1] (module doc); ``brush``: [H, W] on the image,
    1 = may move. Everything is checked before the first step."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        shape = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image: expected [1, 3, H, W], got {shape}")
    height, width = image.shape[-2:]
    check_size(height, width)
    static_region(brush, height, width)
    motion.check(plan, height, width)
    render.check(plan, height, width, brush)
    check_memory(long_bytes(plan, height, width), f"long video ({plan.frames} frames at {width}x{height})")

    per_segment = motion.steps + render.steps
    total = len(plan) * per_segment
    video = VideoJoin(plan, (3, height, width))
    fields, first = [], image.float().cpu()
    for segment in plan:
        done = segment.index * per_segment
        seed_k = segment_seed(seed, segment)
        flow = motion(segment, first, brush, seed_k, _counted(callback, done, total)).float().cpu()
        frames = render(segment, first, flow, brush, seed_k, _counted(callback, done + motion.steps, total))
        video.add(segment, frames)
        fields.append(flow)
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

    def check(self, plan: SegmentPlan, height: int, width: int) -> None:
        if self.field.frames != plan.frames:
            raise ValueError(f"motion field: it has {self.field.frames} frames, the video {plan.frames}; give the "
                             f"video the field's frame count")
        if (self.field.height, self.field.width) != (height, width):
            raise ValueError(f"motion field: it is {self.field.width}x{self.field.height} but the image is "
                             f"{width}x{height}; resize the field to the image")
        check_memory(rebase_bytes(plan.length, height, width),
                     f"re-basing a motion field ({plan.length} frames at {width}x{height})")

    def __call__(self, segment, image, brush, seed, callback) -> torch.Tensor:
        return rebase_field(self.field, segment, check_cancel=self.check_cancel).motion.flow


@dataclass(frozen=True)
class PredictedMotion:
    """Stage 1 per segment: the field predicted from the segment's first frame and its tracks (the long tracks cut at
    its frames, ``tracks.segment_tracks``; none visible there, or no tracks: from the prompt alone).

    ``model()``: the stage-1 networks on their device (called per segment, so a node can load them through ComfyUI's
    memory management); ``config`` / ``controlnet``: the flow UNet's config and whether the ControlNet is loaded,
    to check before anything loads. ``encode``: the first frame in [0, 1] -> its latent (``encode_reference``).
    ``tracks``: over the whole video, on the image's canvas. The others are ``predict_motion_field``'s.
    """

    model: Callable[[], FlowModel]
    config: UNet3DConfig
    controlnet: bool
    encode: Encode
    text: torch.Tensor
    negative_text: torch.Tensor | None = None
    tracks: Tracks | None = None
    flow_unit: int = 64
    strength: float = 1.0
    steps: int = 25
    guidance: float = 7.0
    sampler: str = "ddim"
    stride: int = FRAME_STRIDE

    def _control(self, tracks: Tracks | None, brush: torch.Tensor | None) -> TrajectoryControl | None:
        return None if tracks is None else TrajectoryControl(tracks, self.flow_unit, self.strength, brush)

    def check(self, plan: SegmentPlan, height: int, width: int) -> None:
        if self.tracks is not None:
            if self.tracks.frames != plan.frames:
                raise ValueError(f"tracks: they have {self.tracks.frames} frames, the video {plan.frames}; give "
                                 f"Motion-I2V Trajectories the video's frame count")
            if (self.tracks.width, self.tracks.height) != (width, height):
                raise ValueError(f"tracks: they are on a {self.tracks.width}x{self.tracks.height} canvas but the image "
                                 f"is {width}x{height}")
            if not self.controlnet:
                raise ValueError("tracks: steering stage 1 with tracks needs the trajectory ControlNet; load the flow "
                                 "model with its controlnet file")
            self._control(self.tracks, None)
        latent = torch.zeros(1, 4, height // 8, width // 8)
        check_request(latent, self.text, self.negative_text, frames=plan.length, steps=self.steps,
                      sampler=self.sampler, hint=None, brush=None, max_frames=self.config.motion_max_len + 1,
                      guidance=self.guidance, stride=self.stride)

    def __call__(self, segment, image, brush, seed, callback) -> torch.Tensor:
        height, width = image.shape[-2:]
        tracks = None if self.tracks is None else segment_tracks(self.tracks, segment)
        control = self._control(tracks, brush)
        hint = None if control is None else control.hint(segment.frames, height, width)
        latent = self.encode(image, torch.Generator().manual_seed(seed))
        return predict_motion_field(self.model(), latent, self.text, self.negative_text, hint=hint, brush=brush,
                                    frames=segment.frames, steps=self.steps, guidance=self.guidance,
                                    sampler=self.sampler, seed=seed, stride=self.stride,
                                    callback=lambda step, total: callback(step, total, None))


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

    def check(self, plan: SegmentPlan, height: int, width: int, brush: torch.Tensor | None) -> None:
        limit = max_guided_frames(self.config.motion_max_len)
        if plan.length > limit:
            raise ValueError(f"segment_length: {plan.length} frames; one pass of the animation UNet renders at most "
                             f"{limit}")
        field = torch.zeros(plan.length, 2, height, width)
        check_inputs(self.config, torch.zeros(1, 4, height // 8, width // 8), field, self.positive, self.negative,
                     brush)
        if static_region(brush, height, width) is not None and self.settings.sampler != "ddim":
            raise ValueError(f"brush: the motion brush re-noises the still region between DDIM steps; use the ddim "
                             f"sampler with a brush (got {self.settings.sampler!r})")

    def __call__(self, segment, image, flow, brush, seed, callback) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        reference = self.encode(image, generator)
        latents = animate(self.unet(), reference, flow, self.positive, self.negative, brush=brush,
                          settings=self.settings, generator=generator, callback=callback)
        return self.decode(latents)

