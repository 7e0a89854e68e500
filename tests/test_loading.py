"""Loading official-layout weight files: strict keys, both file formats, clear errors."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from motion_i2v.loading import (
    build_model,
    config_for_file,
    describe_checkpoint,
    load_model,
    official_state_dict,
    read_state_dict,
    resolve_dtype,
    save_state_dict,
)

# loading.KINDS also holds the stage-2 kinds once motion_i2v.loading_stage2 is imported
KINDS = ("flow_unet", "controlnet", "flow_vae", "image_vae")


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k].to(first[k].dtype)) for k in first)


@pytest.fixture(scope="module")
def tiny_models():
    return {kind: build_model(kind, "tiny") for kind in KINDS}


@pytest.mark.parametrize("kind", sorted(KINDS))
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
    with pytest.raises(ValueError, match=r"1 missing: conv_in\.bias; 1 unexpected: extra\.weight"):
        load_model("flow_unet", save_state_dict(state, tmp_path / "unet.bin"), "tiny")


def test_mis_shaped_keys_are_named(tmp_path, tiny_models):
    state = official_state_dict(tiny_models["flow_unet"], "flow_unet")
    state["conv_in.weight"] = torch.zeros(32, 4, 3, 3)  # a 4-channel conv_in: an SD1.5 UNet
    with pytest.raises(ValueError, match=r"conv_in\.weight \[32, 4, 3, 3\] \(expected \[32, 8, 3, 3\]\)"):
        load_model("flow_unet", save_state_dict(state, tmp_path / "unet.bin"), "tiny")


@pytest.mark.parametrize("keys, guess", [
    (["model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight"],
     "Stable Diffusion 1"),
    (["conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
      "model.diffusion_model.label_emb.0.0.weight"], "SDXL"),
])
def test_foreign_checkpoints_get_a_clear_message(tmp_path, keys, guess):
    path = save_state_dict({key: torch.zeros(2) for key in keys}, tmp_path / "checkpoint.safetensors")
    with pytest.raises(ValueError, match=f"looks like an? {guess}.*expected the flow_unet file"):
        load_model("flow_unet", path, "tiny")


def test_the_controlnet_in_the_unet_slot_is_recognised(tmp_path, tiny_models):
    path = save_state_dict(official_state_dict(tiny_models["controlnet"], "controlnet"), tmp_path / "c.bin")
    with pytest.raises(ValueError, match="looks like the Motion-I2V trajectory ControlNet"):
        load_model("flow_unet", path, "tiny")
    assert describe_checkpoint(official_state_dict(tiny_models["flow_unet"], "flow_unet")) == "the flow UNet"


def test_truncated_and_garbage_files(tmp_path, tiny_models):
    good = save_state_dict(official_state_dict(tiny_models["flow_vae"], "flow_vae"), tmp_path / "vae.bin")
    for name, content in (("truncated.bin", good.read_bytes()[:4096]), ("noise.safetensors", b"\x00" * 64),
                          ("text.bin", b"not a checkpoint")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="not a readable"):
            read_state_dict(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("flow_vae", tmp_path / "absent.bin", "tiny")


class Payload:
    """Anything but tensors: weights_only=True must refuse to unpickle it."""


def test_pickles_are_read_with_weights_only(tmp_path):
    path = tmp_path / "evil.bin"
    torch.save({"weight": Payload()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_state_dict(path)
    with open(tmp_path / "plain.bin", "wb") as handle:
        pickle.dump({"weight": [1, 2]}, handle, protocol=2)
    with pytest.raises(ValueError, match="not a readable|dictionary of tensors"):
        read_state_dict(tmp_path / "plain.bin")


def test_config_is_found_beside_the_file_in_the_official_layout(tmp_path, tiny_models):
    root = tmp_path / "StableDiffusion-FlowGen"
    unet_config = build_model("flow_unet", "tiny", device="meta").config.to_official()
    (root / "unet").mkdir(parents=True)
    (root / "unet" / "config.json").write_text(json.dumps(unet_config))
    (root / "vae").mkdir()
    (root / "vae" / "config.json").write_text(json.dumps({"in_channels": 2, "out_channels": 2, "norm_num_groups": 8,
                                                          "block_out_channels": [16, 16, 32, 32], "layers_per_block": 1,
                                                          "down_block_types": ["DownEncoderBlock2D"] * 4,
                                                          "up_block_types": ["UpDecoderBlock2D"] * 4}))
    vae_path = save_state_dict(official_state_dict(tiny_models["flow_vae"], "flow_vae"),
                               root / "vae_flow" / "diffusion_pytorch_model.bin")
    control_path = save_state_dict(official_state_dict(tiny_models["controlnet"], "controlnet"),
                                   root / "controlnet" / "controlnet.bin")
    assert config_for_file("controlnet", control_path) == unet_config  # upstream builds it from_unet
    assert same_weights(load_model("flow_vae", vae_path), tiny_models["flow_vae"])
    assert same_weights(load_model("controlnet", control_path), tiny_models["controlnet"])


def test_safetensors_metadata_carries_the_config(tmp_path, tiny_models):
    config = build_model("flow_unet", "tiny", device="meta").config.to_official()
    path = save_state_dict(official_state_dict(tiny_models["flow_unet"], "flow_unet"), tmp_path / "flow.safetensors",
                           metadata={"motion_i2v_kind": "flow_unet", "motion_i2v_config": json.dumps(config)})
    assert same_weights(load_model("flow_unet", path), tiny_models["flow_unet"])


def test_unknown_kind_and_config():
    with pytest.raises(ValueError, match="kind: expected one of"):
        build_model("sdxl_unet")
    with pytest.raises(ValueError, match="no bundled config 'huge'"):
        build_model("flow_unet", "huge")


# ------------------------------------------------------------------------------------------------
# make-tiny and convert


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from motion_i2v.__main__ import main

    root = tmp_path_factory.mktemp("tiny")
    assert main(["make-tiny", str(root)]) == 0
    return root


def test_make_tiny_writes_the_official_layout(tiny_dir):
    stage1 = "models/stage1/StableDiffusion-FlowGen"
    files = {str(p.relative_to(tiny_dir)) for p in tiny_dir.rglob("*") if p.is_file()}
    assert files >= {f"{stage1}/controlnet/controlnet.bin", f"{stage1}/unet/config.json",
                     f"{stage1}/unet/diffusion_pytorch_model.bin", f"{stage1}/vae/config.json",
                     f"{stage1}/vae_flow/diffusion_pytorch_model.bin",
                     "models/stage2/StableDiffusion/vae/config.json",
                     "models/stage2/StableDiffusion/vae/diffusion_pytorch_model.bin",
                     "models/stage2/StableDiffusion/unet/diffusion_pytorch_model.bin",
                     "models/stage2/Motion_Module/motion_block.bin"}
    pickled = torch.load(tiny_dir / stage1 / "controlnet/controlnet.bin", weights_only=True)
    assert all(key.startswith("controlnet.") for key in pickled)
    vae = torch.load(tiny_dir / stage1 / "vae_flow/diffusion_pytorch_model.bin", weights_only=True)
    assert "encoder.mid_block.attentions.0.query.weight" in vae  # diffusers-0.11 names, as shipped


def test_make_tiny_files_load_from_any_folder_of_the_layout(tiny_dir):
    from motion_i2v.loading import locate_files

    for start in (tiny_dir, tiny_dir / "models", tiny_dir / "models/stage1/StableDiffusion-FlowGen"):
        found = {kind: path for kind, path in locate_files(start).items() if kind in KINDS}
        assert sorted(found) == sorted(KINDS)
    models = {kind: load_model(kind, path) for kind, path in found.items()}  # configs found beside the files
    assert models["flow_unet"].config == models["controlnet"].config
    assert models["flow_unet"].config.block_out_channels == (32, 64)
    # make-tiny re-randomises the zero-initialised layers so that the ControlNet acts
    assert models["controlnet"].controlnet_mid_block.weight.abs().max() > 0


def test_make_tiny_is_seeded(tmp_path):
    from motion_i2v.commands.make_tiny import write_tiny_models

    first, second = write_tiny_models(tmp_path / "a", seed=3), write_tiny_models(tmp_path / "b", seed=3)
    a, b = read_state_dict(first["flow_vae"]), read_state_dict(second["flow_vae"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_make_tiny_text_width_reaches_every_text_reader(tmp_path):
    from motion_i2v.__main__ import main
    from motion_i2v.loading import locate_files

    assert main(["make-tiny", str(tmp_path), "--text-width", "768"]) == 0
    found = locate_files(tmp_path)
    for kind in ("flow_unet", "controlnet", "sd_unet", "motion_modules"):
        model = load_model(kind, found[kind])  # strict: the configs beside the files say 768 too
        widths = {tuple(p.shape)[1] for name, p in model.named_parameters() if name.endswith("attn2.to_k.weight")}
        assert widths == ({768} if kind != "motion_modules" else set()), kind  # motion modules: temporal self-attention


def test_convert_a_folder_to_fp16_safetensors(tiny_dir, tmp_path):
    from motion_i2v.__main__ import main
    from motion_i2v.loading import locate_files, read_metadata

    assert main(["convert", str(tiny_dir), str(tmp_path / "out"), "--fp16"]) == 0
    converted = locate_files(tmp_path / "out")
    assert {f"{kind}.safetensors" for kind in KINDS} <= {path.name for path in converted.values()}
    state = read_state_dict(converted["flow_unet"])
    assert {v.dtype for k, v in state.items() if not k.endswith("pos_encoder.pe")} == {torch.float16}
    assert {v.dtype for k, v in state.items() if k.endswith("pos_encoder.pe")} == {torch.float32}
    assert read_metadata(converted["controlnet"])["motion_i2v_kind"] == "controlnet"
    original = load_model("flow_unet", locate_files(tiny_dir)["flow_unet"])
    resaved = load_model("flow_unet", converted["flow_unet"])  # config from the metadata
    for key, value in original.state_dict().items():
        torch.testing.assert_close(resaved.state_dict()[key], value, rtol=1e-3, atol=1e-3)


def test_convert_checks_before_writing(tiny_dir, tmp_path):
    from motion_i2v.commands.convert import convert

    source = tiny_dir / "models/stage1/StableDiffusion-FlowGen/controlnet/controlnet.bin"
    with pytest.raises(ValueError, match="does not fit the flow_unet model"):
        convert(source, tmp_path / "unet.safetensors", kind="flow_unet")
    assert not (tmp_path / "unet.safetensors").exists()
    with pytest.raises(ValueError, match="expected a .safetensors file"):
        convert(source, tmp_path / "unet.bin")
