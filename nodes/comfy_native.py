"""The native stage-2 path's contact with ComfyUI: a MODEL whose own UNet runs Motion-I2V's motion modules.

Imported only when a native node runs (``nodes/native.py`` imports it inside its functions), so the pack
imports without ComfyUI. Everything goes through ModelPatcher's public extension points, which ComfyUI 0.8.0
and 0.33 share (``comfy/patcher_extension.py`` is the same file in both):

- ``clone`` + ``set_additional_models``: the motion modules are a ModelPatcher of their own that ComfyUI's
  memory management loads, offloads and partially loads with the UNet (their layers are ``comfy.ops``).
- ``set_injections`` (``PatcherInjection``): each motion module is inserted into ``diffusion_model``'s
  block sequences when ComfyUI patches the model and removed when it unpatches it. ComfyUI patches and
  reads weights with injections taken out (``use_ejected``), so LoRA keys keep their block indices.
- ``set_model_forward_timestep_embed_patch``: ``forward_timestep_embed`` hands layers it does not know to
  a handler with the call's ``transformer_options``; ours runs the motion module with this call's field.
- ``WrappersMP.DIFFUSION_MODEL``: around each UNet call, frame 0 of every prompt's batch becomes the clean
  first-frame latent at timestep 1, and ``cond_or_uncond`` says which prompt each part of the batch is, for
  the official pairing.
- ``WrappersMP.OUTER_SAMPLE``: around each sampling run, the still region (frame 0, the unpainted brush)
  goes into the denoise mask and the latent, so ComfyUI's ``KSamplerX0Inpaint`` re-noises it from the
  first frame and returns it in every prediction, for every sampler, and the sampled video gets it back
  exactly; the field moves to the device once.
- ``add_object_patch("model_sampling")``: AnimateDiff's linear-beta schedule, keeping the model's
  prediction type (epsilon or v, a ``ModelSamplingDiscrete`` patch applied before this node included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.ops
import comfy.patcher_extension
import torch

from ..motion_i2v.models.motion_augmented import MotionGuidance
from ..motion_i2v.models.motion_module import MotionModule
from ..motion_i2v.native import MIDDLE_BLOCK, LdmMotionModules, config_from_ldm, load_ldm_motion_modules, motion_sites
from ..motion_i2v.pipelines.animate import REFERENCE_TIMESTEP
from ..motion_i2v.sampling import linear_alphas_cumprod

KEY = "motion_i2v"  # our key for wrappers, injections, additional models and the per-call transformer_options
COND, UNCOND = 0, 1  # ComfyUI's cond_or_uncond values
NODE = "Motion-I2V Animate (native)"
log = logging.getLogger(__name__)


def load_motion_modules(path: str, dtype: torch.dtype):
    """A ModelPatcher around the motion modules of ``path`` (``LdmMotionModules``, ``comfy.ops`` layers that cast
    their weights to the input's dtype and device, so partial loading and fp8/bf16 UNets work)."""
    modules = load_ldm_motion_modules(path, operations=comfy.ops.manual_cast,
                                      device=comfy.model_management.unet_offload_device(), dtype=dtype)
    return comfy.model_patcher.ModelPatcher(modules, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def prediction_type(sampling) -> str | None:
    """"eps" or "v_prediction" for a ``ModelSamplingDiscrete`` with ComfyUI's stock epsilon / v maths; None for
    anything else (EDM, flow, x0, LCM's distilled schedule, a pack's own class)."""
    methods = {name: getattr(type(sampling), name, None)
               for name in ("timestep", "sigma", "calculate_input", "noise_scaling", "calculate_denoised")}
    stock = (isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete)
             and methods["timestep"] is comfy.model_sampling.ModelSamplingDiscrete.timestep
             and methods["sigma"] is comfy.model_sampling.ModelSamplingDiscrete.sigma
             and methods["calculate_input"] is comfy.model_sampling.EPS.calculate_input
             and methods["noise_scaling"] is comfy.model_sampling.EPS.noise_scaling)
    if not stock:
        return None
    return {comfy.model_sampling.EPS.calculate_denoised: "eps",
            comfy.model_sampling.V_PREDICTION.calculate_denoised: "v_prediction"}.get(methods["calculate_denoised"])


def motion_i2v_sampling(current):
    """A model_sampling of ``current``'s class (so of its prediction type) on AnimateDiff's linear betas
    0.00085-0.012, zero-terminal-SNR rescaled when ``current`` is; refuses a schedule it cannot rebuild."""
    if prediction_type(current) is None:
        kind = ", ".join(base.__name__ for base in type(current).__mro__[1:3])
        raise ValueError(
            f"model: its noise schedule is {type(current).__name__} ({kind}); {NODE} rebuilds a discrete epsilon or "
            f"v-prediction schedule on Motion-I2V's linear betas and cannot keep this one. Remove the node that set it "
            f"(ModelSamplingDiscrete with eps or v_prediction works)")
    alphas = linear_alphas_cumprod().double()
    sigmas = ((1 - alphas) / alphas) ** 0.5
    if getattr(current, "zsnr", False):
        sigmas = comfy.model_sampling.rescale_zero_terminal_snr_sigmas(sigmas)
    sampling = type(current)()
    sampling.set_sigmas(sigmas)
    return sampling


def check_fits(model, motion: LdmMotionModules) -> None:
    """Refuse a MODEL whose UNet has no place for these motion modules (SDXL, SD3, ...), naming both."""
    config = model.model.model_config
    family = type(config).__name__
    unet = getattr(config, "unet_config", {})
    try:
        fits = "channel_mult" in unet and motion_sites(config_from_ldm(unet, motion.config)) == motion.sites
    except (KeyError, ValueError):
        fits = False
    if not fits:
        raise ValueError(
            f"model: a {family} model; these motion modules fit an SD1.5-style UNet with levels "
            f"{list(motion.config.block_out_channels)} and {motion.config.layers_per_block} res blocks per level "
            f"(the UNet has {[unet.get('model_channels', 0) * m for m in unet.get('channel_mult', [])]}). "
            f"Motion-I2V's stage 2 needs an SD1.5 model (SD1.x fine-tunes work)")


def _block(unet, site):
    blocks = getattr(unet, site.blocks)
    return blocks if site.blocks == MIDDLE_BLOCK else blocks[site.index]


def batch_order(cond_or_uncond, chunks: int) -> tuple[int, ...] | None:
    """Each part's index in the official CFG batch [negative, positive], from ComfyUI's ``cond_or_uncond``
    (one entry per part: 0 = positive, 1 = negative); None when the parts are not one or two distinct prompts."""
    if cond_or_uncond is None or len(cond_or_uncond) != chunks or len(set(cond_or_uncond)) != chunks:
        return None
    if not set(cond_or_uncond) <= {COND, UNCOND}:
        return None
    # the negative comes first in the official batch; a part alone is its own batch
    ranks = sorted(cond_or_uncond, key=lambda part: part != UNCOND)
    return tuple(ranks.index(part) for part in cond_or_uncond)


class Run:
    """One sampling run: the field on the UNet's device (both pairings, each resizing it once per feature size),
    and whether the run uses CFG (for the pairing warning)."""

    def __init__(self, flow: torch.Tensor, pairing: str, guided: bool):
        self.guidance = MotionGuidance(flow, pairing)
        self.per_sample = MotionGuidance(flow, "per_sample")
        self.guided, self.warned = guided, False


@dataclass(frozen=True)
class Call:
    """What the motion modules of one UNet call need (in ``transformer_options[KEY]``)."""

    frames: int
    guidance: MotionGuidance


def run_motion_module(layer: MotionModule, x, emb, context, transformer_options, *rest):
    """``forward_timestep_embed_patch`` handler: ``x`` [(parts F), C, H, W] through one motion module."""
    call = transformer_options.get(KEY)
    if call is None:
        raise RuntimeError(f"{NODE}: a motion module ran outside its model's sampling (no field for this call)")
    return layer(x, call.frames, call.guidance)


class MotionPatch:
    """Everything a Motion-I2V MODEL clone carries; its methods are the clone's injection and wrappers.

    ``reference``: [1, 4, h, w] unscaled first-frame latent (ComfyUI's LATENT convention) and
    ``scaled_reference`` the same as the UNet sees it (``process_latent_in``). ``moving``: [F, 1, h, w]
    float, 1 where the sampler denoises, 0 where the video is held to the first frame (all of frame 0, the
    brush's unpainted cells). ``flow``: [F, 2, 8h, 8w] pixels. ``sampling``: the model_sampling installed.
    """

    def __init__(self, motion, flow: torch.Tensor, pairing: str, reference: torch.Tensor,
                 scaled_reference: torch.Tensor, moving: torch.Tensor, sampling):
        self.motion, self.flow, self.pairing, self.sampling = motion, flow, pairing, sampling
        self.reference, self.scaled_reference, self.moving = reference, scaled_reference, moving
        self.frames = flow.shape[0]
        self.run: Run | None = None

    def apply(self, model):
        """A clone of ``model`` carrying this patch; refuses a MODEL that already carries one."""
        if model.get_injections(KEY):
            raise ValueError(f"model: it already has Motion-I2V's motion modules (from another {NODE}); connect the "
                             f"model from before that node")
        patched = model.clone()
        patched.set_additional_models(KEY, [self.motion])
        patched.set_injections(KEY, [comfy.patcher_extension.PatcherInjection(self.inject, self.eject)])
        patched.set_model_forward_timestep_embed_patch((MotionModule, run_motion_module))
        patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, KEY, self.outer_sample)
        patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, KEY, self.diffusion_model)
        patched.add_object_patch("model_sampling", self.sampling)
        return patched

    # ComfyUI keeps ``is_injected`` per patcher, and a clone copies it, while the UNet they share holds the
    # modules or not: a clone made while its parent was injected skips injecting itself later. So injecting
    # and ejecting look at the UNet itself, and each UNet call makes sure the modules are in place.
    def inject(self, patcher) -> None:
        self._insert(patcher.model.diffusion_model)

    def eject(self, patcher) -> None:
        unet = patcher.model.diffusion_model
        for site, module in self.motion.model.placed():
            block = _block(unet, site)
            for index in reversed([i for i, layer in enumerate(block) if layer is module]):
                del block[index]

    def _insert(self, unet) -> None:
        for site, module in self.motion.model.placed():
            block = _block(unet, site)
            if any(layer is module for layer in block):
                continue
            if site.before_last:
                block.insert(len(block) - 1, module)
            else:
                block.append(module)

    def outer_sample(self, executor, noise, latent_image, sampler, sigmas, denoise_mask=None, *args, **kwargs):
        guider = executor.class_obj
        if guider.model_patcher.get_model_object("model_sampling") is not self.sampling:
            raise ValueError(
                f"model: its noise schedule (model_sampling) was replaced after {NODE}, which installs Motion-I2V's "
                f"linear-beta schedule; apply ModelSamplingDiscrete (eps or v_prediction) before {NODE} instead")
        expected = (self.frames, *self.reference.shape[1:])
        if tuple(latent_image.shape) != expected:
            raise ValueError(f"latent: {NODE} renders {self.frames} frames of {list(self.reference.shape[1:])}, "
                             f"the sampler got a latent {list(latent_image.shape)}; sample the latent of {NODE}")
        moving = self.moving.to(latent_image)
        latent_image = latent_image * moving + self.reference.to(latent_image) * (1 - moving)
        mask = moving.expand_as(latent_image)
        if denoise_mask is not None:
            mask = denoise_mask * mask.to(denoise_mask)
        device = guider.model_patcher.load_device
        self.run = Run(self.flow.to(device), self.pairing, guided=getattr(guider, "cfg", 1.0) != 1)
        try:
            video = executor(noise, latent_image, sampler, sigmas, mask, *args, **kwargs)
        finally:
            self.run = None
        # KSamplerX0Inpaint returns the held region exactly in every prediction, but samplers that end on a
        # combination of steps (UniPC's corrector) can leave a trace of noise there: the official pipeline also
        # writes frame 0 back after its loop.
        return video * moving.to(video) + self.reference.to(video) * (1 - moving.to(video))

    def diffusion_model(self, executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        frames = self.frames
        parts = transformer_options.get("cond_or_uncond")
        if x.shape[0] != frames * len(parts or [None]) or tuple(x.shape[-2:]) != tuple(self.reference.shape[-2:]):
            raise ValueError(
                f"{NODE}: the UNet got latents {list(x.shape)} for {len(parts or [None])} prompt(s), not "
                f"{frames} frames of {list(self.reference.shape[-2:])} each; context windows, area conditioning "
                f"and other ways of splitting the video are not supported")
        run = self.run
        if run is None or run.guidance.flow.device != x.device:  # called outside a sampler (e.g. by another pack)
            run = self.run = Run(self.flow.to(x.device), self.pairing, guided=False)
        guidance = run.guidance
        if self.pairing == "official" and parts is not None:
            order = batch_order(parts, len(parts))
            if order is None or (len(parts) == 1 and run.guided):
                self._warn_pairing(run, parts)
            guidance = run.per_sample if order is None else guidance.in_order(order)
        self._insert(executor.class_obj)
        x = x.clone()
        x[::frames] = self.scaled_reference.to(x)
        timesteps = timesteps.clone()
        timesteps[::frames] = REFERENCE_TIMESTEP
        options = {**transformer_options, KEY: Call(frames, guidance)}
        return executor(x, timesteps, context, y, control, options, **kwargs)

    @staticmethod
    def _warn_pairing(run: Run, parts) -> None:
        if run.warned:
            return
        run.warned = True
        log.warning(
            "%s: ComfyUI ran a UNet call with prompts %s (0 = positive, 1 = negative). The official pairing warps "
            "the two halves of one [negative, positive] batch across each other; in a call that is not such a "
            "batch (memory short, or a patch such as Perturbed-Attention Guidance runs the positive alone) each "
            "prompt warps its own first frame, as the 'per_sample' pairing does.", NODE, list(parts))
