"""The real ComfyUI releases the host tests run against, and the Python that runs each.

A host is found (the first way that applies):

1. ``COMFYUI_DIR``: your own ComfyUI folder, run by ``COMFYUI_PYTHON`` (default: the Python running pytest).
2. ``.hosts/<version>/`` in the checkout, which ``python .ci/hosts.py`` writes for every ``../shared/comfyui*``
   (CI runs it first): ``comfyui`` links to the ComfyUI folder, ``python`` runs the host venv with that
   release's frontend.

With neither, the host tests skip and say how to get one.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREPARED = ROOT / ".hosts"
NO_HOST = ("no ComfyUI host: `python .ci/hosts.py` prepares one for each ../shared/comfyui* (as CI does), "
           "or set COMFYUI_DIR (and COMFYUI_PYTHON) to your own ComfyUI")


@dataclass(frozen=True)
class Host:
    folder: Path
    python: str = ""  # .ci/hosts.py reads a folder before it has a Python for it

    @property
    def version(self) -> str:
        """``__version__`` of its ``comfyui_version.py`` ("0.8.0", "0.33.0"), or "unknown"."""
        try:
            text = (self.folder / "comfyui_version.py").read_text()
        except OSError:
            return "unknown"
        found = re.search(r"""__version__\s*=\s*["']([^"']+)""", text)
        return found.group(1) if found else "unknown"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])

    @property
    def requirements(self) -> str:
        """Its requirements.txt ("" where it has none)."""
        try:
            return (self.folder / "requirements.txt").read_text()
        except OSError:
            return ""

    def pinned(self, package: str) -> str | None:
        """The version its requirements.txt pins ``package`` to (``package==X``), or None."""
        found = re.search(rf"^{re.escape(package)}==(\S+)", self.requirements, re.MULTILINE | re.IGNORECASE)
        return found.group(1) if found else None

    def problem(self) -> str | None:
        """Why this host cannot run, or None."""
        if not (self.folder / "main.py").is_file():
            return f"{self.folder} has no main.py: expected a ComfyUI folder"
        if not os.access(self.python, os.X_OK):
            return f"{self.python} is not an executable Python for {self.folder}"
        return None

    @property
    def id(self) -> str:
        return f"comfyui-{self.version}"


def find_hosts() -> list[Host]:
    """Every host this checkout can test against, oldest release first."""
    chosen = os.environ.get("COMFYUI_DIR")
    if chosen:
        return [Host(Path(chosen).resolve(), os.environ.get("COMFYUI_PYTHON", sys.executable))]
    found = [Host((place / "comfyui").resolve(), str(place / "python"))
             for place in sorted(PREPARED.glob("*")) if (place / "python").is_file()]
    return sorted(found, key=lambda host: host.version_tuple)
