"""motion_i2v/native.py: where the motion modules sit in an LDM UNet, their holder, loading a motion-module file."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from motion_i2v.weights.configs import bundled_config
from motion_i2v.weights.files import read_state_dict
from motion_i2v.weights.kinds import animation_config
from motion_i2v.weights.loader import build_model, official_state_dict
from motion_i2v.weights.sd15 import ldm_unet_key
from motion_i2v.models.motion_augmented import MotionAugmentedProcessor
from motion_i2v.models.motion_module import MotionModule, TemporalAttention
from motion_i2v.native import (
    INPUT_BLOCKS,
    MIDDLE_BLOCK,
    OUTPUT_BLOCKS,
    LdmMotionModules,
    config_from_ldm,
    load_ldm_motion_modules,
    motion_sites,
)

OFFICIAL = animation_config(bundled_config("motion_modules"))
# ComfyUI's unet_config for SD1.5 (comfy/supported_models.py SD15 + what detection adds), the fields we read
SD15_LDM = {"model_channels": 320, "channel_mult": [1, 2, 4, 4], "num_res_blocks": [2, 2, 2, 2],
            "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "num_heads": 8, "num_head_channels": -1, "context_dim": 768,
            "in_channels": 4, "out_channels": 4}
SDXL_LDM = {"model_channels": 320, "channel_mult": [1, 2, 4], "num_res_blocks": [2, 2, 2],
            "transformer_depth": [0, 0, 2, 2, 10, 10], "num_head_channels": 64, "context_dim": 2048}


def test_official_layout_has_21_sites_named_as_the_unet3d_motion_modules():
    sites = motion_sites(OFFICIAL)
    unet = build_model("animation_unet", "official", device="meta")
    names = {name.rsplit(".temporal_transformer", 1)[0] for name in official_state_dict(unet, "animation_unet")
             if ".motion_modules." in name}
    assert [site.name for site in sites] == sorted(names, key=[site.name for site in sites].index)
    assert len(sites) == len(names) == 21  # 4 levels x 2 down + 1 mid + 4 levels x 3 up


def test_sites_follow_the_ldm_block_numbering():
    layers = OFFICIAL.layers_per_block
    for site in motion_sites(OFFICIAL):
        level, slot = site.name.split(".")[1], site.name.split(".")[-1]  # "down_blocks.1.motion_modules.0"
        if site.blocks == INPUT_BLOCKS:  # the resnet of the same LDM block is the same down layer
            assert ldm_unet_key(f"input_blocks.{site.index}.0.in_layers.0.weight", layers) == \
                f"down_blocks.{level}.resnets.{slot}.norm1.weight"
        elif site.blocks == OUTPUT_BLOCKS:
            assert ldm_unet_key(f"output_blocks.{site.index}.0.in_layers.0.weight", layers) == \
                f"up_blocks.{level}.resnets.{slot}.norm1.weight"
            # the last layer of every up level but the outermost ends in the upsampler
            assert site.before_last == (int(slot) == layers and int(level) < 3)
        else:
            assert (site.blocks, site.index, site.before_last) == (MIDDLE_BLOCK, 0, True)
    widths = {site.name: site.channels for site in motion_sites(OFFICIAL)}
    assert widths["down_blocks.1.motion_modules.0"] == 640 and widths["up_blocks.3.motion_modules.2"] == 320


def test_config_from_an_ldm_unet_config():
    ours = config_from_ldm(SD15_LDM, OFFICIAL)
    assert ours == OFFICIAL
    assert config_from_ldm(SD15_LDM | {"transformer_depth": [1, 1, 1, 0]}, OFFICIAL) == OFFICIAL  # per level
    assert motion_sites(config_from_ldm(SD15_LDM | {"num_head_channels": 64}, OFFICIAL)) == motion_sites(OFFICIAL)
    assert motion_sites(config_from_ldm(SDXL_LDM, OFFICIAL)) != motion_sites(OFFICIAL)
    with pytest.raises(ValueError, match="same number of res blocks"):
        config_from_ldm(SD15_LDM | {"num_res_blocks": [2, 2, 1, 2]}, OFFICIAL)
    with pytest.raises(ValueError, match="cross-attention or none"):
        config_from_ldm(SD15_LDM | {"transformer_depth": [1, 0, 1, 1, 1, 1, 0, 0]}, OFFICIAL)


def test_holder_has_the_motion_module_files_keys_and_shapes():
    with torch.device("meta"):
        holder = LdmMotionModules(OFFICIAL)
    unet = build_model("animation_unet", "official", device="meta")
    expected = {key: value.shape for key, value in official_state_dict(unet, "animation_unet").items()
                if ".motion_modules." in key}
    assert {key: value.shape for key, value in holder.state_dict().items()} == expected
    assert [site for site, _ in holder.placed()] == holder.sites
    assert all(isinstance(module, MotionModule) for _, module in holder.placed())
    processors = {type(module.processor) for module in holder.modules() if isinstance(module, TemporalAttention)}
    assert processors == {MotionAugmentedProcessor}


def test_holder_is_built_with_the_hosts_operations():
    class Linear(nn.Linear):
        pass

    class LayerNorm(nn.LayerNorm):
        pass

    class GroupNorm(nn.GroupNorm):
        pass

    operations = SimpleNamespace(Linear=Linear, LayerNorm=LayerNorm, GroupNorm=GroupNorm)
    config = replace(OFFICIAL, block_out_channels=(32, 64), cross_attention_blocks=(True, False),
                     attention_heads=(8, 8), norm_num_groups=8)
    holder = LdmMotionModules(config, operations)
    layers = [module for module in holder.modules() if isinstance(module, (nn.Linear, nn.LayerNorm, nn.GroupNorm))]
    assert layers and all(isinstance(layer, (Linear, LayerNorm, GroupNorm)) for layer in layers)


def test_loads_a_motion_module_file_strictly(tiny_models):
    path = tiny_models.files["motion_modules"]
    holder = load_ldm_motion_modules(path, dtype=torch.float64)
    stored = read_state_dict(path, slot="motion_modules")
    loaded = holder.state_dict()
    assert set(stored) <= set(loaded)
    for key, value in stored.items():
        assert loaded[key].dtype == torch.float64 and torch.equal(loaded[key], value.double()), key
    with pytest.raises(ValueError, match=r"motion_modules: .* is an SD image VAE; expected stage-2 motion modules"):
        load_ldm_motion_modules(tiny_models.files["image_vae"])
