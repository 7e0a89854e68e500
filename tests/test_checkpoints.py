"""Offline SD1.5 / VAE / motion-module conversion, with diffusers' own single-file converters as the oracle.

LDM-layout files are made from tiny diffusers models with an independent reverse map (below); the test
first proves that map right by running diffusers' converter on it, then checks ours gives the same.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
from safetensors.torch import save_file

from conftest import reference_path
from motion_i2v.loading import read_state_dict
from motion_i2v.checkpoints import (
    LDM_UNET_PREFIX,
    LDM_VAE_PREFIX,
    base_unet_weights,
    motion_module_weights,
    read_shapes,
    shapes_of,
    vae_weights,
)

TINY_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 64, 64),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
)
TINY_VAE = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8, layers_per_block=1)
LDM_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
              "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def randomized(model: torch.nn.Module, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(value.shape, generator=generator) for key, value in model.state_dict().items()}


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


def assert_same_weights(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected), sorted(set(actual) ^ set(expected))[:5]
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


@pytest.fixture(scope="module")
def tiny_unet():
    model = UNet2DConditionModel(**TINY_UNET)
    weights = randomized(model)
    ldm = to_ldm_unet(weights, 2, [False, True, True])
    return model, weights, {LDM_UNET_PREFIX + key: value for key, value in ldm.items()}


def test_the_reverse_map_is_what_diffusers_reads(tiny_unet):
    model, weights, checkpoint = tiny_unet
    assert_same_weights(convert_ldm_unet_checkpoint(checkpoint, dict(model.config)), weights)


def test_single_file_and_bare_ldm_unets_convert_to_official_names(tiny_unet):
    _, weights, checkpoint = tiny_unet
    extras = {"cond_stage_model.transformer.x.weight": torch.zeros(1), "model_ema.decay": torch.zeros(())}
    assert_same_weights(base_unet_weights({**checkpoint, **extras}, "tiny.safetensors"), weights)
    bare = {key.removeprefix(LDM_UNET_PREFIX): value for key, value in checkpoint.items()}
    assert_same_weights(base_unet_weights(bare, "MODEL"), weights)
    motion = {"down_blocks.0.motion_modules.0.temporal_transformer.norm.weight": torch.zeros(32)}
    assert_same_weights(base_unet_weights({**weights, **motion}, "unet.bin"), weights)


def test_sd15_ldm_keys_give_the_official_manifest():
    manifest = reference_path("official_layout", "stage2_sd15_unet.diffusion_pytorch_model.bin.keys.tsv")
    expected = {line.split("\t")[0]: line.split("\t")[1] for line in manifest.read_text().splitlines()}
    with torch.device("meta"):
        model = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
    ldm = to_ldm_unet(model.state_dict(), 2, [False, True, True, True])
    converted = base_unet_weights({LDM_UNET_PREFIX + k: v for k, v in ldm.items()}, "sd15.safetensors")
    assert {key: str(tuple(value.shape)) for key, value in converted.items()} == expected


def test_vae_converts_from_ldm_and_old_diffusers_names():
    model = AutoencoderKL(**TINY_VAE)
    weights = randomized(model, seed=1)
    checkpoint = {LDM_VAE_PREFIX + key: value for key, value in to_ldm_vae(weights, 2).items()}
    assert_same_weights(convert_ldm_vae_checkpoint(checkpoint, dict(model.config)), weights)
    assert_same_weights(vae_weights({**checkpoint, "model.diffusion_model.x": torch.zeros(1)}, "ckpt"), weights)
    old = {key.replace(".to_q.", ".query.").replace(".to_out.0.", ".proj_attn."): value for key, value in weights.items()}
    assert_same_weights(vae_weights(old, "vae.bin"), weights)
    with pytest.raises(ValueError, match="holds no SD VAE"):
        vae_weights({"conv_in.weight": torch.zeros(1)}, "unet.bin")


@pytest.mark.parametrize("weights, message", [
    ({"conditioner.embedders.0.x": torch.zeros(1), LDM_UNET_PREFIX + "label_emb.0.0.weight": torch.zeros(1)},
     "is an SDXL checkpoint"),
    ({LDM_UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
      LDM_UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 1024)},
     r"is an SD2\.x checkpoint \(text width 1024\)"),
    ({LDM_UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(320, 9, 3, 3)}, "9 input channels"),
    ({"down_blocks.0.motion_modules.0.temporal_transformer.norm.weight": torch.zeros(4)}, "holds only motion modules"),
    ({"encoder.conv_in.weight": torch.zeros(1)}, "holds no SD UNet"),
])
def test_unusable_bases_are_named(weights, message):
    with pytest.raises(ValueError, match=message):
        base_unet_weights(weights, "model.safetensors")


def motion_file(max_len: int = 32, mid: bool = True, layout: str = "temporal_transformer") -> dict:
    blocks = ["down_blocks.0", "up_blocks.1"] + (["mid_block"] if mid else [])
    return {f"{block}.motion_modules.0.{layout}.transformer_blocks.0.attention_blocks.0.pos_encoder.pe":
            torch.zeros(1, max_len, 8) for block in blocks}


def test_motion_modules_keep_their_official_names():
    weights = {**motion_file(), "down_blocks.0.resnets.0.conv1.weight": torch.zeros(1)}
    assert set(motion_module_weights(weights, "motion_block.bin")) == set(motion_file())


@pytest.mark.parametrize("weights, message", [
    (motion_file(max_len=24), r"encodes \[24\] positions"),
    (motion_file(mid=False), "no mid-block motion module"),
    (motion_file(layout="transformer"), "diffusers' MotionAdapter layout"),
    ({LDM_UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(1)}, "looks like a base model checkpoint"),
])
def test_other_motion_module_layouts_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        motion_module_weights(weights, "mm.ckpt")


def test_shapes_come_from_the_header_or_the_pickle(tmp_path):
    weights = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4)}
    save_file(weights, tmp_path / "w.safetensors")
    torch.save({"state_dict": weights}, tmp_path / "w.ckpt")
    assert read_shapes(tmp_path / "w.safetensors") == {"a": (2, 3), "b": (4,)}
    assert read_shapes(tmp_path / "w.ckpt") == shapes_of(read_state_dict(tmp_path / "w.safetensors"))
