"""SD1.5 key names: LDM single-file layout -> diffusers (the official stage-2 names).

A base UNet arrives as an LDM single-file checkpoint (``model.diffusion_model.input_blocks...``, what
ComfyUI's models/checkpoints hold), as a bare LDM UNet (a ComfyUI MODEL's ``diffusion_model``), or
already under diffusers names. A VAE arrives as LDM ``first_stage_model.*`` (the official
RealisticVision route) or diffusers names, old (0.11) or new. Everything here renames keys of plain
state dicts, offline; telling the layouts apart is ``classify``'s job.
"""

from __future__ import annotations

import re

from ..models.vae import to_modern_keys
from .files import Weights

LDM_UNET_PREFIX = "model.diffusion_model."
LDM_VAE_PREFIX = "first_stage_model."

_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
           "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
_TOP = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
        "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}
_BLOCK = re.compile(r"(input_blocks|output_blocks|middle_block)\.(\d+)\.?(\d*)\.(.+)")
_VAE_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


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


def unet_from_ldm(weights: Weights, prefix: str = LDM_UNET_PREFIX) -> Weights:
    """The UNet of an LDM state dict (keys under ``prefix``; ``""`` for a bare UNet) under diffusers names.

    Other entries (text encoder, VAE, EMA) are dropped. Raises a ValueError on a key SD1.5 does not have.
    """
    unet = {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)}
    layers = _layers_per_block(unet)
    try:
        return {ldm_unet_key(key, layers): value for key, value in unet.items()}
    except KeyError as error:
        raise ValueError(f"an LDM UNet key this SD1.5 converter does not know: {error.args[0]!r}") from None


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


def vae_to_diffusers(weights: Weights) -> Weights:
    """An SD VAE as LDM (``first_stage_model.*`` or bare ``encoder.down...``) or diffusers names (old
    ``query/key/value/proj_attn`` included) -> current diffusers ``AutoencoderKL`` names."""
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
    raise ValueError("holds no SD VAE (expected 'first_stage_model.encoder...' or diffusers 'encoder.down_blocks...' keys)")
