"""Write a random SD1.5 checkpoint that ComfyUI's CheckpointLoaderSimple accepts, as small as it allows.

Run with ComfyUI's Python from a ComfyUI checkout (it builds the modules with ComfyUI's own classes, so the
keys and shapes are exactly what ComfyUI's loader expects; nothing of ComfyUI is copied here):

    cd $COMFYUI_DIR && $PYTHON /path/to/tests/comfyui_tiny_sd15.py OUT.safetensors

ComfyUI recognises SD1.5 by the UNet's width (``model_channels`` 320) and text context (768) only
(``comfy/supported_models.py`` SD15.unet_config), so the UNet here has two resolution levels (320 and 640
channels, as SD1.5's first two) with one res-block each, cross-attention on the first level and in the
middle block only, like SD1.5's last level (about 93 M parameters instead of 860 M). Two levels give a
downsampler and an upsampler, and the 640-channel blocks that FreeU scales; the motion modules of
``motion_i2v/configs/comfy_tiny`` fit this UNet. The CLIP-L text encoder and the
VAE have fixed architectures in ComfyUI and are written at full size (123 M and 84 M parameters), in
fp16 to halve the file (about 0.5 GB). Weights are random (``tiny_sd.random_state``: norms 1, biases 0,
the rest N(0, 0.02), from a seeded generator). The script reloads the file through
``load_checkpoint_guess_config`` and prints what ComfyUI detected as JSON.
"""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_sd import SEED, random_state  # noqa: E402  (this script runs outside pytest, from the ComfyUI folder)

UNET = {
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [1, 1], "channel_mult": [1, 2], "transformer_depth": [1, 0],
    "transformer_depth_output": [1, 1, 0, 0],  # ComfyUI pops from the end: output blocks 0-1 (640) have none
    "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": 768,
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
VAE = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
       "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}


def main(out: str) -> int:
    sys.path.insert(0, os.getcwd())
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # as `main.py --cpu`: build and check on the CPU whatever the machine
    import comfy.ldm.models.autoencoder
    import comfy.model_detection
    import comfy.sd
    import comfy.sd1_clip
    import comfy.supported_models
    import comfy.utils

    generator = torch.Generator().manual_seed(SEED)
    config = comfy.model_detection.model_config_from_unet_config(dict(UNET))
    if not isinstance(config, comfy.supported_models.SD15):
        raise SystemExit(f"ComfyUI matched the UNet config to {type(config).__name__}, not SD15")
    state = random_state(config.get_model({}).diffusion_model, "model.diffusion_model.", generator, torch.float32)
    clip = comfy.sd1_clip.SD1ClipModel()
    state |= {key.replace("clip_l.", "cond_stage_model.", 1): value
              for key, value in random_state(clip, "", generator, torch.float16).items()}
    vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=VAE, embed_dim=4)
    state |= random_state(vae, "first_stage_model.", generator, torch.float16)
    comfy.utils.save_torch_file(state, out)

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(out, output_vae=True, output_clip=True)
    print(json.dumps({
        "file": out, "bytes": os.path.getsize(out), "model": type(model.model.model_config).__name__,
        "unet_parameters": sum(p.numel() for p in model.model.diffusion_model.parameters()),
        "clip": type(clip.cond_stage_model).__name__, "vae_latent_channels": vae.latent_channels,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
