"""Finding weight files by their place in the official release layout (``models/stage1/...``, ``models/stage2/...``).

``convert`` mirrors that layout, writing ``NAME.safetensors`` beside where ``NAME.bin`` was, so a
converted folder is found the same way.
"""

from __future__ import annotations

from pathlib import Path

from .kinds import KINDS, get_kind

RESAVE_SUFFIX = ".safetensors"


def release_names(kind: str) -> tuple[str, ...]:
    """The release paths of ``kind``, each preceded by its safetensors re-save's path, in order of preference."""
    return tuple(name for path in get_kind(kind).release for name in (str(Path(path).with_suffix(RESAVE_SUFFIX)), path))


def locate_files(root) -> dict[str, Path]:
    """The weight file of every kind found under a model folder, by kind.

    ``root`` is the release's top folder (holding ``models/stage1/...``) or a folder written by
    ``convert``, or any folder inside that layout up to ``StableDiffusion-FlowGen``: the release root
    is searched for upwards. A safetensors re-save beside an official pickle wins over the pickle.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"model folder {root} does not exist")
    release_roots = [root, *list(root.resolve().parents)[:3]]
    found = {}
    for name in KINDS:
        candidates = (release / relative for relative in release_names(name) for release in release_roots)
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is not None:
            found[name] = path
    return found
