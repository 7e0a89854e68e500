"""Building the networks and loading weight files into them, strictly, key for key.

Every file is first recognised (``classify``): a file of another kind is refused before anything
is built. Then its keys and shapes must match the network built on the meta device exactly: missing,
unexpected or mis-shaped keys raise a ValueError naming the kind, the file and the keys; only the
motion modules' deterministic ``pos_encoder.pe`` buffers may be absent. Only then are the tensors
given to the network (no second initialisation) and cast.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..devices import resolve_device, resolve_dtype
from ..models.motion_module import sinusoidal_positions
from .classify import UNKNOWN, Checkpoint, classify
from .configs import Config, config_for_file, resolve_config
from .files import Shapes, Weights, check_file, read_shapes, read_state_dict, shapes_of
from .kinds import expected, get_kind

PE_SUFFIX = "pos_encoder.pe"
_SHOWN = 5  # offending keys quoted in an error


def build_model(kind: str, config: str | dict | Config = "official", *, device="cpu", dtype=torch.float32) -> nn.Module:
    """A network of ``kind`` with fresh weights; ``config``: a bundled name, an official config dict or a ``Config``.

    ``device="meta"`` builds the structure only (cheap, for shape checks and strict loading). A config
    that does not build the kind raises a ValueError naming the kind and where the config came from.
    """
    spec, config = get_kind(kind), resolve_config(kind, config)
    device = resolve_device(device)
    try:
        with device:
            model = spec.build(config.values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{kind}: {config.source} does not describe {spec.title}: {error}") from None
    return _to(model, dtype=resolve_dtype(dtype))


def official_state_dict(model: nn.Module, kind: str) -> Weights:
    """``model``'s weights under the official file's key names."""
    return get_kind(kind).from_model(model.state_dict())


def identify(kind: str, shapes: Shapes, source: str) -> Checkpoint:
    """What ``source`` holds; a ValueError when it is recognisably not ``kind``."""
    found = classify(shapes)
    if found is not UNKNOWN and kind not in found.kinds:
        raise ValueError(f"{kind}: {source} is {found.description}; expected {expected(get_kind(kind))}")
    return found


def check_state_dict(kind: str, state: Weights, model: nn.Module, *, source: str = "state dict",
                     built_from: str = "its config") -> Weights:
    """Raise unless ``state`` fits ``model`` key for key; returns it under the official names, PE completed.

    ``model`` may live on the meta device; ``built_from`` says which config built it, for the message.
    Absent ``pos_encoder.pe`` buffers are filled with the official sinusoids.
    """
    try:
        state = get_kind(kind).normalize(state)
    except ValueError as error:
        raise ValueError(f"{kind}: {source}: {error}") from None
    expected_state = official_state_dict(model, kind)
    missing = sorted(k for k in expected_state if k not in state and not k.endswith(PE_SUFFIX))
    unexpected = sorted(k for k in state if k not in expected_state)
    wrong = sorted(f"{k} {list(state[k].shape)} (expected {list(expected_state[k].shape)})"
                   for k in state if k in expected_state and state[k].shape != expected_state[k].shape)
    if missing or unexpected or wrong:
        problems = [f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{', ...' if len(items) > _SHOWN else ''}"
                    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", wrong))
                    if items]
        raise ValueError(f"{kind}: {source}: does not fit the {kind} model built from {built_from} "
                         f"({'; '.join(problems)}). {_diagnosis(kind, classify(shapes_of(state)))}")
    for key in expected_state:
        if key.endswith(PE_SUFFIX) and key not in state:
            _, length, channels = expected_state[key].shape
            state[key] = sinusoidal_positions(length, channels)
    return state


def _diagnosis(kind: str, found: Checkpoint) -> str:
    if kind in found.kinds:
        return (f"The file is {found.description}: a config of another size (is a config.json beside it "
                f"missing?) or a damaged file.")
    return f"The file is {found.description}; expected {expected(get_kind(kind))}."


def checked_file(kind: str, path, config: str | dict | Config | None = None) -> tuple[nn.Module, Weights, Config]:
    """Read ``path`` as ``kind`` and check it: (the meta-device network, its tensors under the official
    names, the config that built it). ``config=None`` finds it with ``config_for_file``."""
    path = check_file(path, slot=kind)
    identify(kind, read_shapes(path, slot=kind), str(path))
    config = config_for_file(kind, path) if config is None else resolve_config(kind, config)
    model = build_model(kind, config, device="meta")
    state = read_state_dict(path, slot=kind)
    return model, check_state_dict(kind, state, model, source=str(path), built_from=config.source), config


def load_model(kind: str, path, config: str | dict | Config | None = None, *, device="cpu",
               dtype=torch.float32) -> nn.Module:
    """Build ``kind`` and load the file ``path`` into it strictly.

    ``config=None`` finds the config with ``config_for_file``. ``device`` may be "auto".
    """
    return load_models({kind: path}, {kind: config}, device=device, dtype=dtype)[kind]


def load_models(files: dict[str, str | Path], configs: dict | None = None, *, device="cpu",
                dtype=torch.float32) -> dict[str, nn.Module]:
    """Load several files (``{kind: path}``); every file is read and checked before any network is built.

    ``configs``: ``{kind: config}``, where a missing or None entry is found with ``config_for_file``.
    ``dtype``: one dtype for all, or ``{kind: dtype}``. Pickles are memory-mapped, so the checking
    pass reads headers, not weights.
    """
    configs = configs or {}
    dtypes = {kind: resolve_dtype(dtype[kind] if isinstance(dtype, dict) else dtype) for kind in files}
    resolve_device(device)
    checked = {kind: checked_file(kind, path, configs.get(kind)) for kind, path in files.items()}
    return {kind: _materialize(kind, model, state, device, dtypes[kind]) for kind, (model, state, _) in checked.items()}


def model_from_state_dict(kind: str, state: Weights, config: str | dict | Config = "official", *,
                          source: str = "state dict", device="cpu", dtype=torch.float32) -> nn.Module:
    """Build ``kind`` from ``config`` and load ``state`` (any layout the kind reads) into it strictly.

    ``source`` names the tensors in errors.
    """
    identify(kind, shapes_of(state), source)
    config = resolve_config(kind, config)
    model = build_model(kind, config, device="meta")
    state = check_state_dict(kind, state, model, source=source, built_from=config.source)
    return _materialize(kind, model, state, device, dtype)


def _materialize(kind: str, model: nn.Module, state: Weights, device, dtype) -> nn.Module:
    """Give a meta-device ``model`` the checked tensors (no second initialisation), then place and cast it."""
    model.load_state_dict(get_kind(kind).to_model(state), strict=True, assign=True)
    return _to(model, device=resolve_device(device), dtype=resolve_dtype(dtype))


def _to(model: nn.Module, **kwargs) -> nn.Module:
    # nn.Module.to, not diffusers' ModelMixin.to, which warns on every cast of a VAE.
    return nn.Module.to(model, **kwargs).eval()
