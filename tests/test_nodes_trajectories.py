"""The trajectory nodes, called as ComfyUI calls them (tests/comfy_harness.py).

Other packs' values are written from their formats (tests/data/kj_outputs.json, see test_tracks_parsing.py;
core GenerateTracks' TRACKS from its documented formula below), not vendored.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch
from comfy_harness import ValidationError, call_node, check_node_class

CANVAS = {"version": 1, "width": 512, "height": 320}
KJ = json.loads((Path(__file__).resolve().parent / "data" / "kj_outputs.json").read_text())


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
    with pytest.raises(ValueError, match=r"point 0 of track 0 is at \(600.0, 10.0\), outside the 512x320 canvas$"):
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
    with pytest.raises(ValueError, match="carry no canvas size; connect the image"):
        call_node(to_field, tracks=core, radius=8.0)
    (field,) = call_node(to_field, tracks=core, radius=8.0, brush=torch.ones(1, 24, 32))
    assert field.flow.shape == (2, 2, 24, 32) and field.flow[1, 0, 10, 10] == 2
    with pytest.raises(ValueError, match="brush: the mask is 32x24 but the field is 64x48"):
        call_node(to_field, tracks={**core, "width": 64, "height": 48}, radius=8.0, brush=torch.ones(1, 24, 32))
    # issue 14.4: core TRACKS take the connected image's size; tracks with a canvas are rescaled to the image
    (field,) = call_node(to_field, tracks=core, radius=8.0, image=torch.rand(1, 24, 32, 3))
    assert field.flow.shape == (2, 2, 24, 32) and field.flow[1, 0, 10, 10] == 2
    (field,) = call_node(to_field, tracks={**core, "width": 16, "height": 12}, radius=8.0, image=torch.rand(1, 24, 32, 3))
    # start (21, 21) moved 2 x 2 = 4 px; pixel (21, 21)'s centre is 0.5 px off in x and y: weight exp(-0.5 / 2 4^2)
    assert field.flow.shape == (2, 2, 24, 32) and field.flow[1, 0, 21, 21].item() == pytest.approx(4 * math.exp(-1 / 64))


# ------------------------------------------------------------------------------------- issue 14: other packs


def generate_tracks(width=832, height=480, start=(0.2, 0.2), end=(0.8, 0.6), frames=81, count=3, spread=0.025):
    """Core GenerateTracks' TRACKS (linear timing): positions in pixels of width x height, the tracks spread
    perpendicular to the motion by spread * (width + height) / 2 each; no canvas size in the dict."""
    t = torch.linspace(0, 1, frames)[:, None]
    begin, finish = torch.tensor(start) * torch.tensor([width, height]), torch.tensor(end) * torch.tensor([width, height])
    centre = begin + (finish - begin) * t  # [F, 2]
    along = (finish - begin) / (finish - begin).norm()
    across = torch.stack([-along[1], along[0]])
    offsets = (torch.arange(count) - (count - 1) / 2) * spread * (width + height) / 2
    path = centre[:, None, :] + offsets[None, :, None] * across  # [F, N, 2]
    return {"track_path": path.float(), "track_visibility": torch.ones(frames, count, dtype=torch.bool)}


def test_kj_default_spline_is_accepted_as_the_editor_shows_it(nodes):
    # 14.1: SplineEditor's default spline starts on the border (0, 320) of a 512 x 320 canvas
    tracks, _, _ = _run(nodes[0], KJ["spline_default_512x320"], image=torch.rand(1, 320, 512, 3))
    assert tracks["track_path"][0, 0].tolist() == [0, 319] and tracks["track_path"][15, 0].tolist() == [511, 0]


def test_kj_canvas_size_is_a_choice(nodes):
    # 14.2: a spline drawn on KJ's default 512 x 512 canvas, used on a 512 x 320 image
    image = torch.rand(1, 320, 512, 3)
    with pytest.raises(ValueError, match=r"outside the 512x320 canvas; coordinates without a canvas are read as pixels "
                                         r"of the 512x320 image: .* choose source_size 'width x height'"):
        _run(nodes[0], KJ["spline_default_512x512"], image=image)
    tracks, _, _ = call_node(nodes[0], trajectories=KJ["spline_default_512x512"], frames=16, width=512, height=512,
                             source_size="width x height", image=image)
    raw = json.loads(KJ["spline_default_512x512"])
    assert (tracks["width"], tracks["height"]) == (512, 320)
    torch.testing.assert_close(tracks["track_path"][1, 0], torch.tensor([raw[1]["x"], raw[1]["y"] * 320 / 512]))


def test_lists_of_strings_from_append_strings_to_list(nodes):
    # 14.3: AppendStringsToList hands over a Python list, alone or with tracks connected too
    tracks, _, _ = _run(nodes[0], KJ["append_strings_to_list"])
    assert tracks["track_path"].shape == (16, 2, 2)
    core = generate_tracks(width=512, height=320, frames=16)
    merged, _, _ = _run(nodes[0], KJ["append_strings_to_list"], tracks=core)
    assert merged["track_path"].shape == (16, 5, 2)


def test_core_tracks_take_the_image_size_and_a_mismatch_is_refused(nodes):
    # 14.4: GenerateTracks at Wan's 832 x 480 on a 512 x 320 image lands off the canvas: refused, with the way out
    image = torch.rand(1, 320, 512, 3)
    core = generate_tracks()
    with pytest.raises(ValueError, match=r"tracks: track \d in frame \d+ is at .*, outside the 512x320 canvas; "
                                         r"coordinates without a canvas are read as pixels of the 512x320 image"):
        _run(nodes[0], "", tracks=core, image=image)
    tracks, _, _ = call_node(nodes[0], trajectories="", frames=16, width=832, height=480,
                             source_size="width x height", image=image, tracks=core)
    assert (tracks["width"], tracks["height"]) == (512, 320)
    torch.testing.assert_close(tracks["track_path"][0], core["track_path"][0] * torch.tensor([512 / 832, 320 / 480]))
    small = generate_tracks(width=512, height=320, frames=16)
    tracks, _, _ = _run(nodes[0], "", tracks=small)  # no image: the width x height widgets give the canvas
    torch.testing.assert_close(tracks["track_path"], small["track_path"])


def test_points_editor_points_become_anchors(nodes):
    # 14.5: two PointsEditor points are two still anchors, not one moving track
    tracks, _, _ = _run(nodes[0], KJ["points_editor_two_points"], point_lists="anchors")
    assert tracks["track_path"].shape == (16, 2, 2)
    assert tracks["track_path"][:, 0].unique(dim=0).tolist() == [[100, 200]]
    assert tracks["track_path"][:, 1].unique(dim=0).tolist() == [[400, 80]]
    one_track, _, _ = _run(nodes[0], KJ["points_editor_two_points"])
    assert one_track["track_path"].shape == (16, 1, 2)


def test_preview_colours_are_the_shared_palette(nodes, pack):
    # 14.7: the third track and later ones too
    palette = pack.motion_i2v.tracks.shared.PALETTE
    anchors = [{"points": [[40 + 60 * n, 40]]} for n in range(5)]
    _, _, preview = _run(nodes[0], _text(anchors))
    for n in range(5):
        assert preview[0, 40, 40 + 60 * n].tolist() == pytest.approx(list(palette[n]), abs=1e-6)


def test_cancel_stops_the_node(nodes, monkeypatch):
    module = sys.modules["motion_i2v_pack.nodes.trajectories"]

    def cancelled():
        raise InterruptedError("processing interrupted")

    monkeypatch.setattr(module, "check_interrupted", cancelled)
    with pytest.raises(InterruptedError):
        _run(nodes[0], _text([{"points": [[100, 100], [200, 150]]}]))
