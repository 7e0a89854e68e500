"""Stage 2 on tiny random models: the official loop's invariants, the brush, the two-stage run, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import parity_stage2
from conftest import reference_path
from motion_i2v.flow import MotionField
from motion_i2v.models.motion_augmented import MotionGuidance
from motion_i2v.pipelines.animate import (
    AnimationDenoiser,
    AnimationRequest,
    AnimationSettings,
    animate,
    decode_frames,
    encode_first_frame,
    latent_preview,
    latent_still_region,
    match_lengths,
)
from motion_i2v.pipelines.flow_gen import FlowModel, FlowRequest, encode_reference, predict_motion_field
from motion_i2v.sampling import SAMPLERS, DdimSchedule, SamplerSettings, ddim_schedule, sample_ddim
from motion_i2v.tracks.brush import Brush
from motion_i2v.weights.loader import build_model

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
    """``animate`` on the fixture's inputs, with any request field (or the reference) replaced by ``changes``."""
    _, reference, flow, positive, negative = inputs
    arguments = dict(field=MotionField(flow), positive=positive, negative=negative, settings=SETTINGS) | changes
    reference, callback = arguments.pop("reference", reference), arguments.pop("callback", None)
    request = AnimationRequest(unet.config, HEIGHT, WIDTH, **arguments)
    return animate(unet, reference, request, generator=torch.Generator().manual_seed(seed), callback=callback)


def brush(moving: slice = slice(0, WIDTH // 2)) -> Brush:
    mask = torch.zeros(HEIGHT, WIDTH)
    mask[:, moving] = 1  # by default the left half may move: latent columns 0..2, the others are held
    return Brush.from_mask(mask, HEIGHT, WIDTH)


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


def test_initial_noise_is_drawn_frames_first_as_comfyui_draws_a_latents(models, inputs):
    recorder = Recorder(models[0])
    run(recorder, inputs, seed=7)
    _, reference, *_ = inputs
    # comfy.sample.prepare_noise: torch.randn(latent.size(), generator=torch.manual_seed(seed)) on a [F, 4, h, w] latent
    expected = torch.randn((FRAMES, 4, *reference.shape[2:]), generator=torch.Generator().manual_seed(7))
    first_input = recorder.calls[0][0][0]  # [4, F, h, w]; frame 0 is the reference, the rest the initial noise
    assert torch.equal(first_input[:, 1:], expected[1:].transpose(0, 1))


def test_same_seed_same_frames(models, inputs):
    first, again, other = run(models[0], inputs), run(models[0], inputs), run(models[0], inputs, seed=6)
    assert torch.equal(first, again)
    assert (first[1:] - other[1:]).abs().max() > 1e-3


@pytest.mark.parametrize("cfg", [1.0, 0.5, 0.0])
def test_without_guidance_one_pass_per_step(models, inputs, cfg):
    recorder = Recorder(models[0])  # as officially, guidance runs only above 1
    run(recorder, inputs, settings=AnimationSettings(steps=2, cfg=cfg))
    assert [call[0].shape[0] for call in recorder.calls] == [1, 1]


def test_pairing_changes_the_render_under_cfg(models, inputs):
    official = run(models[0], inputs)
    per_sample = run(models[0], inputs, settings=AnimationSettings(steps=3, pairing="per_sample"))
    assert (official[1:] - per_sample[1:]).abs().max() > 1e-4


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_brush_holds_unpainted_cells_at_the_first_frame_under_every_sampler(models, inputs, sampler):
    unet, _ = models
    _, reference, *_ = inputs
    settings = AnimationSettings(steps=3, sampler=sampler)
    latents = run(unet, inputs, brush=brush(), settings=settings)
    # held inside the denoiser: the sampler's own prediction there is the first frame, to float rounding
    torch.testing.assert_close(latents[1:, :, :, 3:], reference[:, :, :, 3:].expand(FRAMES - 1, -1, -1, -1),
                               rtol=0, atol=1e-5)
    unbrushed = run(unet, inputs, settings=settings)
    assert (unbrushed[1:, :, :, 3:] - reference[:, :, :, 3:]).abs().max() > 1e-2
    assert (latents[1:, :, :, :3] - reference[:, :, :, :3]).abs().max() > 1e-2  # the painted cells move


def official_brush_loop(unet, inputs, still, steps, seed=5):
    """The official DDIM-only blend (pipeline_animation.py#L525-L535), as this pack ran it before: after every
    step but the last, the still region of x becomes the reference noised to the next timestep."""
    _, reference, flow, positive, negative = inputs
    noise = torch.randn((FRAMES, 4, HEIGHT // 8, WIDTH // 8), generator=torch.Generator().manual_seed(seed))
    noise = noise.transpose(0, 1)[None]  # drawn frames first, as animate draws it
    denoiser = AnimationDenoiser(unet, reference, positive, negative, MotionGuidance(flow, "official"), 7.0)
    schedule, x = ddim_schedule(steps), noise
    with torch.no_grad():
        for i in range(steps):
            one = DdimSchedule(*(values[i:i + 1] for values in (schedule.timesteps, schedule.alphas_cumprod,
                                                                schedule.alphas_cumprod_prev)))
            x = sample_ddim(denoiser, x, one)
            if i < steps - 1:
                alpha = schedule.alphas_cumprod[i + 1]
                x = torch.lerp(x, alpha**0.5 * denoiser.reference + (1 - alpha) ** 0.5 * noise, still)
    return torch.cat([denoiser.reference, x[:, :, 1:]], dim=2)[0].transpose(0, 1)


def test_ddim_with_the_brush_stays_close_to_the_official_blend(models, inputs):
    """The moving cells differ only through the first call, which sees sqrt(a_961) ~ 0.05 of the reference in the
    held cells where the official first call sees pure noise; that reaches the moving cells through the UNet's
    spatial layers, so it stays a small part of what the brush changes there (measured 0.9 % at 25 steps; 5 %
    allowed). The held cells end on the reference, where the official last step leaves its x_0 prediction."""
    unet, _ = models
    _, reference, *_ = inputs
    settings = AnimationSettings(steps=25)
    ours = run(unet, inputs, brush=brush(), settings=settings)
    official = official_brush_loop(unet, inputs, latent_still_region(brush(), HEIGHT // 8, WIDTH // 8), 25)
    unbrushed = run(unet, inputs, settings=settings)
    moving = slice(0, 3)
    brush_effect = (official[1:, :, :, moving] - unbrushed[1:, :, :, moving]).abs().max()
    assert (ours[1:, :, :, moving] - official[1:, :, :, moving]).abs().max() < 0.05 * brush_effect
    held = (official[1:, :, :, 3:] - reference[:, :, :, 3:]).abs().max()
    assert (ours[1:, :, :, 3:] - reference[:, :, :, 3:]).abs().max() < 1e-5 < held < 0.2


def test_brush_in_latent_cells():
    mask = torch.ones(16, 24)
    mask[0, 8] = 0  # the top-left pixel of latent cell (0, 1) decides it
    mask[9, 0] = 0  # not a top-left pixel: ignored
    still = latent_still_region(Brush.from_mask(mask, 16, 24), 2, 3)
    assert still.shape == (1, 1, 1, 2, 3)
    assert still[0, 0, 0].tolist() == [[0, 1, 0], [0, 0, 0]]
    only_inner = torch.zeros(16, 24)
    only_inner[::8, ::8] = 1  # every cell's top-left pixel painted: no cell is held
    assert latent_still_region(Brush.from_mask(only_inner, 16, 24), 2, 3) is None
    assert latent_still_region(None, 2, 3) is None


def test_two_stage_tiny_run(models, inputs):
    unet, vae = models
    image, reference, _, positive, negative = inputs
    flow_model = FlowModel(build_model("flow_unet", "tiny"), build_model("flow_vae", "tiny"))
    mask = torch.zeros(HEIGHT, WIDTH)
    mask[8:24, 8:40] = 1
    held = Brush.from_mask(mask, HEIGHT, WIDTH)

    def generate(seed):
        latent = encode_reference(vae, image, torch.Generator().manual_seed(seed))
        request = FlowRequest(flow_model.spec, HEIGHT, WIDTH, positive, negative, frames=FRAMES,
                              settings=SamplerSettings(steps=2), seed=seed, brush=held)
        field = predict_motion_field(flow_model, latent, request)
        return field, decode_frames(vae, run(unet, inputs, seed=seed, brush=held, field=MotionField(field)))

    field, video = generate(7)
    field_again, video_again = generate(7)
    assert field.shape == (FRAMES, 2, HEIGHT, WIDTH) and video.shape == (FRAMES, 3, HEIGHT, WIDTH)
    assert torch.equal(field, field_again) and torch.equal(video, video_again)
    assert torch.equal(video[0], decode_frames(vae, reference)[0])
    assert (field[:, :, mask == 0] == 0).all()


def test_bad_inputs_are_refused_when_the_request_is_made(models, inputs):
    unet, _ = models
    _, reference, flow, *_ = inputs
    cases = [
        (dict(field=MotionField(flow[:, :, :16])), "motion field: it is 48x16 but the first frame is 48x32"),
        (dict(field=MotionField(flow[:1])), "1 frames; the animation UNet renders 2 to 16"),
        (dict(field=MotionField(flow[:1].expand(17, -1, -1, -1))), "17 frames"),
        (dict(field=flow), "motion field: expected a MotionField, got Tensor"),
        (dict(positive=torch.zeros(1, 77, 1024)), r"positive: expected SD1.5 text states \[1, T, 32\]"),
        (dict(brush=Brush(torch.ones(8, 8, dtype=torch.bool))), "brush: the mask is 8x8 but the image is 48x32"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            run(unet, inputs, **change)
    recorder = Recorder(unet)
    with pytest.raises(ValueError, match=r"first frame latent: expected \[1, 4, 4, 6\] for the 48x32 image"):
        run(recorder, inputs, reference=reference[0])
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
