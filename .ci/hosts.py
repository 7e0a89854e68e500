"""Prepare a Python for every ComfyUI release beside the checkout, so the real-host tests run against each.

    python .ci/hosts.py          # from .ci/run; by hand too, then `python -m pytest -q` runs the host tests

For every ComfyUI folder ``../shared/comfyui*`` (``main.py`` and ``comfyui_version.py``) this writes
``.hosts/<version>/`` in the checkout (git ignores it): ``comfyui``, a link to the folder, and ``python``, a
script that runs the host venv's Python with that release's frontend first on its path. ``tests/comfyui_hosts.py``
finds them; where there are none (a user's clone has no ``../shared``) the host tests skip and say why.

One venv serves every release: the releases' requirements differ only in the frontend's pins, and ComfyUI
serves whichever ``comfyui_frontend_package`` it imports. It holds torch/torchvision/torchaudio (the
registry's CUDA builds, which run on the CPU; the machine's torch 2.13 CPU wheel has no working torchvision),
the newest release's requirements, ``requests`` (0.8.0 imports it without listing it), this pack's
requirements and the test requirements. Each older release gets its ``comfyui-frontend-package`` pin in a
``pip install --target`` folder put first on ``PYTHONPATH``; every other line of its requirements must
already hold in the venv, or this stops and names the line. Its ``comfyui-workflow-templates`` and
``comfyui-embedded-docs`` (the core template gallery and node docs, which no test reads) stay the venv's.

Cache: ``$MOTION_I2V_CACHE`` (default ``~/.cache/motion-i2v``) holds ``host-venv-<key>``, the key a hash of
everything that decides its contents (base Python, pins, the three requirement files), and
``frontend-<version>``. Each is built in place and marked complete last, so an interrupted build starts
again; the two venvs used last are kept, older ones deleted (about 7 GB each). pip's log of a build is
``<folder>.log``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from comfyui_hosts import Host  # noqa: E402  (a ComfyUI folder read as the tests read it)

SHARED = ROOT.parent / "shared"
HOSTS = ROOT / ".hosts"
CACHE = Path(os.environ.get("MOTION_I2V_CACHE", Path.home() / ".cache" / "motion-i2v"))
OUR_REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-test.txt")
PINS = ("torch==2.14.1", "torchvision==0.29.1", "torchaudio==2.11.0", "requests", "packaging")
FRONTEND = "comfyui-frontend-package"
FROM_THE_VENV = ("comfyui-workflow-templates", "comfyui-embedded-docs")
RECIPE = 1  # bump when the way a venv is built changes, so cached ones are rebuilt
KEPT_VENVS = 2
COMPLETE = ".complete"

# Run with the venv's Python: every requirement line on stdin that the venv does not satisfy.
UNMET = """
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement
for line in sys.stdin:
    line = line.split("#")[0].strip()
    if not line:
        continue
    requirement = Requirement(line)
    if requirement.marker and not requirement.marker.evaluate():
        continue
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        print(f"{line} (not installed)")
        continue
    if not requirement.specifier.contains(installed, prereleases=True):
        print(f"{line} (the venv has {installed})")
"""


def pin(host: Host, package: str) -> str:
    """The version ``host`` pins ``package`` to; stops where it pins none."""
    version = host.pinned(package)
    if version is None:
        raise SystemExit(f"{host.folder}/requirements.txt pins no {package}")
    return version


def other_requirements(host: Host) -> str:
    """Its requirement lines but the frontend's pins, which the venv need not meet."""
    skipped = (FRONTEND, *FROM_THE_VENV)
    return "\n".join(line for line in host.requirements.splitlines()
                     if not any(line.strip().lower().startswith(name) for name in skipped))


def find_hosts() -> list[Host]:
    folders = sorted(SHARED.glob("comfyui*")) if SHARED.is_dir() else []
    return sorted((Host(folder.resolve()) for folder in folders
                   if (folder / "main.py").is_file() and (folder / "comfyui_version.py").is_file()),
                  key=lambda host: host.version_tuple)


def pip(python: Path, log: Path, *arguments: str) -> None:
    with open(log, "a") as written:
        done = subprocess.run([str(python), "-m", "pip", "install", "--progress-bar", "off", *arguments],
                              stdout=written, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"pip failed ({done.returncode}); the end of {log}:\n{log.read_text()[-3000:]}")


def build(folder: Path, steps) -> Path:
    """``folder``, built by ``steps(folder, log)`` unless a complete one is there; marked used."""
    marker = folder / COMPLETE
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        log = Path(f"{folder}.log")
        log.unlink(missing_ok=True)
        started = time.monotonic()
        print(f"building {folder} (log: {log})", flush=True)
        steps(folder, log)
        marker.write_text(f"built in {time.monotonic() - started:.0f} s\n")
        print(f"built {folder.name} in {time.monotonic() - started:.0f} s", flush=True)
    marker.touch()
    return folder


def venv_for(newest: Host) -> Path:
    recipe = {"recipe": RECIPE, "python": sys.version, "pins": PINS, "host": newest.requirements,
              **{path.name: path.read_text() for path in OUR_REQUIREMENTS}}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    def steps(folder: Path, log: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        requirements = CACHE / f"host-requirements-{key}.txt"
        requirements.write_text(newest.requirements)
        pip(folder / "bin" / "python", log, *PINS, "-r", str(requirements),
            *(argument for path in OUR_REQUIREMENTS for argument in ("-r", str(path))))
        requirements.unlink()

    return build(CACHE / f"host-venv-{key}", steps)


def frontend_for(host: Host, venv: Path) -> Path:
    version = pin(host, FRONTEND)
    return build(CACHE / f"frontend-{version}",
                 lambda folder, log: pip(venv / "bin" / "python", log, "--no-deps", "--target", str(folder),
                                         f"{FRONTEND}=={version}"))


def unmet(venv: Path, requirements: str) -> list[str]:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", UNMET], input=requirements, capture_output=True,
                          text=True, check=True)
    return done.stdout.splitlines()


def prune_venvs() -> None:
    venvs = sorted((folder for folder in CACHE.glob("host-venv-*") if (folder / COMPLETE).exists()),
                   key=lambda folder: (folder / COMPLETE).stat().st_mtime, reverse=True)
    for folder in venvs[KEPT_VENVS:]:
        print(f"removing {folder}, the least recently used host venv", flush=True)
        shutil.rmtree(folder)
        Path(f"{folder}.log").unlink(missing_ok=True)


def write_launcher(host: Host, venv: Path, frontend: Path | None) -> None:
    place = HOSTS / host.version
    place.mkdir(parents=True)
    (place / "comfyui").symlink_to(host.folder, target_is_directory=True)
    python = venv / "bin" / "python"
    path = f"PYTHONPATH={shlex.quote(str(frontend))}${{PYTHONPATH:+:$PYTHONPATH}} " if frontend else ""
    launcher = place / "python"
    launcher.write_text(
        "#!/bin/sh\n"
        f"# The Python for ComfyUI {host.version} ({host.folder}), written by .ci/hosts.py.\n"
        f"[ -x {shlex.quote(str(python))} ] || {{ echo 'its venv is gone: run python .ci/hosts.py' >&2; exit 1; }}\n"
        f"{path}exec {shlex.quote(str(python))} \"$@\"\n")
    launcher.chmod(0o755)


def main() -> int:
    shutil.rmtree(HOSTS, ignore_errors=True)
    hosts = find_hosts()
    if not hosts:
        print(f"no ComfyUI in {SHARED}/comfyui*: the real-host tests will skip")
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "hosts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a second run waits, then reuses it
        newest = hosts[-1]
        venv = venv_for(newest)
        for host in hosts:
            problems = unmet(venv, other_requirements(host))
            if problems:
                raise SystemExit(f"ComfyUI {host.version} needs what the host venv (built for {newest.version}) "
                                 "lacks:\n  " + "\n  ".join(problems))
            same = pin(host, FRONTEND) == pin(newest, FRONTEND)
            write_launcher(host, venv, None if same else frontend_for(host, venv))
            print(f"ComfyUI {host.version}: {host.folder}, frontend {pin(host, FRONTEND)}: .hosts/{host.version}/python")
        prune_venvs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
