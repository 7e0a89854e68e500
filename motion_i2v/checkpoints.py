"""Stage-2 weight files: SD1.5 bases in any common layout, and AnimateDiff-v2 motion modules.

Everything here works offline on plain state dicts: no hub, no config download. The official
stage-2 UNet uses diffusers' SD1.5 key names plus ``*.motion_modules.*`` (OFFICIAL.md 5), so:

- a base UNet arrives as an LDM single-file checkpoint (``model.diffusion_model.input_blocks...``,
  what ComfyUI's models/checkpoints hold), a bare LDM UNet (a ComfyUI MODEL's ``diffusion_model``),
  or diffusers names (the official ``unet/diffusion_pytorch_model.bin``, ``realistic_unet.ckpt``);
  ``base_unet_weights`` turns each into the official names and refuses SDXL, SD2 and non-UNet files;
- a VAE arrives as LDM ``first_stage_model.*`` (the official RealisticVision route) or diffusers
  names; ``vae_weights`` gives diffusers' ``AutoencoderKL`` names;
- a motion module (``motion_block.bin``, AnimateDiff's ``mm_sd_v15_v2.ckpt``) already has the
  official names; ``motion_module_weights`` keeps those keys and refuses other layouts.

Checks read only keys and shapes, so ``read_shapes`` lets a caller refuse a file before loading it.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import safe_open

from .loading import SAFETENSORS_SUFFIXES, read_state_dict
from .models.vae import to_modern_keys

Weights = dict[str, torch.Tensor]
Shapes = dict[str, tuple[int, ...]]

LDM_UNET_PREFIX = "model.diffusion_model."
LDM_VAE_PREFIX = "first_stage_model."
SD15_TEXT_WIDTH = 768
MOTION_KEY = ".motion_modules."


def read_shapes(path: str | Path) -> Shapes:
    """Key -> shape of a weights file; for .safetensors only the header is read."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in SAFETENSORS_SUFFIXES:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    return shapes_of(read_state_dict(path))


def shapes_of(weights: dict) -> Shapes:
    return {key: tuple(value.shape) for key, value in weights.items()}


def _first(keys, count: int = 3) -> str:
    keys = sorted(keys)
    more = f" ... ({len(keys)} in all)" if len(keys) > count else ""
    return ", ".join(keys[:count]) + more


# ---------------------------------------------------------------------------------------------
# Base UNet


def base_unet_layout(shapes: Shapes, source: str) -> str:
    """Classify a base checkpoint by its keys: "ldm", "ldm_bare" or "diffusers".

    Raises a ValueError naming ``source`` for SDXL, SD2.x, inpainting-style inputs, motion-module
    files and files without an SD UNet.
    """
    keys = set(shapes)
    if any(key.startswith("conditioner.") or "label_emb." in key for key in keys):
        raise ValueError(f"base model: {source} is an SDXL checkpoint; the Motion-I2V animation UNet needs an "
                         f"SD1.5 model (SD1.x fine-tunes such as RealisticVision work)")
    if any(key.startswith(LDM_UNET_PREFIX) for key in keys):
        layout, prefix = "ldm", LDM_UNET_PREFIX
        cross, conv_in = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", "input_blocks.0.0.weight"
    elif "input_blocks.0.0.weight" in keys:
        layout, prefix = "ldm_bare", ""
        cross, conv_in = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", "input_blocks.0.0.weight"
    elif "conv_in.weight" in keys and any(key.startswith("down_blocks.") for key in keys):
        layout, prefix = "diffusers", ""
        cross, conv_in = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", "conv_in.weight"
    elif any(MOTION_KEY in key for key in keys):
        raise ValueError(f"base model: {source} holds only motion modules; choose it as the motion module "
                         f"and an SD1.5 checkpoint as the base")
    else:
        raise ValueError(f"base model: {source} holds no SD UNet (expected '{LDM_UNET_PREFIX}input_blocks...' "
                         f"or diffusers 'down_blocks...' keys; found {_first(keys)})")
    width = shapes.get(prefix + cross, (0, 0))[-1]
    if width == 1024:
        raise ValueError(f"base model: {source} is an SD2.x checkpoint (text width 1024); the Motion-I2V "
                         f"animation UNet needs an SD1.5 model (text width {SD15_TEXT_WIDTH})")
    in_channels = shapes.get(prefix + conv_in, (0, 0))[1]
    if in_channels != 4:
        raise ValueError(f"base model: {source} has a UNet with {in_channels} input channels (an inpainting or "
                         f"instruct model); the animation UNet needs a plain SD1.5 model (4 channels)")
    return layout


_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
           "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
_TOP = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
        "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}
_BLOCK = re.compile(r"(input_blocks|output_blocks|middle_block)\.(\d+)\.?(\d*)\.(.+)")


def _resnet_name(rest: str) -> str:
    for old, new in _RESNET.items():
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    raise KeyError(rest)


def _layers_per_block(keys) -> int:
    """L, read off the first downsampler's index (input block L+1 holds ``0.op``)."""
    downsamplers = [int(m.group(2)) for key in keys if (m := _BLOCK.match(key)) and m.group(4).startswith("op.")]
    if downsamplers:
        return min(downsamplers) - 1
    return max(int(m.group(2)) for key in keys if (m := _BLOCK.match(key)) and m.group(1) == "input_blocks")


def ldm_unet_key(key: str, layers: int) -> str:
    """One LDM UNet key (without prefix) -> the diffusers / official name.

    Input block i >= 1 is down level (i-1)//(L+1), slot (i-1)%(L+1); slot L is the downsampler.
    Output block i is up level i//(L+1), resnet i%(L+1), followed by its attention or upsampler.
    """
    for old, new in _TOP.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    match = _BLOCK.match(key)
    if match is None:
        raise KeyError(key)
    kind, index, part, rest = match.group(1), int(match.group(2)), match.group(3), match.group(4)
    if kind == "middle_block":  # resnet, attention, resnet
        return f"mid_block.attentions.0.{rest}" if index == 1 else f"mid_block.resnets.{index // 2}.{_resnet_name(rest)}"
    if kind == "input_blocks":
        level, slot = divmod(index - 1, layers + 1)
        if rest.startswith("op."):
            return f"down_blocks.{level}.downsamplers.0.conv.{rest[3:]}"
        if part == "0":
            return f"down_blocks.{level}.resnets.{slot}.{_resnet_name(rest)}"
        return f"down_blocks.{level}.attentions.{slot}.{rest}"
    level, slot = divmod(index, layers + 1)
    if part == "0":
        return f"up_blocks.{level}.resnets.{slot}.{_resnet_name(rest)}"
    if rest.startswith("conv."):
        return f"up_blocks.{level}.upsamplers.0.{rest}"
    return f"up_blocks.{level}.attentions.{slot}.{rest}"


def base_unet_weights(weights: Weights, source: str) -> Weights:
    """An SD1.5 UNet in any supported layout -> the official (diffusers) names, motion modules dropped."""
    layout = base_unet_layout(shapes_of(weights), source)
    if layout == "diffusers":
        return {key: value for key, value in weights.items() if MOTION_KEY not in key}
    prefix = LDM_UNET_PREFIX if layout == "ldm" else ""
    unet = {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)}
    layers = _layers_per_block(unet)
    try:
        return {ldm_unet_key(key, layers): value for key, value in unet.items()}
    except KeyError as error:
        raise ValueError(f"base model: {source} has an LDM UNet key this SD1.5 converter does not know: "
                         f"{error.args[0]!r}") from None


# ---------------------------------------------------------------------------------------------
# VAE

_VAE_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def ldm_vae_key(key: str, levels: int) -> str:
    """One LDM VAE key (without prefix) -> diffusers ``AutoencoderKL``; decoder levels run reversed."""
    coder, _, rest = key.partition(".")
    if coder not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    parts = rest.split(".")
    if parts[0] in ("down", "up"):
        level = int(parts[1]) if parts[0] == "down" else levels - 1 - int(parts[1])
        blocks = f"{coder}.{parts[0]}_blocks.{level}"
        if parts[2] == "block":
            return f"{blocks}.resnets.{parts[3]}." + ".".join(parts[4:]).replace("nin_shortcut", "conv_shortcut")
        return f"{blocks}.{parts[2]}rs.0." + ".".join(parts[3:])  # downsample/upsample -> downsamplers.0
    if parts[0] == "mid":
        if parts[1].startswith("block_"):
            index = int(parts[1][len("block_"):]) - 1
            return f"{coder}.mid_block.resnets.{index}." + ".".join(parts[2:]).replace("nin_shortcut", "conv_shortcut")
        return f"{coder}.mid_block.attentions.0.{_VAE_ATTENTION[parts[2]]}.{parts[3]}"
    if parts[0] == "norm_out":
        return f"{coder}.conv_norm_out.{parts[1]}"
    return key


def vae_weights(weights: Weights, source: str) -> Weights:
    """An SD VAE as LDM (``first_stage_model.*`` or bare ``encoder.down...``) or diffusers names
    (old ``query/key/value/proj_attn`` included) -> diffusers ``AutoencoderKL`` names."""
    if any(key.startswith(LDM_VAE_PREFIX) for key in weights):
        weights = {key[len(LDM_VAE_PREFIX):]: value for key, value in weights.items() if key.startswith(LDM_VAE_PREFIX)}
    if any(key.startswith("encoder.down.") for key in weights):
        levels = len({key.split(".")[2] for key in weights if key.startswith("decoder.up.")})
        converted = {}
        for key, value in weights.items():
            name = ldm_vae_key(key, levels)
            # LDM's attention projections are 1x1 convolutions; diffusers' are linear layers.
            converted[name] = value[..., 0, 0] if ".attentions.0.to_" in name and value.ndim == 4 else value
        return converted
    if any(key.startswith("encoder.down_blocks.") for key in weights):
        return to_modern_keys(weights)
    raise ValueError(f"VAE: {source} holds no SD VAE (expected '{LDM_VAE_PREFIX}encoder...' or diffusers "
                     f"'encoder.down_blocks...' keys; found {_first(weights)})")


# ---------------------------------------------------------------------------------------------
# Motion modules


def motion_module_layout(shapes: Shapes, source: str) -> None:
    """Refuse anything but the AnimateDiff-v2 / Motion-I2V motion-module layout, by keys."""
    keys = [key for key in shapes if MOTION_KEY in key]
    if not keys:
        hint = " (it looks like a base model checkpoint)" if any("diffusion_model" in k or k.startswith("down_blocks") for k in shapes) else ""
        raise ValueError(f"motion module: {source} has no '*.motion_modules.*' keys{hint}; expected "
                         f"Motion-I2V's motion_block.bin or AnimateDiff's mm_sd_v15_v2.ckpt")
    if not any(".temporal_transformer." in key for key in keys):
        raise ValueError(f"motion module: {source} is in diffusers' MotionAdapter layout ({_first(keys, 1)}); "
                         f"use the original AnimateDiff-v2 file (mm_sd_v15_v2.ckpt) or motion_block.bin")
    positions = {shape[1] for key, shape in shapes.items() if key.endswith(".pos_encoder.pe")}
    if positions and positions != {32}:
        raise ValueError(f"motion module: {source} encodes {sorted(positions)} positions; Motion-I2V needs the "
                         f"AnimateDiff-v2 layout with 32 (v1 modules have 24)")
    if not any(key.startswith("mid_block.") for key in keys):
        raise ValueError(f"motion module: {source} has no mid-block motion module (an AnimateDiff v1/v3 file); "
                         f"Motion-I2V needs the v2 layout")


def motion_module_weights(weights: Weights, source: str) -> Weights:
    """The ``*.motion_modules.*`` entries of a motion-module file, under the official names."""
    motion_module_layout(shapes_of(weights), source)
    return {key: value for key, value in weights.items() if MOTION_KEY in key}
