"""workflows/motion_preview.json: what it is made of, that ComfyUI would accept it, and what it produces.

The static checks and the run use tests/workflow_tools.py (the frontend's UI -> API conversion and the
server's validation rules) and tests/mini_executor.py with the core stand-ins of tests/core_nodes.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from core_nodes import CoreFolders, core_node_classes, core_specs
from mini_executor import run_prompt
from PIL import Image
from workflow_tools import Graph, check_workflow, pack_specs, to_api

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = json.loads((ROOT / "workflows" / "motion_preview.json").read_text())
# The core nodes the workflow may use, with their widgets in the order the frontend saves them.
CORE_WIDGETS = {
    "LoadImage": ["image", "upload"],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "PreviewImage": [],
}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    found = CoreFolders(input=tmp_path / "input", output=tmp_path / "output", temp=tmp_path / "temp", models={})
    shutil.copytree(ROOT / "example_inputs", found.input)
    found.output.mkdir()
    found.temp.mkdir()
    monkeypatch.setenv("MOTION_I2V_INPUT", str(found.input))
    monkeypatch.setenv("MOTION_I2V_OUTPUT", str(found.output))
    return found


@pytest.fixture
def specs(pack, folders):
    return {**core_specs(folders), **pack_specs(pack)}


def test_nodes_are_ours_or_known_core_nodes(pack, specs):
    for node in WORKFLOW["nodes"]:
        assert node["type"] in pack.NODE_CLASS_MAPPINGS or node["type"] in CORE_WIDGETS, node["type"]
        if node["type"] in CORE_WIDGETS:
            assert [name for name, _, _ in specs[node["type"]].widgets()] == CORE_WIDGETS[node["type"]]
        assert node["properties"]["Node name for S&R"] == node["type"]


def test_workflow_is_what_the_frontend_saves_and_the_server_accepts(specs):
    # widget counts, COMBO choices and ranges against INPUT_TYPES; slots; link types; every node feeds an output
    assert check_workflow(WORKFLOW, specs) == []
    assert WORKFLOW["version"] == 0.4
    assert WORKFLOW["last_node_id"] == max(node["id"] for node in WORKFLOW["nodes"])
    assert WORKFLOW["last_link_id"] == max(link[0] for link in WORKFLOW["links"])


def test_the_graph_is_tracks_then_camera_then_preview():
    graph = Graph.parse(WORKFLOW)
    edges = set()
    for _, origin, origin_slot, target, target_slot, kind in WORKFLOW["links"]:
        source, sink = graph.nodes[origin], graph.nodes[target]
        edges.add((source["type"], source["outputs"][origin_slot]["name"], sink["type"], sink["inputs"][target_slot]["name"]))
        assert kind == source["outputs"][origin_slot]["type"] == sink["inputs"][target_slot]["type"]
    assert {
        ("LoadImage", "IMAGE", "MotionI2VTrajectories", "image"),
        ("MotionI2VTrajectories", "tracks", "MotionI2VTracksToField", "tracks"),
        ("MotionI2VTrajectories", "brush", "MotionI2VTracksToField", "brush"),
        ("MotionI2VTracksToField", "motion_field", "MotionI2VCameraMotion", "motion_field"),
        ("MotionI2VCameraMotion", "motion_field", "MotionI2VWarpPreview", "motion_field"),
        ("LoadImage", "IMAGE", "MotionI2VWarpPreview", "image"),
        ("MotionI2VWarpPreview", "frames", "SaveAnimatedWEBP", "images"),
        ("MotionI2VCameraMotion", "motion_field", "MotionI2VVisualizeMotionField", "motion_field"),
        ("MotionI2VVisualizeMotionField", "colors", "PreviewImage", "images"),
    } <= edges
    trajectories = next(node for node in WORKFLOW["nodes"] if node["type"] == "MotionI2VTrajectories")
    assert json.loads(trajectories["widgets_values"][0]) == json.loads((ROOT / "example_inputs" / "tracks.json").read_text())


def test_workflow_animates_the_example_image(pack, folders, specs):
    prompt = to_api(WORKFLOW, specs)
    classes = {**core_node_classes(folders), **pack.NODE_CLASS_MAPPINGS}
    execution = run_prompt(prompt, classes, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert not execution.node_errors, execution.node_errors
    save_id = next(node_id for node_id, entry in prompt.items() if entry["class_type"] == "SaveAnimatedWEBP")
    (saved,) = execution.ui[save_id]["images"]
    image = np.asarray(Image.open(folders.input / "image.png").convert("RGB"), dtype=float)
    with Image.open(folders.output / saved["subfolder"] / saved["filename"]) as clip:
        assert clip.n_frames == 16 and clip.size == (512, 320)
        first = np.asarray(clip.convert("RGB"), dtype=float)
        clip.seek(15)
        last = np.asarray(clip.convert("RGB"), dtype=float)
    assert np.abs(first - image).mean() < 3  # frame 0 is the image (lossy WEBP at quality 80)
    assert np.abs(last - image).mean() > 10  # the zoom and the tracks moved it
    previews = [ui["images"] for node_id, ui in execution.ui.items() if prompt[node_id]["class_type"] == "PreviewImage"]
    assert sorted(len(images) for images in previews) == [1, 16, 16]  # legend; colour frames; arrows
