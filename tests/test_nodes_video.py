"""Motion-I2V Extract Motion From Video as ComfyUI calls it."""

import sys

import pytest
import torch
from comfy_harness import ValidationError, call_node, check_node_class
from synthetic_video import moving_texture

NODE_ID = "MotionI2VExtractMotion"
T, H, W = 7, 64, 96


@pytest.fixture
def node(pack):
    return pack.NODE_CLASS_MAPPINGS[NODE_ID]


@pytest.fixture(scope="module")
def clip():
    """(video IMAGE [T, H, W, 3], true field [T, 2, H, W]) of a texture moving 30 px right, 15 px up."""
    return moving_texture("translate", frames=T, height=H, width=W)


def extract(node, video, **inputs):
    defaults = dict(frames=4, frame_stride=2, start_frame=0, method="dis_medium", raft_model="none", width=0, height=0)
    return call_node(node, video=video, **{**defaults, **inputs})


def test_contract(node):
    check_node_class(node)
    assert node.CATEGORY == "Motion-I2V/Video" and node.DISPLAY_NAME == "Motion-I2V Extract Motion From Video"
    methods = node.INPUT_TYPES()["required"]["method"][0]
    assert methods == ["dis_ultrafast", "dis_fast", "dis_medium", "raft"]


def test_every_stride_th_frame_gives_the_field_and_its_companions(node, pack, clip):
    video, truth = clip
    field, reliability, preview, frames = extract(node, video)
    assert isinstance(field, sys.modules[f"{pack.__name__}.motion_i2v.flow"].MotionField)
    assert field.flow.shape == (4, 2, H, W) and torch.equal(field.reliability, reliability)
    assert reliability.shape == (4, H, W) and preview.shape == (4, H, W, 3) and frames.shape == (4, H, W, 3)
    assert torch.equal(frames, video[0:7:2])
    # Frame k of the field is video frame 2k; compare where the true motion keeps pixels 8 px inside.
    expected = truth[0:7:2]
    inside = torch.zeros(4, H, W, dtype=torch.bool)
    inside[:, 8:-8, 8:-8] = True
    inside &= (torch.arange(W) + expected[:, 0] <= W - 9) & (torch.arange(H)[:, None] + expected[:, 1] >= 8)
    assert (field.flow - expected).norm(dim=1)[inside].mean() < 0.5
    assert reliability[inside].mean() > 0.9
    assert (preview[0] == 1).all()  # still frame 0 is white in the colour coding


def test_resizing_rescales_vectors_and_frames(node, clip):
    video, _ = clip
    full = extract(node, video, method="dis_fast")[0]
    field, reliability, preview, frames = extract(node, video, method="dis_fast", width=48, height=16)
    assert field.flow.shape == (4, 2, 16, 48) and reliability.shape == (4, 16, 48)
    assert preview.shape == frames.shape == (4, 16, 48, 3)
    # Half the width and a quarter of the height: the mean vector scales by (1/2, 1/4).
    scale = torch.tensor([0.5, 0.25])
    torch.testing.assert_close(field.flow[-1].mean((1, 2)), full.flow[-1].mean((1, 2)) * scale, atol=0.3, rtol=0.05)


def test_rgba_and_a_start_frame(node, clip):
    video, _ = clip
    rgba = torch.cat((video, torch.ones(T, H, W, 1)), dim=-1)
    frames = extract(node, rgba, frames=3, frame_stride=2, start_frame=1, method="dis_ultrafast")[3]
    assert torch.equal(frames, video[1:6:2])


def test_a_video_too_short_says_how_many_frames_it_needs(node, clip):
    video, _ = clip
    with pytest.raises(ValueError, match="16 frames with stride 1 from frame 0 need 16 frames, the video has 7"):
        extract(node, video, frames=16, frame_stride=1)


def test_raft_without_a_model_file_asks_for_one(node, clip):
    with pytest.raises(ValueError, match="raft_model: method raft needs a RAFT weight file"):
        extract(node, clip[0], method="raft")


@pytest.mark.usefixtures("without_torchvision")
def test_raft_without_torchvision_says_what_to_install(node, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTION_I2V_MODELS", str(tmp_path))
    (tmp_path / "raft_small.pth").write_bytes(b"not read before torchvision is found")
    with pytest.raises(ImportError, match="pip install torchvision"):
        extract(node, clip[0], method="raft", raft_model="raft_small.pth")


def test_widgets_reject_out_of_range_values(node, clip):
    with pytest.raises(ValidationError, match="frame_stride=0 smaller than min 1"):
        extract(node, clip[0], frame_stride=0)
    with pytest.raises(ValidationError, match="not in"):
        extract(node, clip[0], method="farneback")


def test_sizes_and_memory_are_checked_before_any_flow(node, pack, clip, monkeypatch):
    video, _ = clip
    required = node.INPUT_TYPES()["required"]
    assert (required["frames"][1]["max"], required["width"][1]["max"], required["height"][1]["max"]) == (256, 4096, 4096)
    with pytest.raises(ValueError, match=r"method: expected one of \['dis_ultrafast', 'dis_fast', 'dis_medium', "
                                         r"'raft'\], got 3"):
        node().extract(video, 4, 2, 0, 3, "none", 0, 0)
    with pytest.raises(ValueError, match=r"^frames: expected an integer in 1\.\.256, got 1024"):
        node().extract(video, 1024, 1, 0, "dis_fast", "none", 0, 0)
    memory = sys.modules[f"{pack.__name__}.motion_i2v.memory"]
    monkeypatch.setattr(memory, "ram_available", lambda: 2**30)
    # the outputs at 4096x4096: 6 x 4 frames x 3 x 4096^2 x 4 bytes
    with pytest.raises(memory.NotEnoughMemory, match=r"extracted motion \(4 frames at 4096x4096\): needs about 4\.5 "
                                                     r"GiB of RAM, but 1\.0 GiB is available"):
        extract(node, video, width=4096, height=4096)
    broken = video.clone()
    broken[2, 5, 5, 0] = float("inf")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="video: contains NaN or infinite values"):
        extract(node, broken)
