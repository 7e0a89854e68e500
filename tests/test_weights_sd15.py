"""SD1.5 LDM -> diffusers key names, with diffusers' own single-file converters as the oracle.

LDM-layout files are made from tiny diffusers models with an independent reverse map (tests/ldm_layouts.py);
the tests first prove that map right by running diffusers' converter on it, then check ours gives the same.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

from conftest import reference_path
from ldm_layouts import to_ldm_unet, to_ldm_vae
from motion_i2v.weights.kinds import get_kind
from motion_i2v.weights.sd15 import LDM_UNET_PREFIX, LDM_VAE_PREFIX, unet_from_ldm, vae_to_diffusers

TINY_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 64, 64),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
)
TINY_VAE = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8, layers_per_block=1)


def randomized(model: torch.nn.Module, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(value.shape, generator=generator) for key, value in model.state_dict().items()}


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
    assert_same_weights(unet_from_ldm({**checkpoint, **extras}), weights)
    bare = {key.removeprefix(LDM_UNET_PREFIX): value for key, value in checkpoint.items()}
    assert_same_weights(unet_from_ldm(bare, ""), weights)


def test_the_base_unet_kind_reads_every_layout(tiny_unet):
    """``sd_unet`` normalises LDM single-file, bare LDM and diffusers names (an animation UNet's motion modules dropped)."""
    _, weights, checkpoint = tiny_unet
    normalize = get_kind("sd_unet").normalize
    assert_same_weights(normalize(checkpoint), weights)
    assert_same_weights(normalize({key.removeprefix(LDM_UNET_PREFIX): v for key, v in checkpoint.items()}), weights)
    motion = {"down_blocks.0.motion_modules.0.temporal_transformer.norm.weight": torch.zeros(32)}
    assert_same_weights(normalize({**weights, **motion}), weights)


def test_unknown_ldm_keys_are_named():
    with pytest.raises(ValueError, match="does not know: 'strange.weight'"):
        unet_from_ldm({"strange.weight": torch.zeros(1), "input_blocks.0.0.weight": torch.zeros(1)}, "")


def test_sd15_ldm_keys_give_the_official_manifest():
    manifest = reference_path("official_layout", "stage2_sd15_unet.diffusion_pytorch_model.bin.keys.tsv")
    expected = {line.split("\t")[0]: line.split("\t")[1] for line in manifest.read_text().splitlines()}
    with torch.device("meta"):
        model = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
    ldm = to_ldm_unet(model.state_dict(), 2, [False, True, True, True])
    converted = unet_from_ldm({LDM_UNET_PREFIX + k: v for k, v in ldm.items()})
    assert {key: str(tuple(value.shape)) for key, value in converted.items()} == expected


def test_vae_converts_from_ldm_and_old_diffusers_names():
    model = AutoencoderKL(**TINY_VAE)
    weights = randomized(model, seed=1)
    checkpoint = {LDM_VAE_PREFIX + key: value for key, value in to_ldm_vae(weights, 2).items()}
    assert_same_weights(convert_ldm_vae_checkpoint(checkpoint, dict(model.config)), weights)
    assert_same_weights(vae_to_diffusers({**checkpoint, "model.diffusion_model.x": torch.zeros(1)}), weights)
    old = {key.replace(".to_q.", ".query.").replace(".to_out.0.", ".proj_attn."): value for key, value in weights.items()}
    assert_same_weights(vae_to_diffusers(old), weights)
    with pytest.raises(ValueError, match="holds no SD VAE"):
        vae_to_diffusers({"conv_in.weight": torch.zeros(1)})
