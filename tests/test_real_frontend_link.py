"""A STRING linked into Motion-I2V Trajectories' ``trajectories`` in each release's real frontend (issue 14, item 6).

The page is the real server's own (tests/real_server.py: 0.8.0 serves frontend 1.35.9, 0.33.0 serves 1.49.6), driven
by ``tests/frontend_linked_trajectories.mjs`` in headless Chromium, once per release: it loads a graph holding the
Trajectories node (its editor showing one drawing) and a core String (Multiline) node holding another, drags a link
from the string's output onto the ``trajectories`` socket where the frontend draws it, clicks into the editor, saves
and queues, loads the saved workflow again, unlinks, and loads a workflow saved with the editor's extra copy of the
value. Both frontends give every widget an input socket at its widget's row; the hidden ``trajectories`` text widget
has no row, so web/js/motion_i2v.js gives it the editor's. The tests check where the socket is, what the editor says,
and what Save and Run take from the page.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import browser
from real_server import ROOT

TRAJECTORIES, SOURCE = 1, 2  # the node ids the script expects
DRAWN = {"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[256, 160], [352, 128]]}]}
LINKED = {"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[64, 64], [448, 256]]}, {"points": [[300, 40]]}]}
STALE = {"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[10, 300], [500, 20]]}]}
WIDGETS = ("trajectories", "frames", "width", "height", "source_size", "point_lists")
LINKED_NOTE = "trajectories is linked to another node"
SECONDS = 300


def _node(node_id: int, node_type: str, pos: list[int], size: list[int], widgets_values: list, order: int) -> dict:
    return {"id": node_id, "type": node_type, "pos": pos, "size": size, "flags": {}, "order": order, "mode": 0,
            "inputs": [], "outputs": [], "properties": {}, "widgets_values": widgets_values}


def _workflow(*nodes: dict) -> dict:
    return {"last_node_id": max(node["id"] for node in nodes), "last_link_id": 0, "nodes": list(nodes), "links": [],
            "groups": [], "config": {}, "extra": {}, "version": 0.4}


def _tracks(value: str) -> list:
    return [track["points"] for track in json.loads(value)["tracks"]]


@pytest.fixture(scope="session")
def page(server, tmp_path_factory) -> dict:
    """What the script saw in this release's frontend, step by step (see its header), or a skip saying what is
    missing."""
    node, chromium = browser()
    folder = tmp_path_factory.mktemp(f"link_{server.host.id}")
    source = _node(SOURCE, "PrimitiveStringMultiline", [20, 300], [300, 160], [json.dumps(LINKED)], 0)
    start = _workflow(_node(TRAJECTORIES, "MotionI2VTrajectories", [420, 100], [460, 640],
                            [json.dumps(DRAWN), 16, 512, 320, "image", "tracks"], 1), source)
    # saved before the editor's copy was left out (and before source_size and point_lists): the node's own value,
    # here edited by hand, then the editor's stale copy
    old = _workflow(_node(TRAJECTORIES, "MotionI2VTrajectories", [420, 100], [460, 640],
                          [json.dumps(DRAWN), 16, 512, 320, json.dumps(STALE)], 0))
    (folder / "start.json").write_text(json.dumps(start))
    (folder / "old.json").write_text(json.dumps(old))
    done = subprocess.run([node, str(ROOT / "tests" / "frontend_linked_trajectories.mjs"), "--base", server.base,
                           "--chromium", chromium, "--start", str(folder / "start.json"), "--old", str(folder / "old.json")],
                          capture_output=True, text=True, timeout=SECONDS)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_the_page_is_the_release_frontend(comfyui_host, page):
    assert page["unlinked"]["version"] == comfyui_host.pinned("comfyui-frontend-package")
    assert page["errors"] == [], "the page threw"


def test_dropping_the_string_on_the_socket_links_trajectories(page):
    assert page["unlinked"]["link"] is None
    assert page["linked"]["link"] == {"origin_id": SOURCE, "origin_slot": 0, "target_slot": "trajectories"}


@pytest.mark.parametrize("step", ["unlinked", "linked", "reloaded", "unlinked_again"])
def test_the_socket_is_drawn_at_the_editor_row(page, step):
    # LiteGraph draws a widget's socket at its row, [slot height / 2, widget.y + slot height / 2]; the hidden text
    # widget's row is the editor's, below every other widget and clear of the plain sockets at the top
    seen = page[step]
    half, sockets, rows = seen["slot_height"] / 2, seen["sockets"], seen["rows"]
    editor_y = rows["trajectory_editor"][0]
    for name in WIDGETS[1:]:
        assert sockets[name] == [half, rows[name][0] + half], f"{name}: the frontend's own rule for a widget socket"
    assert sockets["trajectories"] == [half, editor_y + half]
    assert editor_y > max(rows[name][0] for name in WIDGETS[1:])
    assert sockets["trajectories"][1] - sockets["image"][1] > seen["slot_height"] * 4, "near the image socket"
    assert sockets["trajectories"][1] < seen["node_size"][1], "outside the node"


def test_the_linked_editor_says_its_drawing_is_not_used_and_edits_nothing(page):
    unlinked, linked = page["unlinked"], page["linked"]
    assert not unlinked["editor"]["linked"] and LINKED_NOTE not in unlinked["editor"]["message"]
    assert "clear" not in unlinked["editor"]["disabled_buttons"]
    assert linked["editor"]["linked"] and LINKED_NOTE in linked["editor"]["message"]
    assert {"clear", "undo", "redo"} <= set(linked["editor"]["disabled_buttons"])
    assert _tracks(linked["text"]) == _tracks(linked["text_after_click"]) == _tracks(json.dumps(DRAWN)), \
        "a click edited the unused drawing"
    assert page["reloaded"]["editor"]["linked"], "a loaded workflow's link"
    assert not page["unlinked_again"]["editor"]["linked"] and "clear" not in page["unlinked_again"]["editor"]["disabled_buttons"]


def test_the_saved_workflow_holds_one_copy_and_run_takes_the_link(page):
    saved, prompt = page["saved"]["workflow"], page["saved"]["prompt"]
    node = next(node for node in saved["nodes"] if node["id"] == TRAJECTORIES)
    # the node's declared widgets only: the drawing, kept for when the link goes, and no editor copy after them
    value, *rest = node["widgets_values"]
    assert [_tracks(value), *rest] == [_tracks(json.dumps(DRAWN)), 16, 512, 320, "image", "tracks"]
    slot = next(i for i, entry in enumerate(node["inputs"]) if entry["name"] == "trajectories")
    links = [link for link in saved["links"] if link[3] == TRAJECTORIES]
    assert [(link[1], link[2], link[4], link[5]) for link in links] == [(SOURCE, 0, slot, "STRING")]
    assert prompt[str(TRAJECTORIES)]["inputs"]["trajectories"] == [str(SOURCE), 0]
    assert json.loads(prompt[str(SOURCE)]["inputs"]["value"]) == LINKED


def test_a_workflow_with_the_editors_extra_copy_loads_the_nodes_own_value(page):
    old = page["old"]
    node = next(node for node in old["workflow"]["nodes"] if node["id"] == TRAJECTORIES)
    drawn = _tracks(json.dumps(DRAWN))
    assert _tracks(old["seen"]["text"]) == drawn
    assert [_tracks(node["widgets_values"][0]), *node["widgets_values"][1:]] == [drawn, 16, 512, 320, "image", "tracks"]
    inputs = old["prompt"][str(TRAJECTORIES)]["inputs"]
    assert _tracks(inputs["trajectories"]) == drawn and inputs["source_size"] == "image"
