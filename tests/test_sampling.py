"""Schedules and samplers: the official DDIM numbers, exact recovery with an oracle denoiser, seeds."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from motion_i2v.sampling import (
    MAX_STEPS,
    SAMPLERS,
    TRAIN_TIMESTEPS,
    SamplerSettings,
    StillRegionDenoiser,
    ddim_schedule,
    diffusers_scheduler,
    linear_alphas_cumprod,
    sample,
    sample_ddim,
)

OFFICIAL = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "steps_offset": 1,
            "clip_sample": False, "set_alpha_to_one": True}


def test_official_timesteps():
    assert ddim_schedule(25).timesteps.tolist() == list(range(961, 0, -40))  # 961, 921, ..., 1
    assert ddim_schedule(3).timesteps.tolist() == [667, 334, 1]  # fx6
    with pytest.raises(ValueError, match=r"steps: expected an integer in 1\.\.499"):
        ddim_schedule(0)


def test_alphas_match_diffusers():
    scheduler = DDIMScheduler(**OFFICIAL)
    assert torch.equal(linear_alphas_cumprod(), scheduler.alphas_cumprod)
    schedule = ddim_schedule(25)
    assert schedule.alphas_cumprod_prev[-1] == 1  # set_alpha_to_one
    assert torch.equal(schedule.alphas_cumprod_prev[:-1], schedule.alphas_cumprod[1:])


def toy_denoiser(x, t):
    return 0.3 * x + torch.sin(x + float(t) / 100)


def test_ddim_matches_the_diffusers_scheduler_loop():
    x = torch.randn(1, 4, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    scheduler = DDIMScheduler(**OFFICIAL)
    scheduler.set_timesteps(25)
    expected = x
    for t in scheduler.timesteps:
        expected = scheduler.step(toy_denoiser(expected, t), t, expected, eta=0.0).prev_sample
    torch.testing.assert_close(sample_ddim(toy_denoiser, x, ddim_schedule(25)), expected, rtol=1e-5, atol=1e-5)


def oracle(x0: torch.Tensor, alphas: torch.Tensor):
    """The exact noise of x given the clean sample x0: eps = (x - sqrt(ab) x0) / sqrt(1 - ab)."""
    def denoise(x, t):
        alpha_bar = alphas[int(round(float(t)))]
        return (x - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
    return denoise


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_recovers_x0_with_an_exact_denoiser(sampler):
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(1, 4, 2, 4, 4, generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    calls = []
    result = sample(oracle(x0, linear_alphas_cumprod()), noise, sampler, 10, generator=generator,
                    callback=lambda step, total: calls.append((step, total)))
    torch.testing.assert_close(result, x0, rtol=0, atol=1e-3 if sampler == "ddim" else 5e-2)
    assert calls == [(i, 10) for i in range(1, 11)]


def first_timestep(sampler: str, steps: int) -> torch.Tensor:
    if sampler == "ddim":
        return ddim_schedule(steps).timesteps[0]
    scheduler = diffusers_scheduler(sampler)
    scheduler.set_timesteps(steps)
    return scheduler.timesteps[0]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_most_steps_still_start_from_noise_and_one_more_is_refused(sampler):
    assert first_timestep(sampler, MAX_STEPS) >= 0.99 * TRAIN_TIMESTEPS
    x0 = torch.randn(1, 4, 1, 2, 2, generator=torch.Generator().manual_seed(3))
    result = sample(oracle(x0, linear_alphas_cumprod()), torch.randn(x0.shape), sampler, MAX_STEPS)
    torch.testing.assert_close(result, x0, rtol=0, atol=1e-2)
    with pytest.raises(ValueError, match=f"steps: expected an integer in 1..{MAX_STEPS}, got {MAX_STEPS + 1}"):
        sample(toy_denoiser, x0, sampler, MAX_STEPS + 1)


def test_eta_noise_comes_from_the_generator():
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    runs = [sample(toy_denoiser, x, "ddim", 5, eta=1.0, generator=torch.Generator().manual_seed(seed))
            for seed in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.allclose(runs[0], runs[2])


def test_unknown_sampler():
    with pytest.raises(ValueError, match="sampler: expected one of"):
        sample(toy_denoiser, torch.zeros(1), "heun", 5)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_still_region_ends_on_the_reference_under_every_sampler(sampler):
    """The model (an exact denoiser towards x0) and the reference disagree everywhere; wherever ``still`` is 1 the
    result is the reference, to float rounding, wherever it is 0 the model's x0, as without the wrapper."""
    generator = torch.Generator().manual_seed(4)
    x0, reference = torch.randn(2, 1, 4, 2, 4, 4, generator=generator)
    still = torch.zeros(1, 1, 1, 4, 4)
    still[..., :2] = 1  # the left half is held
    noise = torch.randn(x0.shape, generator=generator)
    seen = []

    def model(x, t):
        seen.append(x.clone())
        return oracle(x0, linear_alphas_cumprod())(x, t)

    held = StillRegionDenoiser(model, reference, still, noise)
    result = sample(held, noise, sampler, 10, generator=generator)
    torch.testing.assert_close(result[..., :2], reference[..., :2], rtol=0, atol=1e-5)
    free = sample(oracle(x0, linear_alphas_cumprod()), noise, sampler, 10, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(result[..., 2:], free[..., 2:], rtol=0, atol=1e-5)
    # the model's first input holds the reference noised to the first timestep with the initial noise
    alpha = linear_alphas_cumprod()[int(first_timestep(sampler, 10))]
    renoised = alpha.sqrt() * reference + (1 - alpha).sqrt() * noise
    torch.testing.assert_close(seen[0][..., :2], renoised[..., :2], rtol=0, atol=1e-5)


def test_sampler_settings_are_checked_when_made():
    assert SamplerSettings().guided and not SamplerSettings(cfg=1.0).guided and not SamplerSettings(cfg=0.5).guided
    for changes, message in [({"steps": 0}, "steps: expected an integer in 1..499, got 0"),
                             ({"steps": 2.5}, "steps: expected an integer"),
                             ({"cfg": float("nan")}, r"cfg: expected a finite number in 0\.\.30\.0, got nan"),
                             ({"cfg": 31.0}, "cfg: expected"), ({"sampler": "heun"}, "sampler: expected one of"),
                             ({"sampler": 3}, "sampler: expected one of"), ({"eta": 2.0}, "eta: expected")]:
        with pytest.raises(ValueError, match=message):
            SamplerSettings(**changes)
