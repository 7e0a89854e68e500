"""The trajectory nodes, called as ComfyUI calls them (tests/comfy_harness.py)."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest
import torch
from comfy_harness import ValidationError, call_node, check_node_class

CANVAS = {"version": 1, "width": 512, "height": 320}


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS["MotionI2VTrajectories"], pack.NODE_CLASS_MAPPINGS["MotionI2VTracksToField"]


def _text(tracks, strokes=()):
    return json.dumps({**CANVAS, "tracks": tracks, "brush": {"strokes": list(strokes)}})


def _run(node, trajectories, frames=16, **inputs):
    return call_node(node, trajectories=trajectories, frames=frames, width=512, height=320, **inputs)


def test_contract(nodes):
    for node in nodes:
        check_node_class(node)
    assert nodes[0].CATEGORY == nodes[1].CATEGORY == "Motion-I2V/Motion"
    assert "trajectories" in nodes[0].INPUT_TYPES()["required"]


def test_trajectories_outputs_and_ui(nodes):
    text = _text([{"points": [[100, 100], [200, 150]]}, {"points": [[300, 40]]}])
    tracks, brush, preview = result = _run(nodes[0], text)
    assert tracks["track_path"].shape == (16, 2, 2)  # [F, N, (x, y)]
    assert tracks["track_visibility"].dtype == torch.bool and tracks["track_visibility"].all()
    assert (tracks["width"], tracks["height"]) == (512, 320)
    assert tracks["track_path"][15].tolist() == [[200, 150], [300, 40]]
    assert torch.equal(brush, torch.ones(1, 320, 512))  # no strokes: everything may move
    assert preview.shape == (1, 320, 512, 3) and 0 <= preview.min() and preview.max() <= 1
    (shown,) = result.ui["background"]
    assert shown["type"] == "temp" and shown["subfolder"] == ""
    temp = sys.modules["motion_i2v_pack.nodes.comfy"].temp_dir()
    assert os.path.isfile(os.path.join(temp, shown["filename"]))


def test_brush_output_is_the_painted_region(nodes):
    text = _text([{"points": [[100, 100]]}], [{"points": [[10.5, 10.5]], "radius": 2}])
    _, brush, _ = _run(nodes[0], text)
    assert brush.shape == (1, 320, 512)
    assert brush.sum() == 13  # centres within 2 px of a pixel centre: 1 + 4 + 4 + 4
    assert brush[0, 10, 10] == 1 and brush[0, 10, 13] == 0


def test_image_size_wins_and_the_json_is_rescaled(nodes):
    text = _text([{"points": [[100, 100], [200, 160]]}], [{"points": [[100, 100]], "radius": 40}])
    image = torch.rand(2, 160, 256, 3)  # half the JSON canvas
    tracks, brush, preview = _run(nodes[0], text, image=image)
    assert (tracks["width"], tracks["height"]) == (256, 160)
    assert tracks["track_path"][0].tolist() == [[50, 50]] and tracks["track_path"][15].tolist() == [[100, 80]]
    assert brush.shape == (1, 160, 256) and preview.shape == (1, 160, 256, 3)
    assert brush.sum().item() == pytest.approx(math.pi * 20**2, rel=0.05)  # radius 40 -> 20
    assert torch.equal(preview[0, 150, 250], image[0, 150, 250])  # the first frame is the background


def test_kj_string_and_core_tracks_merge(nodes):
    kj = json.dumps([[{"x": 10, "y": 10}, {"x": 20, "y": 10}], [{"x": 5, "y": 5}]])
    core = {"track_path": torch.zeros(81, 3, 2) + torch.tensor([30.0, 40.0]),
            "track_visibility": torch.ones(81, 3, dtype=torch.bool)}
    tracks, _, _ = _run(nodes[0], kj, frames=8, tracks=core)
    assert tracks["track_path"].shape == (8, 5, 2)  # 2 from the string, 3 core tracks resampled 81 -> 8
    assert tracks["track_path"][7, 0].tolist() == [20, 10] and tracks["track_path"][7, 4].tolist() == [30, 40]
    only_core, _, _ = _run(nodes[0], "  ", frames=8, tracks={**core, "width": 1024, "height": 640})
    assert only_core["track_path"].shape == (8, 3, 2)
    assert only_core["track_path"][0, 0].tolist() == [15, 20]  # rescaled from its own 1024x640


def test_trajectories_errors(nodes):
    with pytest.raises(ValueError, match="not valid JSON at line 1"):
        _run(nodes[0], '{"version": 1,')
    with pytest.raises(ValueError, match="trajectories: empty"):
        _run(nodes[0], "")
    with pytest.raises(ValueError, match=r"point 0 of track 0 is at \(600.0, 10.0\), outside the 512x320 image"):
        _run(nodes[0], _text([{"points": [[600, 10]]}]))
    with pytest.raises(ValidationError, match="smaller than min 2"):
        _run(nodes[0], _text([{"points": [[1, 1]]}]), frames=1)


def test_tracks_to_field(nodes):
    trajectories, to_field = nodes
    tracks, brush, _ = _run(trajectories, _text([{"points": [[100.5, 100.5], [140.5, 100.5]]}]))
    (field,) = call_node(to_field, tracks=tracks, radius=32.0)
    assert field.flow.shape == (16, 2, 320, 512)
    assert field.flow[15, :, 100, 100].tolist() == [40, 0]
    painted = torch.zeros(1, 320, 512)
    painted[:, :, :100] = 1
    (held,) = call_node(to_field, tracks=tracks, radius=32.0, brush=painted)
    assert not held.flow[:, :, :, 100:].any() and held.flow[15, 0, 100, 99] > 0


def test_tracks_to_field_sizes(nodes):
    _, to_field = nodes
    core = {"track_path": torch.tensor([[[10.5, 10.5]], [[12.5, 10.5]]]),
            "track_visibility": torch.ones(2, 1, dtype=torch.bool)}
    with pytest.raises(ValueError, match="carry no image size; connect a brush MASK"):
        call_node(to_field, tracks=core, radius=8.0)
    (field,) = call_node(to_field, tracks=core, radius=8.0, brush=torch.ones(1, 24, 32))
    assert field.flow.shape == (2, 2, 24, 32) and field.flow[1, 0, 10, 10] == 2
    with pytest.raises(ValueError, match="brush: the mask is 32x24 but the image is 64x48"):
        call_node(to_field, tracks={**core, "width": 64, "height": 48}, radius=8.0, brush=torch.ones(1, 24, 32))
