"""The long-video nodes on the engine path, on the tiny model set with ComfyUI-like VAE and CLIP stand-ins.

The native loop node needs a real ComfyUI: tests/host/test_native_long_video.py runs it in-process on both hosts.
"""

from __future__ import annotations

import sys

import pytest
import torch
from comfy_harness import ValidationError, call_node, check_node_class

STAGE1 = "models/stage1/StableDiffusion-FlowGen"
STAGE2 = "models/stage2"
HEIGHT, WIDTH, FRAMES = 32, 48, 18  # 18 frames: segments 0..15 and 15..17
IDS = ("MotionI2VPredictLongMotion", "MotionI2VLongMotionFromField", "MotionI2VLongVideo", "MotionI2VLongVideoNative")
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def nodes(pack, tiny_models_folder):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def inputs(nodes, tiny_checkpoint):
    clip, vae = tiny_checkpoint
    encode = lambda text: clip.encode_from_tokens_scheduled(clip.tokenize(text))  # noqa: E731
    (flow_model,) = call_node(nodes["MotionI2VLoadFlowModel"], unet=f"{STAGE1}/unet/diffusion_pytorch_model.bin",
                              flow_vae=f"{STAGE1}/vae_flow/diffusion_pytorch_model.bin",
                              controlnet=f"{STAGE1}/controlnet/controlnet.bin", dtype="fp32")
    (animator,) = call_node(nodes["MotionI2VLoadAnimator"],
                            base_model=f"motion_i2v/{STAGE2}/StableDiffusion/unet/diffusion_pytorch_model.bin",
                            motion_module=f"{STAGE2}/Motion_Module/motion_block.bin", dtype="fp32")
    image = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))
    return dict(flow_model=flow_model, animator=animator, vae=vae, positive=encode("a river"),
                negative=encode("blur"), image=image)


def control(nodes, frames=FRAMES):
    """One track crossing the image over ``frames`` frames, as Motion-I2V Trajectories gives it."""
    time = torch.linspace(0, 1, frames)[:, None]
    path = (torch.tensor([6.0, 8.0]) + time * torch.tensor([36.0, 16.0]))[:, None]
    tracks = {"track_path": path, "track_visibility": torch.ones(frames, 1, dtype=torch.bool), "width": WIDTH,
              "height": HEIGHT}
    return call_node(nodes["MotionI2VTrajectoryControl"], tracks=tracks, flow_unit=8, strength=1.0)[0]


def long_motion(nodes, inputs, **options):
    settings = dict(flow_model=inputs["flow_model"], vae=inputs["vae"], positive=inputs["positive"],
                    negative=inputs["negative"], frames=FRAMES, overlap=0, steps=1, cfg=7.0, sampler="ddim", stride=8)
    return call_node(nodes["MotionI2VPredictLongMotion"], **(settings | options))[0]


def render(nodes, inputs, motion, **options):
    settings = dict(animator=inputs["animator"], positive=inputs["positive"], negative=inputs["negative"],
                    vae=inputs["vae"], image=inputs["image"], long_motion=motion, seed=5, steps=1, cfg=7.0,
                    sampler="ddim", pairing="official")
    return call_node(nodes["MotionI2VLongVideo"], **(settings | options))[0]


class Recorder:
    """Stands in for nodes/comfy.py's Progress: records every report."""

    made = []

    def __init__(self, total):
        self.total, self.steps = total, []
        Recorder.made.append(self)

    def __call__(self, step, total=None, preview=None):
        self.steps.append((step, total))


def test_node_contract(nodes):
    for node_id in IDS:
        check_node_class(nodes[node_id])
        assert nodes[node_id].CATEGORY == "Motion-I2V/Long video"


def test_tracks_over_the_whole_video_render_every_frame_under_one_progress_bar(pack, nodes, inputs, monkeypatch):
    monkeypatch.setattr(sys.modules[f"{pack.__name__}.nodes.long_video"], "Progress", Recorder)
    motion = long_motion(nodes, inputs, control=control(nodes))
    assert [(segment.start, segment.end) for segment in motion.plan] == [(0, 15), (15, 17)]
    frames = render(nodes, inputs, motion)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)  # 16 + 2 new frames: the seam once
    assert torch.isfinite(frames).all() and 0 <= frames.min() and frames.max() <= 1
    (progress,) = Recorder.made
    assert progress.total == 4 and progress.steps == [(step, 4) for step in (1, 2, 3, 4)]  # 2 segments x 2 stages
    assert torch.equal(render(nodes, inputs, motion), frames)  # seeded
    assert not torch.equal(render(nodes, inputs, motion, seed=6), frames)


def test_a_long_field_is_re_based_segment_by_segment(pack, nodes, inputs):
    field_type = sys.modules[f"{pack.__name__}.motion_i2v.flow"].MotionField
    camera = sys.modules[f"{pack.__name__}.motion_i2v.camera"].camera_field
    pan = field_type(camera("pan_x", FRAMES, HEIGHT, WIDTH, 12.0))
    (motion,) = call_node(nodes["MotionI2VLongMotionFromField"], motion_field=pan, overlap=0)
    assert motion.flow_model is None and motion.motion.steps == 0
    assert render(nodes, inputs, motion).shape == (FRAMES, HEIGHT, WIDTH, 3)
    with pytest.raises(ValueError, match="motion field: it is 48x32 but the image is 96x64"):
        render(nodes, inputs, motion, image=torch.rand(1, 64, 96, 3))
    with pytest.raises(ValueError, match=r"motion_field frames: expected an integer in 2\.\.1024, got 1"):
        call_node(nodes["MotionI2VLongMotionFromField"], motion_field=field_type(pan.flow[:1]), overlap=0)


def test_bad_plans_and_inputs_are_refused_before_any_model_runs(pack, nodes, inputs, monkeypatch):
    module = sys.modules[f"{pack.__name__}.motion_i2v.segments.render"]
    monkeypatch.setattr(module, "predict_motion_field", None)  # any model run would raise TypeError
    monkeypatch.setattr(module, "animate", None)
    with pytest.raises(ValidationError, match="overlap=8 bigger than max 7"):  # 2 x overlap < 16 - 1
        long_motion(nodes, inputs, frames=46, overlap=8)
    with pytest.raises(ValidationError, match="frames=1 smaller than min 2"):
        long_motion(nodes, inputs, frames=1)
    with pytest.raises(ValueError, match="tracks: they have 16 frames, the video 18; give Motion-I2V Trajectories"):
        long_motion(nodes, inputs, control=control(nodes, frames=16))
    motion = long_motion(nodes, inputs, control=control(nodes))
    cases = [
        (dict(image=torch.rand(1, 64, 96, 3)), "control: the tracks are on a 48x32 canvas but the image is 96x64"),
        (dict(brush=torch.ones(1, 8, 8)), "brush: the mask is 8x8 but the image is 48x32"),
        (dict(negative=[[torch.zeros(1, 77, 1024), {}]]), r"negative: expected SD1.5 text states \[1, T, 32\]"),
        (dict(seed=-1), "seed=-1 smaller than min 0"),
    ]
    for change, message in cases:
        with pytest.raises((ValueError, ValidationError), match=message):
            render(nodes, inputs, motion, **change)


def test_predict_motion_field_has_the_stride(nodes, inputs):
    stride = nodes["MotionI2VPredictMotionField"].INPUT_TYPES()["optional"]["stride"]
    assert stride[0] == "INT" and (stride[1]["default"], stride[1]["min"], stride[1]["max"]) == (8, 1, 16)
    settings = dict(flow_model=inputs["flow_model"], vae=inputs["vae"], image=inputs["image"],
                    positive=inputs["positive"], negative=inputs["negative"], frames=4, steps=1, cfg=7.0, seed=0,
                    sampler="ddim")
    official = call_node(nodes["MotionI2VPredictMotionField"], **settings)[0]
    assert torch.equal(call_node(nodes["MotionI2VPredictMotionField"], **settings, stride=8)[0].flow, official.flow)
    # the stride reaches the UNet's per-frame embedding: another time span, another field
    assert not torch.equal(call_node(nodes["MotionI2VPredictMotionField"], **settings, stride=2)[0].flow,
                           official.flow)
    with pytest.raises(ValidationError, match="stride=17 bigger than max 16"):
        call_node(nodes["MotionI2VPredictMotionField"], **settings, stride=17)


def test_trajectories_reach_the_longest_video(nodes):
    frames = nodes["MotionI2VTrajectories"].INPUT_TYPES()["required"]["frames"][1]
    assert frames["max"] == 1024
