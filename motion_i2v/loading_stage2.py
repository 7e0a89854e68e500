"""The stage-2 kinds of the loading API, and assembling the animation UNet from its two sources.

Kinds (registered in ``loading.KINDS`` when this module is imported):

- ``animation_unet``: the official stage-2 ``UNet3DConditionModel`` (SD1.5 UNet inflated over frames,
  4 input channels, no stride embedding) with the motion-augmented temporal processor installed.
  Its state dict is the official one: SD1.5 keys plus ``*.motion_modules.*``.
- ``motion_modules``: only the motion modules, under the same UNet key names, which is the layout
  of ``motion_block.bin`` and of AnimateDiff's ``mm_sd_v15_v2.ckpt``.
- ``sd_unet``: the animation UNet without motion modules, key for key the SD1.5 UNet of
  ``models/stage2/StableDiffusion/unet`` and ``realistic_unet.ckpt`` (diffusers names).

``load_animator`` stacks the weights as the official demo does (OFFICIAL.md 9.9): an SD1.5 base in
any layout ``checkpoints.base_unet_weights`` reads, then the motion modules, loaded strictly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from .checkpoints import (
    base_unet_layout,
    base_unet_weights,
    motion_module_layout,
    motion_module_weights,
    read_shapes,
)
from .loading import KINDS, ModelKind, config_for_file, model_from_state_dict, read_state_dict
from .models import UNet3D, UNet3DConfig
from .models.motion_augmented import install_motion_augmentation

RELEASE_FILES = {
    "animation_unet": "(no single file: an SD1.5 UNet plus models/stage2/Motion_Module/motion_block.bin)",
    "motion_modules": "models/stage2/Motion_Module/motion_block.bin",
    "sd_unet": "models/stage2/StableDiffusion/unet/diffusion_pytorch_model.bin",
}
REALISTIC_UNET_FILE = "models/stage2/DreamBooth_LoRA/realistic_unet.ckpt"  # the demo's base UNet (fp16)
REALISTIC_VAE_FILE = "models/stage2/DreamBooth_LoRA/realisticVisionV51_v20Novae.safetensors"  # the demo's VAE
# make-tiny's entries for stage 2, as its TINY_FILES: (kind, weight file, its config.json). The config
# beside motion_block.bin is not in the release (which takes the bundled official config); for the
# tiny set it tells the loader the tiny sizes.
TINY_FILES = (
    ("sd_unet", RELEASE_FILES["sd_unet"], "models/stage2/StableDiffusion/unet/config.json"),
    ("motion_modules", RELEASE_FILES["motion_modules"], "models/stage2/Motion_Module/config.json"),
)


def animation_config(config: dict) -> UNet3DConfig:
    """The stage-2 UNet config of an official config dict (which has no stride-embedding switch)."""
    parsed = replace(UNet3DConfig.from_official(config), stride_embedding=False)
    if parsed.in_channels != 4:
        raise ValueError(f"animation UNet config: in_channels must be 4 (latent frames only), got {parsed.in_channels}")
    return parsed


def build_animation_unet(config: dict) -> UNet3D:
    unet = UNet3D(animation_config(config))
    install_motion_augmentation(unet)
    return unet


class _Holder(nn.Module):
    """One UNet block reduced to its ``motion_modules`` (absent when the block has none)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        if hasattr(block, "motion_modules"):
            self.motion_modules = block.motion_modules


class MotionModules(nn.Module):
    """The motion modules of an inflated UNet under the UNet's key names (``down_blocks.i.motion_modules.j...``).

    Built around a UNet, it shares that UNet's modules, so loading it loads them.
    """

    def __init__(self, unet: UNet3D):
        super().__init__()
        self.down_blocks = nn.ModuleList(_Holder(block) for block in unet.down_blocks)
        self.mid_block = _Holder(unet.mid_block)
        self.up_blocks = nn.ModuleList(_Holder(block) for block in unet.up_blocks)


def build_motion_modules(config: dict) -> MotionModules:
    return MotionModules(UNet3D(animation_config(config)))


def build_sd_unet(config: dict) -> UNet3D:
    """The animation UNet with no motion modules: the SD1.5 UNet's keys and shapes exactly."""
    return UNet3D(replace(animation_config(config), motion_module_resolutions=(), motion_module_mid_block=False))


for _name, _build in (("animation_unet", build_animation_unet), ("motion_modules", build_motion_modules),
                      ("sd_unet", build_sd_unet)):
    KINDS[_name] = ModelKind(_name, _build, dict, dict, RELEASE_FILES[_name])


def load_animator(base: dict[str, torch.Tensor], motion: dict[str, torch.Tensor], config: str | dict = "official", *,
                  base_source: str = "base model", motion_source: str = "motion module",
                  device="cpu", dtype=torch.float32) -> UNet3D:
    """The animation UNet from an SD1.5 UNet state dict (LDM single-file, bare LDM or diffusers
    names) and a motion-module state dict; strict, with errors naming the offending source."""
    base = base_unet_weights(base, base_source)
    motion = motion_module_weights(motion, motion_source)
    model_from_state_dict("sd_unet", base, config, source=base_source, device="meta")
    model_from_state_dict("motion_modules", motion, config, source=motion_source, device="meta")
    return model_from_state_dict("animation_unet", {**base, **motion}, config,
                                 source=f"{base_source} with {motion_source}", device=device, dtype=dtype)


def check_animator_files(motion_path, base_path=None) -> None:
    """Refuse a wrong motion-module or base file by its keys alone (for .safetensors only the header
    is read), before anything is loaded."""
    motion_module_layout(read_shapes(motion_path), Path(motion_path).name)
    if base_path is not None:
        base_unet_layout(read_shapes(base_path), Path(base_path).name)


def load_animator_files(base_path, motion_path, config: str | dict | None = None, *, device="cpu",
                        dtype=torch.float32) -> UNet3D:
    """``load_animator`` from files, both checked before either is read in full. ``config=None`` takes
    the motion file's (``loading.config_for_file``: a re-save's metadata, a config.json beside it, or
    the official one)."""
    check_animator_files(motion_path, base_path)
    config = config_for_file("motion_modules", motion_path) if config is None else config
    return load_animator(read_state_dict(base_path), read_state_dict(motion_path), config,
                         base_source=str(base_path), motion_source=str(motion_path), device=device, dtype=dtype)
