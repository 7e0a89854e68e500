"""Strict loading of official-layout weight files: both file formats, every kind, clear errors."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.devices import resolve_dtype
from motion_i2v.weights.files import save_state_dict
from motion_i2v.weights.kinds import KINDS
from motion_i2v.weights.loader import build_model, load_model, load_models, model_from_state_dict, official_state_dict

FILE_KINDS = ("flow_unet", "controlnet", "flow_vae", "image_vae", "sd_unet", "motion_modules")


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k].to(first[k].dtype)) for k in first)


@pytest.fixture(scope="module")
def tiny_models():
    return {kind: build_model(kind, "tiny") for kind in KINDS}


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_round_trip_under_official_names(tmp_path, tiny_models, kind, suffix):
    model = tiny_models[kind]
    path = save_state_dict(official_state_dict(model, kind), tmp_path / f"{kind}{suffix}")
    assert same_weights(load_model(kind, path, "tiny"), model)


def test_official_names_in_the_files():
    controlnet = official_state_dict(build_model("controlnet", "tiny", device="meta"), "controlnet")
    assert all(key.startswith("controlnet.") for key in controlnet)
    vae = official_state_dict(build_model("flow_vae", "tiny", device="meta"), "flow_vae")
    assert "encoder.mid_block.attentions.0.query.weight" in vae
    assert "decoder.mid_block.attentions.0.proj_attn.bias" in vae
    assert not any(".to_q." in key or ".to_out." in key for key in vae)


def test_position_encodings_may_be_absent(tmp_path, tiny_models):
    model = tiny_models["flow_unet"]
    state = {k: v for k, v in official_state_dict(model, "flow_unet").items() if not k.endswith("pos_encoder.pe")}
    assert len(state) < len(model.state_dict())
    loaded = load_model("flow_unet", save_state_dict(state, tmp_path / "unet.bin"), "tiny")
    assert same_weights(loaded, model)  # the buffers are recomputed, equal to the built ones


def test_prefixless_controlnet_and_modern_vae_names_load_too(tmp_path, tiny_models):
    controlnet = tiny_models["controlnet"]
    path = save_state_dict(controlnet.state_dict(), tmp_path / "controlnet.safetensors")
    assert same_weights(load_model("controlnet", path, "tiny"), controlnet)
    vae = tiny_models["image_vae"]
    path = save_state_dict(vae.state_dict(), tmp_path / "vae.safetensors")  # new diffusers names
    assert same_weights(load_model("image_vae", path, "tiny"), vae)


@pytest.mark.parametrize("name, dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_dtype(tmp_path, tiny_models, name, dtype):
    path = save_state_dict(official_state_dict(tiny_models["flow_vae"], "flow_vae"), tmp_path / "vae.bin")
    assert {p.dtype for p in load_model("flow_vae", path, "tiny", dtype=name).parameters()} == {dtype}
    with pytest.raises(ValueError, match="dtype: expected one of"):
        resolve_dtype("float8")


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny_models):
    state = official_state_dict(tiny_models["flow_unet"], "flow_unet")
    del state["conv_in.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"flow_unet: .*unet\.bin: does not fit the flow_unet model built from the "
                                         r"bundled tiny flow_unet config \(1 missing: conv_in\.bias; 1 unexpected: "
                                         r"extra\.weight\)"):
        load_model("flow_unet", save_state_dict(state, tmp_path / "unet.bin"), "tiny")


def test_mis_shaped_keys_are_named(tmp_path, tiny_models):
    state = official_state_dict(tiny_models["flow_unet"], "flow_unet")
    state["conv_in.weight"] = torch.zeros(32, 4, 3, 3)  # a 4-channel conv_in: an SD1.5 UNet
    with pytest.raises(ValueError, match=r"conv_in\.weight \[32, 4, 3, 3\] \(expected \[32, 8, 3, 3\]\)"):
        load_model("flow_unet", save_state_dict(state, tmp_path / "unet.bin"), "tiny")


def test_a_file_of_another_size_points_at_the_config(tmp_path, tiny_models):
    path = save_state_dict(official_state_dict(tiny_models["flow_vae"], "flow_vae"), tmp_path / "vae.bin")
    with pytest.raises(ValueError, match=r"flow_vae: .*vae\.bin: does not fit the flow_vae model built from the bundled "
                                         r"official flow_vae config .*a config of another size"):
        load_model("flow_vae", path)  # no config beside it: the official sizes


@pytest.mark.parametrize("keys, what", [
    (["model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight"],
     r"an SD1\.5 checkpoint \(LDM single-file layout\)"),
    (["conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
      "model.diffusion_model.label_emb.0.0.weight"], "an SDXL checkpoint"),
])
def test_foreign_checkpoints_are_refused_by_name(tmp_path, keys, what):
    path = save_state_dict({key: torch.zeros(2) for key in keys}, tmp_path / "checkpoint.safetensors")
    with pytest.raises(ValueError, match=rf"flow_unet: .*checkpoint\.safetensors is {what}; expected the flow UNet "
                                         r"\(stage 1\): models/stage1/StableDiffusion-FlowGen/unet/"):
        load_model("flow_unet", path, "tiny")


def test_files_of_another_kind_are_refused_before_anything_is_built(tmp_path, tiny_models):
    controlnet = save_state_dict(official_state_dict(tiny_models["controlnet"], "controlnet"), tmp_path / "c.bin")
    unet = save_state_dict(official_state_dict(tiny_models["flow_unet"], "flow_unet"), tmp_path / "u.safetensors")
    with pytest.raises(ValueError, match=r"flow_unet: .*c\.bin is the Motion-I2V trajectory ControlNet"):
        load_model("flow_unet", controlnet, "tiny")
    with pytest.raises(ValueError, match=r"flow_vae: .*u\.safetensors is the Motion-I2V flow UNet"):
        load_models({"flow_vae": unet}, {"flow_vae": {"this config": "is never read"}})


def test_state_dicts_are_checked_and_named_too(tiny_models):
    state = official_state_dict(tiny_models["sd_unet"], "sd_unet")
    with pytest.raises(ValueError, match=r"motion_modules: fixture\.safetensors is an SD1\.5 UNet"):
        model_from_state_dict("motion_modules", state, "tiny", source="fixture.safetensors")


def test_unknown_kind_and_config():
    with pytest.raises(ValueError, match="kind: expected one of"):
        build_model("sdxl_unet")
    with pytest.raises(ValueError, match="no bundled config 'huge'"):
        build_model("flow_unet", "huge")
    with pytest.raises(ValueError, match="flow_vae: the flow_vae config given does not describe the 2-channel flow "
                                         "VAE.*unexpected keyword argument 'flip_sin_to_cos'"):
        build_model("flow_vae", {"flip_sin_to_cos": True})
