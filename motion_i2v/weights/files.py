"""Weight files on disk: reading tensors, shapes and metadata, writing re-saves.

Files are safetensors or torch pickles. Pickles are only ever read with ``torch.load(weights_only=True)``,
zip-format ones memory-mapped, so reading the shapes of a 5 GB file costs no more than its index.
Every error names the slot the file was chosen for (a kind such as ``flow_vae``, or an argument
such as ``raft_weights``) and the file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

Weights = dict[str, torch.Tensor]
Shapes = dict[str, tuple[int, ...]]

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
WEIGHT_SUFFIXES = (*SAFETENSORS_SUFFIXES, ".bin", ".ckpt", ".pt", ".pth")
# Metadata of our safetensors re-saves: the kind they hold and the config that builds it (JSON).
METADATA_KIND = "motion_i2v_kind"
METADATA_CONFIG = "motion_i2v_config"
_READ_ERRORS = (SafetensorError, RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError)


def is_safetensors(path) -> bool:
    return Path(path).suffix.lower() in SAFETENSORS_SUFFIXES


def check_file(path, *, slot: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{slot}: weight file {path} does not exist")
    return path


def _unreadable(path: Path, slot: str, error: Exception) -> ValueError:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ValueError(f"{slot}: {path}: not a readable checkpoint (truncated, corrupt or not a weight file): {detail}")


def read_state_dict(path, *, slot: str) -> Weights:
    """The tensors of a weight file; a pickle holding ``{"state_dict": {...}}`` is unwrapped.

    Unreadable files, and pickles of anything but tensors, raise a ValueError naming ``slot`` and the file.
    """
    path = check_file(path, slot=slot)
    try:
        if is_safetensors(path):
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except _READ_ERRORS as error:
        raise _unreadable(path, slot, error) from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{slot}: {path}: expected a dictionary of tensors, found {type(state).__name__}")
    return state


def read_shapes(path, *, slot: str) -> Shapes:
    """Key -> shape of a weight file; of a safetensors file only the header is read."""
    path = check_file(path, slot=slot)
    if not is_safetensors(path):
        return shapes_of(read_state_dict(path, slot=slot))
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except _READ_ERRORS as error:
        raise _unreadable(path, slot, error) from error


def read_metadata(path, *, slot: str) -> dict[str, str]:
    """The header metadata of a safetensors file (empty for pickles)."""
    path = check_file(path, slot=slot)
    if not is_safetensors(path):
        return {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except _READ_ERRORS as error:
        raise _unreadable(path, slot, error) from error


def shapes_of(weights: Weights) -> Shapes:
    return {key: tuple(value.shape) for key, value in weights.items()}


def save_state_dict(state: Weights, path, metadata: dict[str, str] | None = None) -> Path:
    """Write tensors as safetensors (chosen by the suffix, with ``metadata``) or as a torch pickle, as released."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().cpu() for key, value in state.items()}
    if is_safetensors(path):
        save_file(state, str(path), metadata=metadata)
    else:
        torch.save(state, path)
    return path
