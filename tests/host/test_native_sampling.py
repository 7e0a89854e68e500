"""End to end: ComfyUI's own samplers on the Motion-I2V MODEL, against the Motion-Guided Sampler, on tiny weights.

KSampler here is ``nodes.common_ksampler`` (what the KSampler node runs: ComfyUI's noise from the seed, its
sigmas, its sampler loop, its progress bar and previews), in this process.
"""

from __future__ import annotations

import logging

import pytest
import torch

comfy_sd = pytest.importorskip("comfy.sd", reason="ComfyUI is not importable here (see tests/host/conftest.py)")
import comfy.cli_args  # noqa: E402
import comfy.model_management  # noqa: E402
import comfy.patcher_extension  # noqa: E402
import comfy.sample  # noqa: E402
import comfy.utils  # noqa: E402
import nodes  # noqa: E402  (ComfyUI's nodes.py: the host folder is first on sys.path)

pytestmark = pytest.mark.usefixtures("single_thread")
SEED, CFG = 11, 5.0
SAMPLERS = ("euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "uni_pc", "lcm", "ddim")
SCHEDULERS = ("normal", "karras", "simple", "sgm_uniform", "ddim_uniform")


class StubVAE:
    """The one VAE method the Motion-Guided Sampler calls, returning a fixed first-frame latent, so both paths
    start from exactly the same latent."""

    def __init__(self, latent: torch.Tensor):
        self.latent = latent

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.latent.clone()


@pytest.fixture(scope="module")
def scene(pack, kit):
    return kit.motion_field(pack), kit.first_frame(), kit.conditioning(5), kit.conditioning(6)


@pytest.fixture(scope="module")
def native(pack, base_model, motion_modules, scene):
    """(MODEL, LATENT) from Motion-I2V Animate (native), official pairing, no brush."""
    field, first, *_ = scene
    return pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]().apply(base_model, motion_modules, field, "official",
                                                                       first_frame=first)


def ksampler(model, latent, scene, sampler="ddim", scheduler="ddim_uniform", steps=4, cfg=CFG, seed=SEED):
    _, _, positive, negative = scene
    (out,) = nodes.common_ksampler(model, seed, steps, cfg, sampler, scheduler, positive, negative, latent)
    return out["samples"]


def motion_guided_sampler(pack, kit, weights, scene, steps=4, cfg=CFG, seed=SEED):
    field, first, positive, negative = scene
    unet = kit.unet3d(pack, *weights)
    animator = pack.nodes.animator.Animator(pack.nodes.comfy.wrap_model(unet), unet.config)
    image = torch.zeros(1, kit.HEIGHT, kit.WIDTH, 3)
    (out,) = pack.NODE_CLASS_MAPPINGS["MotionI2VMotionGuidedSampler"]().sample(
        animator, positive, negative, StubVAE(first["samples"]), image, field, seed, steps, cfg, "ddim", "official")
    return out["samples"]


def relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_ksampler_ddim_gives_the_motion_guided_samplers_video(pack, kit, weights, scene, native):
    """What differs between the paths: only where sampling starts. The Motion-Guided Sampler starts, as the official
    DDIM pipeline, from the noise n itself (unit variance at the first timestep, 751 at 4 steps); ComfyUI's KSampler
    starts a schedule whose first sigma is below the model's largest from sigma_0 * n (x = x0 + sigma * n), i.e.
    from sqrt(1 - alpha_bar) n in the official coordinates: a relative difference of
    delta = 1 - sigma_0 / sqrt(1 + sigma_0^2) (1.1% at 4 steps, 0.12% at 25 steps, t = 961). Everything else is the
    same: the seed's noise ([F, 4, h, w] from a CPU generator), the network (test_native_network), the timesteps
    (ddim_uniform = the official leading spacing when the steps divide 1000), the update (ComfyUI's ddim is Euler in
    sigma, which is DDIM with eta 0), CFG, and the last step (both end at sigma 0 with frame 0 the first frame).

    So: (1) started from the official point (ComfyUI's noise times sqrt(1 + sigma_0^2) / sigma_0) KSampler's ddim
    gives the Motion-Guided Sampler's video to float32 rounding over the steps (1e-5 of the largest value);
    (2) as the KSampler node runs it, the videos differ by less than delta relative: deterministic DDIM carries a
    change of the start through to the result without amplifying it here (the result moves 0.7 delta at 4 steps)."""
    model, latent = native
    steps = 4
    reference = motion_guided_sampler(pack, kit, weights, scene, steps=steps)
    sigma = float(model.get_model_object("model_sampling").sigmas[1000 - 1000 // steps + 1])  # t = 751
    noise = comfy.sample.prepare_noise(latent["samples"], SEED) * (1 + sigma**2) ** 0.5 / sigma
    _, _, positive, negative = scene
    official_start = comfy.sample.sample(model, noise, steps, CFG, "ddim", "ddim_uniform", positive, negative,
                                         latent["samples"], seed=SEED)
    assert relative(official_start, reference) < 1e-5
    as_the_node_runs = ksampler(model, latent, scene, steps=steps)
    delta = 1 - sigma / (1 + sigma**2) ** 0.5
    assert 1e-4 < relative(as_the_node_runs, reference) < delta
    torch.testing.assert_close(as_the_node_runs[0], scene[1]["samples"][0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_and_scheduler_renders(native, scene, sampler, scheduler):
    model, latent = native
    video = ksampler(model, latent, scene, sampler, scheduler, steps=2, cfg=2.0)
    assert video.shape == latent["samples"].shape and torch.isfinite(video).all()
    torch.testing.assert_close(video[0], scene[1]["samples"][0], rtol=0, atol=1e-4)  # frame 0: the first frame
    assert (video[1:] - video[0]).abs().max() > 1e-2  # the other frames were rendered


def test_brush_holds_the_unpainted_cells_with_any_sampler(pack, kit, base_model, motion_modules, scene):
    """Unpainted cells are re-noised from the first frame before every UNet call (the official RePaint blend,
    done by ComfyUI's KSamplerX0Inpaint for every sampler, with the run's initial noise) and the video keeps them."""
    field, first, *_ = scene
    brush = torch.zeros(1, kit.HEIGHT, kit.WIDTH)
    brush[:, :, : kit.WIDTH // 2] = 1  # the left half may move: latent cells 0-2 of 6
    model, latent = pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]().apply(
        base_model, motion_modules, field, "official", first_frame=first, brush=brush)
    held = latent["samples"][:, :, :, 3:]
    assert torch.equal(held, first["samples"][:, :, :, 3:].expand_as(held))
    inputs = []

    def record(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        inputs.append((x.clone(), transformer_options["sigmas"].clone()))
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)

    recorded = model.clone()
    recorded.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test", record)
    frames = latent["samples"].shape[0]
    noise = comfy.sample.prepare_noise(latent["samples"], SEED)
    for sampler, scheduler in (("euler_ancestral", "karras"), ("dpmpp_2m_sde", "normal")):
        inputs.clear()
        video = ksampler(recorded, latent, scene, sampler, scheduler, steps=3)
        assert torch.equal(video[:, :, :, 3:], first["samples"][:, :, :, 3:].expand_as(held))
        assert (video[1:, :, :, :3] - first["samples"][:, :, :, :3]).abs().max() > 0.1
        assert len(inputs) == 3
        for x, sigmas in inputs:
            sigma = float(sigmas[0])
            noised = (first["samples"] * 0.18215 + sigma * noise[1:]) / (1 + sigma**2) ** 0.5  # what the UNet sees
            for part in range(x.shape[0] // frames):
                torch.testing.assert_close(x[part * frames + 1:(part + 1) * frames, :, :, 3:], noised[:, :, :, 3:])


def test_cond_and_uncond_in_separate_calls(pack, native, base_model, motion_modules, scene, monkeypatch, caplog):
    """With too little free memory, ComfyUI runs the positive and negative prompts in separate UNet calls. The
    official pairing needs them in one batch; alone, each warps its own first frame, so the video is the
    per_sample pairing's, and a warning says so (once per run)."""
    model, latent = native
    calls = []

    def record(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        calls.append(list(transformer_options["cond_or_uncond"]))
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)

    split = model.clone()
    split.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test", record)
    field, first, *_ = scene
    per_sample, _ = pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]().apply(
        base_model, motion_modules, field, "per_sample", first_frame=first)
    together = ksampler(per_sample, latent, scene, steps=2)
    frames, memory_required = latent["samples"].shape[0], split.model.memory_required
    # calc_cond_batch batches the prompts only while BaseModel.memory_required says the batch fits
    monkeypatch.setattr(split.model, "memory_required", lambda shape, **kwargs: float("inf") if shape[0] > frames
                        else memory_required(shape, **kwargs))
    with caplog.at_level(logging.WARNING):
        alone = ksampler(split, latent, scene, steps=2)
    assert sorted(map(tuple, calls)) == [(0,), (0,), (1,), (1,)]
    assert relative(alone, together) < 1e-5
    assert sum("per_sample" in record.message for record in caplog.records) == 1


def test_comfyui_loads_the_motion_modules_with_the_unet(native, scene, motion_modules):
    model, latent = native
    comfy.model_management.unload_all_models()
    ksampler(model, latent, scene, "euler", "normal", steps=1)
    loaded = [entry.model for entry in comfy.model_management.current_loaded_models]
    assert motion_modules.patcher in loaded and any(patcher.is_clone(model) for patcher in loaded)


def test_progress_previews_and_cancel(native, scene, monkeypatch):
    """As for core models: one progress update per step with a preview, and Cancel stops at the next step."""
    model, latent = native
    updates, unet_calls = [], []

    def hook(value, total, preview, prompt_id=None, node_id=None):
        updates.append((value, total, preview))
        comfy.model_management.throw_exception_if_processing_interrupted()  # as main.py's hook does
        if len(updates) == 2:
            comfy.model_management.interrupt_current_processing(True)  # the user presses Cancel during step 2

    def count(executor, *args, **kwargs):
        out = executor(*args, **kwargs)
        unet_calls.append(1)
        return out

    counted = model.clone()
    counted.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test", count)
    monkeypatch.setattr(comfy.cli_args.args, "preview_method", comfy.cli_args.LatentPreviewMethod.Latent2RGB)
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", hook)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            ksampler(counted, latent, scene, "euler", "normal", steps=6)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert [value for value, _, _ in updates] == [1, 2] and {total for _, total, _ in updates} == {6}
    assert all(preview is not None and preview[0] == "JPEG" for _, _, preview in updates)
    assert len(unet_calls) == 2  # steps 1 and 2 ran; step 3 stopped at its first ComfyUI layer
