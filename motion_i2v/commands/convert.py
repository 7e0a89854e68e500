"""``python -m motion_i2v convert SRC DST``: re-save official pickles as safetensors.

SRC is one weight file (DST a ``.safetensors`` file) or a model folder in the official layout (DST
a folder that receives ``<kind>.safetensors`` for every file found). Keys stay the official names;
the config the file needs travels in the safetensors metadata, so the re-save loads on its own.
Every file is checked against its model (strict keys and shapes) before anything is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..loading import (
    KINDS,
    METADATA_CONFIG,
    METADATA_KIND,
    PE_SUFFIX,
    build_model,
    check_state_dict,
    config_for_file,
    guess_kind,
    locate_files,
    read_state_dict,
    save_state_dict,
)

HELP = "re-save official Motion-I2V .bin weights as safetensors (optionally fp16)"


def convert_file(source: Path, target: Path, kind: str | None = None, fp16: bool = False) -> tuple[str, Path]:
    """Check ``source`` against its model and write it to ``target`` (safetensors, official keys).

    Returns the kind and the written file.
    """
    state = read_state_dict(source)
    kind = kind or guess_kind(state)
    if kind is None:
        raise ValueError(f"{source}: cannot tell which model this is; pass --kind (one of {sorted(KINDS)})")
    config = config_for_file(kind, source)
    state = check_state_dict(kind, state, build_model(kind, config, device="meta"), source=str(source))
    if fp16:
        # The position encodings stay float32: they are exact sinusoids, not trained weights.
        state = {k: v.half() if v.is_floating_point() and not k.endswith(PE_SUFFIX) else v for k, v in state.items()}
    metadata = {METADATA_KIND: kind, METADATA_CONFIG: json.dumps(config)}
    return kind, save_state_dict(state, target, metadata)


def convert(source: Path, target: Path, kind: str | None = None, fp16: bool = False) -> dict[str, Path]:
    """Convert one file, or every official file of a folder; returns the written files by kind."""
    if source.is_dir():
        found = locate_files(source)
        if not found:
            raise ValueError(f"{source}: no Motion-I2V weight files found (expected e.g. {KINDS['flow_unet'].file})")
        return dict(convert_file(path, target / f"{name}.safetensors", name, fp16) for name, path in found.items())
    if target.suffix.lower() != ".safetensors":
        raise ValueError(f"DST: expected a .safetensors file for a single SRC file, got {target}")
    return dict([convert_file(source, target, kind, fp16)])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", type=Path, help="an official .bin/.pt file, or a model folder in the official layout")
    parser.add_argument("dst", type=Path, help="the .safetensors file to write, or a folder for a folder SRC")
    parser.add_argument("--kind", choices=sorted(KINDS), help="the model in SRC (default: recognised from its keys)")
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")


def run(args: argparse.Namespace) -> int:
    with torch.inference_mode():
        written = convert(args.src, args.dst, args.kind, args.fp16)
    for kind, path in written.items():
        print(f"{kind:12s} {path}")
    return 0
