"""``python -m motion_i2v make-tiny``: a tiny random model set in the official layout, seeded."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.__main__ import main
from motion_i2v.commands.make_tiny import write_tiny_models
from motion_i2v.weights.files import read_state_dict
from motion_i2v.weights.loader import load_model
from motion_i2v.weights.release import locate_files


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
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


def test_make_tiny_files_load_with_the_configs_beside_them(tiny_dir):
    models = {kind: load_model(kind, path) for kind, path in locate_files(tiny_dir).items()}
    assert sorted(models) == ["controlnet", "flow_unet", "flow_vae", "image_vae", "motion_modules", "sd_unet"]
    assert models["flow_unet"].config == models["controlnet"].config
    assert models["flow_unet"].config.block_out_channels == (32, 64)
    # make-tiny re-randomises the zero-initialised layers so that the ControlNet acts
    assert models["controlnet"].controlnet_mid_block.weight.abs().max() > 0


def test_make_tiny_is_seeded(tmp_path):
    first, second = write_tiny_models(tmp_path / "a", seed=3), write_tiny_models(tmp_path / "b", seed=3)
    a, b = (read_state_dict(files["flow_vae"], slot="flow_vae") for files in (first, second))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_make_tiny_text_width_reaches_every_text_reader(tmp_path):
    assert main(["make-tiny", str(tmp_path), "--text-width", "768"]) == 0
    found = locate_files(tmp_path)
    for kind in ("flow_unet", "controlnet", "sd_unet", "motion_modules"):
        model = load_model(kind, found[kind])  # strict: the configs beside the files say 768 too
        widths = {tuple(p.shape)[1] for name, p in model.named_parameters() if name.endswith("attn2.to_k.weight")}
        assert widths == ({768} if kind != "motion_modules" else set()), kind  # motion modules: temporal self-attention
