"""Shared test setup: import paths, the pack loaded as ComfyUI loads it, the shared fixtures."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PACK_NAME = "motion_i2v_pack"


def load_pack():
    """Import the repo root as a package the way ComfyUI does (by file, under another name).

    Engine objects reached through the pack live under ``motion_i2v_pack.motion_i2v``; node tests
    should take engine classes from there (``pack.motion_i2v``) rather than ``import motion_i2v``.
    """
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pack():
    return load_pack()


def reference_path(*parts: str) -> Path:
    """A path under ../shared/reference, or skip the test with the reason."""
    path = SHARED_REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference fixtures live beside the repo in CI only")
    return path
