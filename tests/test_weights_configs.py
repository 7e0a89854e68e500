"""Which config builds a weight file: a re-save's metadata, a config.json beside it or a companion, only when
it describes the kind asked for; else the bundled official one. Bad configs are named with file and kind."""

from __future__ import annotations

import json

import pytest
import torch

from motion_i2v.weights.configs import bundled_config, config_for_file
from motion_i2v.weights.files import save_state_dict
from motion_i2v.weights.loader import build_model, load_model, official_state_dict

STAGE1 = "models/stage1/StableDiffusion-FlowGen"


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module")
def flowgen(tmp_path_factory):
    """A tiny StableDiffusion-FlowGen folder as released: three diffusion_pytorch_model.bin-like files, the
    UNet's config.json beside it, the flow VAE's in vae/, none beside the ControlNet."""
    root = tmp_path_factory.mktemp("release") / STAGE1
    models = {kind: build_model(kind, "tiny") for kind in ("flow_unet", "flow_vae", "controlnet")}
    files = {kind: save_state_dict(official_state_dict(model, kind), root / folder / name) for kind, model, folder, name in (
        ("flow_unet", models["flow_unet"], "unet", "diffusion_pytorch_model.bin"),
        ("flow_vae", models["flow_vae"], "vae_flow", "diffusion_pytorch_model.bin"),
        ("controlnet", models["controlnet"], "controlnet", "controlnet.bin"))}
    (root / "unet" / "config.json").write_text(json.dumps(bundled_config("flow_unet", "tiny")))
    (root / "vae").mkdir()
    (root / "vae" / "config.json").write_text(json.dumps(bundled_config("flow_vae", "tiny")))
    return root, models, files


def test_configs_are_found_beside_the_files_in_the_official_layout(flowgen):
    root, models, files = flowgen
    assert config_for_file("controlnet", files["controlnet"]).source == str(root / "unet" / "config.json")
    assert config_for_file("flow_vae", files["flow_vae"]).source == str(root / "vae" / "config.json")
    for kind, path in files.items():
        assert same_weights(load_model(kind, path), models[kind])


def test_a_config_of_another_kind_is_passed_over(flowgen):
    """The UNet file chosen as the flow VAE: its unet/config.json must not build the VAE (it used to:
    AutoencoderKL got an unexpected keyword argument 'flip_sin_to_cos')."""
    root, _, files = flowgen
    assert config_for_file("flow_vae", files["flow_unet"]).source == str(root / "vae" / "config.json")
    assert config_for_file("motion_modules", files["flow_unet"]).source == "the bundled official motion_modules config"
    with pytest.raises(ValueError, match=r"flow_vae: .*unet/diffusion_pytorch_model\.bin is the Motion-I2V flow UNet "
                                         r"\(stage 1\); expected the 2-channel flow VAE"):
        load_model("flow_vae", files["flow_unet"])


def test_the_config_stored_in_a_resave_comes_first(tmp_path, flowgen):
    _, models, _ = flowgen
    config = bundled_config("flow_unet", "tiny")
    state = official_state_dict(models["flow_unet"], "flow_unet")
    path = save_state_dict(state, tmp_path / "flow.safetensors",
                           metadata={"motion_i2v_kind": "flow_unet", "motion_i2v_config": json.dumps(config)})
    (tmp_path / "config.json").write_text(json.dumps(bundled_config("flow_unet")))  # official sizes: not used
    assert config_for_file("flow_unet", path).values == config
    assert same_weights(load_model("flow_unet", path), models["flow_unet"])
    assert config_for_file("flow_vae", path).source == "the bundled official flow_vae config"


def test_a_config_that_is_not_json_names_itself_the_file_and_the_kind(tmp_path, flowgen):
    _, models, _ = flowgen
    path = save_state_dict(official_state_dict(models["flow_vae"], "flow_vae"), tmp_path / "vae" / "model.bin")
    (tmp_path / "vae" / "config.json").write_text('{"in_channels": 2,')
    with pytest.raises(ValueError, match=r"flow_vae: .*vae/config\.json \(the config for .*model\.bin\) is not valid JSON"):
        load_model("flow_vae", path)
    (tmp_path / "vae" / "config.json").write_text("[2, 2]")
    with pytest.raises(ValueError, match=r"flow_vae: .*vae/config\.json .* is not a config dictionary"):
        load_model("flow_vae", path)


def test_a_config_of_the_kind_that_does_not_build_names_itself(tmp_path, flowgen):
    _, models, _ = flowgen
    path = save_state_dict(official_state_dict(models["flow_unet"], "flow_unet"), tmp_path / "unet" / "model.bin")
    (tmp_path / "unet" / "config.json").write_text(json.dumps({**bundled_config("flow_unet", "tiny"), "use_lora": 1}))
    with pytest.raises(ValueError, match=r"flow_unet: .*unet/config\.json does not describe the flow UNet \(stage 1\): "
                                         r"UNet config: unknown keys \['use_lora'\]"):
        load_model("flow_unet", path)
