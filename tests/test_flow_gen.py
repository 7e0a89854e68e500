"""Stage 1 end to end on the tiny model set: image + text + tracks + brush -> motion field; the request's checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motion_i2v.pipelines.flow_gen import (
    FlowDenoiser,
    FlowRequest,
    TrajectoryControl,
    TrajectoryHint,
    encode_control,
    encode_reference,
    frame_strides,
    load_flow_model,
    predict_motion_field,
)
from motion_i2v.sampling import SAMPLERS, SamplerSettings
from motion_i2v.tracks.brush import Brush
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


def tracks(points=((20.0, 30.0), (60.0, 34.0)), frames=FRAMES, width=WIDTH, height=HEIGHT) -> Tracks:
    """One track moving linearly from the first point to the second over ``frames`` frames."""
    start, end = torch.tensor(points[0]), torch.tensor(points[1])
    path = torch.stack([start + (end - start) * i / (frames - 1) for i in range(frames)])[:, None]
    return Tracks(path, torch.ones(frames, 1, dtype=torch.bool), width, height)


def control(strength=1.0, brush=None, **changes) -> TrajectoryControl:
    return TrajectoryControl(tracks(**changes), flow_unit=8, strength=strength, brush=brush)


def left_half_brush() -> Brush:
    mask = torch.zeros(HEIGHT, WIDTH)
    mask[:, : WIDTH // 2] = 1  # left half may move
    return Brush.from_mask(mask, HEIGHT, WIDTH)


def request(tiny, model=None, **options) -> FlowRequest:
    model = model or tiny[0]
    settings = SamplerSettings(**{"steps": 3} | {key: options.pop(key) for key in ("steps", "cfg", "sampler", "eta")
                                                 if key in options})
    options = {"frames": FRAMES, "seed": 0} | options
    return FlowRequest(model.spec, HEIGHT, WIDTH, tiny[2], tiny[3], settings=settings, **options)


def run(tiny, callback=None, **options):
    return predict_motion_field(tiny[0], tiny[1], request(tiny, **options), callback=callback)


def test_reference_latent_is_the_scaled_posterior_sample(tiny):
    assert tiny[1].shape == (1, 4, HEIGHT // 8, WIDTH // 8)


def test_end_to_end_shape_range_and_seed(tiny):
    steps = []
    flow = run(tiny, control=control(), callback=lambda step, total: steps.append((step, total)))
    assert flow.shape == (FRAMES, 2, HEIGHT, WIDTH)  # frame 0 + 3 predicted frames
    assert flow.dtype == torch.float32 and torch.isfinite(flow).all()
    assert flow[0].abs().max() == 0
    assert flow[1:].abs().max() > 0
    assert flow[:, 0].abs().max() <= WIDTH and flow[:, 1].abs().max() <= HEIGHT  # the encoding's range
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert torch.equal(run(tiny, control=control()), flow)  # same seed, same field
    assert not torch.allclose(run(tiny, control=control(), seed=1), flow)


def test_the_trajectory_control_steers_and_strength_zero_is_no_control(tiny):
    without = run(tiny)
    assert not torch.allclose(run(tiny, control=control()), without)
    # noise is drawn before the control latent, so a zero-scaled ControlNet changes nothing
    torch.testing.assert_close(run(tiny, control=control(strength=0.0)), without)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_flow_is_zero_outside_the_brush_under_every_sampler(tiny, sampler):
    # the official stage-1 brush: an explicit "no motion" hint and the decoded field zeroed where it is still
    flow = run(tiny, brush=left_half_brush(), sampler=sampler, steps=2)
    assert flow[:, :, :, WIDTH // 2:].abs().max() == 0
    assert flow[1:, :, :, : WIDTH // 2].abs().max() > 0


def test_the_controls_brush_applies_when_the_request_gives_none(tiny):
    brush = left_half_brush()
    torch.testing.assert_close(run(tiny, control=control(brush=brush)),
                               run(tiny, control=control(brush=brush), brush=brush))
    assert run(tiny, control=control(brush=brush))[:, :, :, WIDTH // 2:].abs().max() == 0


def test_other_samplers_and_frame_counts(tiny):
    assert run(tiny, sampler="euler", frames=3).shape == (3, 2, HEIGHT, WIDTH)


def test_control_input_layout(tiny):
    model = tiny[0]
    flow, mask = sparse_hint(tracks(), flow_unit=8)
    encoded = encode_control(model.flow_vae, TrajectoryHint(flow, mask), torch.Generator().manual_seed(0))
    assert encoded.shape == (1, 5, FRAMES - 1, HEIGHT // 8, WIDTH // 8)  # 4 latent + 1 mask, frames 1..F-1
    torch.testing.assert_close(encoded[0, 4], mask[1:, ::8, ::8])  # nearest = top-left pixel of each 8x8 cell
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


def test_the_stride_sets_the_offsets_the_stride_embedding_sees(tiny):
    model = tiny[0]
    seen = {}  # module -> the time_proj features its stride embedding got, per call
    hooks = [module.stride_embedding.register_forward_pre_hook(
        lambda _, inputs, name=name: seen.setdefault(name, []).append(inputs[0])) for name, module in
        (("unet", model.unet), ("controlnet", model.controlnet))]
    try:
        flows = {stride: run(tiny, control=control(), stride=stride, steps=1) for stride in (8, 3)}
        calls = {name: len(features) for name, features in seen.items()}
    finally:
        for handle in hooks:
            handle.remove()
    assert calls == {"unet": 2, "controlnet": 2}  # one step at each stride, the CFG halves in one batch
    for index, stride in enumerate((8, 3)):
        offsets = torch.tensor([stride, 2 * stride, 3 * stride] * 2)  # frames 1..3, both CFG halves
        expected = model.unet.time_proj(offsets)
        for name in ("unet", "controlnet"):
            torch.testing.assert_close(seen[name][index], expected)
    assert frame_strides(FRAMES, 3).tolist() == [[3, 6, 9]]
    assert not torch.allclose(flows[8], flows[3])  # the embedding reaches the field


@pytest.mark.parametrize("options, message", [
    ({"frames": 1}, r"frames: expected an integer in 2\.\.33, got 1"),
    ({"stride": 0}, r"stride: expected an integer in 1\.\.16, got 0"),
    ({"stride": 17}, r"stride: expected an integer in 1\.\.16, got 17"),
    ({"stride": 2.5}, r"stride: expected an integer in 1\.\.16, got 2\.5"),
    ({"frames": 40}, r"frames: expected an integer in 2\.\.33"),
    ({"sampler": "heun"}, "sampler: expected one of"),
    ({"steps": 0}, r"steps: expected an integer in 1\.\.499, got 0"),
    ({"steps": 500}, r"steps: expected an integer in 1\.\.499, got 500"),  # leading spacing degenerates from T / 2
    ({"brush": Brush(torch.ones(32, 32, dtype=torch.bool))}, "brush: the mask is 32x32 but the image is 96x64"),
    ({"cfg": float("nan")}, r"cfg: expected a finite number in 0\.\.30\.0, got nan"),  # was noticed after sampling
    ({"cfg": float("inf")}, r"cfg: expected a finite number in 0\.\.30\.0, got inf"),
    ({"eta": float("nan")}, r"eta: expected a finite number in 0\.\.1, got nan"),
    ({"seed": -1}, r"seed: expected an integer in 0\.\.18446744073709551615, got -1"),
    ({"control": control(frames=FRAMES + 2)},
     "frames: the field is to have 4 frames but the control's tracks have 6 .*set both to the same number"),
    ({"control": control(points=((10.0, 15.0), (30.0, 17.0)), width=WIDTH // 2, height=HEIGHT // 2)},
     "control: the tracks are on a 48x32 canvas but the image is 96x64"),
])
def test_bad_requests_are_refused_when_made(tiny, options, message):
    with pytest.raises(ValueError, match=message):
        request(tiny, **options)


def test_text_and_model_errors(tiny):
    model, latent, text, negative = tiny
    with pytest.raises(ValueError, match=r"positive: expected SD1.5 text states \[1, T, 32\], got \[1, 7, 768\]"):
        FlowRequest(model.spec, HEIGHT, WIDTH, torch.zeros(1, 7, 768))
    without_controlnet = dataclasses.replace(model, controlnet=None)
    with pytest.raises(ValueError, match="loaded without its ControlNet"):
        request(tiny, model=without_controlnet, control=control())
    made_for_another = request(tiny, model=without_controlnet)
    with pytest.raises(ValueError, match="request: made for another flow model"):
        predict_motion_field(model, latent, made_for_another)
    with pytest.raises(ValueError, match=r"image_latent: expected \[1, 4, 8, 12\] for the 96x64 image"):
        predict_motion_field(model, latent[..., :4], request(tiny))
