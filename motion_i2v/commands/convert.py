"""``python -m motion_i2v convert SRC DST``: re-save weight files as safetensors.

SRC is one weight file (DST a ``.safetensors`` file) or a folder, such as the release's top folder or
a make-tiny folder (DST a folder that receives every file of every kind it recognises, at the same
place with the suffix ``.safetensors``, so the loaders and nodes find it as they find the release).
Keys stay the official names; the config the file needs travels in the safetensors metadata, so the
re-save loads on its own. Every file is checked against its model (strict keys and shapes) before
it is written; files that are no network of ours are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..weights.classify import classify
from ..weights.files import (
    METADATA_CONFIG,
    METADATA_KIND,
    WEIGHT_SUFFIXES,
    is_safetensors,
    read_shapes,
    save_state_dict,
)
from ..weights.kinds import KINDS, expected
from ..weights.loader import PE_SUFFIX, checked_file
from ..weights.release import RESAVE_SUFFIX

HELP = "re-save Motion-I2V weight files (.bin/.ckpt/.pt) as safetensors (optionally fp16): one file or a whole folder"


@dataclass
class Report:
    """What a conversion did: (kind, source, written file), (source, why skipped), (source, error)."""

    written: list[tuple[str, Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def convert_file(source: Path, target: Path, kind: str | None = None, fp16: bool = False) -> str:
    """Check ``source`` against its model and write it to ``target`` (safetensors, official keys); returns the kind.

    Without ``kind`` the file's own kind is taken, when it holds one network in its own layout.
    """
    if target.suffix.lower() != RESAVE_SUFFIX:
        raise ValueError(f"DST: expected a {RESAVE_SUFFIX} file for a single SRC file, got {target}")
    kind = kind or _own_kind(source)
    _, state, config = checked_file(kind, source)
    if fp16:
        # The position encodings stay float32: they are exact sinusoids, not trained weights.
        state = {k: v.half() if v.is_floating_point() and not k.endswith(PE_SUFFIX) else v for k, v in state.items()}
    save_state_dict(state, target, {METADATA_KIND: kind, METADATA_CONFIG: json.dumps(config.values)})
    return kind


def _own_kind(source: Path) -> str:
    found = classify(read_shapes(source, slot="SRC"))
    if found.kind is None:
        raise ValueError(f"{source} is {found.description}: no Motion-I2V model (kinds: {', '.join(KINDS)})")
    if found.layout == "ldm":
        raise ValueError(f"{source} is {found.description}, several models in one file; pass --kind "
                         f"({' or '.join(found.kinds)}) to convert one of them")
    return found.kind


def _why_skipped(source: Path) -> str | None:
    """Why a folder conversion leaves ``source`` alone, or None to convert it."""
    if is_safetensors(source):
        return "already safetensors: it loads as it is"
    found = classify(read_shapes(source, slot="SRC"))
    if found.kind is None:
        return f"{found.description}: no Motion-I2V loader reads it"
    if found.layout == "ldm":
        return (f"{found.description}: Load Animator reads it as it is (convert it on its own with --kind "
                f"sd_unet for its UNet alone)")
    return None


def convert(source: Path, target: Path, kind: str | None = None, fp16: bool = False) -> Report:
    """Convert one file, or every weight file of a folder that holds one of our networks."""
    report = Report()
    if not source.is_dir():
        report.written.append((convert_file(source, target, kind, fp16), source, target))
        return report
    if kind is not None:
        raise ValueError("--kind: only for a single SRC file; the files of a folder are recognised one by one")
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)
    if not files:
        raise ValueError(f"SRC: {source} holds no weight files ({', '.join(WEIGHT_SUFFIXES)}); expected e.g. "
                         f"{expected(KINDS['flow_unet'])}")
    for path in files:
        written = target / path.relative_to(source).with_suffix(RESAVE_SUFFIX)
        try:
            reason = _why_skipped(path)
            if reason is None:
                report.written.append((convert_file(path, written, fp16=fp16), path, written))
            else:
                report.skipped.append((path, reason))
        except (ValueError, OSError) as error:
            report.failed.append((path, str(error)))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "kinds, and where the release keeps them:\n" + "\n".join(
        "\n".join([f"  {name:15s} {kind.title}", *(f"  {'':15s} {path}" for path in kind.release)])
        for name, kind in KINDS.items())
    parser.add_argument("src", type=Path, help="a weight file, or a folder (the release's top folder, a make-tiny "
                        "folder) to convert every file of")
    parser.add_argument("dst", type=Path, help="the .safetensors file to write, or a folder for a folder SRC")
    parser.add_argument("--kind", choices=list(KINDS), help="the model in SRC (default: recognised from its keys)")
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")


def run(args: argparse.Namespace) -> int:
    try:
        with torch.inference_mode():
            report = convert(args.src, args.dst, args.kind, args.fp16)
    except (ValueError, OSError) as error:
        print(f"convert: {error}", file=sys.stderr)
        return 2
    for kind, source, written in report.written:
        print(f"{kind:15s} {source} -> {written}")
    for source, reason in report.skipped:
        print(f"{'skipped':15s} {source}: {reason}")
    for _, error in report.failed:
        print(f"convert: {error}", file=sys.stderr)  # every error names its file
    return 2 if report.failed else 0
