"""The config that builds each kind: bundled, stored in a re-save, or found beside a weight file.

A found config is used only when it describes the kind asked for (``Kind.config_fits``): the three
stage-1 release files are all called ``diffusion_pytorch_model.bin``, so a UNet file chosen as the
flow VAE has the UNet's config.json beside it, which must not build the VAE. Such a config is passed
over, and the strict key check then names the file for what it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .files import METADATA_CONFIG, read_metadata
from .kinds import get_kind

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


@dataclass(frozen=True)
class Config:
    """An official config dictionary and where it came from (for error messages)."""

    values: dict
    source: str


def bundled_config(kind: str, name: str = "official") -> dict:
    """A config shipped in ``motion_i2v/configs/<name>/<kind>.json`` (names: official, tiny)."""
    get_kind(kind)
    path = CONFIG_DIR / name / f"{kind}.json"
    if not path.is_file():
        names = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir())
        raise ValueError(f"config: no bundled config {name!r} for {kind} (bundled: {names})")
    return json.loads(path.read_text())


def resolve_config(kind: str, config: str | dict | Config) -> Config:
    """A bundled config's name, a config dictionary or a ``Config`` -> a ``Config``."""
    if isinstance(config, Config):
        return config
    if isinstance(config, str):
        return Config(bundled_config(kind, config), f"the bundled {config} {kind} config")
    return Config(dict(config), f"the {kind} config given")


def _parse(text: str, kind: str, where: str) -> dict:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{kind}: {where} is not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{kind}: {where} is not a config dictionary (found a JSON {type(values).__name__})")
    return values


def config_for_file(kind: str, path) -> Config:
    """The config that goes with the weight file ``path`` loaded as ``kind``.

    In order, the first that describes ``kind``: the config stored in a safetensors re-save's metadata;
    a ``config.json`` beside the file; the kind's companion config.json files (``vae/config.json`` for
    ``vae_flow/``, ``unet/config.json`` for the ControlNet); else the bundled official config.
    A config file that is not a JSON dictionary raises, naming it, the weight file and the kind.
    """
    spec, path = get_kind(kind), Path(path)
    stored = read_metadata(path, slot=kind).get(METADATA_CONFIG)
    if stored:
        values = _parse(stored, kind, f"the config stored in {path}")
        if spec.config_fits(values):
            return Config(values, f"the config stored in {path}")
    for relative in ("config.json", *spec.companions):
        candidate = (path.parent / relative).resolve()
        if candidate.is_file():
            values = _parse(candidate.read_text(), kind, f"{candidate} (the config for {path})")
            if spec.config_fits(values):
                return Config(values, str(candidate))
    return resolve_config(kind, "official")
