"""The pack inside real ComfyUI servers, one per release (tests/real_server.py), every workflow queued through /prompt.

The releases are those tests/comfyui_hosts.py finds: the ``.hosts/`` that ``python .ci/hosts.py`` prepares for
every ``../shared/comfyui*`` (CI: 0.8.0, the oldest we support, and 0.33.0), or your own ComfyUI:

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/comfyui/venv/bin/python \\
        python -m pytest -q tests/test_real_comfyui.py

Without a host every test here is skipped, saying how to get one. Every test runs once per release, against
one server per release for the session. The models are written once, in a temporary folder that each server
finds through its ``extra_model_paths.yaml`` (where users often keep theirs): the tiny motion_i2v models (as
``python -m motion_i2v make-tiny --text-width 768``, since ComfyUI's CLIP-L gives 768-wide text states) and a
random SD1.5 checkpoint that ComfyUI's CheckpointLoaderSimple detects (``tests/comfyui_tiny_sd15.py``: a
one-level 320-wide UNet with full-size CLIP-L and VAE, since ComfyUI builds those two at full size whatever
the weights; about 0.5 GB, under every checkpoint name the workflows use), and what the native workflows load
beyond those (``tests/comfyui_native_files.py``: a LoRA, a ControlNet and motion modules for that UNet, which
their runs take in place of the tiny set's). Each server's own temporary folder
is its ``--base-directory`` (so nothing is written into the ComfyUI folder, read-only in CI), with the example
inputs at an eighth of their size and a symlink to this repository in ``custom_nodes``. The workflows run with
every ``steps`` lowered to 2. Each server is ``main.py --cpu`` on a free port of 127.0.0.1 (all traffic stays
there); each workflow is converted to the API format with the server's own ``/object_info``, queued, waited
for on ``/history``, and its saved files are checked through ``/view``.

The checks hold for every release where the releases differ in what users do not see: core nodes may gain
outputs and choices (tests/core_nodes.py describes 0.8.0), frontends save a widgetless node's values as
``[]`` or not at all and may send inputs a node does not declare, which the server ignores.

Progress, Cancel and latent previews are watched on the server's websocket (``/ws``, read by a minimal
standard-library client): Predict Motion Field and the Motion-Guided Sampler must report one ``progress`` per
denoising step (0.33 forwards at most one per 100 ms unless it carries a preview), stop at the next step when
``/interrupt`` comes (the history then ends in ``execution_interrupted``), and the sampler must send a preview of
every frame each step when the prompt asks for live previews (the frontend's "Live preview method",
``extra_data.preview_method``) and none when it asks for none.

When Debian's chromium and tests/browser's playwright-core are present (``.ci/browser`` installs them), the
workflows are also loaded into the server's real frontend, the version the release pins
(``tests/frontend_roundtrip.mjs``, shown the example inputs at full size as a user would be): saving them again
must give the same nodes, widget values and links (the files are exactly what the frontend saves), and the
frontend's own ``graphToPrompt`` must give the prompt ``tests/workflow_tools.py`` computes.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.parse
from io import BytesIO

import pytest
from conftest import browser
from core_nodes import CORE_CLASSES, CoreFolders, core_specs
from PIL import Image
from real_server import MODEL_SUFFIXES, PACK_DIR_NAME, ROOT, WORKFLOWS, Events, is_progress, runnable
from workflow_tools import NodeSpec, check_workflow, pack_specs, to_api

from motion_i2v.sampling import MAX_STEPS

# Options that change what the server accepts or what the frontend saves; tooltips and the like are free.
COMPARED_OPTIONS = ("default", "min", "max", "step", "multiline", "dynamicPrompts", "image_upload", "video_upload",
                    "control_after_generate", "forceInput")


def test_pack_loads_without_errors(server, object_info, pack):
    log = server.log_text()
    # only our pack's lines: a ComfyUI without an optional package (torchaudio) fails some of its own modules
    failures = [line for line in log.splitlines()
                if PACK_DIR_NAME in line and ("IMPORT FAILED" in line or "Cannot import" in line)]
    assert not failures, log[-4000:]
    assert "Unable to parse pyproject.toml" not in log, "ComfyUI could not read our pyproject.toml"
    missing = set(pack.NODE_CLASS_MAPPINGS) - set(object_info)
    assert not missing, f"nodes missing from /object_info: {sorted(missing)}"
    for node_id, display_name in pack.NODE_DISPLAY_NAME_MAPPINGS.items():
        assert object_info[node_id]["display_name"] == display_name


def _is_file(value) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_SUFFIXES)


# Inputs whose choices are the host's own lists (KSampler's samplers and schedulers): outside ComfyUI the pack offers
# only the official pair, so they are compared by test_pack_specs_match_the_server, not here.
HOST_LISTS = {("MotionI2VLongVideoNative", "sampler_name"), ("MotionI2VLongVideoNative", "scheduler")}


def _comparable(spec: NodeSpec, files: bool) -> dict:
    """What must agree between two specs; without ``files``, model-file choices (which depend on the
    folders each process sees) are left out, as are the host's own lists."""
    def choices(inp):
        if (spec.node_type, inp.name) in HOST_LISTS and not files:
            return ()
        return inp.choices if files else tuple(choice for choice in inp.choices if not _is_file(choice))

    def options(inp):
        return {key: None if key == "default" and not files and _is_file(inp.options.get(key)) else
                inp.options.get(key) for key in COMPARED_OPTIONS}

    return {
        "inputs": [(inp.name, inp.kind, inp.optional, choices(inp), options(inp)) for inp in spec.inputs],
        "outputs": spec.outputs, "output_node": spec.output_node, "output_is_list": spec.output_is_list,
        "display_name": spec.display_name,
    }


def _as_core_node(mine: dict, theirs: dict) -> dict:
    """The server's side cut to what tests/core_nodes.py must match for every release: a release may append
    outputs (0.33's SaveImage returns its IMAGE, GetVideoComponents a frame count and codec), offer more COMBO
    choices and rename a node for display; our workflows use only the outputs and choices ours declare."""
    kept = {**theirs, "outputs": theirs["outputs"][:len(mine["outputs"])],
            "output_is_list": theirs["output_is_list"][:len(mine["output_is_list"])],
            "display_name": mine["display_name"], "inputs": []}
    for index, (name, kind, optional, choices, options) in enumerate(theirs["inputs"]):
        ours = mine["inputs"][index][3] if index < len(mine["inputs"]) else choices
        kept["inputs"].append((name, kind, optional, tuple(choice for choice in choices if choice in ours), options))
    return kept


def _differences(ours: dict[str, NodeSpec], server_specs: dict[str, NodeSpec], files: bool = True,
                 core: bool = False) -> list[str]:
    """Where our specs and the server's disagree; with ``core``, only in what the core nodes must match."""
    found = []
    for name, spec in ours.items():
        mine, theirs = _comparable(spec, files), _comparable(server_specs[name], files)
        if core:
            theirs = _as_core_node(mine, theirs)
        for key in ("outputs", "output_node", "output_is_list", "display_name"):
            if mine[key] != theirs[key]:
                found.append(f"{name}.{key}: ours {mine[key]}, server {theirs[key]}")
        if len(mine["inputs"]) != len(theirs["inputs"]):
            names = [[entry[0] for entry in side["inputs"]] for side in (mine, theirs)]
            found.append(f"{name} inputs: ours {names[0]}, server {names[1]}")
        found += [f"{name}.{a[0]}: ours {a[1:]}, server {b[1:]}"
                  for a, b in zip(mine["inputs"], theirs["inputs"]) if a != b]
    return found


def test_core_node_specs_match_the_server(server, server_specs):
    root = server.root
    folders = CoreFolders(input=root / "input", output=root / "output", temp=root / "temp",
                          models={"checkpoints": server.models / "checkpoints"})
    assert {cls.__name__ for cls in CORE_CLASSES} <= set(server_specs)
    differences = _differences(core_specs(folders), server_specs, core=True)
    assert not differences, "tests/core_nodes.py differs from ComfyUI:\n" + "\n".join(differences)


def test_pack_specs_match_the_server(pack, server_specs):
    ours = pack_specs(pack)
    differences = _differences(ours, server_specs, files=False)
    assert not differences, "\n".join(differences)
    for node_type, name in HOST_LISTS:  # the server's own list, holding the official choice we offer outside it
        mine, theirs = (next(inp for inp in specs[node_type].inputs if inp.name == name) for specs in (ours, server_specs))
        assert set(mine.choices) <= set(theirs.choices) and len(theirs.choices) > 1, (node_type, name)


def test_template_browser_lists_and_serves_every_workflow(server):
    assert sorted(server.get("/api/workflow_templates")[PACK_DIR_NAME]) == sorted(path.stem for path in WORKFLOWS)
    for path in WORKFLOWS:
        served = server.get(f"/api/workflow_templates/{PACK_DIR_NAME}/{urllib.parse.quote(path.name)}", raw=True)
        assert json.loads(served) == json.loads(path.read_text()), path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_runs_in_comfyui(path, server, server_specs):
    workflow = json.loads(path.read_text())
    problems = check_workflow(workflow, server_specs)
    assert not problems, "\n".join(problems)
    prompt = runnable(to_api(workflow, server_specs))
    entry = server.run(prompt, workflow)
    status = entry["status"]
    errors = [f"{m['node_type']} {m['node_id']}: {m['exception_type']}: {m['exception_message']}\n"
              + "".join(m["traceback"][-3:]) for kind, m in status["messages"] if kind == "execution_error"]
    assert status["status_str"] == "success" and status["completed"], "\n".join(errors)
    outputs = {node_id for node_id, node in prompt.items() if server_specs[node["class_type"]].output_node}
    assert outputs <= set(entry["outputs"]), f"output nodes without results: {sorted(outputs - set(entry['outputs']))}"
    saved = [image for ui in entry["outputs"].values() for image in ui.get("images", [])]
    assert saved, "the workflow saved nothing"
    for image in saved:
        query = urllib.parse.urlencode({key: image[key] for key in ("filename", "subfolder", "type")})
        with Image.open(BytesIO(server.get(f"/view?{query}", raw=True))) as picture:
            assert picture.size[0] > 0 and picture.size[1] > 0, image


@pytest.fixture(scope="session")
def frontend(server) -> dict:
    """What the server's own frontend makes of the workflows: {"version": the frontend's, "workflows": {file:
    {"saved": ..., "prompt": ...}}}, or a skip saying what is missing."""
    node, chromium = browser()
    # the page sees the example inputs at full size, as a user of the workflows does (the server runs them at an
    # eighth): the trajectory editor redraws the tracks onto an image of another size, changing the saved value
    done = subprocess.run([node, str(ROOT / "tests" / "frontend_roundtrip.mjs"), "--base", server.base,
                           "--chromium", chromium, "--inputs", str(ROOT / "example_inputs"), *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_the_server_is_the_release_under_test(comfyui_host, server):
    system = server.get("/system_stats")["system"]
    assert system["comfyui_version"] == comfyui_host.version
    assert system["required_frontend_version"] == comfyui_host.pinned("comfyui-frontend-package")


def test_the_frontend_is_the_one_the_release_pins(comfyui_host, frontend):
    # what a user of this release gets (.ci/hosts.py installs it for each release)
    pinned = comfyui_host.pinned("comfyui-frontend-package")
    assert frontend["version"] == pinned, f"the server serves frontend {frontend['version']}; ComfyUI pins {pinned}"


def _graph_view(workflow: dict) -> tuple:
    # values compare as Python values: JavaScript writes 7.0 as 7, which reads back as the same number; a node
    # without widgets saves [] (frontend 1.35) or nothing (1.49)
    nodes = sorted(((node["id"], node["type"], node.get("mode", 0),
                     [] if node.get("widgets_values") is None else node["widgets_values"])
                    for node in workflow["nodes"]), key=lambda entry: entry[0])
    links = sorted(tuple(link) if isinstance(link, list) else (link["id"], link["origin_id"], link["origin_slot"],
                                                               link["target_id"], link["target_slot"], link["type"])
                   for link in workflow["links"])
    return nodes, links


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_frontend_saves_and_queues_the_workflow_as_we_do(path, frontend, server_specs):
    workflow = json.loads(path.read_text())
    seen = frontend["workflows"][str(path)]
    (saved_nodes, saved_links), (nodes, links) = _graph_view(seen["saved"]), _graph_view(workflow)
    changed = [f"node {a[0]} {a[1]}: the frontend saves mode {a[2]}, {a[3]}; the file has mode {b[2]}, {b[3]}"
               for a, b in zip(saved_nodes, nodes) if a != b]
    assert not changed and len(saved_nodes) == len(nodes), "\n".join(changed)
    assert saved_links == links, "the frontend saves other links"
    assert _declared(seen["prompt"], server_specs) == to_api(workflow, server_specs)


def _declared(prompt: dict, specs: dict[str, NodeSpec]) -> dict:
    """The prompt without inputs its nodes do not declare, which the server ignores: frontend 1.49 sends the
    value of LoadVideo's preview widget as a ``video-preview`` input."""
    return {node_id: {**node, "inputs": {name: value for name, value in node["inputs"].items()
                                         if specs[node["class_type"]].input(name) is not None}}
            for node_id, node in prompt.items()}


# Progress, Cancel and previews, watched on the server's websocket. Each prompt gets a seed no other prompt used:
# ComfyUI would otherwise answer an identical one from its cache without running the node.
SAMPLING_NODES = {"i2v_motion_field": "MotionI2VPredictMotionField", "i2v_camera": "MotionI2VMotionGuidedSampler"}
PROGRESS_STEPS = 3
CANCEL_STEPS = MAX_STEPS  # the widgets' maximum: long enough on the tiny models that a Cancel that waits shows
PREVIEW_IMAGE, JPEG = 1, 1  # protocol.py's BinaryEventTypes.PREVIEW_IMAGE; send_image's type number for JPEG
PREVIEW_COLUMNS = 4  # nodes/animator.py tiles the predicted frames 4 a row
fresh_seeds = itertools.count(1)


def _sampling_prompt(name: str, server_specs, steps: int) -> tuple[dict, dict, str]:
    """Workflow ``name`` (UI format), its prompt with ``steps`` and a fresh seed on its sampling node, and that
    node's id."""
    workflow = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    prompt = to_api(workflow, server_specs)
    [node_id] = [node_id for node_id, node in prompt.items() if node["class_type"] == SAMPLING_NODES[name]]
    prompt[node_id]["inputs"].update(steps=steps, seed=next(fresh_seeds))
    return workflow, prompt, node_id


def _ended(message: dict, prompt_id: str) -> bool:
    return (message["type"] in ("execution_success", "execution_error", "execution_interrupted")
            and message["data"].get("prompt_id") == prompt_id)


def _finished(events: Events, prompt_id: str) -> None:
    """Wait for the websocket's end of the prompt, so that every message it sent has arrived."""
    events.wait_for(lambda message: message["type"] == "executing" and message["data"]["node"] is None
                    and message["data"].get("prompt_id") == prompt_id)


def _run_watched(server, events, workflow, prompt, node_id, preview_method: str):
    """Run the prompt for ``events``' client; the node's messages (JSON, or bytes for binary ones) while it ran."""
    prompt_id = server.queue(prompt, workflow, events.client_id, preview_method=preview_method)
    entry = server.history(prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]
    _finished(events, prompt_id)
    return prompt_id, events.during(prompt_id, node_id)


@pytest.mark.parametrize("name", SAMPLING_NODES)
def test_progress_reports_every_denoising_step(name, server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt(name, server_specs, PROGRESS_STEPS)
    prompt_id, during = _run_watched(server, events, workflow, prompt, node_id, preview_method="none")
    progress = [(message["data"]["value"], message["data"]["max"]) for message in during
                if isinstance(message, dict) and is_progress(message, prompt_id, node_id)]
    steps = [(step, PROGRESS_STEPS) for step in range(1, PROGRESS_STEPS + 1)]
    # 0.8.0 forwards every step; 0.33 the first and the last, and between them at most one update per 100 ms
    # unless it carries a preview (the preview test sees every step there)
    assert progress == steps or (progress[0] == steps[0] and progress[-1] == steps[-1]
                                 and set(progress) <= set(steps) and progress == sorted(set(progress))), progress
    assert not [message for message in during if isinstance(message, bytes)], "previews while previews are off"


def test_motion_guided_sampler_sends_a_latent_preview_every_step(server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt("i2v_camera", server_specs, PROGRESS_STEPS)
    _, during = _run_watched(server, events, workflow, prompt, node_id, preview_method="auto")
    previews = [message for message in during if isinstance(message, bytes)]
    assert len(previews) == PROGRESS_STEPS
    frames = next(node["inputs"]["frames"] for node in prompt.values() if node["class_type"] == "MotionI2VCameraMotion")
    with Image.open(server.root / "input" / "image.png") as image:
        width, height = image.size
    rows = -(-frames // PREVIEW_COLUMNS)
    for preview in previews:
        assert (int.from_bytes(preview[:4], "big"), int.from_bytes(preview[4:8], "big")) == (PREVIEW_IMAGE, JPEG)
        with Image.open(BytesIO(preview[8:])) as picture:
            # every frame of the video in the grid, scaled by ComfyUI to --preview-size (512) on its longer side
            assert picture.format == "JPEG" and max(picture.size) == 512, picture.size
            assert picture.size[0] / picture.size[1] == pytest.approx(PREVIEW_COLUMNS * width / (rows * height),
                                                                      rel=0.02)


@pytest.mark.parametrize("name", SAMPLING_NODES)
def test_cancel_stops_sampling_between_steps(name, server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt(name, server_specs, CANCEL_STEPS)
    prompt_id = server.queue(prompt, workflow, events.client_id, preview_method="none")
    _, started = events.wait_for(lambda message: (is_progress(message, prompt_id, node_id)
                                                  and message["data"]["value"] >= 3) or _ended(message, prompt_id))
    assert started["type"] == "progress", f"the prompt ended before its third step: {started}"
    status, _ = server.post("/interrupt", {"prompt_id": prompt_id})
    posted = time.monotonic()
    assert status == 200
    steps_when_posted = [message["data"]["value"] for _, message in list(events.messages)
                         if isinstance(message, dict) and is_progress(message, prompt_id, node_id)][-1]
    entry = server.history(prompt_id)
    _finished(events, prompt_id)
    stopped = time.monotonic()

    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert entry["status"]["status_str"] == "error" and "execution_interrupted" in kinds, entry["status"]
    assert "execution_error" not in kinds and "execution_success" not in kinds, entry["status"]
    [interrupted] = [message for kind, message in entry["status"]["messages"] if kind == "execution_interrupted"]
    assert interrupted["node_id"] == node_id
    steps = [(arrival, message["data"]["value"]) for arrival, message in events.messages
             if isinstance(message, dict) and is_progress(message, prompt_id, node_id)]
    # the step under way when Cancel came may finish (and one report may be on its way); no other one. Where the
    # release skips reports (at most one per 100 ms from 0.33), the step under way is known only that closely.
    values = [value for _, value in steps]
    known_within = max((after - before for before, after in zip(values, values[1:])), default=1)
    assert steps[-1][1] <= steps_when_posted + 1 + known_within, (
        f"{steps[-1][1]} steps done, {steps_when_posted} when cancelled (reported every {known_within} steps or less)")
    step_seconds = (steps[-1][0] - steps[0][0]) / max(1, steps[-1][1] - steps[0][1])
    remaining_seconds = (CANCEL_STEPS - steps_when_posted) * step_seconds
    assert stopped - posted < 0.1 * remaining_seconds, (
        f"{stopped - posted:.2f} s from Cancel to the end; the remaining steps take {remaining_seconds:.1f} s")
