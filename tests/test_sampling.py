"""Schedules and samplers: the official DDIM numbers, exact recovery with an oracle denoiser, seeds."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from motion_i2v.sampling import (
    MAX_STEPS,
    SAMPLERS,
    TRAIN_TIMESTEPS,
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
    with pytest.raises(ValueError, match="steps: expected 1..499"):
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


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_most_steps_still_start_from_noise_and_one_more_is_refused(sampler):
    if sampler == "ddim":
        first = ddim_schedule(MAX_STEPS).timesteps[0]
    else:
        scheduler = diffusers_scheduler(sampler)
        scheduler.set_timesteps(MAX_STEPS)
        first = scheduler.timesteps[0]
    assert first >= 0.99 * TRAIN_TIMESTEPS
    x0 = torch.randn(1, 4, 1, 2, 2, generator=torch.Generator().manual_seed(3))
    result = sample(oracle(x0, linear_alphas_cumprod()), torch.randn(x0.shape), sampler, MAX_STEPS)
    torch.testing.assert_close(result, x0, rtol=0, atol=1e-2)
    with pytest.raises(ValueError, match=f"steps: expected 1..{MAX_STEPS}, got {MAX_STEPS + 1}"):
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
