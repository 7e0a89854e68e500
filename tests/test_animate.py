"""Stage 2 on tiny random models: the official loop's invariants, the brush, the two-stage run, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import parity_stage2
from conftest import reference_path
from motion_i2v.weights.loader import build_model
from motion_i2v.models.motion_augmented import MotionGuidance
from motion_i2v.pipelines.animate import (
    AnimationSettings,
    animate,
    decode_frames,
    encode_first_frame,
    latent_preview,
    latent_static_region,
    match_lengths,
)
from motion_i2v.pipelines.flow_gen import FlowModel, encode_reference, predict_motion_field

HEIGHT, WIDTH, FRAMES = 32, 48, 4
SETTINGS = AnimationSettings(steps=3)
pytestmark = pytest.mark.usefixtures("single_thread")


class Recorder(torch.nn.Module):
    """Wraps the UNet and records what every call received."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.config, self.calls = unet, unet.config, []

    def forward(self, sample, timestep, text, *, temporal_context=None):
        self.calls.append((sample.clone(), timestep.clone(), text, temporal_context))
        return self.unet(sample, timestep, text, temporal_context=temporal_context)


@pytest.fixture(scope="module")
def models():
    generator = torch.Generator().manual_seed(0)
    unet = build_model("animation_unet", "tiny")
    vae = build_model("image_vae", "tiny")
    for model in (unet, vae):
        for tensor in model.state_dict().values():
            tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.02)
    return unet, vae


@pytest.fixture(scope="module")
def inputs(models):
    _, vae = models
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, HEIGHT, WIDTH, generator=generator)
    reference = encode_first_frame(vae, image, torch.Generator().manual_seed(2))
    flow = torch.zeros(FRAMES, 2, HEIGHT, WIDTH)
    flow[1:, 0] = torch.arange(1, FRAMES)[:, None, None] * 3.0  # drifting right
    positive, negative = torch.randn(2, 1, 7, 32, generator=generator)
    return image, reference, flow, positive, negative


def run(unet, inputs, seed=5, **changes):
    """``animate`` on the fixture's inputs, with any argument replaced by ``changes``."""
    _, reference, flow, positive, negative = inputs
    arguments = dict(reference=reference, flow=flow, positive=positive, negative=negative, settings=SETTINGS,
                     generator=torch.Generator().manual_seed(seed)) | changes
    return animate(unet, arguments.pop("reference"), arguments.pop("flow"), arguments.pop("positive"),
                   arguments.pop("negative"), **arguments)


def test_every_call_sees_the_clean_first_frame_at_t1_and_the_field(models, inputs):
    recorder = Recorder(models[0])
    latents = run(recorder, inputs)
    _, reference, flow, positive, negative = inputs
    assert latents.shape == (FRAMES, 4, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(latents[0], reference[0])
    assert len(recorder.calls) == SETTINGS.steps
    for sample, timestep, text, context in recorder.calls:
        assert sample.shape[0] == 2  # CFG batch [negative, positive]
        assert torch.equal(sample[:, :, 0], reference.expand(2, -1, -1, -1))
        assert torch.equal(sample[0], sample[1])
        assert (timestep[:, 0] == 1).all() and (timestep[:, 1:] == timestep[0, 1]).all()
        assert torch.equal(text, torch.cat([negative, positive]))
        assert isinstance(context, MotionGuidance) and torch.equal(context.flow[0], flow)
    assert [int(call[1][0, 1]) for call in recorder.calls] == [667, 334, 1]  # DDIM, 3 steps


def test_same_seed_same_frames(models, inputs):
    first, again, other = run(models[0], inputs), run(models[0], inputs), run(models[0], inputs, seed=6)
    assert torch.equal(first, again)
    assert (first[1:] - other[1:]).abs().max() > 1e-3


def test_without_guidance_one_pass_per_step(models, inputs):
    recorder = Recorder(models[0])
    run(recorder, inputs, settings=AnimationSettings(steps=2, cfg=1.0))
    assert [call[0].shape[0] for call in recorder.calls] == [1, 1]


def test_pairing_changes_the_render_under_cfg(models, inputs):
    official = run(models[0], inputs)
    per_sample = run(models[0], inputs, settings=AnimationSettings(steps=3, pairing="per_sample"))
    assert (official[1:] - per_sample[1:]).abs().max() > 1e-4


def test_brush_holds_the_unpainted_region_at_the_first_frame(models, inputs):
    unet, _ = models
    _, reference, *_ = inputs
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[:, : WIDTH // 2] = 1  # left half may move
    latents = run(unet, inputs, brush=brush)
    still = (latents[1:, :, :, 3:] - reference[:, :, :, 3:]).abs().max()
    moving = (latents[1:, :, :, :3] - reference[:, :, :, :3]).abs().max()
    # the last DDIM step (t = 1) leaves sqrt((1 - a_1) / a_1) ~ 0.04 of noise in the still region
    assert still < 0.05 * moving
    unbrushed = run(unet, inputs)
    assert (unbrushed[1:, :, :, 3:] - reference[:, :, :, 3:]).abs().max() > 10 * still


def test_brush_in_latent_cells():
    brush = torch.zeros(16, 24)
    brush[0, 8] = 1  # the top-left pixel of latent cell (0, 1) decides it
    brush[9, 0] = 1  # not a top-left pixel: ignored
    static = latent_static_region(brush, 2, 3)
    assert static.shape == (1, 1, 1, 2, 3)
    assert static[0, 0, 0].tolist() == [[1, 0, 1], [1, 1, 1]]
    assert latent_static_region(torch.zeros(16, 24), 2, 3) is None  # nothing painted: no brush (official)
    assert latent_static_region(torch.ones(16, 24), 2, 3) is None  # all may move
    assert latent_static_region(None, 2, 3) is None


def test_two_stage_tiny_run(models, inputs):
    unet, vae = models
    image, reference, _, positive, negative = inputs
    flow_model = FlowModel(build_model("flow_unet", "tiny"), build_model("flow_vae", "tiny"))
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[8:24, 8:40] = 1

    def generate(seed):
        latent = encode_reference(vae, image, torch.Generator().manual_seed(seed))
        field = predict_motion_field(flow_model, latent, positive, negative, brush=brush, frames=FRAMES, steps=2,
                                     seed=seed)
        return field, decode_frames(vae, run(unet, inputs, seed=seed, brush=brush, flow=field))

    field, video = generate(7)
    field_again, video_again = generate(7)
    assert field.shape == (FRAMES, 2, HEIGHT, WIDTH) and video.shape == (FRAMES, 3, HEIGHT, WIDTH)
    assert torch.equal(field, field_again) and torch.equal(video, video_again)
    assert torch.equal(video[0], decode_frames(vae, reference)[0])
    assert (field[:, :, brush == 0] == 0).all()


def test_bad_inputs_fail_before_the_unet_runs(models, inputs):
    recorder = Recorder(models[0])
    _, reference, flow, *_ = inputs
    cases = [
        (dict(flow=flow[:, :, :16]), "motion field: it is 48x16 but the first frame is 48x32"),
        (dict(flow=flow[:1]), "1 frames; the animation UNet renders 2 to 16"),
        (dict(flow=flow[:1].expand(17, -1, -1, -1)), "17 frames"),
        (dict(positive=torch.zeros(1, 77, 1024)), r"positive: expected text states \[1, T, 32\]"),
        (dict(brush=torch.ones(8, 8)), r"brush: expected a mask \[H, W\] = \[32, 48\]"),
        (dict(brush=torch.ones(HEIGHT, WIDTH) * (torch.arange(WIDTH) < 9), settings=AnimationSettings(sampler="euler")),
         "use the ddim sampler with a brush"),
        (dict(reference=reference[0]), r"first frame latent: expected \[1, 4, h, w\]"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            run(recorder, inputs, **change)
    assert not recorder.calls
    with pytest.raises(ValueError, match="sampler: expected one of"):
        AnimationSettings(sampler="plms")
    with pytest.raises(ValueError, match="pairing: expected one of"):
        AnimationSettings(pairing="swapped")
    for cfg in (float("nan"), float("inf"), -1.0, 31.0):  # NaN used to render black frames 1..F-1 without an error
        with pytest.raises(ValueError, match=r"cfg: expected a finite number in 0\.\.30\.0"):
            AnimationSettings(cfg=cfg)
    with pytest.raises(ValueError, match=r"eta: expected a finite number in 0\.\.1, got nan"):
        AnimationSettings(eta=float("nan"))
    with pytest.raises(ValueError, match="multiples of 8"):
        encode_first_frame(models[1], torch.rand(1, 3, 30, 48))


def test_other_samplers_run_without_a_brush(models, inputs):
    latents = run(models[0], inputs, settings=AnimationSettings(steps=2, sampler="euler"))
    assert latents.shape == (FRAMES, 4, HEIGHT // 8, WIDTH // 8) and torch.isfinite(latents).all()
    assert torch.equal(latents[0], inputs[1][0])


def test_progress_reports_the_denoised_frames(models, inputs):
    seen = []
    run(models[0], inputs, callback=lambda step, total, denoised: seen.append((step, total, denoised.shape)))
    assert seen == [(i, 3, (FRAMES, 4, HEIGHT // 8, WIDTH // 8)) for i in (1, 2, 3)]


def test_prompts_of_different_lengths_share_the_batch():
    short, long = torch.randn(1, 77, 8), torch.randn(1, 154, 8)
    first, second = match_lengths(short, long)
    assert first.shape == second.shape == (1, 154, 8)
    assert torch.equal(first[:, 77:], short) and torch.equal(second, long)


def test_preview_map_recovers_a_linear_decoder():
    generator = torch.Generator().manual_seed(3)
    latent = torch.randn(1, 4, 5, 6, generator=generator)
    mixing = torch.rand(3, 4, generator=generator) * 0.1
    image = torch.einsum("rc,bchw->brhw", mixing, latent) + 0.5
    image = image.repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)
    preview = latent_preview(latent, image)
    torch.testing.assert_close(preview(latent[0]), image[0, :, ::8, ::8].clamp(0, 1), atol=1e-5, rtol=1e-5)


def test_fx4_needs_the_official_pairing():
    json_path = reference_path("parity", "fx4_stage2_unet3d.json")
    spec = json.loads(json_path.read_text())
    tensors = load_file(str(json_path.with_suffix(".safetensors")))
    with torch.no_grad():
        corrected = parity_stage2.run_fx4_stage2_unet3d(spec, tensors, Path(json_path.parent), pairing="per_sample")
    assert (corrected["sample_cfg"] - tensors["outputs.sample_cfg"]).abs().max() > 1e-2
