"""The segment modules with both stages on the tiny models: 46 frames from one long set of tracks.

This is the chain the long-video nodes and CLI will run: per segment, its tracks -> stage 1 -> stage 2 from the
previous segment's frame at the seam -> decoded frames; then the join.
"""

from __future__ import annotations

import pytest
import torch

from motion_i2v.flow import MotionField
from motion_i2v.pipelines.animate import (
    AnimationRequest,
    AnimationSettings,
    animate,
    decode_frames,
    encode_first_frame,
)
from motion_i2v.pipelines.flow_gen import (
    FlowModel,
    FlowRequest,
    TrajectoryControl,
    encode_reference,
    predict_motion_field,
)
from motion_i2v.sampling import SamplerSettings
from motion_i2v.segments.blend import join
from motion_i2v.segments.plan import SegmentPlan, plan_segments
from motion_i2v.segments.tracks import segment_tracks
from motion_i2v.tracks.value import Tracks
from motion_i2v.weights.loader import build_model

HEIGHT, WIDTH, FRAMES = 32, 48, 46
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def models():
    generator = torch.Generator().manual_seed(0)
    built = {kind: build_model(kind, "tiny") for kind in ("flow_unet", "flow_vae", "controlnet", "animation_unet",
                                                          "image_vae")}
    for model in built.values():
        for tensor in model.state_dict().values():
            tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.02)
    return built


def long_tracks() -> Tracks:
    """One track crossing the image over 46 frames, one anchor."""
    time = torch.linspace(0, 1, FRAMES)[:, None]
    moving = torch.tensor([6.0, 8.0]) + time * torch.tensor([36.0, 16.0])
    still = torch.tensor([40.0, 6.0]).expand(FRAMES, 2)
    return Tracks(torch.stack([moving, still], dim=1), torch.ones(FRAMES, 2, dtype=torch.bool), WIDTH, HEIGHT)


def render_long(models, plan: SegmentPlan, tracks: Tracks, image: torch.Tensor) -> list[torch.Tensor]:
    """Each segment's decoded frames [L_k, 3, H, W], each started from the previous one's frame at its seam."""
    flow_model = FlowModel(models["flow_unet"], models["flow_vae"], models["controlnet"])
    text, negative = torch.randn(2, 1, 7, 32, generator=torch.Generator().manual_seed(1))
    parts = []
    for segment in plan:
        if segment.index:
            previous = plan[segment.index - 1]
            image = parts[-1][segment.start - previous.start][None]
        control = TrajectoryControl(segment_tracks(tracks, segment), flow_unit=4)
        latent = encode_reference(models["image_vae"], image, torch.Generator().manual_seed(segment.index))
        request = FlowRequest(flow_model.spec, HEIGHT, WIDTH, text, negative, frames=segment.frames,
                              settings=SamplerSettings(steps=1), seed=segment.index, control=control)
        field = MotionField(predict_motion_field(flow_model, latent, request))
        reference = encode_first_frame(models["image_vae"], image, torch.Generator().manual_seed(segment.index))
        unet = models["animation_unet"]
        latents = animate(unet, reference, AnimationRequest(unet.config, HEIGHT, WIDTH, field, text, negative,
                                                            AnimationSettings(steps=1)),
                          generator=torch.Generator().manual_seed(segment.index))
        parts.append(decode_frames(models["image_vae"], latents))
    return parts


@pytest.mark.parametrize("overlap", [0, 2])
def test_46_frames_from_one_long_set_of_tracks(models, overlap):
    plan = plan_segments(FRAMES, models["animation_unet"].config, overlap=overlap)
    assert len(plan) == (3 if overlap == 0 else 4)  # step 15, or 13 with 2 frames blended
    image = torch.rand(1, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(2))
    parts = render_long(models, plan, long_tracks(), image)
    assert [part.shape[0] for part in parts] == [segment.frames for segment in plan]
    video = join(plan, parts)
    assert video.shape == (FRAMES, 3, HEIGHT, WIDTH)  # 46 frames, each seam once
    assert torch.isfinite(video).all() and 0 <= video.min() and video.max() <= 1
    for previous, segment in zip(plan, plan.segments[1:]):
        seam = segment.start
        # the seam is the frame the next segment started from, taken from the segment that rendered it
        assert torch.equal(video[seam], parts[previous.index][seam - previous.start])
        # and the next segment's frame 0 is that frame through the VAE (its clean reference latent)
        reference = encode_first_frame(models["image_vae"], video[seam][None],
                                       torch.Generator().manual_seed(segment.index))
        assert torch.equal(parts[segment.index][0], decode_frames(models["image_vae"], reference)[0])
        first_own = segment.start + overlap + 1
        assert torch.equal(video[first_own], parts[segment.index][first_own - segment.start])
