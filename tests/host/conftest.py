"""Tests that use ComfyUI's own Python modules in-process (``comfy.*``, ``folder_paths``, ComfyUI's ``nodes``).

The contract for a test in tests/host/:

- It runs in the Python of one real ComfyUI release, named by ``MOTION_I2V_HOST`` (the ComfyUI folder). This
  conftest puts that folder first on ``sys.path`` (so ``nodes``, ``utils``, ``app`` are ComfyUI's, not this
  pack's), sets ComfyUI's command-line options as ``main.py --cpu --base-directory TMP`` would (a temporary
  folder, so that nothing is written into the ComfyUI folder, read-only in CI) and imports ComfyUI's ``utils``,
  ``comfy.model_management``, ``folder_paths``, ``comfy.sd`` and ``nodes``. Test modules may then import
  ``comfy.*``, ``folder_paths``, ``execution`` and ComfyUI's ``nodes`` at the top.
- tests/host is a package (``host``), so that this conftest does not shadow tests/conftest.py, which test
  modules import as ``conftest``: a helper module here is imported as ``from host import helper`` (or
  ``from . import helper``); tests/ is on ``sys.path``, so ``conftest``, ``comfyui_hosts``, ``tiny_sd`` and the
  other test helpers import as usual.
- Which release: the ``comfyui_dir`` fixture (the folder, a Path) and ``comfyui_version`` (e.g. ``(0, 8, 0)``
  or ``(0, 33, 0)``; the oldest we support and the newest we have). A test that needs a newer release skips on
  an older one with ``pytest.skip`` naming the release.
- Where it runs: ``python -m pytest -q`` runs tests/test_host_suite.py, which starts this directory once per
  prepared release (``python .ci/hosts.py`` prepares them, as CI does) in that release's Python:
  ``MOTION_I2V_HOST=<folder> <python> -m pytest tests/host``. By hand, after ``python .ci/hosts.py``:

      MOTION_I2V_HOST=$(readlink -f .hosts/0.33.0/comfyui) .hosts/0.33.0/python -m pytest -q tests/host

  Outside such a Python (``MOTION_I2V_HOST`` unset, or ComfyUI's modules fail to import) nothing here is
  collected: a run of the whole suite leaves the directory to tests/test_host_suite.py, and a run that names
  this directory reports one skip with the reason.
- Fixtures here for the native path: ``kit`` (tests/host/native_kit.py), ``weights``, ``base_model``,
  ``motion_folder`` and ``motion_modules``; tests/conftest.py's (``pack``, ``tiny_models``, ...) work too.
- ``ComfyUI's nodes`` and ``folder_paths`` are process-wide: a test that registers folders or nodes (as loading
  the pack does) leaves them registered for the tests after it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from comfyui_hosts import Host

HERE = Path(__file__).resolve().parent
HOST = os.environ.get("MOTION_I2V_HOST")


def _start_comfyui(folder: Path) -> None:
    """Import ComfyUI's modules as ``main.py --cpu --base-directory TMP`` would leave them."""
    sys.path.insert(0, str(folder))
    from comfy.cli_args import args  # parses no command line: comfy.options leaves argument parsing off

    args.base_directory = tempfile.mkdtemp(prefix="comfyui-host-")
    atexit.register(shutil.rmtree, args.base_directory, True)
    args.cpu = True
    import utils.extra_config  # noqa: F401  (ComfyUI's utils package, first, as main.py imports it: nodes.py
    # later puts comfy/ first on sys.path, where a plain `import utils` would find comfy/utils.py)
    import comfy.model_management  # noqa: F401  (picks the device from args)
    import folder_paths  # noqa: F401  (its folders from args.base_directory)
    import comfy.sd  # noqa: F401  (pulls in torchvision, as ComfyUI's start-up does)
    import nodes  # noqa: F401


def _unavailable() -> str | None:
    """Why ComfyUI cannot be used in this process, or None once it is set up."""
    if not HOST:
        return ("tests/host runs in a ComfyUI release's Python with MOTION_I2V_HOST=<its folder>; "
                "tests/test_host_suite.py starts it for each host that `python .ci/hosts.py` prepared")
    folder = Path(HOST).resolve()
    if not (folder / "main.py").is_file():
        return f"MOTION_I2V_HOST={HOST} has no main.py: expected a ComfyUI folder"
    try:
        _start_comfyui(folder)
    except Exception as error:  # whatever a broken environment raises on import
        return f"ComfyUI's modules from {folder} do not import in {sys.executable}: {error!r}"
    return None


UNAVAILABLE = _unavailable()
if UNAVAILABLE:
    collect_ignore_glob = ["test_*.py"]  # test modules import comfy at the top


class _Unavailable(pytest.Item):
    def runtest(self):
        pytest.skip(UNAVAILABLE)

    def reportinfo(self):
        return self.path, None, "tests/host"


class _Placeholder(pytest.File):
    def collect(self):
        yield _Unavailable.from_parent(self, name="comfyui")


def _named(config) -> bool:
    """Whether the command line names this directory or something in it."""
    return any(Path(arg.split("::")[0]).resolve().is_relative_to(HERE) for arg in config.args)


def pytest_collect_file(file_path, parent):
    if UNAVAILABLE and file_path == Path(__file__) and (HOST or _named(parent.config)):
        return _Placeholder.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    return Path(HOST).resolve()


@pytest.fixture(scope="session")
def comfyui_version(comfyui_dir) -> tuple[int, ...]:
    return Host(comfyui_dir, sys.executable).version_tuple


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
