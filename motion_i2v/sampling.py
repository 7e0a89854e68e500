"""Noise schedules (data) and samplers (plain loops) for epsilon-predicting models.

A sampler is ``sampler(denoise, x, ..., callback)`` where ``denoise(x, t) -> eps`` already contains
the conditioning and classifier-free guidance; samplers know nothing of prompts or flows.
``callback(step, total)`` is called after every step (progress, cancel).

Symbols (Song et al. 2021, "Denoising Diffusion Implicit Models"):
    alpha_bar_t   ``alphas_cumprod[t]``, the signal fraction at training timestep t
    x_t           the noisy sample, eps the predicted noise, x_0 the predicted clean sample
    sigma_t(eta)  the DDIM noise scale, 0 for the deterministic sampler (eta = 0)

The official Motion-I2V scheduler (both stages) is diffusers-0.11 ``DDIMScheduler`` with linear
betas 0.00085..0.012 over 1000 steps, ``steps_offset=1``, ``set_alpha_to_one=True``, no clipping
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/configs/configs_flowgen/inference/inference.yaml#L24-L29);
``ddim_schedule`` reproduces its numbers in float32.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch

from .checks import check_choice, check_number

TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
STEPS_OFFSET = 1
MAX_GUIDANCE = 30.0  # classifier-free guidance scales accepted by both stages (the official demo uses 7)
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed takes
# "ddim" is our loop; the others wrap diffusers schedulers built with the same betas.
SAMPLERS = ("ddim", "euler", "euler_ancestral", "dpmpp_2m", "unipc")
_DIFFUSERS_CLASSES = {
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
}

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, int], None]


@dataclass(frozen=True)
class DdimSchedule:
    """The DDIM schedule for one run, as data.

    ``timesteps``: [S] int64, descending (25 steps: 961, 921, ..., 1).
    ``alphas_cumprod``: [S] float32, alpha_bar at each timestep.
    ``alphas_cumprod_prev``: [S] float32, alpha_bar at the next timestep (1 after the last step).
    """

    timesteps: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor


# "Leading" spacing (the official scheduler's) puts the steps T // S apart (diffusers' DPM-Solver++ and UniPC:
# T // (S + 1)); once that is 1, from about T / 2 steps, sampling starts at t = S, taking pure noise for a half-
# denoised sample, and at T steps DDIM runs off the end of the schedule (DPM-Solver++ and UniPC give NaN from T - 1).
def max_steps(train_timesteps: int = TRAIN_TIMESTEPS) -> int:
    return train_timesteps // 2 - 1


MAX_STEPS = max_steps()


def check_steps(steps: int, train_timesteps: int = TRAIN_TIMESTEPS) -> None:
    check_number(steps, "steps", low=1, high=max_steps(train_timesteps), integer=True)


@dataclass(frozen=True)
class SamplerSettings:
    """How a stage samples, checked when made; the defaults are the official demo's (DDIM, 25 steps, CFG 7, eta 0).

    ``cfg``: the classifier-free guidance scale. As in the official pipelines, guidance runs only above 1; at 1 or
    less the positive prompt is used alone (no negative pass). ``eta``: DDIM's noise (the other samplers ignore it).
    """

    steps: int = 25
    cfg: float = 7.0
    sampler: str = "ddim"
    eta: float = 0.0

    def __post_init__(self) -> None:
        check_steps(self.steps)
        check_number(self.cfg, "cfg", low=0, high=MAX_GUIDANCE)
        check_choice(self.sampler, SAMPLERS, "sampler")
        check_number(self.eta, "eta", low=0, high=1)

    @property
    def guided(self) -> bool:
        return self.cfg > 1


def check_seed(seed: int) -> None:
    check_number(seed, "seed", low=0, high=MAX_SEED, integer=True)


def seeded(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``, an integer in 0..MAX_SEED (checked)."""
    check_seed(seed)
    return torch.Generator().manual_seed(seed)


def linear_alphas_cumprod(train_timesteps: int = TRAIN_TIMESTEPS, beta_start: float = BETA_START,
                          beta_end: float = BETA_END) -> torch.Tensor:
    """alpha_bar for linear betas: [train_timesteps] float32."""
    betas = torch.linspace(beta_start, beta_end, train_timesteps, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def alpha_bar(alphas_cumprod: torch.Tensor, t) -> torch.Tensor:
    """alpha_bar at timestep ``t`` (a number or a 0-d tensor; the samplers here call the model at integer ones)."""
    return alphas_cumprod[int(round(float(t)))]


def ddim_schedule(steps: int, *, train_timesteps: int = TRAIN_TIMESTEPS, steps_offset: int = STEPS_OFFSET,
                  alphas_cumprod: torch.Tensor | None = None) -> DdimSchedule:
    """Evenly spaced ("leading") timesteps, ``t_i = (S-1-i) * (T // S) + steps_offset``."""
    check_steps(steps, train_timesteps)
    alphas = linear_alphas_cumprod(train_timesteps) if alphas_cumprod is None else alphas_cumprod
    ratio = train_timesteps // steps
    timesteps = torch.arange(steps - 1, -1, -1, dtype=torch.int64) * ratio + steps_offset
    # set_alpha_to_one: past the last step the sample is clean (alpha_bar = 1).
    previous = timesteps - ratio
    alphas_prev = torch.where(previous >= 0, alphas[previous.clamp(min=0)], torch.ones(()))
    return DdimSchedule(timesteps, alphas[timesteps], alphas_prev)


def sample_ddim(denoise: Denoise, x: torch.Tensor, schedule: DdimSchedule, *, eta: float = 0.0,
                generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12), deterministic at eta = 0. ``x``: the initial noise x_T, any shape."""
    total = len(schedule.timesteps)
    for i, t in enumerate(schedule.timesteps):
        alpha_prod_t = schedule.alphas_cumprod[i].to(x.device)
        alpha_prod_t_prev = schedule.alphas_cumprod_prev[i].to(x.device)
        beta_prod_t = 1 - alpha_prod_t
        eps = denoise(x, t)
        # 1. predicted x_0: "predicted x_0" of eq. (12)
        pred_original_sample = (x - beta_prod_t**0.5 * eps) / alpha_prod_t**0.5
        # 2. sigma_t(eta), eq. (16)
        variance = (1 - alpha_prod_t_prev) / beta_prod_t * (1 - alpha_prod_t / alpha_prod_t_prev)
        std_dev_t = eta * variance**0.5
        # 3. "direction pointing to x_t" of eq. (12)
        direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** 0.5 * eps
        # 4. x_{t-1} without the random noise, then the noise when eta > 0
        x = alpha_prod_t_prev**0.5 * pred_original_sample + direction
        if eta > 0:
            noise = torch.randn(x.shape, generator=generator, device=generator.device if generator else "cpu")
            x = x + std_dev_t * noise.to(device=x.device, dtype=x.dtype)
        if callback is not None:
            callback(i + 1, total)
    return x


@dataclass(frozen=True)
class StillRegionDenoiser:
    """``denoise(x, t) -> eps`` that holds a region at a clean ``reference``, under any sampler here.

    ComfyUI's KSamplerX0Inpaint (``comfy/samplers.py``) does this for its x0-predicting models; this is the same
    for epsilon ones. Every sampler here calls the model with x_t = sqrt(a) x_0 + sqrt(1 - a) eps, a = alpha_bar(t)
    (Euler's scaled model input included), and takes its clean prediction as x_0 = (x_t - sqrt(1 - a) eps) / sqrt(a).
    So, at every call:

    1. the model sees the still region of x_t replaced by the reference noised to t with the initial noise,
       sqrt(a) reference + sqrt(1 - a) noise (the official motion brush's renoised latent);
    2. the still region's eps becomes (x_t - sqrt(a) reference) / sqrt(1 - a), so the sampler's own x_0 there is
       exactly the reference, and the last step ends on it.

    ``still``: [...] 0..1 broadcastable to x, 1 = held; ``reference``: the clean sample, broadcastable to x;
    ``noise``: the unit-variance initial noise, x's shape.
    """

    denoise: Denoise
    reference: torch.Tensor
    still: torch.Tensor
    noise: torch.Tensor
    alphas_cumprod: torch.Tensor = field(default_factory=linear_alphas_cumprod)

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        alpha = alpha_bar(self.alphas_cumprod, t).to(x.device)
        renoised = alpha**0.5 * self.reference + (1 - alpha) ** 0.5 * self.noise
        eps = self.denoise(torch.lerp(x, renoised, self.still), t)
        held = (x - alpha**0.5 * self.reference) / (1 - alpha) ** 0.5
        return torch.lerp(eps, held, self.still)


def diffusers_scheduler(name: str):
    """A fresh diffusers scheduler named in ``SAMPLERS`` (not "ddim"), with the official betas."""
    import diffusers

    if name not in _DIFFUSERS_CLASSES:
        raise ValueError(f"sampler: expected one of {list(SAMPLERS)}, got {name!r}")
    cls = getattr(diffusers, _DIFFUSERS_CLASSES[name])
    return cls.from_config({
        "num_train_timesteps": TRAIN_TIMESTEPS, "beta_start": BETA_START, "beta_end": BETA_END,
        "beta_schedule": "linear", "steps_offset": STEPS_OFFSET, "timestep_spacing": "leading",
        "prediction_type": "epsilon",
    })


def sample_diffusers(denoise: Denoise, x: torch.Tensor, name: str, steps: int, *,
                     generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """Run a diffusers scheduler as a plain loop. ``x``: unit-variance noise, scaled here as the scheduler needs."""
    check_steps(steps)
    scheduler = diffusers_scheduler(name)
    scheduler.set_timesteps(steps, device=x.device)
    extra = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    x = x * scheduler.init_noise_sigma
    total = len(scheduler.timesteps)
    for i, t in enumerate(scheduler.timesteps):
        eps = denoise(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(eps, t, x, return_dict=False, **extra)[0]
        if callback is not None:
            callback(i + 1, total)
    return x


def sample(denoise: Denoise, x: torch.Tensor, sampler: str, steps: int, *, eta: float = 0.0,
           generator: torch.Generator | None = None, callback: Callback | None = None) -> torch.Tensor:
    """Dispatch on ``sampler`` (one of ``SAMPLERS``); ``x`` is unit-variance noise."""
    if sampler == "ddim":
        return sample_ddim(denoise, x, ddim_schedule(steps), eta=eta, generator=generator, callback=callback)
    return sample_diffusers(denoise, x, sampler, steps, generator=generator, callback=callback)
