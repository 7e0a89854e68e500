"""Shared test setup: import paths, the pack loaded as ComfyUI loads it, the shared fixtures.

Heavy imports (torch, the engine) sit inside the fixtures, so tests that need neither start quickly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"
PLAYWRIGHT = ROOT / "tests" / "browser" / "node_modules" / "playwright-core" / "package.json"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from comfyui_hosts import NO_HOST, Host, find_hosts  # noqa: E402  (tests/ is on the path from here)
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


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models run fastest on one thread, and a busy 2-core machine makes two threads spin.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("single_thread")``; the count is put back after it.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def without_torchvision(monkeypatch):
    """Make every ``import torchvision...`` fail, as on a machine without it, even where it is installed.

    Submodules imported earlier (by us or a dependency) are hidden too: Python finds a cached submodule
    before it looks at its parent package.
    """
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "torchvision", None)


class TinyModels(NamedTuple):
    root: Path  # holds models/stage1/... and models/stage2/... as the release does
    files: dict[str, Path]  # the weight file of every kind (flow_unet, controlnet, image_vae, ...)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """The ``python -m motion_i2v make-tiny`` set (seed 0), written once per session; tests only read it."""
    from motion_i2v.commands.make_tiny import write_tiny_models

    root = tmp_path_factory.mktemp("tiny_models")
    return TinyModels(root, write_tiny_models(root))


@pytest.fixture(scope="module")
def tiny_models_folder(tiny_models) -> Path:
    """The tiny set as the pack's model folder (nodes/comfy.py's fallback outside ComfyUI) for one module."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTION_I2V_MODELS", str(tiny_models.root))
    yield tiny_models.root
    patch.undo()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """(clip, vae): the stand-ins CheckpointLoaderSimple returns for the tiny checkpoint (tests/tiny_sd.py)."""
    from tiny_sd import load_tiny_checkpoint, write_tiny_checkpoint

    return load_tiny_checkpoint(write_tiny_checkpoint(tmp_path_factory.mktemp("checkpoints")))


def reference_path(*parts: str) -> Path:
    """A path under ../shared/reference, or skip the test with the reason."""
    path = SHARED_REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference fixtures live beside the repo in CI only")
    return path


HOSTS = find_hosts()


@pytest.fixture(scope="session", params=HOSTS or [None], ids=[host.id for host in HOSTS] or ["no-host"])
def comfyui_host(request) -> Host:
    """Each real ComfyUI release in turn (tests/comfyui_hosts.py finds them): a test using it runs once per
    release, or is skipped, saying how to get one, where there is none."""
    host = request.param
    if host is None:
        pytest.skip(NO_HOST)
    if problem := host.problem():
        pytest.fail(problem)
    return host


# the real servers' fixtures, for every test module that talks to one
from real_server import events, object_info, server, server_models, server_specs  # noqa: E402,F401


def browser() -> tuple[str, str]:
    """(node, chromium) for the browser tests, or skip saying what is missing; ``.ci/browser`` installs both
    Debian's chromium and tests/browser's playwright-core. ``MOTION_I2V_CHROMIUM`` names another Chromium."""
    node = shutil.which("node")
    chromium = os.environ.get("MOTION_I2V_CHROMIUM") or shutil.which("chromium") or ""
    missing = [what for what, absent in (
        ("node (>= 20)", node is None),
        ("chromium (Debian's package, or MOTION_I2V_CHROMIUM=path)", not os.access(chromium, os.X_OK)),
        ("tests/browser's playwright-core (cd tests/browser && npm ci)", not PLAYWRIGHT.is_file()),
    ) if absent]
    if missing:
        pytest.skip(f"the browser is not set up: {', '.join(missing)} missing; .ci/browser installs them")
    return node, chromium
