"""Network level: the Motion-I2V MODEL's UNet call in ComfyUI equals our UNet3D on the same weights.

The MODEL comes from Motion-I2V Animate (native) on a tiny SD1.5 MODEL that ComfyUI detects, with the
motion modules loaded by Motion-I2V Load Motion Modules; ComfyUI's ``BaseModel.apply_model`` runs it as
``calc_cond_batch`` does (the same transformer_options: the model's patches, its wrappers, and
``cond_or_uncond`` saying which part of the batch is which prompt). The expected values come from
``UNet3D`` (the reference path's network, checked against the official code by the parity fixtures) on
the official CFG batch [negative, positive]: frame 0 the clean first-frame latent at t = 1, the other
frames ``calculate_input`` of the noisy latent at the step's timestep, fx4's pairing.
"""

from __future__ import annotations

import pytest
import torch

comfy_sd = pytest.importorskip("comfy.sd", reason="ComfyUI is not importable here (see tests/host/conftest.py)")
import comfy.model_management  # noqa: E402
import comfy.patcher_extension  # noqa: E402

TIMESTEP = 500
RELATIVE_TOLERANCE = 1e-4
NEGATIVE, POSITIVE = 1, 0  # ComfyUI's cond_or_uncond values


@pytest.fixture(scope="module")
def setup(pack, kit, weights, base_model, motion_modules):
    torch.manual_seed(0)
    field = kit.motion_field(pack)
    first = kit.first_frame()
    apply = pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]()
    models = {pairing: apply.apply(base_model, motion_modules, field, pairing, first_frame=first)[0]
              for pairing in ("official", "per_sample")}
    texts = {POSITIVE: kit.conditioning(5)[0][0], NEGATIVE: kit.conditioning(6)[0][0]}
    x = torch.randn(kit.LATENT, generator=torch.Generator().manual_seed(7)) * 8
    return models, field, first["samples"], texts, x, kit.unet3d(pack, *weights)


def comfy_eps(model, x, texts, parts, sigma):
    """The MODEL's epsilon for the batch of ``parts`` (prompts in ComfyUI's cond_or_uncond order), [parts, F, ...]."""
    comfy.model_management.load_models_gpu([model])
    options = comfy.patcher_extension.copy_nested_dicts(model.model_options["transformer_options"])
    options["wrappers"] = comfy.patcher_extension.copy_nested_dicts(model.wrappers)
    options["cond_or_uncond"] = list(parts)
    frames = x.shape[0]
    batch = torch.cat([x] * len(parts))
    context = torch.cat([texts[part].expand(frames, -1, -1) for part in parts])
    sigmas = torch.full((len(batch),), float(sigma))
    with torch.no_grad():
        denoised = model.model.apply_model(batch, sigmas, c_crossattn=context, transformer_options=options)
    eps = (batch - denoised) / sigma  # epsilon-prediction: denoised = x - sigma * eps
    return eps.reshape(len(parts), frames, *x.shape[1:])


def unet3d_eps(pack, unet, x, reference, texts, prompts, sigma, flow, pairing):
    """UNet3D's epsilon for the official batch of ``prompts`` (negative first), [prompts, F, ...]."""
    motion_guidance = pack.motion_i2v.models.motion_augmented.MotionGuidance
    sample = x / (sigma**2 + 1) ** 0.5  # ComfyUI's calculate_input: the VP latent the UNet sees
    sample = torch.cat([reference * 0.18215, sample[1:]])  # frame 0: the clean first-frame latent
    sample = sample.transpose(0, 1)[None].expand(len(prompts), -1, -1, -1, -1)  # [B, 4, F, h, w]
    timesteps = torch.full((len(prompts), x.shape[0]), float(TIMESTEP))
    timesteps[:, 0] = 1  # the official per-frame timestep of the clean frame
    text = torch.cat([texts[prompt] for prompt in prompts])
    with torch.no_grad():
        eps = unet(sample, timesteps, text, temporal_context=motion_guidance(flow, pairing))
    return eps.transpose(1, 2)  # [B, F, 4, h, w]


def relative_error(ours, expected):
    return float((ours - expected).abs().max() / expected.abs().max())


def sigma_at(model, timestep):
    return float(model.get_model_object("model_sampling").sigmas[timestep])


@pytest.mark.parametrize("pairing", ["official", "per_sample"])
@pytest.mark.parametrize("parts", [(NEGATIVE, POSITIVE), (POSITIVE, NEGATIVE)], ids=["neg_pos", "pos_neg"])
def test_cfg_batch_equals_unet3d_in_either_order(pack, setup, pairing, parts):
    models, field, reference, texts, x, unet = setup
    sigma = sigma_at(models[pairing], TIMESTEP)
    ours = comfy_eps(models[pairing], x, texts, parts, sigma)
    expected = unet3d_eps(pack, unet, x, reference, texts, (NEGATIVE, POSITIVE), sigma, field.flow, pairing)
    official_index = {NEGATIVE: 0, POSITIVE: 1}
    for position, part in enumerate(parts):
        error = relative_error(ours[position], expected[official_index[part]])
        assert error < RELATIVE_TOLERANCE, f"prompt {part}: relative error {error:.2e}"


def test_the_pairing_matters_in_this_setup(pack, setup):
    """Otherwise the tests above could not tell the pairings apart."""
    models, field, reference, texts, x, unet = setup
    sigma = sigma_at(models["official"], TIMESTEP)
    official = comfy_eps(models["official"], x, texts, (NEGATIVE, POSITIVE), sigma)
    per_sample = comfy_eps(models["per_sample"], x, texts, (NEGATIVE, POSITIVE), sigma)
    assert relative_error(official[:, 1:], per_sample[:, 1:]) > 1e-3


@pytest.mark.parametrize("part", [POSITIVE, NEGATIVE])
def test_a_prompt_run_alone_warps_its_own_first_frame(pack, setup, part, caplog):
    """When ComfyUI runs the positive and negative prompts in separate calls (memory short, or PAG's extra pass),
    the official pairing has no other half to take a first frame from: that call is the per_sample pairing."""
    models, field, reference, texts, x, unet = setup
    sigma = sigma_at(models["official"], TIMESTEP)
    ours = comfy_eps(models["official"], x, texts, (part,), sigma)
    expected = unet3d_eps(pack, unet, x, reference, texts, (part,), sigma, field.flow, "per_sample")
    assert relative_error(ours[0], expected[0]) < RELATIVE_TOLERANCE


def test_every_unet_call_sees_the_clean_first_frame_at_t1(setup):
    models, field, reference, texts, x, unet = setup
    model = models["official"].clone()
    seen = []

    def record(executor, x, timesteps, *args, **kwargs):
        seen.append((x.clone(), timesteps.clone()))
        return executor(x, timesteps, *args, **kwargs)

    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test", record)
    sigma = sigma_at(model, TIMESTEP)
    comfy_eps(model, x, texts, (NEGATIVE, POSITIVE), sigma)
    ((inputs, timesteps),) = seen
    frames = x.shape[0]
    for part in range(2):
        rows = slice(part * frames, (part + 1) * frames)
        torch.testing.assert_close(inputs[rows][0], reference[0] * 0.18215, rtol=0, atol=0)
        torch.testing.assert_close(inputs[rows][1:], x[1:] / (sigma**2 + 1) ** 0.5)
        assert timesteps[rows].tolist() == [1.0] + [float(TIMESTEP)] * (frames - 1)


def test_the_schedule_is_animatediffs_linear_betas(pack, setup, base_model):
    models, *_ = setup
    sampling = models["official"].get_model_object("model_sampling")
    alphas = pack.motion_i2v.sampling.linear_alphas_cumprod().double()
    torch.testing.assert_close(sampling.sigmas.double(), ((1 - alphas) / alphas) ** 0.5, rtol=1e-6, atol=0)
    # SD1.5's own (scaled-linear) schedule is another one, and the input MODEL keeps it
    assert (base_model.get_model_object("model_sampling").sigmas[500] - sampling.sigmas[500]).abs() > 0.1
    # the official DDIM timesteps are exact: ddim_uniform's sigmas map back to integer timesteps
    timesteps = sampling.timestep(sampling.sigmas[torch.tensor([961, 501, 1])])
    assert timesteps.tolist() == [961, 501, 1]
