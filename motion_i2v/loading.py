"""Building the networks and loading the official weight files, key for key.

Kinds: ``flow_unet`` (``unet/diffusion_pytorch_model.bin``), ``controlnet``
(``controlnet/controlnet.bin``, keys prefixed ``controlnet.``), ``flow_vae``
(``vae_flow/diffusion_pytorch_model.bin``, diffusers-0.11 attention names) and ``image_vae`` (the
SD1.5 VAE of ``models/stage2/StableDiffusion/vae``, old or new names). Files are the official
pickles (read with ``torch.load(weights_only=True)``) or safetensors re-saves under the same keys.
Loading is strict: missing, unexpected or mis-shaped keys raise a ValueError naming the file and
the keys; only the motion modules' deterministic ``pos_encoder.pe`` buffers may be absent.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .models import TrajectoryControlNet, UNet3D, UNet3DConfig
from .models.motion_module import sinusoidal_positions
from .models.vae import build_vae, to_modern_keys, to_official_keys

CONFIG_DIR = Path(__file__).parent / "configs"
CONTROLNET_PREFIX = "controlnet."
PE_SUFFIX = "pos_encoder.pe"
METADATA_KIND = "motion_i2v_kind"
METADATA_CONFIG = "motion_i2v_config"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
_SHOWN = 5  # offending keys quoted in an error


@dataclass(frozen=True)
class ModelKind:
    """How one kind of network is built and how its file names its weights."""

    name: str
    build: Callable[[dict], nn.Module]
    to_file: Callable[[dict], dict]  # our state_dict keys -> the official file's keys
    from_file: Callable[[dict], dict]  # the file's keys -> ours
    file: str  # where the official release keeps it, for messages


def _strip_controlnet_prefix(state_dict: dict) -> dict:
    if state_dict and all(key.startswith(CONTROLNET_PREFIX) for key in state_dict):
        return {key.removeprefix(CONTROLNET_PREFIX): value for key, value in state_dict.items()}
    return state_dict


KINDS = {
    kind.name: kind
    for kind in (
        ModelKind("flow_unet", lambda c: UNet3D(UNet3DConfig.from_official(c)), dict, dict,
                  "models/stage1/StableDiffusion-FlowGen/unet/diffusion_pytorch_model.bin"),
        ModelKind("controlnet", lambda c: TrajectoryControlNet(UNet3DConfig.from_official(c)),
                  lambda sd: {CONTROLNET_PREFIX + key: value for key, value in sd.items()}, _strip_controlnet_prefix,
                  "models/stage1/StableDiffusion-FlowGen/controlnet/controlnet.bin"),
        ModelKind("flow_vae", build_vae, to_official_keys, to_modern_keys,
                  "models/stage1/StableDiffusion-FlowGen/vae_flow/diffusion_pytorch_model.bin"),
        ModelKind("image_vae", build_vae, to_official_keys, to_modern_keys,
                  "models/stage2/StableDiffusion/vae/diffusion_pytorch_model.bin"),
    )
}


def _kind(kind: str) -> ModelKind:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind]


def bundled_config(kind: str, name: str = "official") -> dict:
    """A config shipped in ``motion_i2v/configs/<name>/<kind>.json`` (names: official, tiny)."""
    _kind(kind)
    path = CONFIG_DIR / name / f"{kind}.json"
    if not path.is_file():
        names = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir())
        raise ValueError(f"config: no bundled config {name!r} for {kind} (bundled: {names})")
    return json.loads(path.read_text())


def resolve_dtype(dtype) -> torch.dtype:
    """``"fp32" | "fp16" | "bf16"`` or a torch float dtype -> torch.dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")


def resolve_device(device) -> torch.device:
    """``"auto"`` (CUDA, then MPS, then CPU) or anything ``torch.device`` accepts."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def build_model(kind: str, config: str | dict = "official", *, device="cpu", dtype=torch.float32) -> nn.Module:
    """A network of ``kind`` with fresh weights; ``config`` is a bundled name or an official config dict.

    ``device="meta"`` builds the structure only (cheap, for shape checks and strict loading).
    """
    spec = _kind(kind)
    values = bundled_config(kind, config) if isinstance(config, str) else config
    with torch.device(resolve_device(device)):
        model = spec.build(values)
    return _to(model, dtype=resolve_dtype(dtype))


def official_state_dict(model: nn.Module, kind: str) -> dict[str, torch.Tensor]:
    """``model``'s weights under the official file's key names."""
    return _kind(kind).to_file(model.state_dict())


def _is_safetensors(path: Path) -> bool:
    return path.suffix.lower() in SAFETENSORS_SUFFIXES


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    return path


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: safetensors, or a torch pickle read with ``weights_only=True``.

    A pickle holding ``{"state_dict": {...}}`` is unwrapped. Unreadable files raise a ValueError.
    """
    path = _check_file(path)
    try:
        if _is_safetensors(path):
            return load_file(str(path))
        # Zip-format pickles are memory-mapped, so only the tensors actually used are read.
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (SafetensorError, RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable checkpoint (truncated, corrupt or not a weight file): "
                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a dictionary of tensors, found {type(state).__name__}")
    return state


def read_metadata(path) -> dict[str, str]:
    """The safetensors header metadata (empty for pickles)."""
    path = _check_file(path)
    if not _is_safetensors(path):
        return {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except SafetensorError as error:
        raise ValueError(f"{path}: not a readable safetensors file: {error}") from error


def guess_kind(state: dict[str, torch.Tensor]) -> str | None:
    """Which of our kinds a state dict (official or our names) holds, or None."""
    if any(key.startswith(CONTROLNET_PREFIX) or key.startswith("controlnet_down_blocks.") for key in state):
        return "controlnet"
    vae_input = state.get("encoder.conv_in.weight")
    if vae_input is not None and "decoder.conv_out.weight" in state:
        return {2: "flow_vae", 3: "image_vae"}.get(vae_input.shape[1])
    if "stride_embedding.linear_1.weight" in state and "up_blocks.0.resnets.0.conv1.weight" in state:
        return "flow_unet"
    return None


def describe_checkpoint(keys) -> str:
    """A guess at what a set of keys is, for error messages."""
    keys = set(keys)

    def has(prefix):
        return any(key.startswith(prefix) for key in keys)

    if has("conditioner.embedders") or has("model.diffusion_model.label_emb"):
        return "an SDXL checkpoint (LDM single-file layout)"
    if has("model.diffusion_model.") or has("first_stage_model.") or has("cond_stage_model."):
        return "a Stable Diffusion 1.x/2.x checkpoint (LDM single-file layout)"
    if has(CONTROLNET_PREFIX) or has("controlnet_down_blocks."):
        return "the Motion-I2V trajectory ControlNet (controlnet.bin)"
    if has("encoder.down_blocks.") or has("decoder.up_blocks."):
        return "a VAE"
    if any("motion_modules." in key for key in keys):
        return "stage-2 motion modules only (motion_block.bin)" if not has("conv_in.") else (
            "the flow UNet" if has("stride_embedding.") else "a stage-2 / AnimateDiff UNet without stride embedding")
    if has("conv_in.") and has("up_blocks."):
        return "a diffusers 2D UNet (no motion modules, e.g. SD1.5's unet)"
    return "not a known Motion-I2V file"


def _check_keys(source: str, kind: str, state: dict, expected: dict) -> None:
    missing = sorted(k for k in expected if k not in state and not k.endswith(PE_SUFFIX))
    unexpected = sorted(k for k in state if k not in expected)
    wrong = sorted(f"{k} {list(state[k].shape)} (expected {list(expected[k].shape)})"
                   for k in state if k in expected and state[k].shape != expected[k].shape)
    if not (missing or unexpected or wrong):
        return
    problems = [f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{', ...' if len(items) > _SHOWN else ''}"
                for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", wrong)) if items]
    raise ValueError(f"{source}: does not fit the {kind} model ({'; '.join(problems)}). "
                     f"The file looks like {describe_checkpoint(state)}; expected the {kind} file "
                     f"({_kind(kind).file}) or its re-save.")


def config_for_file(kind: str, path) -> dict:
    """The config that goes with a weight file.

    In order: the config stored in a safetensors re-save's metadata; a ``config.json`` beside the file;
    the official layout's companion (``vae/config.json`` for ``vae_flow/``, ``unet/config.json`` for the
    ControlNet, which upstream builds ``from_unet``); else the bundled official config.
    """
    path = Path(path)
    stored = read_metadata(path).get(METADATA_CONFIG)
    if stored:
        return json.loads(stored)
    companions = {"flow_vae": ("../vae/config.json",), "controlnet": ("../unet/config.json",)}
    for relative in ("config.json", *companions.get(kind, ())):
        candidate = (path.parent / relative).resolve()
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return bundled_config(kind)


def load_model(kind: str, path, config: str | dict | None = None, *, device="cpu", dtype=torch.float32) -> nn.Module:
    """Build ``kind`` and load the file ``path`` into it strictly.

    ``config=None`` finds the config with ``config_for_file``. ``device`` may be "auto".
    """
    return load_models({kind: path}, {kind: config}, device=device, dtype=dtype)[kind]


def load_models(files: dict, configs: dict | None = None, *, device="cpu",
                dtype=torch.float32) -> dict[str, nn.Module]:
    """Load several files (``{kind: path}``); every file is read and checked before any network is built.

    ``configs``: ``{kind: config}``, where a missing or None entry is found with ``config_for_file``.
    ``dtype``: one dtype for all, or ``{kind: dtype}``. Pickles are memory-mapped, so the checking
    pass reads headers, not weights.
    """
    configs = configs or {}
    dtypes = {kind: resolve_dtype(dtype[kind] if isinstance(dtype, dict) else dtype) for kind in files}
    resolve_device(device)
    checked = {}
    for kind, path in files.items():
        path = _check_file(path)
        config = configs.get(kind)
        config = config_for_file(kind, path) if config is None else config
        model = build_model(kind, config, device="meta")
        checked[kind] = (model, check_state_dict(kind, read_state_dict(path), model, source=str(path)))
    return {kind: _materialize(kind, model, state, device, dtypes[kind]) for kind, (model, state) in checked.items()}


def model_from_state_dict(kind: str, state: dict[str, torch.Tensor], config: str | dict = "official", *,
                          source: str = "state dict", device="cpu", dtype=torch.float32) -> nn.Module:
    """Build ``kind`` from ``config`` and load ``state`` (official or our key names) into it strictly.

    ``source`` names the tensors in errors.
    """
    model = build_model(kind, config, device="meta")
    return _materialize(kind, model, check_state_dict(kind, state, model, source=source), device, dtype)


def _materialize(kind: str, model: nn.Module, state: dict[str, torch.Tensor], device, dtype) -> nn.Module:
    """Give a meta-device ``model`` the checked tensors (no second initialisation), then place and cast it."""
    model.load_state_dict(_kind(kind).from_file(state), strict=True, assign=True)
    return _to(model, device=resolve_device(device), dtype=resolve_dtype(dtype))


def check_state_dict(kind: str, state: dict[str, torch.Tensor], model: nn.Module, *,
                     source: str = "state dict") -> dict[str, torch.Tensor]:
    """Raise unless ``state`` fits ``model`` key for key; returns it under the official names, PE completed.

    ``model`` may live on the meta device. Absent ``pos_encoder.pe`` buffers are filled with the
    official sinusoids.
    """
    spec = _kind(kind)
    # Normalise to the official names (a prefix-less ControlNet, a VAE saved by new diffusers).
    state = spec.to_file(spec.from_file(state))
    expected = official_state_dict(model, kind)
    _check_keys(source, kind, state, expected)
    for key in expected:
        if key.endswith(PE_SUFFIX) and key not in state:
            _, length, channels = expected[key].shape
            state[key] = sinusoidal_positions(length, channels)
    return state


def _to(model: nn.Module, **kwargs) -> nn.Module:
    # nn.Module.to, not diffusers' ModelMixin.to, which warns on every cast of a VAE.
    return nn.Module.to(model, **kwargs).eval()


def locate_files(root) -> dict[str, Path]:
    """The weight files under a model folder, by kind.

    ``root`` is a folder of re-saves named ``<kind>.safetensors``, or the release's top folder
    (holding ``models/stage1/...``) or any folder inside that layout up to
    ``StableDiffusion-FlowGen``: the release root is searched for upwards. A safetensors re-save
    beside an official pickle (same name, other suffix) wins over the pickle.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"model folder {root} does not exist")
    release_roots = [root, *list(root.resolve().parents)[:3]]
    found = {}
    for name, spec in KINDS.items():
        candidates = [root / f"{name}{suffix}" for suffix in SAFETENSORS_SUFFIXES]
        for release in release_roots:
            official = release / spec.file
            candidates += [official.with_suffix(suffix) for suffix in SAFETENSORS_SUFFIXES] + [official]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is not None:
            found[name] = path
    return found


def save_state_dict(state: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> Path:
    """Write tensors as safetensors (by suffix, with ``metadata``) or as a torch pickle, as shipped."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().cpu() for key, value in state.items()}
    if _is_safetensors(path):
        save_file(state, str(path), metadata=metadata)
    else:
        torch.save(state, path)
    return path
