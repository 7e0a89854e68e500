"""The VAEs: the 2-channel flow VAE of stage 1 and the SD1.5 image VAE, both diffusers ``AutoencoderKL``.

The official files use diffusers-0.11 names for the mid-block attention
(``query/key/value/proj_attn``, as the pinned diffusers 0.11.1 saved them:
https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/environment.yaml#L102); modern diffusers calls them ``to_q/to_k/to_v/to_out.0``, same shapes. ``to_modern_keys`` / ``to_official_keys`` translate in both directions.
"""

from __future__ import annotations

import re

import torch
from diffusers import AutoencoderKL

_OLD_TO_NEW = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
_NEW_TO_OLD = {new: old for old, new in _OLD_TO_NEW.items()}
_ATTENTION = r"^((?:encoder|decoder)\.mid_block\.attentions\.\d+\.)"
_OLD_PATTERN = re.compile(_ATTENTION + r"(query|key|value|proj_attn)\.")
_NEW_PATTERN = re.compile(_ATTENTION + r"(to_q|to_k|to_v|to_out\.0)\.")
# Keys that only describe the diffusers class, never its architecture.
_CONFIG_IGNORED = {"_class_name", "_diffusers_version", "_name_or_path"}

# The flow latents are scaled like SD's:
# https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/train_ctrl_flow_gen_dot.py#L680
FLOW_LATENT_SCALE = 0.18215


def build_vae(config: dict) -> AutoencoderKL:
    """An ``AutoencoderKL`` from a diffusers VAE ``config.json`` dictionary."""
    return AutoencoderKL(**{k: v for k, v in config.items() if k not in _CONFIG_IGNORED})


def to_modern_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers-0.11 VAE keys -> current diffusers keys (other keys unchanged)."""
    return {_OLD_PATTERN.sub(lambda m: m.group(1) + _OLD_TO_NEW[m.group(2)] + ".", k): v for k, v in state_dict.items()}


def to_official_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Current diffusers VAE keys -> the diffusers-0.11 names of the official files."""
    return {_NEW_PATTERN.sub(lambda m: m.group(1) + _NEW_TO_OLD[m.group(2)] + ".", k): v for k, v in state_dict.items()}
