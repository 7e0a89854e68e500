"""Every workflows/*.json but the native ones: static checks, then conversion to the API format and a run on the tiny
models.

The run goes through tests/mini_executor.py (ComfyUI's validation, order and list semantics) with the
pack's nodes and the core stand-ins of tests/core_nodes.py, in temporary ComfyUI-like folders: the input
folder holds example_inputs/ at an eighth of their size (so 512x320 runs at 64x40), ``models/motion_i2v`` the
tiny set from ``python -m motion_i2v make-tiny`` and ``models/checkpoints`` the tiny stand-in checkpoint
(tests/tiny_sd.py: a tiny VAE and text encoder) under every checkpoint name the workflows load. The
prompt is the workflow's, with every ``steps`` lowered to ``STEPS``; nothing else is changed. A workflow
naming a node that does not exist yet fails here, it is not skipped.
"""

from __future__ import annotations

import json
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
    for name in {name for path in WORKFLOWS
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


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_runs_end_to_end_on_tiny_models(path, pack, folders, specs):
    workflow = json.loads(path.read_text())
    prompt = quick_settings(to_api(workflow, specs), STEPS)
    classes = {**core_node_classes(folders), **pack.NODE_CLASS_MAPPINGS}
    execution = run_prompt(prompt, classes, extra_data={"extra_pnginfo": {"workflow": workflow}})
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
