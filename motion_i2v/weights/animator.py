"""The stage-2 animation UNet, stacked from its two sources as the official demo does
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L364-L410).

An SD1.5 base UNet (an LDM single-file checkpoint, a ComfyUI MODEL's bare LDM UNet, or diffusers names
such as ``realistic_unet.ckpt``), then the motion modules (``motion_block.bin``). Each source is checked
on its own first, so an error names the file at fault; then both load strictly into one network.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models import UNet3D
from .configs import Config, config_for_file, resolve_config
from .files import Weights, read_shapes, read_state_dict, shapes_of
from .loader import build_model, check_state_dict, identify, model_from_state_dict

BASE, MOTION = "sd_unet", "motion_modules"


def _checked(kind: str, state: Weights, config: Config, source: str) -> Weights:
    identify(kind, shapes_of(state), source)
    return check_state_dict(kind, state, build_model(kind, config, device="meta"), source=source,
                            built_from=config.source)


def load_animator(base: Weights, motion: Weights, config: str | dict | Config = "official", *,
                  base_source: str = "base model", motion_source: str = "motion module", device="cpu",
                  dtype=torch.float32) -> UNet3D:
    """The animation UNet from an SD1.5 UNet state dict (any layout ``sd_unet`` reads) and a motion-module
    state dict; strict, with errors naming the offending source."""
    config = resolve_config(MOTION, config)
    base = _checked(BASE, base, config, base_source)
    motion = _checked(MOTION, motion, config, motion_source)
    return model_from_state_dict("animation_unet", {**base, **motion}, config,
                                 source=f"{base_source} with {motion_source}", device=device, dtype=dtype)


def check_animator_files(motion_path, base_path=None) -> None:
    """Refuse a motion-module or base file of another kind by its keys alone (of a .safetensors only
    the header is read), before anything is loaded."""
    identify(MOTION, read_shapes(motion_path, slot=MOTION), str(motion_path))
    if base_path is not None:
        identify(BASE, read_shapes(base_path, slot=BASE), str(base_path))


def load_animator_files(base_path, motion_path, config: str | dict | Config | None = None, *, device="cpu",
                        dtype=torch.float32) -> UNet3D:
    """``load_animator`` from files, both recognised before either is read in full. ``config=None`` takes
    the motion file's (``config_for_file``: a re-save's metadata, a config.json beside it, or the official one)."""
    check_animator_files(motion_path, base_path)
    config = config_for_file(MOTION, motion_path) if config is None else config
    return load_animator(read_state_dict(base_path, slot=BASE), read_state_dict(motion_path, slot=MOTION), config,
                         base_source=str(Path(base_path)), motion_source=str(Path(motion_path)), device=device,
                         dtype=dtype)
