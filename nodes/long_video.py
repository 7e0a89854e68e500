"""Long-video nodes: any number of frames, rendered 16 at a time in segments that share their seam frame.

A ComfyUI graph cannot loop, each segment starts from the frame the previous one rendered, and a 1024-frame video is
69 segments: one sub-graph per segment would not scale. So, as for one clip, a motion node and a stage-2 node:

- the motion: Predict Long Motion (stage 1 per segment, from long tracks or the prompt) or Long Motion From Field (a
  camera move, a video's motion, an edited field, re-based per segment) gives a MOTION_I2V_LONG_MOTION, the segment
  plan and how each segment gets its motion; nothing runs there;
- the loop: Long Video (stage 2 in our engine, as the Motion-Guided Sampler) or Long Video (native) (ComfyUI's
  sampler on a Motion-I2V MODEL, as Animate (native) + KSampler) runs every segment, both stages, with one progress
  bar over all their steps and Cancel between steps (``motion_i2v.segments.render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch

from ..motion_i2v.flow import MotionField
from ..motion_i2v.memory import check_stage_memory, module_bytes
from ..motion_i2v.pipelines.animate import AnimationSettings, latent_preview
from ..motion_i2v.pipelines.flow_gen import VAE_CHUNK, LATENT_SCALE, TrajectoryControl
from ..motion_i2v.sampling import SamplerSettings
from ..motion_i2v.segments.plan import MAX_FRAMES, PASS_FRAMES, SegmentPlan, max_overlap
from ..motion_i2v.segments.render import (
    EngineRender,
    PredictedMotion,
    RebasedMotion,
    SegmentMotion,
    SegmentRender,
    check_track_frames,
    render_long,
)
from ..motion_i2v.tracks.brush import Brush
from .animator import preview_grid
from .comfy import Progress, check_interrupted, load_on_device, torch_device, unwrap
from .convert import (
    brush_to_engine,
    conditioning_states,
    decode_latents,
    encode_image,
    image_from_engine,
    image_to_engine,
)
from .flow_model import FlowModelHandle
from .native import MotionModules, NativeRender
from .spec import (
    ANIMATOR_INPUT,
    CONTROL,
    FIELD,
    FLOW_MODEL_INPUT,
    LONG_MOTION,
    MOTION_MODULES,
    ksampler_widgets,
    pairing_widget,
    prompt_inputs,
    sampler_widgets,
    stride_widget,
)

CATEGORY = "Motion-I2V/Long video"
DEFAULT_FRAMES = 46  # three segments


@dataclass(frozen=True)
class LongMotion:
    """The socket ``spec.LONG_MOTION``: ``plan``, the segments; ``motion``, how each gets its motion; ``brush``, the
    control's (the loop's when it gets none); ``flow_model``, stage 1's networks for the memory check (None for a
    given field)."""

    plan: SegmentPlan
    motion: SegmentMotion
    brush: Brush | None = None
    flow_model: FlowModelHandle | None = None


def _overlap_widget() -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": max_overlap(PASS_FRAMES), "tooltip": (
        "Frames after each seam that both segments render, cross-faded from the one to the next, for smoother motion "
        "across the seam (0: the seam frame only). Each overlap frame costs a segment frame: 46 frames are 3 "
        "segments with overlap 0, 4 with overlap 2.")})


def _plan(frames: int, overlap: int, name: str = "frames") -> SegmentPlan:
    try:
        return SegmentPlan(frames, PASS_FRAMES, overlap)
    except ValueError as error:
        raise ValueError(str(error).replace("frames:", f"{name}:", 1)) from None


class MotionI2VPredictLongMotion:
    NODE_ID = "MotionI2VPredictLongMotion"
    DISPLAY_NAME = "Motion-I2V Predict Long Motion"
    CATEGORY = CATEGORY
    FUNCTION = "plan"
    RETURN_TYPES = (LONG_MOTION,)
    RETURN_NAMES = ("long_motion",)
    OUTPUT_TOOLTIPS = ("The segments of the video and stage 1 for each, run by Motion-I2V Long Video (either path).",)
    DESCRIPTION = (
        "Stage 1 of a long video: the frames are cut into segments of 16 that share their seam frame (46 frames: "
        "0-15, 15-30, 30-45), and each segment's motion field is predicted from the frame the previous segment "
        "rendered at its seam, steered by the tracks from there on: a track drawn over the whole video steers "
        "every segment from wherever its content is when the segment starts; a track hidden or gone off the image "
        "by then is dropped for that segment. Nothing runs here: Motion-I2V Long Video runs both stages segment by "
        "segment (seeded with its seed + the segment's number)."
    )

    @classmethod
    def INPUT_TYPES(cls):
        widgets = sampler_widgets("field")
        return {
            "required": {
                "flow_model": FLOW_MODEL_INPUT,
                "vae": ("VAE", {"tooltip": "The SD1.5 VAE that encodes each segment's first frame for stage 1."}),
                **prompt_inputs(),
                "frames": ("INT", {"default": DEFAULT_FRAMES, "min": 2, "max": MAX_FRAMES, "tooltip": (
                    f"Frames of the video, the image included (2..{MAX_FRAMES}). A connected control must have as "
                    "many (the frames of Motion-I2V Trajectories).")}),
                "overlap": _overlap_widget(),
                **{name: widgets[name] for name in ("steps", "cfg", "sampler")},
                "stride": stride_widget(),
            },
            "optional": {
                "control": (CONTROL, {"tooltip": "Trajectory control over the whole video, from Motion-I2V Trajectory "
                            "Control (needs the ControlNet); without it, each segment moves from the prompt alone."}),
            },
        }

    def plan(self, flow_model, vae, positive, negative, frames, overlap, steps, cfg, sampler, stride, control=None):
        plan = _plan(frames, overlap)
        if control is not None and not isinstance(control, TrajectoryControl):
            raise ValueError(f"control: expected a {CONTROL}, got {type(control).__name__}")
        motion = PredictedMotion(
            flow_model.load, flow_model.spec, lambda image, generator: encode_image(vae, image, signed=False),
            conditioning_states(positive, "positive"), conditioning_states(negative, "negative"),
            None if control is None else control.trajectories,
            64 if control is None else control.flow_unit, 1.0 if control is None else control.strength,
            SamplerSettings(steps, cfg, sampler), stride,
        )
        if control is not None:  # the rest is checked with the image, by the loop node
            check_track_frames(control.trajectories, plan)
        return (LongMotion(plan, motion, None if control is None else control.brush, flow_model),)


class MotionI2VLongMotionFromField:
    NODE_ID = "MotionI2VLongMotionFromField"
    DISPLAY_NAME = "Motion-I2V Long Motion From Field"
    CATEGORY = CATEGORY
    FUNCTION = "plan"
    RETURN_TYPES = (LONG_MOTION,)
    RETURN_NAMES = ("long_motion",)
    OUTPUT_TOOLTIPS = ("The segments of the video and each one's motion, for Motion-I2V Long Video (either path).",)
    DESCRIPTION = (
        "A long motion field (a camera move, a video's motion from Extract Motion From Video, an edited field; up to "
        "1024 frames) as a long video's motion: cut into segments of 16 that share their seam frame, each re-based "
        "to its first frame (the frame the previous segment rendered): for every pixel there, where it goes next, "
        "its displacements composed from frame 0, not restarted. Pixels that no pixel of frame 0 reaches at a seam "
        "(content that came into view) take the motion of their surroundings."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_field": (FIELD, {"tooltip": "The motion of the whole video from its first frame, at the "
                                 "image's size; the video gets its frame count."}),
                "overlap": _overlap_widget(),
            },
        }

    def plan(self, motion_field, overlap):
        if not isinstance(motion_field, MotionField):
            raise ValueError(f"motion_field: expected a {FIELD}, got {type(motion_field).__name__}")
        return (LongMotion(_plan(motion_field.frames, overlap, "motion_field frames"),
                           RebasedMotion(motion_field, check_interrupted)),)


# What both loop nodes take beside their stage 2: the first frame, the motion and the brush
LOOP_INPUTS = {
    "vae": ("VAE", {"tooltip": "The SD1.5 VAE: encodes each segment's first frame, decodes its frames."}),
    "image": ("IMAGE", {"tooltip": "The first frame; width and height multiples of 8 (512x320 as trained). Only the "
                                   "first image of a batch is used."}),
    "long_motion": (LONG_MOTION, {"tooltip": "From Motion-I2V Predict Long Motion or Long Motion From Field."}),
}
LOOP_BRUSH = ("MASK", {"tooltip": "Motion brush at the image's size: 1 = may move, 0 = held still in every segment. "
                                  "Without it, the long motion's control's brush."})


def _inputs(image, brush, long_motion) -> tuple[torch.Tensor, Brush | None]:
    """The first frame [1, 3, H, W] 0..1 and the brush in effect: the node's, else the control's."""
    if not isinstance(long_motion, LongMotion):
        raise ValueError(f"long_motion: expected a {LONG_MOTION}, got {type(long_motion).__name__}")
    pixels = image_to_engine(image)[:1]
    held = long_motion.brush if brush is None else brush_to_engine(brush, *pixels.shape[2:])
    return pixels, held


def _check_stage1_memory(long_motion: LongMotion, pixels: torch.Tensor) -> None:
    """Stage 1's memory for the longest segment, before anything runs (stage 2's is the node's own)."""
    if long_motion.flow_model is None:
        return
    modules, device = long_motion.flow_model.modules(), torch_device()
    frames, (height, width) = long_motion.plan[0].frames, pixels.shape[2:]
    check_stage_memory(1, frames=frames, height=height, width=width, dtype=next(modules[0].parameters()).dtype,
                       guided=long_motion.motion.settings.guided, device=device, vae_frames=min(VAE_CHUNK, frames - 1),
                       weights=0 if device.type == "cpu" else sum(map(module_bytes, modules)))


def _run(long_motion: LongMotion, pixels: torch.Tensor, render: SegmentRender, brush: Brush | None, seed: int,
         preview) -> tuple[torch.Tensor]:
    """Every segment under one progress bar; ``preview(latents)`` -> a PIL image, or None for no live preview."""
    plan, motion = long_motion.plan, long_motion.motion
    progress = Progress(len(plan) * (motion.steps + render.steps))

    def report(step: int, total: int, latents: torch.Tensor | None) -> None:
        progress(step, total, None if latents is None or preview is None else lambda: preview(latents))

    video = render_long(plan, pixels, motion, render, brush=brush, seed=seed, callback=report)
    return (image_from_engine(video.frames),)


class MotionI2VLongVideo:
    NODE_ID = "MotionI2VLongVideo"
    DISPLAY_NAME = "Motion-I2V Long Video"
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Every frame of the video, each seam once (Save Animated WEBP, Video Combine...).",)
    DESCRIPTION = (
        "Renders a long video segment by segment in our engine (the Motion-Guided Sampler's stage 2): each segment "
        "starts from the frame the previous one rendered at its seam, gets its motion from the long motion, and is "
        "rendered and decoded before the next starts; an overlap is cross-faded. One progress bar counts every step "
        "of both stages of every segment; Cancel stops at the next step. Segment k is seeded with seed + k. The brush "
        "holds the same pixels still in every segment."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "animator": ANIMATOR_INPUT,
                **prompt_inputs(),
                **LOOP_INPUTS,
                **sampler_widgets("video"),
                "pairing": pairing_widget(),
            },
            "optional": {"brush": LOOP_BRUSH},
        }

    def render(self, animator, positive, negative, vae, image, long_motion, seed, steps, cfg, sampler, pairing,
               brush=None):
        pixels, held = _inputs(image, brush, long_motion)
        stage2 = EngineRender(
            lambda: load_on_device(animator.model), animator.config,
            lambda first, generator: encode_image(vae, first),
            lambda latents: decode_latents(vae, latents / LATENT_SCALE),
            conditioning_states(positive, "positive"), conditioning_states(negative, "negative"),
            AnimationSettings(steps, cfg, sampler, pairing=pairing),
        )
        height, width = pixels.shape[2:]
        _check_stage1_memory(long_motion, pixels)
        module, device = unwrap(animator.model), torch_device()
        check_stage_memory(2, frames=long_motion.plan[0].frames, height=height, width=width,
                           dtype=next(module.parameters()).dtype, guided=stage2.settings.guided, device=device,
                           weights=0 if device.type == "cpu" else module_bytes(module))

        @cache
        def colours():  # fitted once, on the image, when a preview is first shown
            return latent_preview(encode_image(vae, pixels), pixels)

        return _run(long_motion, pixels, stage2, held, seed, lambda latents: preview_grid(colours(), latents))


class MotionI2VLongVideoNative:
    NODE_ID = "MotionI2VLongVideoNative"
    DISPLAY_NAME = "Motion-I2V Long Video (native)"
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Every frame of the video, each seam once (Save Animated WEBP, Video Combine...).",)
    DESCRIPTION = (
        "Renders a long video segment by segment on the native path: each segment's stage 2 is ComfyUI's own "
        "sampler on the MODEL with Motion-I2V's motion modules inside (as Motion-I2V Animate (native) + KSampler: "
        "LoRAs, FreeU, PAG and core ControlNets keep working, every sampler and scheduler), started from the frame "
        "the previous segment rendered at its seam. One progress bar counts every step of both stages of every "
        "segment; Cancel stops at the next step. Segment k is seeded with seed + k (ComfyUI's noise for that seed). "
        "The brush holds the same pixels still in every segment."
    )

    @classmethod
    def INPUT_TYPES(cls):
        widgets = sampler_widgets("video")
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "An SD1.5 MODEL (Load Checkpoint, then LoRA loaders and model "
                                               "patches), without Motion-I2V Animate (native)."}),
                "motion_modules": (MOTION_MODULES, {"tooltip": "From Motion-I2V Load Motion Modules."}),
                "positive": ("CONDITIONING", {"tooltip": "The prompt, as KSampler takes it (ControlNets applied "
                                                         "with one control image per frame of a segment)."}),
                "negative": ("CONDITIONING", {"tooltip": "The negative prompt, as KSampler takes it."}),
                **LOOP_INPUTS,
                **{name: widgets[name] for name in ("seed", "steps", "cfg")},
                **ksampler_widgets(),
                "pairing": pairing_widget(),
            },
            "optional": {"brush": LOOP_BRUSH},
        }

    def render(self, model, motion_modules, positive, negative, vae, image, long_motion, seed, steps, cfg,
               sampler_name, scheduler, pairing, brush=None):
        if not isinstance(motion_modules, MotionModules):
            raise ValueError(f"motion_modules: expected {MOTION_MODULES}, got {type(motion_modules).__name__}")
        pixels, held = _inputs(image, brush, long_motion)
        stage2 = NativeRender(model, motion_modules, vae, positive, negative, steps, cfg, sampler_name, scheduler,
                              pairing)
        _check_stage1_memory(long_motion, pixels)
        from .comfy_native import latent_previewer

        return _run(long_motion, pixels, stage2, held, seed, latent_previewer(model))


NODES = [MotionI2VPredictLongMotion, MotionI2VLongMotionFromField, MotionI2VLongVideo, MotionI2VLongVideoNative]
