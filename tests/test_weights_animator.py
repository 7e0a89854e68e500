"""The stage-2 kinds: official manifests key for key, and the animation UNet stacked from its two sources."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from conftest import reference_path
from ldm_layouts import to_ldm_unet
from motion_i2v.weights.animator import load_animator, load_animator_files
from motion_i2v.weights.classify import MOTION_KEY
from motion_i2v.weights.loader import build_model, official_state_dict
from motion_i2v.weights.sd15 import LDM_UNET_PREFIX


@pytest.mark.parametrize("kind, manifest", [
    ("animation_unet", "stage2_unet3d.loaded_state_dict.keys.tsv"),
    ("motion_modules", "stage2_motion_block.bin.keys.tsv"),
    ("sd_unet", "stage2_sd15_unet.diffusion_pytorch_model.bin.keys.tsv"),
])
def test_official_config_matches_the_official_manifest(kind, manifest):
    lines = reference_path("official_layout", manifest).read_text().splitlines()
    expected = {key: (shape, dtype) for key, shape, dtype in (line.split("\t") for line in lines)}
    state = official_state_dict(build_model(kind, device="meta"), kind)
    assert {key: (str(tuple(v.shape)), str(v.dtype).removeprefix("torch.")) for key, v in state.items()} == expected


@pytest.fixture(scope="module")
def tiny_weights():
    """A random tiny animation UNet's weights, split as an SD1.5 single-file checkpoint and a motion-module file."""
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(value.shape, generator=generator)
             for key, value in official_state_dict(build_model("animation_unet", "tiny"), "animation_unet").items()}
    base = {key: value for key, value in state.items() if MOTION_KEY not in key}
    motion = {key: value for key, value in state.items() if MOTION_KEY in key}
    # tiny: 2 levels of 1 layer; cross-attention only in the half-resolution level (up level 0)
    checkpoint = {LDM_UNET_PREFIX + key: value for key, value in to_ldm_unet(base, 1, [True, False]).items()}
    return state, checkpoint, motion


def test_single_file_base_and_motion_modules_stack_into_the_animation_unet(tiny_weights):
    state, checkpoint, motion = tiny_weights
    unet = load_animator(checkpoint, motion, "tiny", dtype="bf16")
    loaded = official_state_dict(unet, "animation_unet")
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value.bfloat16()), key


def test_files_load_with_or_without_positional_buffers(tiny_weights, tmp_path):
    state, checkpoint, motion = tiny_weights
    save_file(checkpoint, tmp_path / "sd15.safetensors")
    # AnimateDiff's mm_sd_v15_v2.ckpt is a plain pickle of the same keys; the PE tables may be left out.
    torch.save({k: v for k, v in motion.items() if not k.endswith(".pe")}, tmp_path / "mm_sd_v15_v2.ckpt")
    unet = load_animator_files(tmp_path / "sd15.safetensors", tmp_path / "mm_sd_v15_v2.ckpt", "tiny")
    loaded = official_state_dict(unet, "animation_unet")
    pe = next(key for key in loaded if key.endswith(".pe"))
    assert not torch.equal(loaded[pe], state[pe])  # recomputed sinusoid, not the random test value
    assert torch.equal(loaded["conv_in.weight"], state["conv_in.weight"])


def test_bad_files_are_refused_by_name(tiny_weights, tmp_path):
    _, checkpoint, motion = tiny_weights
    save_file(checkpoint, tmp_path / "sd15.safetensors")
    save_file({"conditioner.embedders.0.w": torch.zeros(1)}, tmp_path / "sdxl.safetensors")
    save_file({k.replace("temporal_transformer", "transformer"): v for k, v in motion.items()}, tmp_path / "adapter.safetensors")
    save_file(motion, tmp_path / "mm.safetensors")
    (tmp_path / "cut.ckpt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ValueError, match=r"sd_unet: .*sdxl\.safetensors is an SDXL checkpoint; expected an SD1\.5 base"):
        load_animator_files(tmp_path / "sdxl.safetensors", tmp_path / "mm.safetensors", "tiny")
    with pytest.raises(ValueError, match=r"motion_modules: .*adapter\.safetensors is motion modules in diffusers' "
                                         r"MotionAdapter layout"):
        load_animator_files(tmp_path / "sd15.safetensors", tmp_path / "adapter.safetensors", "tiny")
    with pytest.raises(ValueError, match=r"sd_unet: .*cut\.ckpt: not a readable checkpoint"):
        load_animator_files(tmp_path / "cut.ckpt", tmp_path / "mm.safetensors", "tiny")
    wide = {k: torch.zeros(*v.shape[:-1], v.shape[-1] + 1) if k.endswith("proj_in.weight") else v for k, v in motion.items()}
    with pytest.raises(ValueError, match=r"motion_modules: wide-mm: does not fit the motion_modules model .*mis-shaped"):
        load_animator(checkpoint, wide, "tiny", motion_source="wide-mm")
    with pytest.raises(ValueError, match=r"sd_unet: motion-file is motion modules in the AnimateDiff-v2 layout"):
        load_animator(motion, motion, "tiny", base_source="motion-file")
    with pytest.raises(ValueError, match=r"sd_unet: narrow-base: does not fit the sd_unet model .*mis-shaped: conv_in.weight"):
        load_animator({**checkpoint, LDM_UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(32, 4, 1, 1)}, motion,
                      "tiny", base_source="narrow-base")


def test_the_flow_unet_is_no_motion_module(tiny_models):
    """Its motion modules have the stage-2 layout, but it is the stage-1 network (it used to end in "in_channels
    must be 4 ... got 8", naming no file)."""
    files = tiny_models.files
    with pytest.raises(ValueError, match=r"motion_modules: .*unet/diffusion_pytorch_model\.bin is the Motion-I2V flow "
                                         r"UNet \(stage 1\); expected stage-2 motion modules"):
        load_animator_files(files["sd_unet"], files["flow_unet"])
