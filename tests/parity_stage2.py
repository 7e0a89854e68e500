"""Parity runner for the stage-2 fixture (fx4), listed in ``parity.RUNNERS``.

fx4 runs the official stage-2 UNet3D twice on a CFG-style batch of 2: once with identical latent and
flow halves (as the pipeline calls it) and once with distinct halves, where the official pairing of
each sample with the other's reference features is fully visible. Our animation UNet is built from
the fixture's config, loads its weights strictly, and runs with the default ("official") pairing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from motion_i2v.weights.loader import model_from_state_dict
from motion_i2v.models.motion_augmented import MotionGuidance
from motion_i2v.pipelines.animate import frame_timesteps

Tensors = dict[str, torch.Tensor]
WEIGHTS_PREFIX = "weights."


def run_fx4_stage2_unet3d(spec: dict, tensors: Tensors, folder: Path, pairing: str = "official") -> Tensors:
    weights = {k.removeprefix(WEIGHTS_PREFIX): v for k, v in tensors.items() if k.startswith(WEIGHTS_PREFIX)}
    unet = model_from_state_dict("animation_unet", weights, spec["config"], source="fx4_stage2_unet3d.safetensors")
    outputs = {}
    for case in ("cfg", "distinct"):
        sample = tensors[f"inputs.sample_{case}"]
        batch, _, frames = sample.shape[:3]
        timesteps = frame_timesteps(tensors["inputs.timestep"], batch, frames)
        guidance = MotionGuidance(tensors[f"inputs.flow_pre_{case}"], pairing)
        outputs[f"sample_{case}"] = unet(sample, timesteps, tensors["inputs.encoder_hidden_states"],
                                         temporal_context=guidance)
    return outputs

