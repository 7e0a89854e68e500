"""diffusers -> LDM key names: an independent reverse of ``motion_i2v.weights.sd15``, to build LDM-layout test files.

``tests/test_weights_sd15.py`` proves these maps right against diffusers' own single-file converters.
"""

from __future__ import annotations

LDM_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
              "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def to_ldm_unet(weights: dict, layers: int, with_attention: list[bool]) -> dict:
    """diffusers UNet2DConditionModel names -> LDM names (the inverse of what the loader must do)."""
    out = {}
    top = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
           "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for key, value in weights.items():
        parts = key.split(".")
        head = ".".join(parts[:-1]) if parts[0] != "time_embedding" else ".".join(parts[:2])
        if head in top:
            out[f"{top[head]}.{parts[-1]}"] = value
            continue
        if parts[0] == "mid_block":
            index = 1 if parts[1] == "attentions" else 2 * int(parts[2])
            rest = parts[3:] if parts[1] == "attentions" else [LDM_RESNET[parts[3]], *parts[4:]]
            out[".".join(["middle_block", str(index), *rest])] = value
            continue
        level, kind, slot, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        if parts[0] == "down_blocks":
            if kind == "downsamplers":
                out[".".join(["input_blocks", str((level + 1) * (layers + 1)), "0", "op", *rest[1:]])] = value
                continue
            block = 1 + level * (layers + 1) + slot
            name = ["0", LDM_RESNET[rest[0]], *rest[1:]] if kind == "resnets" else ["1", *rest]
            out[".".join(["input_blocks", str(block), *name])] = value
        else:
            if kind == "upsamplers":
                block, sub = level * (layers + 1) + layers, "2" if with_attention[level] else "1"
                out[".".join(["output_blocks", str(block), sub, *rest])] = value
                continue
            block = level * (layers + 1) + slot
            name = ["0", LDM_RESNET[rest[0]], *rest[1:]] if kind == "resnets" else ["1", *rest]
            out[".".join(["output_blocks", str(block), *name])] = value
    return out


def to_ldm_vae(weights: dict, levels: int) -> dict:
    """diffusers AutoencoderKL names -> LDM (attention projections as 1x1 convolutions)."""
    attention = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
    out = {}
    for key, value in weights.items():
        parts = key.split(".")
        if parts[0] not in ("encoder", "decoder"):
            out[key] = value
        elif parts[1] in ("down_blocks", "up_blocks"):
            level = int(parts[2]) if parts[1] == "down_blocks" else levels - 1 - int(parts[2])
            where = f"{parts[0]}.{parts[1][:-len('_blocks')]}.{level}"
            if parts[3] == "resnets":
                tail = ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
                out[f"{where}.block.{parts[4]}.{tail}"] = value
            else:
                out[f"{where}.{parts[3][:-2]}.conv.{parts[-1]}"] = value
        elif parts[1] == "mid_block" and parts[2] == "resnets":
            tail = ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
            out[f"{parts[0]}.mid.block_{int(parts[3]) + 1}.{tail}"] = value
        elif parts[1] == "mid_block":
            conv = value[..., None, None] if value.ndim == 2 else value
            out[f"{parts[0]}.mid.attn_1.{attention[parts[4]]}.{parts[-1]}"] = conv
        elif parts[1] == "conv_norm_out":
            out[f"{parts[0]}.norm_out.{parts[-1]}"] = value
        else:
            out[key] = value
    return out
