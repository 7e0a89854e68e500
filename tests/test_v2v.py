"""Motion extraction from synthetic videos whose true field is known (tests/synthetic_video.py)."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
from einops import rearrange

from motion_i2v.flow import MotionField
from motion_i2v.media import load_video
from motion_i2v.v2v import extract_motion, resize_motion, sample_frames
from motion_i2v.warp import backward_warp
from synthetic_video import moving_texture

MARGIN = 8  # pixels near the border, where DIS has less support on one side
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def extracted():
    """kind -> (video, true field, extracted MotionField), each motion extracted once."""
    results = {}
    for kind in ("translate", "rotate", "zoom"):
        video, truth = moving_texture(kind)
        results[kind] = video, truth, extract_motion(video)
    return results


def stays_in_view(truth: torch.Tensor, margin: int = MARGIN) -> torch.Tensor:
    """[F, H, W] bool: pixels at least ``margin`` inside the image in frame 0 and where they land."""
    height, width = truth.shape[-2:]
    x = torch.arange(width) + truth[:, 0]
    y = torch.arange(height)[:, None] + truth[:, 1]
    landed = (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)
    start = torch.zeros(height, width, dtype=torch.bool)
    start[margin:-margin, margin:-margin] = True
    return landed & start


def leaves_view(truth: torch.Tensor) -> torch.Tensor:
    """[F, H, W] bool: pixels whose true position is more than 2 px outside the image."""
    height, width = truth.shape[-2:]
    x = torch.arange(width) + truth[:, 0]
    y = torch.arange(height)[:, None] + truth[:, 1]
    return (x < -2) | (x > width + 1) | (y < -2) | (y > height + 1)


@pytest.mark.parametrize("kind, bound", [("translate", 0.5), ("rotate", 1.0), ("zoom", 1.0)])
def test_end_point_error_in_the_interior(extracted, kind, bound):
    _, truth, motion = extracted[kind]
    assert isinstance(motion, MotionField)
    assert motion.flow.shape == truth.shape and motion.reliability.shape == (16, 128, 192)
    error = (motion.flow - truth).norm(dim=1)
    interior = stays_in_view(truth)
    assert error[interior].mean() < bound, f"{kind}: mean EPE {error[interior].mean():.3f} px"


def test_frame_zero_is_still_and_fully_reliable(extracted):
    _, _, motion = extracted["zoom"]
    assert (motion.flow[0] == 0).all() and (motion.reliability[0] == 1).all()
    assert motion.reliability.min() >= 0 and motion.reliability.max() <= 1


@pytest.mark.parametrize("kind", ["translate", "rotate", "zoom"])
def test_content_leaving_the_view_is_unreliable_and_the_rest_reliable(extracted, kind):
    _, truth, motion = extracted[kind]
    leaving = leaves_view(truth)
    assert leaving.any() and (motion.reliability[leaving] == 0).float().mean() > 0.95
    assert motion.reliability[stays_in_view(truth)].mean() > 0.95


@pytest.mark.parametrize("kind", ["translate", "rotate", "zoom"])
def test_frames_sampled_along_the_field_give_back_frame_zero(extracted, kind):
    video, _, motion = extracted[kind]
    frames = video.permute(0, 3, 1, 2)  # [F, 3, H, W]
    # Frame i at p + f(p) shows what frame 0 shows at p.
    pulled = backward_warp(frames, motion.flow)
    reliable = motion.reliability > 0.5
    error = (pulled - frames[:1]).abs().mean(dim=1)
    assert reliable[1:].float().mean() > 0.7
    # The texture's standard deviation is about 0.2; the true field itself leaves up to 0.006
    # (bilinear resampling), a still field 0.1 and more.
    assert error[reliable].mean() < 0.02, f"{kind}: mean photometric error {error[reliable].mean():.4f}"


def test_progress_counts_four_flows_per_frame():
    video, _ = moving_texture("translate", frames=3, height=64, width=96)
    calls = []
    extract_motion(video, preset="ultrafast", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 8), (8, 8)]


def test_a_single_frame_is_a_still_field():
    motion = extract_motion(torch.rand(1, 20, 30, 3))
    assert motion.flow.shape == (1, 2, 20, 30) and (motion.flow == 0).all() and (motion.reliability == 1).all()


def test_sample_frames_takes_every_stride_th_frame():
    video = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 2, 2, 3)
    assert sample_frames(video, 4, stride=3)[:, 0, 0, 0].tolist() == [0, 3, 6, 9]
    assert sample_frames(video, 3, stride=2, start=1)[:, 0, 0, 0].tolist() == [1, 3, 5]
    with pytest.raises(ValueError, match="4 frames with stride 3 from frame 1 need 11 frames, the video has 10"):
        sample_frames(video, 4, stride=3, start=1)
    with pytest.raises(ValueError, match="frame_stride: expected an integer >= 1, got 0"):
        sample_frames(video, 4, stride=0)


def test_resize_motion_rescales_vectors_and_reliability():
    flow = torch.zeros(2, 2, 10, 20)
    flow[1, 0], flow[1, 1] = 4.0, -2.0
    reliability = torch.ones(2, 10, 20)
    reliability[1, :, :10] = 0
    resized = resize_motion(MotionField(flow, reliability), 5, 40)
    assert resized.flow.shape == (2, 2, 5, 40)
    torch.testing.assert_close(resized.flow[1, 0], torch.full((5, 40), 8.0))  # width doubles
    torch.testing.assert_close(resized.flow[1, 1], torch.full((5, 40), -1.0))  # height halves
    assert resized.reliability.shape == (2, 5, 40)
    assert (resized.reliability[1, :, :19] == 0).all() and (resized.reliability[1, :, 21:] == 1).all()


@pytest.mark.parametrize(
    "frames, options, message",
    [
        (torch.rand(4, 8, 8), {}, r"frames: expected \[F, H, W, 3\]"),
        (torch.rand(4, 8, 8, 4), {}, r"frames: expected \[F, H, W, 3\]"),
        (torch.rand(2, 8, 8, 3), {"method": "farneback"}, "method: expected one of"),
        (torch.rand(2, 8, 8, 3), {"preset": "slow"}, "preset: expected one of"),
        (torch.rand(2, 8, 8, 3), {"method": "raft"}, "raft_weights: method 'raft' needs a local RAFT weight file"),
        (torch.rand(2, 8, 8, 3), {"method": "raft", "raft_weights": "/nonexistent/raft.pth"}, "raft_weights"),
    ],
)
def test_bad_inputs_raise(frames, options, message):
    with pytest.raises(ValueError, match=message):
        extract_motion(frames, **options)


@pytest.mark.usefixtures("without_torchvision")
def test_raft_without_torchvision_says_what_to_install(tmp_path):
    weights = tmp_path / "raft_large.pth"
    weights.write_bytes(b"not read before torchvision is found")
    with pytest.raises(ImportError, match="pip install torchvision"):
        extract_motion(torch.rand(2, 16, 16, 3), method="raft", raft_weights=weights)


def test_a_damaged_raft_file_is_named(tmp_path, monkeypatch):
    """Read with the weight loaders' reader, so the error names the argument and the file (torchvision is a
    stand-in here: the file is refused before any network is built)."""
    for name in ("torchvision", "torchvision.models", "torchvision.models.optical_flow"):
        module = types.ModuleType(name)
        module.raft_large = module.raft_small = lambda weights=None: pytest.fail("built a network for a damaged file")
        monkeypatch.setitem(sys.modules, name, module)
    weights = tmp_path / "raft_large.pth"
    weights.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ValueError, match=r"raft_weights: .*raft_large\.pth: not a readable checkpoint"):
        extract_motion(torch.rand(2, 16, 16, 3), method="raft", raft_weights=weights)


def test_the_example_video_moves_as_its_documented_zoom():
    """example_inputs/source_video.webm (VP9, lossy) against the zoom example_inputs/make_examples.py rendered."""
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "example_inputs" / "make_examples.py")
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    video, fps = load_video(str(ROOT / "example_inputs" / "source_video.webm"))
    assert video.shape == (examples.VIDEO_FRAMES, 3, examples.HEIGHT, examples.WIDTH) and fps == examples.VIDEO_FPS
    field = extract_motion(rearrange(video, "f c h w -> f h w c"))
    scales = torch.tensor(examples.zoom_scales()).view(-1, 1, 1, 1)
    y, x = torch.meshgrid(torch.arange(examples.HEIGHT), torch.arange(examples.WIDTH), indexing="ij")
    centre_x, centre_y = examples.ZOOM_CENTRE
    truth = (scales - 1) * torch.stack((x - centre_x, y - centre_y)).float()
    error = (field.flow - truth).norm(dim=1)[1:]
    in_view, reliability = stays_in_view(truth)[1:], field.reliability[1:]
    grass = in_view.clone()
    grass[:, :200] = False  # below the far hills: the textured part; the sky above is nearly flat
    assert error[grass].mean() < 0.5
    assert error[in_view & (reliability == 1)].mean() < 1.0
    assert error[in_view & (reliability < 0.5)].mean() > 4.0  # what it distrusts is wrong (the flat sky)


def test_raft_runs_from_a_local_torchvision_state_dict(tmp_path):
    """Where torchvision is installed: a raft_small state dict (random weights, never downloaded) loads and runs;
    a state dict of something else is refused by name."""
    optical_flow = pytest.importorskip("torchvision.models.optical_flow")
    weights = tmp_path / "raft_small.pth"
    torch.save(optical_flow.raft_small(weights=None).state_dict(), weights)
    field = extract_motion(torch.rand(3, 64, 96, 3), method="raft", raft_weights=weights, raft_iterations=2)
    assert field.flow.shape == (3, 2, 64, 96) and field.reliability.shape == (3, 64, 96)
    assert torch.equal(field.flow[0], torch.zeros(2, 64, 96)) and field.flow[1:].isfinite().all()
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="is neither torchvision's raft_large nor raft_small"):
        extract_motion(torch.rand(2, 64, 96, 3), method="raft", raft_weights=tmp_path / "other.pth")
