"""The trajectory editor (web/js): its node unit tests, and a real-browser run whose JSON Python then parses.

The browser test drives headless Chromium (Debian's ``chromium``) through playwright-core (``npm ci`` in
tests/browser; no browser download), which ``.ci/browser`` installs (without them it is skipped, saying so): it
draws two tracks, an anchor and a brush with the mouse, undoes once, scrubs the frame slider, checks the widget
JSON and saves a screenshot.
Here the same JSON goes through the Python engine, which must give the tracks and the MASK the editor showed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import browser

from motion_i2v.tracks.parsing import parse_drawing
from motion_i2v.tracks.raster import brush_mask
from motion_i2v.tracks.sampling import sample_tracks

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
WIDTH, HEIGHT, FRAMES = 512, 320, 16


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (>= 20) is not installed: the editor's JavaScript cannot be tested")
    return node


def _run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def test_javascript_unit_tests():
    done = _run([_node(), "--test", "web/tests/"], timeout=300, cwd=ROOT)
    assert "# fail 0" in done.stdout, done.stdout[-2000:]


@pytest.fixture(scope="module")
def browser_run(tmp_path_factory) -> Path:
    """Run tests/browser/editor_test.mjs once; the folder holds value.json, preview.json and editor.png."""
    node, chromium = browser()
    out = tmp_path_factory.mktemp("editor")
    _run([node, str(BROWSER_DIR / "editor_test.mjs"), "--out", str(out), "--chromium", chromium], timeout=300, cwd=ROOT)
    return out


def test_browser_session_saves_the_drawn_tracks(browser_run):
    saved = json.loads((browser_run / "value.json").read_text())
    assert (saved["version"], saved["width"], saved["height"]) == (1, WIDTH, HEIGHT)
    assert [len(track["points"]) for track in saved["tracks"]] == [3, 3, 1]
    assert [s["erase"] for s in saved["brush"]["strokes"]] == [False, True]
    screenshot = (browser_run / "editor.png").read_bytes()
    assert screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(screenshot) > 10_000


def test_python_parses_the_editor_json_into_its_tracks(browser_run):
    text = (browser_run / "value.json").read_text()
    saved = json.loads(text)
    tracks = sample_tracks(parse_drawing(text, WIDTH, HEIGHT), FRAMES).to_tracks()
    path = tracks["track_path"]
    assert path.shape == (FRAMES, 3, 2)  # 16 frames, two tracks and the anchor
    assert tracks["track_visibility"].all()
    first, second, anchor = (track["points"] for track in saved["tracks"])
    # Every track starts on its first control point; track 1 (end 12) rests on its last one from frame 12.
    torch.testing.assert_close(path[0], torch.tensor([first[0], second[0], anchor[0]], dtype=torch.float32))
    torch.testing.assert_close(path[12:, 0], torch.tensor(first[-1], dtype=torch.float32).expand(4, 2))
    assert not torch.equal(path[11, 0], path[12, 0])
    torch.testing.assert_close(path[-1, 1], torch.tensor(second[-1], dtype=torch.float32))
    torch.testing.assert_close(path[:, 2], torch.tensor(anchor[0], dtype=torch.float32).expand(FRAMES, 2))
    # Track 2 (arc_length) moves at constant speed.
    steps = path[1:, 1].sub(path[:-1, 1]).norm(dim=-1)
    assert (steps.max() - steps.min()) / steps.mean() < 0.02
    # And the editor drew exactly where Python samples.
    shown = torch.tensor(json.loads((browser_run / "preview.json").read_text())["path"])
    torch.testing.assert_close(shown.float(), path, atol=1e-3, rtol=0)


def test_a_1024_frame_timing_is_sampled_as_python_samples_it(browser_run):
    text = (browser_run / "value_1024.json").read_text()
    path = sample_tracks(parse_drawing(text, WIDTH, HEIGHT), 1024).to_tracks()["track_path"]
    assert path.shape == (1024, 3, 2)
    second = path[:, 1]
    # track 2 holds still until frame 100, moves every frame up to 900, then rests on its last point
    assert torch.equal(second[:101], second[:1].expand(101, 2)) and torch.equal(second[900:], second[-1:].expand(124, 2))
    assert (second[101:901] - second[100:900]).norm(dim=-1).min() > 0
    shown = torch.tensor(json.loads((browser_run / "preview_1024.json").read_text())["path"])
    torch.testing.assert_close(shown.float(), path, atol=1e-3, rtol=0)


def test_python_mask_is_the_brush_the_editor_showed(browser_run):
    text = (browser_run / "value.json").read_text()
    mask = brush_mask(parse_drawing(text, WIDTH, HEIGHT))
    assert mask.shape == (HEIGHT, WIDTH)
    # Stroke 1 paints y = 260 from x = 150 to 300 with radius 30; the erase stroke clears x = 225 +- 24;
    # the undone stroke at y = 290, x = 400..480 is gone.
    assert mask[260, 160] == 1 and mask[260, 290] == 1 and mask[235, 175] == 1
    assert mask[260, 225] == 0 and mask[290, 440] == 0 and mask[100, 100] == 0
    shown = np.frombuffer(base64.b64decode(json.loads((browser_run / "preview.json").read_text())["mask"]), np.uint8)
    np.testing.assert_array_equal(shown.reshape(HEIGHT, WIDTH), mask.numpy().astype(np.uint8))


def test_node_description_lists_the_editor_shortcuts(pack):
    script = "import {shortcutHelp} from './web/js/trajectory_commands.js'; console.log(shortcutHelp())"
    printed = _run([_node(), "--input-type=module", "-e", script], timeout=60, cwd=ROOT).stdout.strip()
    description = pack.NODE_CLASS_MAPPINGS["MotionI2VTrajectories"].DESCRIPTION
    assert description.endswith(printed), "the node's DESCRIPTION must end with the editor's shortcut list"
