"""Tiny parts for the native stage-2 tests, built in this process with ComfyUI's own classes.

- ``sd15_model``: a ComfyUI MODEL from random LDM UNet weights of ``comfyui_tiny_sd15.UNET`` (two levels, 320
  and 640 channels), loaded through ``comfy.sd.load_diffusion_model_state_dict``, so ComfyUI detects it as
  SD1.5 exactly as it detects a checkpoint's UNet.
- ``write_motion_modules``: random motion modules of ``motion_i2v/configs/comfy_tiny`` (which fit that UNet)
  in the release layout, with the config.json beside them that tells the loader their sizes.
- ``unet3d``: our animation UNet (``UNet3D``) from the same two weight sets, for comparisons.

Engine objects that nodes receive (fields, the UNet3D the Motion-Guided Sampler runs) are built with the pack's
own engine (``pack.motion_i2v``, the pack as ComfyUI loads it), so the nodes' type checks see their classes.
- ``write_controlnet``: a random SD1.5 ControlNet for that UNet, as a file ComfyUI's loader accepts.
- ``write_lora``: a random LoRA for that UNet, under kohya's names, as LoraLoader reads it.

The real-server test can build its native workflows' files with these too (the tiny checkpoint of
``comfyui_tiny_sd15.py`` has this UNet).

Weights follow ``make_tiny.randomize`` (matrices N(0, 1/fan_in), norm scales 1 + N(0, 0.1), biases N(0, 0.1)),
so every layer, the zero-initialised ones of a real checkpoint included, changes the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import comfy.cldm.cldm
import comfy.lora
import comfy.model_detection
import comfy.sd
import comfy.utils
import torch
from comfyui_tiny_sd15 import UNET

from motion_i2v.commands.make_tiny import randomize
from motion_i2v.weights.configs import bundled_config
from motion_i2v.weights.files import save_state_dict
from motion_i2v.weights.kinds import animation_config
from motion_i2v.native import LdmMotionModules

FRAMES, HEIGHT, WIDTH = 3, 32, 48  # image pixels: latents 4 x 6, 2 x 3 at the second level
LATENT = (FRAMES, 4, HEIGHT // 8, WIDTH // 8)
TEXT_TOKENS, TEXT_WIDTH = 77, 768


def _motion_config() -> dict:
    return bundled_config("motion_modules", "comfy_tiny")


def unet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights of the tiny SD1.5 UNet under ComfyUI's (LDM) names, without prefix."""
    config = comfy.model_detection.model_config_from_unet_config(dict(UNET))
    unet = config.get_model({}).diffusion_model
    randomize(unet, torch.Generator().manual_seed(seed))
    return {key: value.clone() for key, value in unet.state_dict().items()}


def sd15_model(state: dict[str, torch.Tensor]):
    """A ComfyUI MODEL (ModelPatcher) of ``state``, detected by ComfyUI as SD1.5."""
    model = comfy.sd.load_diffusion_model_state_dict(dict(state))
    if type(model.model.model_config).__name__ != "SD15":
        raise AssertionError(f"ComfyUI detected {type(model.model.model_config).__name__}, not SD15")
    return model


def motion_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """Random motion modules of the comfy_tiny config under the official (motion_block.bin) names."""
    holder = LdmMotionModules(animation_config(_motion_config()))  # on the CPU: the PE buffers are computed
    randomize(holder, torch.Generator().manual_seed(seed))
    return {key: value.clone() for key, value in holder.state_dict().items()}


def write_motion_modules(folder: Path, state: dict[str, torch.Tensor], name: str = "motion_block.bin") -> Path:
    """``state`` as a motion-module file in its own folder, with the comfy_tiny config.json beside it."""
    path = save_state_dict(state, Path(folder) / name)
    (path.parent / "config.json").write_text(json.dumps(_motion_config()))
    return path


def unet3d(pack, unet: dict[str, torch.Tensor], motion: dict[str, torch.Tensor]):
    """Our animation UNet from the same LDM UNet and motion-module weights (motion-augmented attention on)."""
    return pack.motion_i2v.weights.animator.load_animator(unet, motion, _motion_config(), base_source="tiny SD1.5 UNet",
                                                        motion_source="tiny motion modules")


def write_controlnet(folder: Path, name: str = "tiny_sd15_controlnet.safetensors", seed: int = 2) -> Path:
    """A random SD1.5 ControlNet for the tiny UNet, ``control_model.*`` keys as the .pth ControlNets ship
    (a torch pickle when ``name`` ends in .pth, as ComfyUI's loader reads those)."""
    config = comfy.model_detection.model_config_from_unet_config(dict(UNET)).unet_config
    config = {key: value for key, value in config.items() if key != "out_channels"}
    control = comfy.cldm.cldm.ControlNet(hint_channels=3, **config)
    state = randomize(control, torch.Generator().manual_seed(seed)).state_dict()
    state = {f"control_model.{key}": value.clone() for key, value in state.items()}
    path = Path(folder) / name
    if path.suffix == ".pth":
        torch.save(state, path)
    else:
        comfy.utils.save_torch_file(state, str(path))
    return path


def write_lora(folder: Path, model, name: str = "tiny_sd15_lora.safetensors", seed: int = 8) -> Path:
    """A rank-4 LoRA on every linear and conv weight of ``model``'s first UNet level (kohya names)."""
    generator = torch.Generator().manual_seed(seed)
    state = model.model_state_dict()
    lora = {}
    for key, target in comfy.lora.model_lora_keys_unet(model.model, {}).items():
        weight = state.get(target)
        if not key.startswith("lora_unet_input_blocks_1_") or weight is None or weight.ndim < 2:
            continue  # LoRAs patch the linear and conv weights, not norms or biases
        lora[f"{key}.lora_down.weight"] = torch.randn(4, *weight.shape[1:], generator=generator) * 0.5
        lora[f"{key}.lora_up.weight"] = torch.randn(weight.shape[0], 4, *([1] * (weight.ndim - 2)),
                                                    generator=generator) * 0.5
        lora[f"{key}.alpha"] = torch.tensor(4.0)
    path = Path(folder) / name
    comfy.utils.save_torch_file(lora, str(path))
    return path


def conditioning(seed: int, tokens: int = TEXT_TOKENS) -> list:
    """A CONDITIONING of random SD1.5-wide text states [1, tokens, 768]."""
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, TEXT_WIDTH, generator=generator),
             {"pooled_output": torch.randn(1, TEXT_WIDTH, generator=generator)}]]


def motion_field(pack, seed: int = 3, frames: int = FRAMES):
    """A MOTION_I2V_FIELD: a smooth random field at the image's size, up to ~6 px, frame 0 still."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(frames, 2, 2, 3, generator=generator) * 3
    flow = torch.nn.functional.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False)
    flow[0] = 0
    return pack.motion_i2v.flow.MotionField(flow)


def first_frame(seed: int = 4) -> dict:
    """A LATENT of one random first frame [1, 4, h, w] (ComfyUI's unscaled convention)."""
    return {"samples": torch.randn(1, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(seed))}
