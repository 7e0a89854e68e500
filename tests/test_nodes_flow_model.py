"""The stage-1 nodes on the tiny model set, with ComfyUI-like VAE and CLIP stand-ins (tests/tiny_sd.py)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from comfy_harness import call_node, check_node_class

STAGE1 = "models/stage1/StableDiffusion-FlowGen"
HEIGHT, WIDTH = 64, 96
IDS = ("MotionI2VLoadFlowModel", "MotionI2VTrajectoryControl", "MotionI2VPredictMotionField")
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def nodes(pack, tiny_models_folder):
    return {node_id: pack.NODE_CLASS_MAPPINGS[node_id] for node_id in IDS}


@pytest.fixture(scope="module")
def comfy_models(tiny_checkpoint):
    clip, vae = tiny_checkpoint
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("a waterfall"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize("blur"))
    return vae, positive, negative


@pytest.fixture(scope="module")
def flow_model(nodes):
    return call_node(nodes["MotionI2VLoadFlowModel"], unet=f"{STAGE1}/unet/diffusion_pytorch_model.bin",
                     flow_vae=f"{STAGE1}/vae_flow/diffusion_pytorch_model.bin",
                     controlnet=f"{STAGE1}/controlnet/controlnet.bin", dtype="auto")[0]


def image():
    return torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))


def tracks(points=((10.0, 20.0), (40.0, 24.0)), frames=4):
    start, end = torch.tensor(points[0]), torch.tensor(points[1])
    path = torch.stack([start + (end - start) * i / (frames - 1) for i in range(frames)])[:, None]
    return {"track_path": path, "track_visibility": torch.ones(frames, 1, dtype=torch.bool),
            "width": WIDTH, "height": HEIGHT}


def predict(nodes, flow_model, comfy_models, **options):
    vae, positive, negative = comfy_models
    inputs = {"flow_model": flow_model, "vae": vae, "image": image(), "positive": positive, "negative": negative,
              "frames": 4, "steps": 2, "cfg": 7.0, "seed": 0, "sampler": "ddim"} | options
    return call_node(nodes["MotionI2VPredictMotionField"], **inputs)


def test_node_contract(nodes):
    for cls in nodes.values():
        check_node_class(cls)
        assert cls.CATEGORY == "Motion-I2V/Stage 1"
        for section in cls.INPUT_TYPES().values():
            assert all(options.get("tooltip") for _, options in section.values())
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)


def test_loader_lists_and_preselects_the_official_files(nodes):
    required = nodes["MotionI2VLoadFlowModel"].INPUT_TYPES()["required"]
    assert required["unet"][1]["default"] == f"{STAGE1}/unet/diffusion_pytorch_model.bin"
    assert required["controlnet"][0][0] == "none"


def test_loader_rejects_a_file_of_the_wrong_kind(nodes):
    vae = f"{STAGE1}/vae_flow/diffusion_pytorch_model.bin"
    with pytest.raises(ValueError, match=r"flow_unet: .*controlnet\.bin is the Motion-I2V trajectory ControlNet"):
        call_node(nodes["MotionI2VLoadFlowModel"], unet=f"{STAGE1}/controlnet/controlnet.bin", flow_vae=vae,
                  controlnet="none", dtype="fp32")
    # The three stage-1 files share one name; the UNet's config.json beside it must not build the VAE.
    with pytest.raises(ValueError, match=r"flow_vae: .*unet/diffusion_pytorch_model\.bin is the Motion-I2V flow UNet"):
        call_node(nodes["MotionI2VLoadFlowModel"], unet=f"{STAGE1}/unet/diffusion_pytorch_model.bin",
                  flow_vae=f"{STAGE1}/unet/diffusion_pytorch_model.bin", controlnet="none", dtype="fp32")


def test_predict_end_to_end(nodes, flow_model, comfy_models, pack):
    motion_field_type = sys.modules[f"{pack.__name__}.motion_i2v.flow"].MotionField
    control = call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(), flow_unit=8, strength=1.0)[0]
    field, preview = predict(nodes, flow_model, comfy_models, control=control)
    assert isinstance(field, motion_field_type)
    assert field.flow.shape == (4, 2, HEIGHT, WIDTH)
    assert field.flow[0].abs().max() == 0 and field.flow[1:].abs().max() > 0
    assert preview.shape == (4, HEIGHT, WIDTH, 3) and 0 <= preview.min() and preview.max() <= 1
    again, _ = predict(nodes, flow_model, comfy_models, control=control)
    assert torch.equal(again.flow, field.flow)  # seeded
    without, _ = predict(nodes, flow_model, comfy_models)
    assert not torch.allclose(without.flow, field.flow)


def test_the_image_reaches_the_vae_in_zero_one(nodes, flow_model, comfy_models):
    """ComfyUI's VAE maps x -> 2x - 1; the node hands it (x + 1) / 2 so the VAE sees x in [0, 1]."""
    vae, positive, negative = comfy_models
    seen = []

    class Recording:
        def encode(self, pixels):
            seen.append(pixels)
            return vae.encode(pixels)

    predict(nodes, flow_model, comfy_models, vae=Recording(), steps=1)
    torch.testing.assert_close(seen[0] * 2 - 1, image())


def test_the_controls_brush_holds_the_field_still(nodes, flow_model, comfy_models):
    brush = torch.zeros(1, HEIGHT, WIDTH)
    brush[:, :, : WIDTH // 2] = 1  # the left half may move
    control = call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(), flow_unit=8, strength=1.0, brush=brush)[0]
    field, _ = predict(nodes, flow_model, comfy_models, control=control, sampler="dpmpp_2m")
    assert field.flow[:, :, :, WIDTH // 2:].abs().max() == 0


def test_tracks_of_another_frame_count_or_size_are_refused_naming_both(nodes, flow_model, comfy_models):
    longer = call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(frames=16), flow_unit=8, strength=1.0)[0]
    with pytest.raises(ValueError, match="frames: the field is to have 4 frames but the control's tracks have 16"):
        predict(nodes, flow_model, comfy_models, control=longer)
    small = tracks(points=((5.0, 10.0), (20.0, 12.0))) | {"width": WIDTH // 2, "height": HEIGHT // 2}
    halved = call_node(nodes["MotionI2VTrajectoryControl"], tracks=small, flow_unit=4, strength=1.0)[0]
    with pytest.raises(ValueError, match="control: the tracks are on a 48x32 canvas but the image is 96x64"):
        predict(nodes, flow_model, comfy_models, control=halved)


@pytest.mark.parametrize("options, message", [
    ({"image": torch.rand(1, 60, 96, 3)}, "multiples of 8"),
    ({"brush": torch.ones(1, 32, 32)}, "brush: the mask is 32x32 but the image is 96x64"),
    ({"positive": [[torch.zeros(1, 77, 768), {}]]}, r"positive: expected SD1.5 text states \[1, T, 32\]"),
    ({"control": "tracks"}, "control: expected a Motion-I2V control"),
    ({"negative": []}, "negative: expected the CONDITIONING of one CLIP Text Encode"),
    # NaN passes ComfyUI's min/max check; stage 1 used to notice only after sampling
    ({"cfg": float("nan")}, r"cfg: expected a finite number in 0\.\.30\.0, got nan"),
    ({"image": torch.full((1, 64, 96, 3), float("nan"))}, "image: contains NaN or infinite values"),
])
def test_bad_inputs_fail_before_the_models_load(nodes, flow_model, comfy_models, options, message):
    class Unloadable:  # any attempt to load a network would raise something else
        spec = flow_model.spec

        def load(self):
            raise AssertionError("the models were loaded before the inputs were checked")

    class Unencodable:
        def encode(self, pixels):
            raise AssertionError("the image was encoded before the inputs were checked")

    with pytest.raises(ValueError, match=message):
        predict(nodes, Unloadable(), comfy_models, vae=Unencodable(), **options)


def test_a_grey_image_reaches_the_vae_as_rgb(nodes, flow_model, comfy_models):
    vae = comfy_models[0]
    seen = []

    class Recording:
        def encode(self, pixels):
            seen.append(tuple(pixels.shape))
            return vae.encode(pixels)

    predict(nodes, flow_model, comfy_models, vae=Recording(), steps=1, image=image()[..., :1])
    assert seen == [(1, HEIGHT, WIDTH, 3)]


def test_a_field_larger_than_the_memory_is_refused_before_loading(nodes, flow_model, comfy_models, monkeypatch):
    memory = sys.modules["motion_i2v_pack.motion_i2v.memory"]
    monkeypatch.setattr(memory, "ram_available", lambda: 2**20)
    with pytest.raises(memory.NotEnoughMemory, match=r"Motion-I2V stage 1 \(4 frames at 96x64, float32, CFG on\)"):
        predict(nodes, flow_model, comfy_models, vae=None)  # refused before the VAE is used


@pytest.mark.parametrize("flow_unit", [0, -5, 2000])
def test_flow_unit_outside_1_to_1024_is_refused(nodes, flow_unit):
    with pytest.raises(ValueError, match=rf"flow_unit: expected an integer in 1\.\.1024, got {flow_unit}"):
        nodes["MotionI2VTrajectoryControl"]().build(tracks(), flow_unit, 1.0)


def test_tracks_outside_the_image_are_refused(nodes):
    with pytest.raises(ValueError, match=r"tracks: track 0 in frame 12 is at \(98.0, 23.2\), outside the 96x64 canvas"):
        call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(points=((10.0, 20.0), (120.0, 24.0)), frames=16),
                  flow_unit=8, strength=1.0)
    with pytest.raises(ValueError, match="brush: the mask is 10x10 but the tracks' canvas is 96x64"):
        call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(), flow_unit=8, strength=1.0,
                  brush=torch.ones(1, 10, 10))


def test_control_needs_the_controlnet(nodes, comfy_models):
    without = call_node(nodes["MotionI2VLoadFlowModel"], unet=f"{STAGE1}/unet/diffusion_pytorch_model.bin",
                        flow_vae=f"{STAGE1}/vae_flow/diffusion_pytorch_model.bin", controlnet="none", dtype="fp32")[0]
    control = call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks(), flow_unit=8, strength=1.0)[0]
    with pytest.raises(ValueError, match="loaded without its ControlNet"):
        predict(nodes, without, comfy_models, control=control)


def test_workflow_uses_these_nodes():
    from pathlib import Path

    workflow = json.loads((Path(__file__).resolve().parents[1] / "workflows" / "i2v_motion_field.json").read_text())
    types = {node["type"] for node in workflow["nodes"]}
    assert set(IDS) <= types
