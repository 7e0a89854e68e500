"""``python -m motion_i2v make-tiny DIR``: a complete tiny model set in the official file layout.

Random weights at the tiny configs of ``motion_i2v/configs/tiny`` (the parity fixtures' widths, with
the spatial attention at half resolution only, so that 512x320 workflow runs stay quick), under the
official key names and file names, pickled with ``torch.save`` as the release is. Tests,
CI and the README demo use it in place of the 18.6 GB release. Every parameter is drawn from a
seeded generator, zero-initialised layers included, so the ControlNet and the motion modules act.

``--text-width 768`` makes the UNets read text states of SD1.5's CLIP-L width instead of the tiny 32: a
real ComfyUI builds CLIP-L at full size whatever checkpoint it loads, so its CONDITIONING is 768 wide.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..checks import check_number
from ..media import check_writable
from ..weights.configs import bundled_config
from ..weights.files import save_state_dict
from ..weights.kinds import KINDS, STAGE1, STAGE2
from ..weights.loader import build_model, official_state_dict

HELP = "write a tiny random model set in the official Motion-I2V file layout (for tests and demos)"

# Every kind with a release file, at the release's own path for it (the plain SD1.5 UNet, not the demo's
# fine-tune realistic_unet.ckpt), and the config.json it is written with,
# relative to DIR, where the loaders look for it (``configs.config_for_file``). The ControlNet takes
# the UNet's, as upstream; the one beside motion_block.bin is not in the release (which takes the
# bundled official config), but tells the loader the tiny sizes.
CONFIG_FILES = {
    "flow_unet": f"{STAGE1}/unet/config.json",
    "flow_vae": f"{STAGE1}/vae/config.json",
    "controlnet": None,
    "image_vae": f"{STAGE2}/StableDiffusion/vae/config.json",
    "sd_unet": f"{STAGE2}/StableDiffusion/unet/config.json",
    "motion_modules": f"{STAGE2}/Motion_Module/config.json",
}


def randomize(model: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """Fresh random weights: matrices and kernels N(0, 1/fan_in), norm scales 1 + N(0, 0.1), biases N(0, 0.1)."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.ndim >= 2:
                parameter.copy_(noise / parameter[0].numel() ** 0.5)
            elif name.endswith("weight"):
                parameter.copy_(1 + 0.1 * noise)
            else:
                parameter.copy_(0.1 * noise)
    return model


def tiny_config(kind: str, text_width: int | None = None) -> dict:
    """The bundled tiny config of ``kind``, reading text states ``text_width`` wide when given."""
    config = bundled_config(kind, "tiny")
    if text_width is not None and "cross_attention_dim" in config:
        config["cross_attention_dim"] = text_width
    return config


def write_tiny_models(root, seed: int = 0, text_width: int | None = None) -> dict[str, Path]:
    """Write the tiny set under ``root``; returns the weight file of every kind."""
    root = Path(root)
    generator = torch.Generator().manual_seed(seed)
    written = {}
    for kind, config_file in CONFIG_FILES.items():
        config = tiny_config(kind, text_width)
        model = randomize(build_model(kind, config), generator)
        written[kind] = save_state_dict(official_state_dict(model, kind), root / KINDS[kind].release[-1])
        if config_file is not None:
            (root / config_file).parent.mkdir(parents=True, exist_ok=True)
            (root / config_file).write_text(json.dumps(config, indent=1) + "\n")
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="folder to write models/stage1/... and models/stage2/... into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--text-width", type=int, help="width of the text states the UNets read (default: the "
                        "tiny 32; 768 for a real ComfyUI's SD1.5 CLIP-L)")


def run(args: argparse.Namespace) -> int:
    check_writable(args.dir, "DIR", folder=True)
    check_number(args.seed, "--seed", low=0, high=2**64 - 1, integer=True)
    if args.text_width is not None:
        check_number(args.text_width, "--text-width", low=1, high=4096, integer=True)
    for kind, path in write_tiny_models(args.dir, args.seed, args.text_width).items():
        print(f"{kind:12s} {path}")
    return 0
