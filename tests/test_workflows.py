"""Every workflows/*.json but the native ones: static checks, then conversion to the API format and a run on the tiny
models; the same run for the copies saved before the socket types were renamed (tests/data/saved_workflows); and the
checks one generation runs, counted.

The run goes through tests/mini_executor.py (ComfyUI's validation, order and list semantics) with the
pack's nodes and the core stand-ins of tests/core_nodes.py, in temporary ComfyUI-like folders: the input
folder holds example_inputs/ at an eighth of their size (so 512x320 runs at 64x40), ``models/motion_i2v`` the
tiny set from ``python -m motion_i2v make-tiny`` and ``models/checkpoints`` the tiny stand-in checkpoint
(tests/tiny_sd.py: a tiny VAE and text encoder) under every checkpoint name the workflows load. The
prompt is the workflow's, with every ``steps`` lowered to ``STEPS``; nothing else is changed. A workflow
naming a node that does not exist yet fails here, it is not skipped.

tests/data/saved_workflows holds the workflows as saved on 2026-12-06 (``git show bf544117:workflows/NAME.json``),
before the socket-type rename (MI2V_FLOW_MODEL, MI2V_CONTROL, MOTION_FIELD) and the Trajectories node's last two
widgets: ComfyUI's server checks links against the node classes, not the saved names, so they must still run.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from core_nodes import CoreFolders, core_node_classes, core_specs
from mini_executor import run_prompt
from PIL import Image
from tiny_sd import write_tiny_checkpoint
from workflow_tools import check_workflow, pack_specs, quick_settings, saved_values, to_api, write_small_inputs

ROOT = Path(__file__).resolve().parents[1]
# The native stage-2 workflows sample with core nodes only a real ComfyUI has (KSampler, LoRA, FreeU, ControlNet):
# tests/host/test_native_workflows.py checks them against both hosts; every other workflow runs here.
NATIVE = sorted((ROOT / "workflows").glob("i2v_native*.json"))
WORKFLOWS = [path for path in sorted((ROOT / "workflows").glob("*.json")) if path not in NATIVE]
SAVED = sorted((ROOT / "tests" / "data" / "saved_workflows").glob("*.json"))
STEPS, INPUT_DIVISOR = 2, 8
ENVIRONMENT = ("MOTION_I2V_MODELS", "MOTION_I2V_INPUT", "MOTION_I2V_OUTPUT")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """ComfyUI-like folders with the example inputs and the tiny models; the pack's fallbacks point at them."""
    from motion_i2v.__main__ import main as motion_i2v_main

    root = tmp_path_factory.mktemp("comfyui")
    found = CoreFolders(input=root / "input", output=root / "output", temp=root / "temp",
                        models={"checkpoints": root / "models" / "checkpoints",
                                "motion_i2v": root / "models" / "motion_i2v"})
    write_small_inputs(ROOT / "example_inputs", found.input, INPUT_DIVISOR)
    for folder in (found.output, found.temp, found.models["checkpoints"]):
        folder.mkdir(parents=True)
    assert motion_i2v_main(["make-tiny", str(found.models["motion_i2v"])]) == 0
    loader = core_specs()["CheckpointLoaderSimple"]
    for name in {name for path in WORKFLOWS + SAVED
                 for name in saved_values(json.loads(path.read_text()), loader, "ckpt_name")}:
        write_tiny_checkpoint(found.models["checkpoints"], name)
    patch = pytest.MonkeyPatch()
    for name, value in zip(ENVIRONMENT, (found.models["motion_i2v"], found.input, found.output)):
        patch.setenv(name, str(value))
    yield found
    patch.undo()


@pytest.fixture(scope="module")
def specs(pack, folders):
    return {**core_specs(folders), **pack_specs(pack)}


def test_there_are_workflows():
    assert WORKFLOWS, "workflows/ holds no *.json"


# ComfyUI 0.8.0 (app/custom_node_manager.py) lists a pack's *.json in any of these folders as templates, but
# serves them all under one URL from the first folder that exists: a second one hides workflows/.
TEMPLATE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")


def test_workflows_is_the_only_template_folder_and_holds_only_workflows():
    present = [name for name in TEMPLATE_FOLDERS if (ROOT / name).is_dir()]
    assert present == ["workflows"], f"ComfyUI would list or serve templates from {present}"
    for path in WORKFLOWS + NATIVE:
        workflow = json.loads(path.read_text())
        assert {"nodes", "links"} <= set(workflow), f"{path.name} is not a UI-format workflow"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_passes_static_checks(path, specs):
    workflow = json.loads(path.read_text())
    problems = check_workflow(workflow, specs)
    assert not problems, "\n".join(problems)


def _saved_files(execution, folders: CoreFolders) -> list[tuple[Path, bool]]:
    """(file, shown as animated) for every file the output nodes reported."""
    files = []
    for ui in execution.ui.values():
        animated = bool(ui.get("animated", (False,))[0])
        for entry in ui.get("images", []):
            base = {"output": folders.output, "temp": folders.temp, "input": folders.input}[entry["type"]]
            files.append((base / entry["subfolder"] / entry["filename"], animated))
    return files


# What web/js/motion_i2v.js mends when a Trajectories node loads (mendChoice in onConfigure): workflows saved before
# the editor's own widget was left out of widgets_values hold its copy of the drawing where source_size now is.
MENDED_CHOICES = {"MotionI2VTrajectories": ("source_size", "point_lists")}


def as_loaded(workflow: dict, specs) -> dict:
    """``workflow`` as the frontend holds it once loaded with the pack's extension: a choice our extension finds
    outside its list goes back to the first choice."""
    for node in workflow["nodes"]:
        names = MENDED_CHOICES.get(node["type"], ())
        if not names or not isinstance(node.get("widgets_values"), list):
            continue
        position = 0
        for name, inp, extra in specs[node["type"]].widgets():
            if name in names and position < len(node["widgets_values"]) and \
                    node["widgets_values"][position] not in inp.choices:
                node["widgets_values"][position] = inp.choices[0]
            position += 1 + extra
    return workflow


def _run(path: Path, pack, folders, specs):
    """(the API prompt, the node classes, the execution) of a workflow file, run on the tiny models."""
    workflow = as_loaded(json.loads(path.read_text()), specs)
    prompt = quick_settings(to_api(workflow, specs), STEPS)
    classes = {**core_node_classes(folders), **pack.NODE_CLASS_MAPPINGS}
    return prompt, classes, run_prompt(prompt, classes, extra_data={"extra_pnginfo": {"workflow": workflow}})


def test_the_saved_copies_are_the_workflows_of_before_the_rename():
    assert [path.name for path in SAVED] == [path.name for path in WORKFLOWS]
    for path in SAVED:
        saved = {link[5] for link in json.loads(path.read_text())["links"]}
        assert saved & {"MI2V_FLOW_MODEL", "MI2V_CONTROL", "MOTION_FIELD"}, path.name


@pytest.mark.parametrize("path", WORKFLOWS + SAVED, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_workflow_runs_end_to_end_on_tiny_models(path, pack, folders, specs):
    prompt, classes, execution = _run(path, pack, folders, specs)
    assert not execution.node_errors, execution.node_errors
    outputs = {node_id for node_id, entry in prompt.items()
               if getattr(classes[entry["class_type"]], "OUTPUT_NODE", False)}
    assert outputs <= set(execution.ui), f"output nodes without results: {sorted(outputs - set(execution.ui))}"
    files = _saved_files(execution, folders)
    assert files, "the workflow saved nothing"
    for file, animated in files:
        with Image.open(file) as picture:
            frames = getattr(picture, "n_frames", 1)
            assert picture.size[0] > 0 and picture.size[1] > 0, file
            assert frames > 1 if animated else frames == 1, f"{file}: {frames} frames, animated={animated}"


def _count_calls(monkeypatch, owner, name: str, counts: Counter, key=None) -> None:
    """Count the calls of ``owner.name`` (a function or method), and of every pack module's copy of a function
    imported by name, in ``counts`` under ``key(*args)`` or ``name``."""
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        counts[key(*args) if key else name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    for module in list(sys.modules.values()):
        if module is not None and module is not owner and module.__name__.startswith("motion_i2v_pack") and \
                getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, counting)


def test_one_generation_runs_each_check_once(pack, folders, specs, monkeypatch):
    """The full workflow (trajectories and a brush into both stages), saved before the change, counted: each value
    is checked where it is made, and each node input once; before #12 the brush's still region was worked out 7
    times, the field scanned for NaN 4 times, stage 2's inputs checked twice (once with a zeros stand-in) and the
    tracks placed on their canvas 3 times."""
    modules = {name: sys.modules[f"motion_i2v_pack.motion_i2v.{name}"]
               for name in ("checks", "tracks.brush", "tracks.value", "sampling", "pipelines.flow_gen",
                            "pipelines.animate")}
    counts = Counter()
    _count_calls(monkeypatch, modules["checks"], "check_finite", counts, key=lambda tensor, name: f"finite {name}")
    for module, cls in (("tracks.brush", "Brush"), ("tracks.value", "Tracks"), ("sampling", "SamplerSettings"),
                        ("pipelines.flow_gen", "FlowRequest"), ("pipelines.animate", "AnimationRequest")):
        _count_calls(monkeypatch, getattr(modules[module], cls), "__post_init__", counts, key=lambda self, cls=cls: cls)
    _run(ROOT / "tests" / "data" / "saved_workflows" / "i2v_full.json", pack, folders, specs)
    assert counts == {
        "finite image": 3,  # the IMAGE input of Trajectories, Predict Motion Field and the Motion-Guided Sampler
        "finite brush": 3,  # the MASK of Trajectory Control, Predict Motion Field and the sampler, one Brush each
        "Brush": 3,
        "Tracks": 1,  # sampled by Trajectories; Trajectory Control takes the checked value from the TRACKS dict
        "finite motion field": 1,  # the predicted field, when made; the preview and stage 2 take it as it is
        "SamplerSettings": 2,  # one per stage, in its request
        "FlowRequest": 1,
        "AnimationRequest": 1,
    }
