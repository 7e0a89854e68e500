"""Stage-2 nodes: load the animation UNet, and render a video latent guided by a motion field."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange
from PIL import Image

from ..motion_i2v.memory import check_stage_memory, module_bytes
from ..motion_i2v.models import UNet3DConfig
from ..motion_i2v.pipelines.animate import AnimationRequest, AnimationSettings, animate, latent_preview
from ..motion_i2v.sampling import seeded
from ..motion_i2v.weights.animator import check_animator_files, load_animator, load_animator_files
from ..motion_i2v.weights.configs import config_for_file
from ..motion_i2v.weights.files import read_state_dict
from ..motion_i2v.weights.release import release_names
from .comfy import (
    Progress,
    load_on_device,
    model_files,
    model_path,
    network_dtype,
    patched_unet_weights,
    unapplied_patches,
    torch_device,
    unwrap,
    wrap_model,
)
from .convert import (
    brush_to_engine,
    conditioning_states,
    encode_image,
    image_to_engine,
    scaled_latent_to_comfy,
)
from .spec import ANIMATOR, ANIMATOR_INPUT, FIELD, dtype_widget, pairing_widget, prompt_inputs, sampler_widgets

BASE_FROM_MODEL = "(MODEL input)"
BASE_FOLDERS = ("checkpoints", "motion_i2v")  # ComfyUI's checkpoints, and the release layout's stage-2 UNets
PREVIEW_COLUMNS = 4


@dataclass(frozen=True)
class Animator:
    """The loaded animation UNet (socket ``spec.ANIMATOR``).

    ``model``: a ComfyUI ModelPatcher around the UNet (the module itself outside ComfyUI);
    ``config``: its configuration, so inputs are checked before the UNet is moved anywhere.
    """

    model: Any
    config: UNet3DConfig


def base_choices() -> list[str]:
    return [BASE_FROM_MODEL] + [f"{folder}/{name}" for folder in BASE_FOLDERS for name in model_files(folder)]


def preselect(choices: list[str], endings: tuple[str, ...], folder: str = "") -> dict:
    """The first choice in ``folder`` ending like a release file (in the order given), as the widget's default."""
    found = next((choice for ending in endings for choice in choices
                  if choice.startswith(folder) and choice.endswith(ending)), None)
    return {"default": found} if found else {}


NATIVE_HINT = "Motion-I2V Animate (native) with KSampler keeps them"


def check_model_patches(model) -> None:
    """Refuse a MODEL whose prediction the reference path would get wrong; warn about patches it drops."""
    refused, dropped = unapplied_patches(model)
    if refused:
        raise ValueError(f"model: Load Animator's reference path cannot render this MODEL: {'; '.join(refused)}. "
                         f"{NATIVE_HINT.replace('keeps them', 'samples it')}")
    if dropped:
        logging.getLogger(__name__).warning(
            "Motion-I2V Load Animator: the MODEL's weight patches (LoRAs, merges) are applied, but not: %s. %s.",
            ", ".join(dropped), NATIVE_HINT)


class MotionI2VLoadAnimator:
    NODE_ID = "MotionI2VLoadAnimator"
    DISPLAY_NAME = "Motion-I2V Load Animator"
    CATEGORY = "Motion-I2V/Stage 2"
    FUNCTION = "load"
    RETURN_TYPES = (ANIMATOR,)
    RETURN_NAMES = ("animator",)
    OUTPUT_TOOLTIPS = ("The stage-2 animation UNet: the base SD1.5 UNet inflated over frames with the motion "
                       "modules, whose temporal attention follows a motion field.",)
    DESCRIPTION = (
        "Builds Motion-I2V's stage-2 animation UNet: an SD1.5 UNet plus AnimateDiff-v2 motion modules "
        "whose temporal attention warps the first frame's features along the motion field. The base comes from the "
        "MODEL input (LoRAs and merges applied; other patches are dropped with a warning and a v-prediction model is "
        "refused: Motion-I2V Animate (native) keeps them) or a file: an SD1.5 single-file checkpoint, or from the "
        "official release models/stage2/DreamBooth_LoRA/realistic_unet.ckpt (the demo's base) or "
        "models/stage2/StableDiffusion/unet. "
        "The motion module is models/stage2/Motion_Module/motion_block.bin (AnimateDiff's mm_sd_v15_v2.ckpt loads "
        "too, without Motion-I2V's fine-tuning). SDXL, SD2 and other motion-module layouts are refused by name."
    )

    @classmethod
    def INPUT_TYPES(cls):
        bases, motion_files = base_choices(), model_files()
        return {
            "required": {
                "base_model": (bases, {
                    **preselect(bases, release_names("sd_unet"), "motion_i2v/"),
                    "tooltip": f"The SD1.5 base UNet: '{BASE_FROM_MODEL}' uses the MODEL input; 'checkpoints/...' a "
                               "single-file SD1.5 checkpoint; 'motion_i2v/...' a release file such as "
                               "realistic_unet.ckpt. A connected MODEL always wins.",
                }),
                "motion_module": (motion_files, {
                    **preselect(motion_files, release_names("motion_modules")),
                    "tooltip": "Motion modules from models/motion_i2v: Motion-I2V's models/stage2/Motion_Module/"
                               "motion_block.bin (AnimateDiff-v2 key layout), or a plain mm_sd_v15_v2.ckpt.",
                }),
                "dtype": dtype_widget("the animation UNet (the splat of its features always runs in fp32)"),
            },
            "optional": {
                "model": ("MODEL", {"tooltip": "An SD1.5 MODEL (e.g. from Load Checkpoint, after LoRA loaders); "
                                               "its UNet, weight patches applied, becomes the base. Other patches "
                                               "(FreeU, PAG...) need Motion-I2V Animate (native)."}),
            },
        }

    def load(self, base_model, motion_module, dtype, model=None):
        dtype = network_dtype(dtype)
        motion_path = model_path(motion_module)
        if model is not None:
            check_model_patches(model)
            check_animator_files(motion_path)
            unet = load_animator(patched_unet_weights(model), read_state_dict(motion_path, slot="motion_modules"),
                                 config_for_file("motion_modules", motion_path), base_source="MODEL input",
                                 motion_source=motion_path, dtype=dtype)
        elif base_model == BASE_FROM_MODEL:
            raise ValueError(f"base_model: '{BASE_FROM_MODEL}' needs a MODEL connected to the model input; "
                             f"connect one or pick a checkpoint file")
        else:
            folder, _, name = base_model.partition("/")
            unet = load_animator_files(model_path(name, folder), motion_path, dtype=dtype)
        return (Animator(wrap_model(unet), unet.config),)


def preview_grid(preview, denoised: torch.Tensor) -> Image.Image:
    """The predicted frames [F, 4, h, w] as one picture, ``PREVIEW_COLUMNS`` frames a row."""
    frames = torch.stack([preview(latent) for latent in denoised])
    missing = -len(frames) % PREVIEW_COLUMNS
    frames = torch.cat([frames, frames.new_zeros(missing, *frames.shape[1:])])
    grid = rearrange(frames, "(r c) ch h w -> (r h) (c w) ch", c=PREVIEW_COLUMNS)
    return Image.fromarray((grid * 255).round().byte().numpy())


class MotionI2VMotionGuidedSampler:
    NODE_ID = "MotionI2VMotionGuidedSampler"
    DISPLAY_NAME = "Motion-I2V Motion-Guided Sampler"
    CATEGORY = "Motion-I2V/Stage 2"
    FUNCTION = "sample"
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("The video as a batch of frame latents [F, 4, H/8, W/8] (ComfyUI's unscaled convention); "
                       "decode with the same VAE (VAE Decode). Frame 0 is the input image.",)
    DESCRIPTION = (
        "Motion-I2V stage 2: renders the frames of the image along the motion field. Before every UNet call the "
        "image's clean latent replaces frame 0 (embedded at t = 1), and every temporal attention warps frame 0's "
        "features along the field. Unpainted regions of the brush are held at the image inside the denoiser, with "
        "every sampler (officially reset after every DDIM step but the last). Official settings: ddim, 25 steps, CFG "
        "7, 16 frames at 512x320. The 'official' pairing "
        "reproduces how the released weights were run and trained under CFG (the two halves of the batch swap "
        "reference features frame by frame); 'per_sample' is the corrected pairing the weights never saw."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "animator": ANIMATOR_INPUT,
                **prompt_inputs(),
                "vae": ("VAE", {"tooltip": "The SD1.5 VAE that encodes the first frame (and later decodes the frames)."}),
                "image": ("IMAGE", {"tooltip": "The first frame; width and height multiples of 8 (512x320 as trained). "
                                               "Only the first image of a batch is used."}),
                "motion_field": (FIELD, {"tooltip": "Where every pixel of the image moves in each frame, at the "
                                                    "image's size (Predict Motion Field, or a preview field)."}),
                **sampler_widgets("video"),
                "pairing": pairing_widget(),
            },
            "optional": {
                "brush": ("MASK", {"tooltip": "Motion brush at the image's size: 1 = may move, 0 = held at the first "
                                              "frame. Nothing painted = everything may move."}),
            },
        }

    def sample(self, animator, positive, negative, vae, image, motion_field, seed, steps, cfg, sampler, pairing,
               brush=None):
        # Every input is checked, once, before the image is encoded or the UNet moves to the device.
        generator = seeded(seed)
        pixels = image_to_engine(image)[:1]
        height, width = pixels.shape[2:]
        request = AnimationRequest(
            animator.config, height, width, motion_field, conditioning_states(positive, "positive"),
            conditioning_states(negative, "negative"), AnimationSettings(steps, cfg, sampler, pairing=pairing),
            None if brush is None else brush_to_engine(brush, height, width),
        )
        module, device = unwrap(animator.model), torch_device()
        check_stage_memory(2, frames=request.frames, height=height, width=width, dtype=next(module.parameters()).dtype,
                           guided=request.settings.guided, device=device,
                           weights=0 if device.type == "cpu" else module_bytes(module))
        reference = encode_image(vae, pixels)
        preview = latent_preview(reference, pixels)
        progress = Progress(steps)
        latents = animate(
            load_on_device(animator.model), reference, request, generator=generator,
            callback=lambda step, total, denoised: progress(step, total, lambda: preview_grid(preview, denoised)),
        )
        return (scaled_latent_to_comfy(latents),)


NODES = [MotionI2VLoadAnimator, MotionI2VMotionGuidedSampler]
