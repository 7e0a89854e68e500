"""The one checkpoint classifier: every file of ours recognised, the files users mix them up with named."""

from __future__ import annotations

import re

import pytest

from conftest import reference_path
from ldm_layouts import to_ldm_unet
from motion_i2v.weights.classify import UNKNOWN, classify
from motion_i2v.weights.files import shapes_of
from motion_i2v.weights.kinds import KINDS
from motion_i2v.weights.loader import build_model, official_state_dict
from motion_i2v.weights.sd15 import LDM_UNET_PREFIX, LDM_VAE_PREFIX


def tiny_shapes(kind: str) -> dict:
    return shapes_of(official_state_dict(build_model(kind, "tiny", device="meta"), kind))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_recognised_in_its_official_layout(kind):
    found = classify(tiny_shapes(kind))
    assert found.kind == kind and found.layout == "official", found


def test_an_animation_unet_also_gives_its_two_parts():
    assert classify(tiny_shapes("animation_unet")).kinds == ("animation_unet", "sd_unet", "motion_modules")


def test_other_names_of_our_files():
    prefixless = {key.removeprefix("controlnet."): shape for key, shape in tiny_shapes("controlnet").items()}
    assert classify(prefixless).kind == "controlnet"
    modern_vae = {key.replace(".query.", ".to_q."): shape for key, shape in tiny_shapes("image_vae").items()}
    assert classify(modern_vae).kind == "image_vae"


def test_sd15_unets_in_ldm_names():
    # tiny: 2 levels of 1 layer; cross-attention only in the half-resolution level (up level 0)
    bare = to_ldm_unet(tiny_shapes("sd_unet"), 1, [True, False])
    single_file = {LDM_UNET_PREFIX + key: shape for key, shape in bare.items()}
    single_file[LDM_VAE_PREFIX + "encoder.conv_in.weight"] = (32, 3, 3, 3)
    found = classify(single_file)
    assert (found.kinds, found.layout) == (("sd_unet", "image_vae"), "ldm")
    assert "single-file" in found.description
    found = classify(bare)
    assert (found.kinds, found.layout) == (("sd_unet",), "ldm_bare")


def motion_file(positions: int = 32, mid: bool = True, layout: str = "temporal_transformer") -> dict:
    blocks = ["down_blocks.0", "up_blocks.1"] + (["mid_block"] if mid else [])
    return {f"{block}.motion_modules.0.{layout}.transformer_blocks.0.attention_blocks.0.pos_encoder.pe":
            (1, positions, 8) for block in blocks}


@pytest.mark.parametrize("shapes, description", [
    ({"conditioner.embedders.0.x": (1,), LDM_UNET_PREFIX + "label_emb.0.0.weight": (1,)}, "an SDXL checkpoint"),
    ({"add_embedding.linear_1.weight": (1280, 2816), "conv_in.weight": (320, 4, 3, 3)}, "an SDXL checkpoint"),
    ({LDM_UNET_PREFIX + "input_blocks.0.0.weight": (320, 4, 3, 3),
      LDM_UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024)},
     r"an SD2\.x checkpoint \(text width 1024\)"),
    ({LDM_UNET_PREFIX + "input_blocks.0.0.weight": (320, 9, 3, 3)}, "9 input channels"),
    ({"encoder.conv_in.weight": (128, 4, 3, 3), "decoder.conv_out.weight": (4, 128, 3, 3)}, "4-channel images"),
    (motion_file(positions=24), r"encode \[24\] positions"),
    (motion_file(mid=False), "no mid-block motion module"),
    (motion_file(layout="transformer"), "diffusers' MotionAdapter layout"),
    ({"text_model.embeddings.position_ids": (1, 77)}, "a CLIP model"),
    ({"feature_encoder.convnormrelu.0.weight": (64, 3, 7, 7), "update_block.mask.0.weight": (1,)}, "RAFT"),
])
def test_files_that_are_not_ours_are_named(shapes, description):
    found = classify(shapes)
    assert found.kinds == ()
    assert re.search(description, found.description), found.description


def test_motion_modules_in_the_v2_layout():
    assert classify(motion_file()).kind == "motion_modules"


def test_anything_else_is_unknown():
    assert classify({"weight": (3, 3)}) is UNKNOWN
    assert classify({}) is UNKNOWN


@pytest.mark.parametrize("manifest, kind", [
    ("stage1_unet.diffusion_pytorch_model.bin.keys.tsv", "flow_unet"),
    ("stage1_controlnet.controlnet.bin.keys.tsv", "controlnet"),
    ("stage1_vae_flow.diffusion_pytorch_model.bin.keys.tsv", "flow_vae"),
    ("stage2_motion_block.bin.keys.tsv", "motion_modules"),
    ("stage2_sd15_unet.diffusion_pytorch_model.bin.keys.tsv", "sd_unet"),
    ("stage2_realistic_unet.ckpt.keys.tsv", "sd_unet"),
    ("stage2_unet3d.loaded_state_dict.keys.tsv", "animation_unet"),
])
def test_the_official_files_are_recognised(manifest, kind):
    lines = reference_path("official_layout", manifest).read_text().splitlines()
    shapes = {key: tuple(int(n) for n in shape.strip("()").split(",") if n.strip())
              for key, shape, _ in (line.split("\t") for line in lines)}
    found = classify(shapes)
    assert (found.kind, found.layout) == (kind, "official"), found
