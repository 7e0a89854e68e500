"""Thin ComfyUI adapters. Every module here lists its node classes in ``NODES``.

A node class carries its own ``NODE_ID`` (prefixed ``MotionI2V``) and ``DISPLAY_NAME``; the pack's
mappings are built from those, so there is no second registry to keep in sync.
"""

from __future__ import annotations

import importlib
import pkgutil

ID_PREFIX = "MotionI2V"
ADAPTER_PREFIX = "comfy"  # comfy*.py adapt ComfyUI and hold no nodes; comfy_native.py imports ComfyUI itself


def node_classes() -> list[type]:
    """All node classes of the pack, in module order then declaration order."""
    classes = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith(ADAPTER_PREFIX):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        classes.extend(getattr(module, "NODES", ()))
    for cls in classes:
        if not cls.NODE_ID.startswith(ID_PREFIX):
            raise ValueError(f"node id {cls.NODE_ID!r} must start with {ID_PREFIX!r}")
    return classes
