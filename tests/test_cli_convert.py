"""``python -m motion_i2v convert``: every weight file of both stages re-saved as safetensors, each skipped file
named with the reason, and the converted folder loading in Load Flow Model and Load Animator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from comfy_harness import call_node

from ldm_layouts import to_ldm_unet
from motion_i2v.__main__ import main
from motion_i2v.commands.convert import convert
from motion_i2v.weights.files import read_metadata, read_state_dict, save_state_dict
from motion_i2v.weights.kinds import KINDS, REALISTIC_UNET_FILE, REALISTIC_VAE_FILE
from motion_i2v.weights.loader import load_model
from motion_i2v.weights.release import locate_files
from motion_i2v.weights.sd15 import LDM_UNET_PREFIX

pytestmark = pytest.mark.usefixtures("single_thread")
STAGE2 = "models/stage2"
# Files of a release that are no network of ours, or that loaders read as they are.
EXTRAS = {
    f"{STAGE2}/StableDiffusion/text_encoder/pytorch_model.bin": "a CLIP model",
    REALISTIC_VAE_FILE: "already safetensors",
    f"{STAGE2}/DreamBooth_LoRA/sd15_single_file.ckpt": "Load Animator reads it as it is",
}


@pytest.fixture(scope="module")
def release(tmp_path_factory, tiny_models):
    """make-tiny's set plus what else a release folder holds: realistic_unet.ckpt (fp16), a text encoder, and
    two single-file SD checkpoints."""
    root = tmp_path_factory.mktemp("release")
    shutil.copytree(tiny_models.root, root, dirs_exist_ok=True)
    base = read_state_dict(tiny_models.files["sd_unet"], slot="sd_unet")
    save_state_dict({key: value.half() for key, value in base.items()}, root / REALISTIC_UNET_FILE)
    save_state_dict({"text_model.embeddings.position_ids": torch.arange(77)[None]}, root / list(EXTRAS)[0])
    single_file = {LDM_UNET_PREFIX + key: value for key, value in to_ldm_unet(base, 1, [True, False]).items()}
    for name in list(EXTRAS)[1:]:
        save_state_dict(single_file, root / name)
    return root


@pytest.fixture(scope="module")
def converted(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    return out, convert(release, out)


def test_help_lists_every_kind(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert all(f"  {kind} " in shown for kind in KINDS), shown


def test_a_release_folder_converts_completely(release, converted):
    out, report = converted
    sources = sorted(p.relative_to(release) for p in release.rglob("*") if p.suffix in (".bin", ".ckpt"))
    expected = {release / path: out / path.with_suffix(".safetensors") for path in sources if str(path) not in EXTRAS}
    assert not report.failed
    assert {source: written for _, source, written in report.written} == expected
    assert len(expected) == 7  # the six make-tiny files of both stages, and realistic_unet.ckpt
    assert sorted(kind for kind, _, _ in report.written) == sorted([*KINDS.keys() - {"animation_unet"}, "sd_unet"])
    for kind, source, written in report.written:
        assert read_metadata(written, slot="test")["motion_i2v_kind"] == kind
        original, resaved = load_model(kind, source), load_model(kind, written)  # the config travels in the metadata
        for key, value in original.state_dict().items():
            assert torch.equal(resaved.state_dict()[key], value), (source, key)
    skipped = {source.relative_to(release): reason for source, reason in report.skipped}
    assert skipped.keys() == {Path(name) for name in EXTRAS}
    for name, reason in EXTRAS.items():
        assert reason in skipped[Path(name)]


def test_the_converted_folder_loads_in_both_loader_nodes(pack, converted, tiny_models, monkeypatch):
    out, _ = converted
    monkeypatch.setenv("MOTION_I2V_MODELS", str(out))
    flow_loader = pack.NODE_CLASS_MAPPINGS["MotionI2VLoadFlowModel"]
    animator_loader = pack.NODE_CLASS_MAPPINGS["MotionI2VLoadAnimator"]
    flow_inputs = {name: spec[1]["default"] for name, spec in flow_loader.INPUT_TYPES()["required"].items()}
    animator_inputs = {name: spec[1]["default"] for name, spec in animator_loader.INPUT_TYPES()["required"].items()}
    assert flow_inputs["unet"].endswith("unet/diffusion_pytorch_model.safetensors")  # the re-saves are preselected
    assert animator_inputs["base_model"] == f"motion_i2v/{REALISTIC_UNET_FILE.replace('.ckpt', '.safetensors')}"
    (handle,) = call_node(flow_loader, **(flow_inputs | {"dtype": "fp32"}))
    for kind, module in (("flow_unet", handle.unet), ("flow_vae", handle.flow_vae), ("controlnet", handle.controlnet)):
        expected = load_model(kind, tiny_models.files[kind]).state_dict()
        assert all(torch.equal(value, expected[key]) for key, value in module.state_dict().items()), kind
    (animator,) = call_node(animator_loader, **(animator_inputs | {"dtype": "fp32"}))
    expected = load_model("motion_modules", tiny_models.files["motion_modules"]).state_dict()
    loaded = animator.model.state_dict()
    assert animator.config.in_channels == 4 and all(torch.equal(loaded[key], value) for key, value in expected.items())


def test_one_file_of_either_stage(tiny_models, tmp_path, capsys):
    """motion_block.bin alone used to fail with "cannot tell which model this is" and a traceback."""
    target = tmp_path / "motion_block.safetensors"
    assert main(["convert", str(tiny_models.files["motion_modules"]), str(target), "--fp16"]) == 0
    assert capsys.readouterr().out.startswith("motion_modules ")
    state = read_state_dict(target, slot="test")
    assert {v.dtype for k, v in state.items() if not k.endswith("pos_encoder.pe")} == {torch.float16}
    assert {v.dtype for k, v in state.items() if k.endswith("pos_encoder.pe")} == {torch.float32}
    assert main(["convert", str(tiny_models.files["flow_unet"]), str(tmp_path / "unet.safetensors")]) == 0
    assert read_metadata(tmp_path / "unet.safetensors", slot="test")["motion_i2v_kind"] == "flow_unet"


def test_refusals_are_messages_not_tracebacks(release, tiny_models, tmp_path, capsys):
    controlnet = tiny_models.files["controlnet"]
    cases = [
        (["--kind", "flow_unet", str(controlnet), str(tmp_path / "unet.safetensors")],
         "is the Motion-I2V trajectory ControlNet"),
        ([str(controlnet), str(tmp_path / "unet.bin")], "DST: expected a .safetensors file"),
        ([str(release / list(EXTRAS)[0]), str(tmp_path / "clip.safetensors")], "is a CLIP model"),
        ([str(release / list(EXTRAS)[2]), str(tmp_path / "sd.safetensors")], "pass --kind (sd_unet)"),
        (["--kind", "sd_unet", str(release), str(tmp_path / "out")], "--kind: only for a single SRC file"),
    ]
    for arguments, message in cases:
        assert main(["convert", *arguments]) == 2
        assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was written
    assert main(["convert", "--kind", "sd_unet", str(release / list(EXTRAS)[2]), str(tmp_path / "sd.safetensors")]) == 0


def test_a_damaged_file_is_named_and_the_rest_converted(tiny_models, tmp_path, capsys):
    source = tmp_path / "release"
    shutil.copytree(tiny_models.root, source)
    vae = source / "models/stage1/StableDiffusion-FlowGen/vae_flow/diffusion_pytorch_model.bin"
    vae.write_bytes(vae.read_bytes()[:1000])
    assert main(["convert", str(source), str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    assert f"convert: SRC: {vae}: not a readable checkpoint" in printed.err
    assert "skipped" not in printed.out and printed.out.count(" -> ") == 5
    assert sorted(locate_files(tmp_path / "out")) == ["controlnet", "flow_unet", "image_vae", "motion_modules", "sd_unet"]
