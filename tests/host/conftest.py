"""Tests that run ComfyUI itself in this process: ``COMFYUI_DIR`` (default /work/shared/comfyui) goes on
sys.path, ComfyUI runs as ``main.py --cpu`` would, and every test here is skipped with the reason when this
Python cannot import ComfyUI (e.g. the machine's Python, which lacks ComfyUI's requirements). Run with a
host's venv:

    COMFYUI_DIR=/work/shared/comfyui /root/.cache/mi2v-host/venv/bin/python -m pytest -q tests/host
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

COMFYUI_DIR = Path(os.environ.get("COMFYUI_DIR", "/work/shared/comfyui")).resolve()


def _import_comfyui() -> str | None:
    """Import ComfyUI's modules from COMFYUI_DIR (on the CPU); None on success, else why not. A failed attempt
    leaves no ComfyUI module or path behind, so the rest of the suite still sees a Python without ComfyUI."""
    if not (COMFYUI_DIR / "comfy").is_dir():
        return f"COMFYUI_DIR={COMFYUI_DIR} holds no ComfyUI checkout"
    before = set(sys.modules)
    sys.path.insert(0, str(COMFYUI_DIR))
    try:
        import comfy.cli_args

        comfy.cli_args.args.cpu = True  # as main.py --cpu, before comfy.model_management reads it
        import comfy.sd  # noqa: F401  (pulls in torchvision, as ComfyUI's start-up does)
        import folder_paths  # noqa: F401
        import utils  # noqa: F401  (ComfyUI's utils package, cached as main.py does before nodes.py puts comfy/ first)
        import nodes  # noqa: F401
    except Exception as error:  # any import-time failure means "not a ComfyUI Python": skip, with the reason
        sys.path.remove(str(COMFYUI_DIR))
        for name in set(sys.modules) - before:
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(COMFYUI_DIR)):
                del sys.modules[name]
        return f"this Python cannot import ComfyUI from {COMFYUI_DIR}: {type(error).__name__}: {error}"
    return None


SKIP_REASON = _import_comfyui()


def pytest_collection_modifyitems(config, items):
    if SKIP_REASON is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def kit():
    from host import native_kit

    return native_kit


@pytest.fixture(scope="session")
def weights(kit):
    """(UNet, motion modules) random state dicts: the tiny SD1.5 UNet's (LDM names), the comfy_tiny motion modules'."""
    return kit.unet_state(), kit.motion_state()


@pytest.fixture(scope="session")
def base_model(kit, weights):
    """The tiny SD1.5 MODEL, as Load Checkpoint gives it (never patched by a test: they clone)."""
    return kit.sd15_model(weights[0])


@pytest.fixture(scope="session")
def motion_folder(kit, weights, tmp_path_factory):
    """ComfyUI's models/motion_i2v for this session, holding the motion modules under the release name."""
    import folder_paths

    folder = tmp_path_factory.mktemp("motion_i2v")
    kit.write_motion_modules(folder / "models/stage2/Motion_Module", weights[1])
    folder_paths.add_model_folder_path("motion_i2v", str(folder))
    return folder


@pytest.fixture(scope="session")
def motion_modules(pack, motion_folder):
    """MOTION_I2V_MOTION_MODULES from Motion-I2V Load Motion Modules (fp32: the CPU's choice)."""
    node = pack.NODE_CLASS_MAPPINGS["MotionI2VLoadMotionModules"]()
    (modules,) = node.load("models/stage2/Motion_Module/motion_block.bin", "fp32")
    return modules
