"""The one place that touches ComfyUI. Everything here falls back cleanly without it.

Nodes call these helpers instead of importing ``folder_paths``, ``comfy.utils`` or
``comfy.model_management`` themselves, so the pack imports and its tests run in a plain Python:
folders, devices and precision, progress and Cancel, ModelPatchers (ours, and a MODEL's weight patches),
and pictures shown on a node through the ``ui`` dict.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile

import torch
from einops import rearrange
from PIL import Image

from ..motion_i2v.devices import default_dtype, resolve_device, resolve_dtype

try:  # inside ComfyUI
    import comfy.cli_args as _ca
    import comfy.lora as _lora
    import comfy.model_management as _mm
    import comfy.utils as _cu
    import folder_paths as _fp
except ImportError:  # plain Python: tests, CI, the CLI
    _ca = _lora = _mm = _cu = _fp = None

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


def temp_picture(image: torch.Tensor, prefix: str) -> dict:
    """Save [3, H, W] 0..1 to ComfyUI's temp folder as PreviewImage does; returns its entry for a ``ui`` list
    (``{"filename", "subfolder", "type": "temp"}``, what the frontend's /view serves).

    The name is the content's hash, so re-running with the same picture rewrites the same file.
    """
    pixels = rearrange((image.detach().cpu().clamp(0, 1) * 255).round().byte(), "c h w -> h w c").numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    data = buffer.getvalue()
    filename = f"{prefix}_{hashlib.sha1(data).hexdigest()[:16]}.png"
    folder = temp_dir()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, filename), "wb") as handle:
        handle.write(data)
    return {"filename": filename, "subfolder": "", "type": "temp"}


def torch_device() -> torch.device:
    """Where heavy work runs: ComfyUI's device, else CUDA, MPS or CPU."""
    if _mm is not None:
        return _mm.get_torch_device()
    return resolve_device("auto")


def network_dtype(choice: str) -> torch.dtype:
    """A loader's dtype widget: "auto" (``devices.default_dtype`` on ComfyUI's device), or a name in ``DTYPES``."""
    return default_dtype(torch_device()) if choice == "auto" else resolve_dtype(choice)


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


def calculate_weight(patches: list, weight: torch.Tensor, key: str) -> torch.Tensor:
    """A weight with a MODEL's patches (LoRAs, merges) applied: ``comfy.lora.calculate_weight``, the current
    function (``ModelPatcher.calculate_weight`` is its deprecated alias and logs a warning per call)."""
    if _lora is None:
        raise RuntimeError(f"weight patches of {key} need ComfyUI's comfy.lora")
    return _lora.calculate_weight(patches, weight, key)


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


UNET_PREFIX = "diffusion_model."  # where a ComfyUI MODEL keeps its UNet


def patched_unet_weights(model) -> dict[str, torch.Tensor]:
    """The UNet weights of a ComfyUI MODEL with its patches (LoRAs, merges) applied, under LDM names.

    Duck-typed on ``ModelPatcher.get_key_patches`` ({key: [(weight, convert) or weight, *patches]}); the
    patches are applied with ComfyUI's ``comfy.lora.calculate_weight``.
    """
    if not hasattr(model, "get_key_patches"):
        raise ValueError(f"model: expected a ComfyUI MODEL (a ModelPatcher), got {type(model).__name__}")
    weights = {}
    for key, (original, *patches) in model.get_key_patches(UNET_PREFIX).items():
        weight, convert = original if isinstance(original, tuple) else (original, None)
        weight = convert(weight) if convert is not None else weight
        if patches:
            weight = calculate_weight(patches, weight.float().clone(), key).to(weight.dtype)
        weights[key.removeprefix(UNET_PREFIX)] = weight.detach().cpu()
    return weights


def unapplied_patches(model) -> tuple[list[str], list[str]]:
    """What a MODEL carries besides weight patches, which the reference path cannot apply: (refused, dropped).

    Refused: a different noise prediction (a v-prediction checkpoint, a ``model_sampling`` patch such as
    ModelSamplingDiscrete), which would make the reference path's epsilon sampler render wrongly. Dropped (the
    loader warns): sampling-time patches such as FreeU, PAG, attention patches, other packs' wrappers,
    injections (bypass LoRAs) and hooks. Duck-typed on ModelPatcher's attributes.
    """
    refused, dropped = [], []
    model_type = getattr(getattr(getattr(model, "model", None), "model_type", None), "name", "EPS")
    if model_type != "EPS":
        refused.append(f"the model predicts {model_type.lower()} (the reference path samples epsilon models)")
    object_patches = dict(getattr(model, "object_patches", {}))
    if object_patches.pop("model_sampling", None) is not None:
        refused.append("a model_sampling patch (e.g. ModelSamplingDiscrete), which changes what the model predicts")
    options = dict(getattr(model, "model_options", {}))
    transformer = dict(options.pop("transformer_options", {}))
    dropped += [f"transformer patch {name}" for kind in ("patches", "patches_replace")
                for name in transformer.pop(kind, {})]
    dropped += [f"transformer option {name}" for name in transformer]
    dropped += [f"sampling option {name}" for name in options]
    dropped += [f"object patch {name}" for name in object_patches]
    for attribute, label in (("wrappers", "wrapper"), ("callbacks", "callback"), ("injections", "injection"),
                             ("hook_patches", "hook patch"), ("weight_wrapper_patches", "weight wrapper"),
                             ("additional_models", "additional model")):
        dropped += [f"{label} {name}" for name in getattr(model, attribute, {}) or {}]
    return refused, dropped
