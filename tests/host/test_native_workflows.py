"""workflows/i2v_native*.json against the real host: its node specs, and its own prompt validation.

These workflows use core nodes that only a real ComfyUI has (KSampler, LoraLoader, FreeU_V2, Canny, ControlNet
loaders), so tests/test_workflows.py, which runs on stand-ins, leaves them to this module; the real-server test
(tests/test_real_comfyui.py) queues them. The files are what ComfyUI 0.8.0's frontend saves (they were loaded
into it and saved again); here tests/workflow_tools.py checks them against the host's own node classes and
converts them to the prompt the frontend queues, and ComfyUI's ``execution.validate_prompt`` must accept it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

comfy_sd = pytest.importorskip("comfy.sd", reason="ComfyUI is not importable here (see tests/host/conftest.py)")
import execution  # noqa: E402
import folder_paths  # noqa: E402
import nodes  # noqa: E402
from workflow_tools import NodeSpec, check_workflow, pack_specs, saved_values, to_api  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("i2v_native*.json"))
# loaders whose COMBO lists come from model folders: (node, widget, folder)
LOADERS = (("CheckpointLoaderSimple", "ckpt_name", "checkpoints"), ("LoraLoader", "lora_name", "loras"),
           ("ControlNetLoader", "control_net_name", "controlnet"), ("MotionI2VLoadFlowModel", "unet", "motion_i2v"),
           ("MotionI2VLoadFlowModel", "flow_vae", "motion_i2v"), ("MotionI2VLoadFlowModel", "controlnet", "motion_i2v"))


@pytest.fixture(scope="module")
def host(pack, motion_folder, tmp_path_factory):
    """The host's node classes with the pack's (as ComfyUI registers them), and the files the workflows name, as
    empty placeholders in ComfyUI's folders: COMBO lists are read from the folders, the files are not loaded."""
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    classes = {**nodes.NODE_CLASS_MAPPINGS, **pack.NODE_CLASS_MAPPINGS}
    workflows = [json.loads(path.read_text()) for path in WORKFLOWS]
    models = tmp_path_factory.mktemp("models")
    for node_type, widget, folder in LOADERS:
        spec = NodeSpec.from_class(node_type, classes[node_type])
        for name in {name for workflow in workflows for name in saved_values(workflow, spec, widget)} - {"none"}:
            (models / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (models / folder / name).write_bytes(b"")
        folder_paths.add_model_folder_path(folder, str(models / folder))
    inputs = tmp_path_factory.mktemp("input")
    shutil.copy(ROOT / "example_inputs" / "image.png", inputs)
    folder_paths.set_input_directory(str(inputs))
    used = {node["type"] for workflow in workflows for node in workflow["nodes"]}
    specs = {name: NodeSpec.from_class(name, cls) for name, cls in classes.items() if name in used}
    return classes, {**specs, **pack_specs(pack)}


def test_there_are_native_workflows():
    assert [path.name for path in WORKFLOWS] == ["i2v_native.json", "i2v_native_controlnet.json"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_native_workflow_fits_the_hosts_nodes(path, host):
    _, specs = host
    problems = check_workflow(json.loads(path.read_text()), specs)  # it accepts outputs a later release appended
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_comfyui_validates_the_queued_prompt(path, host, monkeypatch):
    classes, specs = host
    monkeypatch.setattr(nodes, "NODE_CLASS_MAPPINGS", classes)
    prompt = to_api(json.loads(path.read_text()), specs)
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt("test", prompt, None))[:4]
    assert valid, (error, node_errors)
    assert node_errors == {}
    assert {prompt[node]["class_type"] for node in outputs} >= {"SaveAnimatedWEBP"}


def test_the_native_chain(host):
    """The chain the workflows show: checkpoint -> (LoRA, FreeU) -> Animate (native) -> KSampler -> decode -> save."""
    workflow = json.loads((ROOT / "workflows" / "i2v_native.json").read_text())
    types = {node["id"]: node["type"] for node in workflow["nodes"]}
    edges = {(types[source], types[target]) for _, source, _, target, _, _ in workflow["links"]}
    for edge in (("CheckpointLoaderSimple", "LoraLoader"), ("LoraLoader", "FreeU_V2"),
                 ("FreeU_V2", "MotionI2VAnimateNative"), ("MotionI2VLoadMotionModules", "MotionI2VAnimateNative"),
                 ("MotionI2VPredictMotionField", "MotionI2VAnimateNative"), ("MotionI2VAnimateNative", "KSampler"),
                 ("KSampler", "VAEDecode"), ("VAEDecode", "SaveAnimatedWEBP")):
        assert edge in edges, edge
    ksampler = next(node for node in workflow["nodes"] if node["type"] == "KSampler")
    assert ksampler["widgets_values"][4:6] == ["ddim", "ddim_uniform"]  # the official sampler and timesteps
