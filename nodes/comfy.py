"""The one place that touches ComfyUI. Everything here falls back cleanly without it.

Nodes call these helpers instead of importing ``folder_paths``, ``comfy.utils`` or
``comfy.model_management`` themselves, so the pack imports and its tests run in a plain Python.
"""

from __future__ import annotations

import os
import tempfile

import torch

from ..motion_i2v.devices import resolve_device

try:  # inside ComfyUI
    import comfy.cli_args as _ca
    import comfy.model_management as _mm
    import comfy.utils as _cu
    import folder_paths as _fp
except ImportError:  # plain Python: tests, CI, the CLI
    _ca = _mm = _cu = _fp = None

MODEL_FOLDER = "motion_i2v"
MODEL_EXTENSIONS = {".safetensors", ".sft", ".bin", ".ckpt", ".pt", ".pth"}

# Without ComfyUI, model/input/output folders come from these variables or a temp dir.
_ENV_MODELS = "MOTION_I2V_MODELS"
_ENV_OUTPUT = "MOTION_I2V_OUTPUT"
_ENV_INPUT = "MOTION_I2V_INPUT"


def in_comfyui() -> bool:
    return _fp is not None


def register_model_folder() -> None:
    """Register ``models/motion_i2v`` with folder_paths (so extra_model_paths.yaml works)."""
    if _fp is None:
        return
    default = os.path.join(_fp.models_dir, MODEL_FOLDER)
    paths, extensions = _fp.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    if default not in paths:
        paths = [default, *paths]
    _fp.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | MODEL_EXTENSIONS)


def _fallback_models_dir() -> str:
    return os.environ.get(_ENV_MODELS, os.path.join(os.getcwd(), "models", MODEL_FOLDER))


def model_files(folder: str = MODEL_FOLDER) -> list[str]:
    """Relative paths of the model files in ``folder`` (for COMBO widgets), sorted."""
    if _fp is not None:
        return sorted(_fp.get_filename_list(folder))
    root = _fallback_models_dir()
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            if os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS:
                found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    return sorted(found)


def model_dirs(folder: str = MODEL_FOLDER) -> list[str]:
    """Every directory registered for ``folder`` (ComfyUI's list, or the fallback)."""
    if _fp is not None:
        return list(_fp.get_folder_paths(folder))
    return [_fallback_models_dir()]


def model_path(name: str, folder: str = MODEL_FOLDER) -> str:
    """Absolute path of a model file chosen in a widget; raises naming the folder when absent."""
    if _fp is not None:
        return _fp.get_full_path_or_raise(folder, name)
    path = os.path.join(_fallback_models_dir(), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model in folder '{folder}' with filename '{name}' not found (looked in {path}).")
    return path


def output_dir() -> str:
    if _fp is not None:
        return _fp.get_output_directory()
    return os.environ.get(_ENV_OUTPUT, os.path.join(tempfile.gettempdir(), "motion_i2v_output"))


def input_dir() -> str:
    if _fp is not None:
        return _fp.get_input_directory()
    return os.environ.get(_ENV_INPUT, os.path.join(tempfile.gettempdir(), "motion_i2v_input"))


def temp_dir() -> str:
    if _fp is not None:
        return _fp.get_temp_directory()
    return os.path.join(tempfile.gettempdir(), "motion_i2v_temp")


def torch_device() -> torch.device:
    """Where heavy work runs: ComfyUI's device, else CUDA, MPS or CPU."""
    if _mm is not None:
        return _mm.get_torch_device()
    return resolve_device("auto")


def offload_device() -> torch.device:
    return _mm.unet_offload_device() if _mm is not None else torch.device("cpu")


def intermediate_device() -> torch.device:
    """Where node outputs live (CPU unless ComfyUI runs with --gpu-only)."""
    return _mm.intermediate_device() if _mm is not None else torch.device("cpu")


def check_interrupted() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel."""
    if _mm is not None:
        _mm.throw_exception_if_processing_interrupted()


def previews_enabled() -> bool:
    """Whether ComfyUI shows live previews: ``--preview-method``, which the frontend's "Live preview method"
    setting overrides per prompt (ComfyUI writes that choice back into its args before each prompt)."""
    return _ca is not None and _ca.args.preview_method != _ca.LatentPreviewMethod.NoPreviews


class Progress:
    """A ComfyUI ProgressBar (which also honours Cancel), or nothing outside ComfyUI.

    ``callback(step, total, preview=None)`` matches the engine's sampling callbacks; ``preview``, a function
    returning a PIL image, is called only when ComfyUI shows live previews, at most ``--preview-size`` a side.
    """

    def __init__(self, total: int):
        self.total = total
        self._bar = _cu.ProgressBar(total) if _cu is not None else None

    def __call__(self, step: int, total: int | None = None, preview=None) -> None:
        check_interrupted()
        if self._bar is not None:
            image = ("JPEG", preview(), _ca.args.preview_size) if preview is not None and previews_enabled() else None
            self._bar.update_absolute(step, total or self.total, image)


class _Managed(torch.nn.Module):
    """The module a ModelPatcher holds: ComfyUI writes its bookkeeping (``device``, ``current_patcher``,
    ``model_lowvram``, ...) onto it, and diffusers' models refuse ``device`` (a read-only property)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module


def wrap_model(module: torch.nn.Module):
    """Hand a torch module to ComfyUI's memory management; returns a ModelPatcher or the module.

    Outside ComfyUI the module itself comes back; use ``load_on_device`` before each use either way.
    """
    if _mm is None:
        return module
    import comfy.model_patcher

    return comfy.model_patcher.ModelPatcher(_Managed(module), load_device=torch_device(),
                                            offload_device=offload_device())


def unwrap(wrapped) -> torch.nn.Module:
    """The torch module inside a wrapped model, wherever it is (nothing is loaded or moved)."""
    return wrapped.model.module if _mm is not None else wrapped


def load_on_device(wrapped) -> torch.nn.Module:
    """Make room for and load a wrapped model on the compute device; returns the torch module."""
    if _mm is None:
        return wrapped.to(torch_device())
    _mm.load_models_gpu([wrapped], force_full_load=True)
    return wrapped.model.module
