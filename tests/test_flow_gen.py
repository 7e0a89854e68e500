"""Stage 1 end to end on the tiny model set: image + text + tracks + brush -> motion field."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motion_i2v.pipelines.flow_gen import (
    FlowDenoiser,
    TrajectoryHint,
    encode_control,
    encode_reference,
    frame_strides,
    load_flow_model,
    predict_motion_field,
)
from motion_i2v.tracks.hint import sparse_hint
from motion_i2v.tracks.value import Tracks
from motion_i2v.weights.loader import load_model

HEIGHT, WIDTH, FRAMES = 64, 96, 4
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def tiny(tiny_models):
    files = tiny_models.files
    model = load_flow_model(files["flow_unet"], files["flow_vae"], files["controlnet"])
    image_vae = load_model("image_vae", files["image_vae"])
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, HEIGHT, WIDTH, generator=generator)
    latent = encode_reference(image_vae, image, torch.Generator().manual_seed(1))
    text, negative = torch.randn(2, 1, 7, 32, generator=generator)
    return model, latent, text, negative


def tracks(points=((20.0, 30.0), (60.0, 34.0))) -> Tracks:
    """One track moving linearly from the first point to the second over FRAMES frames."""
    start, end = torch.tensor(points[0]), torch.tensor(points[1])
    path = torch.stack([start + (end - start) * i / (FRAMES - 1) for i in range(FRAMES)])[:, None]
    return Tracks(path, torch.ones(FRAMES, 1, dtype=torch.bool), WIDTH, HEIGHT)


def hint(strength=1.0, brush=None) -> TrajectoryHint:
    flow, mask = sparse_hint(tracks(), flow_unit=8, brush=brush)
    return TrajectoryHint(flow, mask, strength)


def run(tiny, **options):
    model, latent, text, negative = tiny
    options = {"frames": FRAMES, "steps": 3, "seed": 0} | options
    return predict_motion_field(model, latent, text, negative, **options)


def test_reference_latent_is_the_scaled_posterior_sample(tiny):
    assert tiny[1].shape == (1, 4, HEIGHT // 8, WIDTH // 8)


def test_end_to_end_shape_range_and_seed(tiny):
    steps = []
    flow = run(tiny, hint=hint(), callback=lambda step, total: steps.append((step, total)))
    assert flow.shape == (FRAMES, 2, HEIGHT, WIDTH)  # frame 0 + 3 predicted frames
    assert flow.dtype == torch.float32 and torch.isfinite(flow).all()
    assert flow[0].abs().max() == 0
    assert flow[1:].abs().max() > 0
    assert flow[:, 0].abs().max() <= WIDTH and flow[:, 1].abs().max() <= HEIGHT  # the encoding's range
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert torch.equal(run(tiny, hint=hint()), flow)  # same seed, same field
    assert not torch.allclose(run(tiny, hint=hint(), seed=1), flow)


def test_the_trajectory_control_steers_and_strength_zero_is_no_control(tiny):
    without = run(tiny)
    assert not torch.allclose(run(tiny, hint=hint()), without)
    # noise is drawn before the control latent, so a zero-scaled ControlNet changes nothing
    torch.testing.assert_close(run(tiny, hint=hint(strength=0.0)), without)


def test_flow_is_zero_outside_the_brush(tiny):
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[:, : WIDTH // 2] = 1  # left half may move
    flow = run(tiny, brush=brush)
    assert flow[:, :, :, WIDTH // 2:].abs().max() == 0
    assert flow[1:, :, :, : WIDTH // 2].abs().max() > 0
    # the hint's brush applies when the call gives none
    torch.testing.assert_close(run(tiny, hint=dataclasses.replace(hint(brush=brush), brush=brush)),
                               run(tiny, hint=hint(brush=brush), brush=brush))


def test_other_samplers_and_frame_counts(tiny):
    assert run(tiny, sampler="euler", frames=3).shape == (3, 2, HEIGHT, WIDTH)


def test_control_input_layout(tiny):
    model = tiny[0]
    flow, mask = sparse_hint(tracks(), flow_unit=8)
    control = encode_control(model.flow_vae, TrajectoryHint(flow, mask), torch.Generator().manual_seed(0))
    assert control.shape == (1, 5, FRAMES - 1, HEIGHT // 8, WIDTH // 8)  # 4 latent + 1 mask, frames 1..F-1
    torch.testing.assert_close(control[0, 4], mask[1:, ::8, ::8])  # nearest = top-left pixel of each 8x8 cell
    assert frame_strides(16).tolist() == [list(range(8, 121, 8))]


def test_guidance_is_applied_to_the_text_only(tiny):
    model, latent, text, negative = tiny
    frames = FRAMES - 1
    image_latent = latent[:, :, None].expand(-1, -1, frames, -1, -1)
    x = torch.randn(1, 4, frames, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(5))
    common = {"unet": model.unet, "image_latent": image_latent, "stride": frame_strides(FRAMES)}
    with torch.no_grad():
        cond = FlowDenoiser(text=text, negative_text=None, guidance=1.0, **common)(x, 500)
        uncond = FlowDenoiser(text=negative, negative_text=None, guidance=1.0, **common)(x, 500)
        guided = FlowDenoiser(text=text, negative_text=negative, guidance=7.0, **common)(x, 500)
        shorter = FlowDenoiser(text=text, negative_text=negative[:, :5], guidance=7.0, **common)(x, 500)
    torch.testing.assert_close(guided, uncond + 7.0 * (cond - uncond), rtol=1e-4, atol=1e-4)
    assert shorter.shape == guided.shape  # prompts of different lengths run as two passes


@pytest.mark.parametrize("options, message", [
    ({"frames": 1}, "frames: expected 2..33"),
    ({"frames": 40}, "frames: expected 2..33"),
    ({"sampler": "heun"}, "sampler: expected one of"),
    ({"steps": 0}, "steps: expected 1..499, got 0"),
    ({"steps": 500}, "steps: expected 1..499, got 500"),  # leading spacing degenerates from T / 2 steps
    ({"brush": torch.ones(32, 32)}, r"brush: expected a mask \[H, W\] = \[64, 96\]"),
    ({"guidance": float("nan")}, r"cfg: expected a finite number in 0\.\.30\.0, got nan"),  # was noticed after sampling
    ({"guidance": float("inf")}, r"cfg: expected a finite number in 0\.\.30\.0, got inf"),
    ({"eta": float("nan")}, r"eta: expected a finite number in 0\.\.1, got nan"),
])
def test_bad_requests_fail_before_sampling(tiny, options, message):
    with pytest.raises(ValueError, match=message):
        run(tiny, **options)


def test_hint_errors(tiny):
    model, latent, text, negative = tiny
    with pytest.raises(ValueError, match="control: the hint has 4 frames, expected 3"):
        run(tiny, hint=hint(), frames=3)
    small = TrajectoryHint(torch.zeros(FRAMES, 2, 32, 48), torch.zeros(FRAMES, 32, 48))
    with pytest.raises(ValueError, match="control: the hint is 48x32 but the image is 96x64"):
        run(tiny, hint=small)
    without_controlnet = dataclasses.replace(model, controlnet=None)
    with pytest.raises(ValueError, match="needs the ControlNet"):
        predict_motion_field(without_controlnet, latent, text, negative, hint=hint(), frames=FRAMES, steps=1)
