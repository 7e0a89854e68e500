"""tests/host/ (ComfyUI's modules in-process) run in each real ComfyUI release's own Python.

Those tests need ComfyUI's ``comfy`` package and its torch/torchvision, which the Python running this suite
lacks, so they run in a child pytest per release (see tests/host/conftest.py for their contract); this test
fails with the child's report when any of them fails, or when none of them passed there.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 900


def test_host_tests_pass_in_the_release(comfyui_host, tmp_path):
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [comfyui_host.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'tmp'}",
         f"--junitxml={report}", "tests/host"],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS,
        env={**os.environ, "MOTION_I2V_HOST": str(comfyui_host.folder), "PYTHONDONTWRITEBYTECODE": "1"})
    shown = (f"tests/host in ComfyUI {comfyui_host.version} ({comfyui_host.python}):\n"
             f"{done.stdout[-6000:]}{done.stderr[-3000:]}")
    assert done.returncode == 0, shown
    suite = ElementTree.parse(report).getroot().find("testsuite")
    counts = {key: int(suite.get(key)) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"] > 0, shown
