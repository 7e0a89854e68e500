"""Stage 2 inside ComfyUI's own model system: motion modules injected into a MODEL that core samplers sample.

The ComfyUI side lives in ``nodes/comfy_native.py``, imported when a node runs, so the pack imports without
ComfyUI. Load Animator + Motion-Guided Sampler (``nodes/animator.py``) stay the reference path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..motion_i2v.checks import check_choice
from ..motion_i2v.flow import MotionField
from ..motion_i2v.models.motion_augmented import PAIRINGS
from ..motion_i2v.pipelines.animate import VAE_FACTOR, check_video, latent_still_region
from ..motion_i2v.tracks.brush import Brush
from ..motion_i2v.weights.release import release_names
from .animator import preselect
from .comfy import model_files, model_path, network_dtype
from .convert import brush_to_engine, image_to_engine, latent_samples, latent_to_comfy, vae_latent
from .spec import FIELD, MOTION_MODULES, dtype_widget

CATEGORY = "Motion-I2V/Stage 2"
APPLY_NAME = "Motion-I2V Animate (native)"


@dataclass(frozen=True)
class MotionModules:
    """Loaded motion modules (socket ``spec.MOTION_MODULES``).

    ``patcher``: a ComfyUI ModelPatcher around ``motion_i2v.native.LdmMotionModules``; ``source``: the file.
    """

    patcher: Any
    source: str


class MotionI2VLoadMotionModules:
    NODE_ID = "MotionI2VLoadMotionModules"
    DISPLAY_NAME = "Motion-I2V Load Motion Modules"
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MOTION_MODULES,)
    RETURN_NAMES = ("motion_modules",)
    OUTPUT_TOOLTIPS = ("Motion-I2V's stage-2 motion modules, for Motion-I2V Animate (native).",)
    DESCRIPTION = (
        "Loads the stage-2 motion modules for the native path: models/stage2/Motion_Module/motion_block.bin from "
        "the official release (AnimateDiff's mm_sd_v15_v2.ckpt loads too, without Motion-I2V's fine-tuning). "
        "ComfyUI's memory management loads and offloads them with the UNet they are applied to."
    )

    @classmethod
    def INPUT_TYPES(cls):
        motion_files = model_files()
        return {
            "required": {
                "motion_module": (motion_files, {
                    **preselect(motion_files, release_names("motion_modules")),
                    "tooltip": "Motion modules from models/motion_i2v: Motion-I2V's models/stage2/Motion_Module/"
                               "motion_block.bin (AnimateDiff-v2 key layout), or a plain mm_sd_v15_v2.ckpt.",
                }),
                "dtype": dtype_widget("the motion modules (their layers cast to the UNet's precision as they run; "
                                      "the splat of the features always runs in fp32)"),
            },
        }

    def load(self, motion_module, dtype):
        from .comfy_native import load_motion_modules

        return (MotionModules(load_motion_modules(model_path(motion_module), network_dtype(dtype)), motion_module),)


def first_frame_latent(image, vae, first_frame) -> torch.Tensor:
    """The first frame's unscaled latent [1, 4, h, w] float32 on the CPU: ``first_frame``'s, else ``image`` encoded
    (its first image, RGB, checked)."""
    if first_frame is not None:
        return latent_samples(first_frame, "first_frame")[:1]
    if image is None or vae is None:
        raise ValueError("image / vae / first_frame: connect the first frame, either as image and vae (VAE Encode is "
                         "done here) or as a LATENT in first_frame")
    return vae_latent(vae, image_to_engine(image)[:1])


def moving_region(brush: Brush | None, frames: int, latent_height: int, latent_width: int) -> torch.Tensor:
    """[F, 1, h, w] float: 1 where the sampler denoises, 0 where the video is held to the first frame (all of
    frame 0; the brush's still cells, nearest per 8x8 cell as the official)."""
    moving = torch.ones(frames, 1, latent_height, latent_width)
    still = latent_still_region(brush, latent_height, latent_width)
    if still is not None:
        moving[1:] = 1 - still[0, 0, 0]
    moving[0] = 0
    return moving


class MotionI2VAnimateNative:
    NODE_ID = "MotionI2VAnimateNative"
    DISPLAY_NAME = APPLY_NAME
    CATEGORY = CATEGORY
    FUNCTION = "apply"
    RETURN_TYPES = ("MODEL", "LATENT")
    RETURN_NAMES = ("model", "latent")
    OUTPUT_TOOLTIPS = (
        "The MODEL with Motion-I2V inside: sample it with KSampler (any sampler and scheduler) or SamplerCustom. "
        "Its patches, LoRAs and ControlNets keep working.",
        "The video to sample: F frames of the first frame's size (ComfyUI's batch of frames); frame 0 and the "
        "brush's unpainted cells hold the first frame. Decode with VAE Decode.",
    )
    DESCRIPTION = (
        "Motion-I2V stage 2 as a ComfyUI MODEL: injects the motion modules into the model's own UNet, where every "
        "temporal attention warps the first frame's features along the motion field, and returns the video latent "
        "to sample. The model keeps its weights, LoRAs and patches (FreeU, PAG, ControlNet...); it gets "
        "AnimateDiff's linear noise schedule (keeping epsilon or v-prediction), the clean first frame at t = 1 in "
        "every UNet call, and the brush for every sampler. Official settings: ddim + ddim_uniform, 25 steps, CFG 7, "
        "16 frames at 512x320. 'official' pairing: the CFG halves warp each other's first frame frame by frame, "
        "as the released weights were trained; 'per_sample': each its own."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "An SD1.5 MODEL (Load Checkpoint, then LoRA loaders and model "
                                               "patches)."}),
                "motion_modules": (MOTION_MODULES, {"tooltip": "From Motion-I2V Load Motion Modules."}),
                "motion_field": (FIELD, {"tooltip": "Where every pixel of the first frame moves in each "
                                                             "frame, at the image's size (Predict Motion Field...)."}),
                "pairing": (list(PAIRINGS), {"default": "official", "tooltip": (
                    "Which CFG half's first frame is warped: 'official' as the released weights were trained (the "
                    "halves alternate per frame); 'per_sample' the corrected pairing (not what the weights saw).")}),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "The first frame (with vae); width and height multiples of 8 (512x320 "
                                               "as trained). Only the first image of a batch is used."}),
                "vae": ("VAE", {"tooltip": "The SD1.5 VAE that encodes image."}),
                "first_frame": ("LATENT", {"tooltip": "The first frame already encoded (VAE Encode); wins over "
                                                      "image and vae."}),
                "brush": ("MASK", {"tooltip": "Motion brush at the image's size: 1 = may move, 0 = held at the first "
                                              "frame. Nothing painted = everything may move."}),
            },
        }

    def apply(self, model, motion_modules, motion_field, pairing, image=None, vae=None, first_frame=None, brush=None):
        # Everything is checked before ComfyUI is touched; the field's size is the first frame's to be.
        if not isinstance(motion_field, MotionField):
            raise ValueError(f"motion_field: expected a {FIELD}, got {type(motion_field).__name__}")
        check_choice(pairing, PAIRINGS, "pairing")
        height, width = motion_field.height, motion_field.width
        modules = motion_modules.patcher.model
        check_video(modules.config, motion_field, height, width)
        held = None if brush is None else brush_to_engine(brush, height, width)
        from .comfy_native import MotionPatch, check_fits, motion_i2v_sampling

        check_fits(model, modules)
        sampling = motion_i2v_sampling(model.get_model_object("model_sampling"))
        reference = first_frame_latent(image, vae, first_frame)
        if tuple(reference.shape[2:]) != (height // VAE_FACTOR, width // VAE_FACTOR):
            raise ValueError(f"motion field: it is {width}x{height} but the first frame is "
                             f"{reference.shape[3] * VAE_FACTOR}x{reference.shape[2] * VAE_FACTOR}; predict or resize "
                             "the field at the image's size")
        flow, frames = motion_field.flow.float().cpu(), motion_field.frames
        moving = moving_region(held, frames, *reference.shape[2:])
        patch = MotionPatch(motion_modules.patcher, flow, pairing, reference, model.model.process_latent_in(reference),
                            moving, sampling)
        latent = latent_to_comfy(reference * (1 - moving))
        return (patch.apply(model), latent)


NODES = [MotionI2VLoadMotionModules, MotionI2VAnimateNative]
