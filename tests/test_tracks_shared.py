"""motion_i2v.tracks.shared: the constants the editor and the engine share come from one JS module."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from motion_i2v.tracks import shared

ROOT = Path(__file__).resolve().parents[1]


def test_python_reads_the_object_the_editor_imports():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the editor's module cannot be imported")
    script = "import {SHARED} from './web/js/tracks_shared.js'; console.log(JSON.stringify(SHARED))"
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=True)
    seen_by_js = json.loads(done.stdout)
    assert shared.SHARED_FILE == ROOT / "web" / "js" / "tracks_shared.js"
    assert [tuple(round(c * 255) for c in rgb) for rgb in shared.PALETTE] == [
        tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)) for hex_colour in seen_by_js["palette"]]
    assert tuple(round(c * 255) for c in shared.BRUSH_TINT) == tuple(
        int(seen_by_js["brush_tint"]["color"][i:i + 2], 16) for i in (1, 3, 5))
    assert shared.BRUSH_OPACITY == seen_by_js["brush_tint"]["opacity"]
    assert (shared.EDGE_MARGIN_FRACTION, shared.EDGE_MARGIN_PIXELS) == (
        seen_by_js["edge_margin"]["fraction"], seen_by_js["edge_margin"]["pixels"])
    assert len(shared.PALETTE) == 10
