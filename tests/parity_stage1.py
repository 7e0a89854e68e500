"""Parity runners for the stage-1 fixtures (fx1, fx2, fx3, fx6), registered in ``parity.RUNNERS``.

Each builds the models from the fixture's own config and loads the fixture's weights, which carry
the official key names, through ``motion_i2v.weights.loader`` (strict), then runs the call the JSON describes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from motion_i2v.weights.loader import model_from_state_dict
from motion_i2v.pipelines.flow_gen import FlowDenoiser
from motion_i2v.sampling import DdimSchedule, ddim_schedule, sample_ddim

Tensors = dict[str, torch.Tensor]
WEIGHTS_PREFIX = "weights."
SHARED_WEIGHTS = "flow_unet_controlnet.weights.safetensors"


def _weights(tensors: Tensors) -> Tensors:
    return {key.removeprefix(WEIGHTS_PREFIX): value for key, value in tensors.items() if key.startswith(WEIGHTS_PREFIX)}


def _flow_models(configs: dict, folder: Path):
    """The flow UNet and its ControlNet from the shared weights file (official keys, ``controlnet.`` prefixed).

    ``configs``: a fixture's "config" (the UNet's, or {"unet": ..., "controlnet": ...}).
    """
    weights = _weights(load_file(str(folder / SHARED_WEIGHTS)))
    unet_weights = {k: v for k, v in weights.items() if not k.startswith("controlnet.")}
    controlnet_weights = {k: v for k, v in weights.items() if k.startswith("controlnet.")}
    unet = model_from_state_dict("flow_unet", unet_weights, configs.get("unet", configs), source=SHARED_WEIGHTS)
    controlnet = (model_from_state_dict("controlnet", controlnet_weights, configs["controlnet"], source=SHARED_WEIGHTS)
                  if "controlnet" in configs else None)
    return unet, controlnet


def run_fx1_flow_unet(spec: dict, tensors: Tensors, folder: Path) -> Tensors:
    unet, _ = _flow_models(spec["config"], folder)
    sample = unet(tensors["inputs.sample"], tensors["inputs.timestep"], tensors["inputs.encoder_hidden_states"],
                  stride=tensors["inputs.stride"])
    return {"sample": sample}


def run_fx2_flow_unet_controlnet(spec: dict, tensors: Tensors, folder: Path) -> Tensors:
    unet, controlnet = _flow_models(spec["config"], folder)
    args = (tensors["inputs.sample"], tensors["inputs.timestep"], tensors["inputs.encoder_hidden_states"])
    outputs = {}
    for scale, name in ((1.0, "scale1"), (0.5, "scale0_5")):
        residuals = controlnet(*args, tensors["inputs.control"], stride=tensors["inputs.stride"], scale=scale)
        outputs[f"sample_{name}"] = unet(*args, stride=tensors["inputs.stride"], control=residuals)
        if scale == 1.0:
            outputs |= {f"controlnet_down_residual_{i:02d}_scale1": r for i, r in enumerate(residuals.down)}
            outputs["controlnet_mid_residual_scale1"] = residuals.mid
    return outputs


def run_fx3_flow_vae(spec: dict, tensors: Tensors, folder: Path) -> Tensors:
    vae = model_from_state_dict("flow_vae", _weights(tensors), spec["config"], source="fx3_flow_vae.safetensors")
    posterior = vae.encode(tensors["inputs.x"]).latent_dist
    return {
        "posterior_mean": posterior.mean,
        "posterior_std": posterior.std,
        "posterior_logvar": posterior.logvar,
        "posterior_sample": posterior.mean + posterior.std * tensors["inputs.eps"],
        "decoded": vae.decode(tensors["inputs.z"]).sample,
    }


def run_fx6_stage1_ddim(spec: dict, tensors: Tensors, folder: Path) -> Tensors:
    """Our stage-1 denoiser (image latent concat, ControlNet, CFG) in ``sample_ddim``; fx2's models."""
    fx2 = json.loads((folder / "fx2_flow_unet_controlnet.json").read_text())
    unet, controlnet = _flow_models(fx2["config"], folder)
    uncond, cond = tensors["inputs.text_embeddings"].chunk(2)
    denoiser = FlowDenoiser(unet, tensors["inputs.latents_img"], cond, uncond, stride=tensors["inputs.stride"],
                            guidance=spec["guidance_scale"], controlnet=controlnet, control=tensors["inputs.control"])
    schedule = ddim_schedule(spec["num_inference_steps"])
    outputs = {"timesteps": schedule.timesteps}
    guided = []

    def recording(x, t):
        guided.append(denoiser(x, t))
        return guided[-1]

    # Record the state after every step: resume one-step schedules from the previous state.
    latents = tensors["inputs.latents_init"]
    for step in range(len(schedule.timesteps)):
        one_step = DdimSchedule(schedule.timesteps[step:step + 1], schedule.alphas_cumprod[step:step + 1],
                                schedule.alphas_cumprod_prev[step:step + 1])
        latents = sample_ddim(recording, latents, one_step, eta=0.0)
        outputs[f"step{step}_noise_pred_guided"] = guided[-1]
        outputs[f"step{step}_latents"] = latents
    outputs["final_latents"] = sample_ddim(denoiser, tensors["inputs.latents_init"], schedule, eta=0.0)
    return outputs


RUNNERS = {
    "fx1_flow_unet": run_fx1_flow_unet,
    "fx2_flow_unet_controlnet": run_fx2_flow_unet_controlnet,
    "fx3_flow_vae": run_fx3_flow_vae,
    "fx6_stage1_ddim": run_fx6_stage1_ddim,
}
