"""UI -> API conversion and static checks (tests/workflow_tools.py) on small hand-made graphs."""

import random
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from workflow_tools import (
    NodeSpec,
    WorkflowError,
    check_workflow,
    process_dynamic_prompt,
    to_api,
    types_match,
    write_small_inputs,
)

from motion_i2v.media import load_video, save_animation

ROOT = Path(__file__).resolve().parents[1]


class Source:
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (["a.png", "b.png"], {"image_upload": True})}}


class Sampler:
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**64 - 1}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 100}),
                "cfg": ("FLOAT", {"default": 7.5, "min": 0.0, "max": 30.0}),
                "scheduler": (["ddim", "euler"], {"control_after_generate": True}),
            },
            "optional": {
                "mask": ("MASK",),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "control_after_generate": True}),
                "noise_seed": ("INT", {"default": 3, "control_after_generate": False}),
                "prompt": ("STRING", {"multiline": True, "dynamicPrompts": True}),
                "points": ("STRING", {"forceInput": True}),
            },
        }


class Sink:
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "x"})}}


SPECS = {name: NodeSpec.from_class(name, cls) for name, cls in
         {"Source": Source, "Sampler": Sampler, "Sink": Sink}.items()}
SAMPLER_VALUES = [7, "randomize", 30, 5.0, "euler", "fixed", "", 0.5, "fixed", 3, "a cat"]


class Builder:
    """Writes a UI workflow the way the frontend saves it: nodes with typed slots, links as arrays."""

    def __init__(self):
        self.nodes, self.links = [], []

    def add(self, node_type, widgets_values=(), mode=0, inputs=None, outputs=None):
        spec = SPECS.get(node_type)
        if inputs is None:
            inputs = [{"name": inp.name, "type": inp.kind, "link": None}
                      for inp in spec.inputs if not inp.is_widget] if spec else []
        if outputs is None:
            outputs = [{"name": kind, "type": kind, "links": []} for kind in spec.outputs] if spec else []
        node = {"id": len(self.nodes) + 1, "type": node_type, "pos": [0, 0], "size": [200, 100], "flags": {},
                "order": len(self.nodes), "mode": mode, "inputs": inputs, "outputs": outputs, "properties": {},
                "widgets_values": widgets_values if isinstance(widgets_values, dict) else list(widgets_values)}
        self.nodes.append(node)
        return node

    def link(self, origin, slot, target, input_name, kind=None):
        inputs = target["inputs"]
        index = next((i for i, s in enumerate(inputs) if s["name"] == input_name), None)
        if index is None:  # a widget turned into a socket
            inp = SPECS[target["type"]].input(input_name)
            inputs.append({"name": input_name, "type": inp.kind, "widget": {"name": input_name}, "link": None})
            index = len(inputs) - 1
        link_id = len(self.links) + 1
        kind = kind or origin["outputs"][slot]["type"]
        self.links.append([link_id, origin["id"], slot, target["id"], index, kind])
        origin["outputs"][slot]["links"].append(link_id)
        inputs[index]["link"] = link_id

    def workflow(self):
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


def chain(sampler_values=SAMPLER_VALUES, sampler_mode=0):
    graph = Builder()
    source = graph.add("Source", ["b.png", "image"])
    sampler = graph.add("Sampler", sampler_values, mode=sampler_mode)
    sink = graph.add("Sink", ["out"])
    graph.link(source, 0, sampler, "image")
    graph.link(sampler, 0, sink, "images")
    return graph, source, sampler, sink


def test_widget_values_skip_the_frontend_control_values():
    prompt = to_api(chain()[0].workflow(), SPECS)
    # seed + its control, steps, cfg, scheduler + control + filter, strength + control, noise_seed (no control)
    assert prompt["2"]["inputs"] == {"seed": 7, "steps": 30, "cfg": 5.0, "scheduler": "euler", "strength": 0.5,
                                     "noise_seed": 3, "prompt": "a cat", "image": ["1", 0]}
    assert prompt["1"]["inputs"] == {"image": "b.png"}  # the upload button's value is not an input
    assert prompt["3"] == {"inputs": {"filename_prefix": "out", "images": ["2", 0]}, "class_type": "Sink",
                           "_meta": {"title": "Sink"}}
    assert check_workflow(chain()[0].workflow(), SPECS) == []


def test_missing_trailing_values_take_widget_defaults():
    prompt = to_api(chain(SAMPLER_VALUES[:6])[0].workflow(), SPECS)
    assert prompt["2"]["inputs"]["strength"] == 1.0 and prompt["2"]["inputs"]["noise_seed"] == 3
    problems = check_workflow(chain(SAMPLER_VALUES[:6])[0].workflow(), SPECS)
    assert problems == ["node 2 (Sampler): 6 widgets_values for 11 slots (widgets ['seed', 'steps', 'cfg', "
                        "'scheduler', 'strength', 'noise_seed', 'prompt'], plus the frontend's control values)"]


def test_dict_widget_values_are_read_by_name():
    graph, *_ = chain({"seed": 1, "cfg": 2.0})
    inputs = to_api(graph.workflow(), SPECS)["2"]["inputs"]
    assert (inputs["seed"], inputs["cfg"], inputs["steps"], inputs["scheduler"]) == (1, 2.0, 20, "ddim")


def test_list_values_are_wrapped():
    graph, *_ = chain(SAMPLER_VALUES[:-1] + [["x", "y"]])
    assert to_api(graph.workflow(), SPECS)["2"]["inputs"]["prompt"] == {"__value__": ["x", "y"]}


def test_bypassed_node_passes_its_matching_input_through():
    graph, *_ = chain(sampler_mode=4)
    prompt = to_api(graph.workflow(), SPECS)
    assert "2" not in prompt and prompt["3"]["inputs"]["images"] == ["1", 0]
    assert check_workflow(graph.workflow(), SPECS) == []


def test_muted_node_drops_its_links():
    graph, *_ = chain(sampler_mode=2)
    prompt = to_api(graph.workflow(), SPECS)
    assert "2" not in prompt and prompt["3"]["inputs"] == {"filename_prefix": "out"}


def test_reroute_resolves_to_its_origin_and_types_are_checked_through_it():
    graph = Builder()
    source = graph.add("Source", ["a.png", "image"])
    reroute = graph.add("Reroute", [], inputs=[{"name": "", "type": "*", "link": None}],
                        outputs=[{"name": "", "type": "*", "links": []}])
    sink = graph.add("Sink", ["out"])
    graph.link(source, 1, reroute, "", kind="MASK")
    graph.link(reroute, 0, sink, "images", kind="MASK")
    assert to_api(graph.workflow(), SPECS)["3"]["inputs"]["images"] == ["1", 1]
    assert check_workflow(graph.workflow(), SPECS) == [
        "link 2: Source 1 output 1 (MASK) cannot feed Sink 3 input 'images' (IMAGE)"]


def test_primitive_node_writes_its_value_into_the_widget():
    graph, _, sampler, _ = chain()
    primitive = graph.add("PrimitiveNode", [12, "fixed"], inputs=[],
                          outputs=[{"name": "INT", "type": "INT", "links": [], "widget": {"name": "steps"}}])
    graph.link(primitive, 0, sampler, "steps")
    prompt = to_api(graph.workflow(), SPECS)
    assert prompt["2"]["inputs"]["steps"] == 12 and "4" not in prompt
    assert check_workflow(graph.workflow(), SPECS) == []


def test_dynamic_prompts_pick_one_option_and_keep_escapes():
    assert process_dynamic_prompt("a {red|blue} cat /* note */ // end", random.Random(0)) in ("a red cat  ",
                                                                                             "a blue cat  ")
    assert {process_dynamic_prompt("{a|{b|c}}", random.Random(seed)) for seed in range(40)} == {"a", "b", "c"}
    assert process_dynamic_prompt(r"\{json\} {x}", random.Random(0)) == "{json} x"


def test_static_check_reports_values_types_and_structure():
    graph, source, sampler, sink = chain([-1, "sometimes", 30, 99.0, "heun", "fixed", "", 0.5, "fixed", 3, 7])
    sink["inputs"][0]["link"] = None  # the link table still names it
    graph.add("Mystery")
    problems = check_workflow(graph.workflow(), SPECS)
    assert "node 2 (Sampler): widget 'seed': -1 is smaller than min 0" in problems
    assert ("node 2 (Sampler): widget 'seed' is followed by 'sometimes', expected a control_after_generate value "
            "('fixed', 'increment', 'decrement', 'randomize')") in problems
    assert "node 2 (Sampler): widget 'cfg': 99.0 is bigger than max 30.0" in problems
    assert "node 2 (Sampler): widget 'scheduler': 'heun' is not one of ['ddim', 'euler']" in problems
    assert "node 2 (Sampler): widget 'prompt': 7 is not a STRING" in problems
    assert "node 3 (Sink): required input 'images' (IMAGE) is not connected" in problems
    assert "link 2: node 3 input 0 does not hold it" in problems
    assert ("node 4 (Mystery): unknown node type 'Mystery' (neither the pack's NODE_CLASS_MAPPINGS nor "
            "tests/core_nodes.py know it)") in problems
    assert "node 2 (Sampler) feeds no output node, so it never runs" in problems


def test_static_check_wants_an_output_node_and_declared_slots():
    graph = Builder()
    graph.add("Source", ["a.png", "image"], outputs=[{"name": "MASK", "type": "MASK", "links": []}])
    graph.nodes[0]["inputs"] = [{"name": "pixels", "type": "IMAGE", "link": None}]
    problems = check_workflow(graph.workflow(), SPECS)
    assert problems == [
        "node 1 (Source): input slot 'pixels' is not declared by Source",
        "node 1 (Source): output types ['MASK'] are not Source's RETURN_TYPES ['IMAGE', 'MASK'] (or the first of "
        "them, as an earlier release saved them)",
        "the workflow has no output node, so ComfyUI would refuse it (prompt_no_outputs)",
    ]


def test_static_check_accepts_outputs_saved_before_a_release_added_more():
    graph = Builder()
    source = graph.add("Source", ["a.png", "image"], outputs=[{"name": "IMAGE", "type": "IMAGE", "links": []}])
    sink = graph.add("Sink", ["out"])
    graph.link(source, 0, sink, "images")
    assert check_workflow(graph.workflow(), SPECS) == []


def test_conversion_refuses_unknown_nodes_and_subgraphs():
    graph = Builder()
    graph.add("Mystery")
    with pytest.raises(WorkflowError, match="unknown node type 'Mystery'"):
        to_api(graph.workflow(), SPECS)
    with pytest.raises(WorkflowError, match="subgraphs are not supported"):
        to_api({**graph.workflow(), "definitions": {"subgraphs": [{"id": "x"}]}}, SPECS)


def test_object_info_specs_follow_input_order():
    info = {"name": "N", "display_name": "N!", "output": ["IMAGE"], "output_name": ["IMAGE"],
            "input": {"required": {"b": ["INT", {"default": 1}], "a": ["COMBO", {"options": ["x", "y"]}]},
                      "optional": {"c": ["BOOLEAN", {}]}},
            "input_order": {"required": ["a", "b"], "optional": ["c"]}, "output_node": True}
    spec = NodeSpec.from_object_info(info)
    assert [name for name, _, _ in spec.widgets()] == ["a", "b", "c"]
    assert spec.input("a").choices == ("x", "y") and spec.input("a").default() == "x"
    assert spec.output_node and spec.display_name == "N!"


def test_types_match_like_comfyui():
    assert types_match("IMAGE", "IMAGE") and types_match("*", "MASK") and types_match("INT,FLOAT", "FLOAT")
    assert not types_match("IMAGE", "MASK") and not types_match("INT,FLOAT", "STRING")


def test_the_glue_saves_none_of_the_widgets_it_adds():
    """A widget web/js adds must not be saved in the workflow (``widget.serialize = false``): a saved copy
    takes a place in widgets_values and, loaded back, wins over the node's own widget."""
    for path in (ROOT / "web" / "js").rglob("*.js"):
        text = path.read_text()
        for variable in re.findall(r"(\w+) = node\.add(?:DOM)?Widget\(", text):
            assert f"{variable}.serialize = false" in text, f"{path.name}: {variable} is saved in workflows"
        assert len(re.findall(r"\.add(?:DOM)?Widget\(", text)) == len(re.findall(r"= node\.add(?:DOM)?Widget\(", text))


def test_trajectories_saves_its_declared_widgets_only(pack):
    specs = {"MotionI2VTrajectories": NodeSpec.from_class("MotionI2VTrajectories",
                                                          pack.NODE_CLASS_MAPPINGS["MotionI2VTrajectories"])}
    node = {"id": 1, "type": "MotionI2VTrajectories", "mode": 0, "inputs": [], "outputs": [
        {"name": name, "type": kind, "links": []} for name, kind in (("tracks", "TRACKS"), ("brush", "MASK"),
                                                                     ("preview", "IMAGE"))]}
    value = '{"version": 1, "width": 64, "height": 64, "tracks": []}'
    workflow = {"nodes": [{**node, "widgets_values": [value, 16, 64, 64, "image", "anchors"]}], "links": []}
    problems = check_workflow(workflow, specs)
    assert problems == ["the workflow has no output node, so ComfyUI would refuse it (prompt_no_outputs)"]
    assert to_api(workflow, specs)["1"]["inputs"] == {"trajectories": value, "frames": 16, "width": 64, "height": 64,
                                                      "source_size": "image", "point_lists": "anchors"}
    # saved before the editor's copy stopped being saved: the glue (web/js/motion_i2v.js) mends it on load
    workflow["nodes"][0]["widgets_values"] = [value, 16, 64, 64, value]
    assert "node 1 (MotionI2VTrajectories): 5 widgets_values for 6 slots" in " ".join(check_workflow(workflow, specs))


def test_small_inputs_shrink_images_and_videos_and_copy_the_rest(tmp_path):
    source, target = tmp_path / "example_inputs", tmp_path / "input"
    source.mkdir()
    Image.new("RGB", (128, 96), (200, 40, 40)).save(source / "image.png")
    save_animation(torch.full((5, 3, 96, 128), 0.5), str(source / "clip.webm"), fps=6)
    (source / "tracks.json").write_text('{"tracks": []}')
    write_small_inputs(source, target, 8)
    with Image.open(target / "image.png") as picture:
        assert picture.size == (16, 12) and picture.getpixel((8, 6)) == (200, 40, 40)
    frames, fps = load_video(str(target / "clip.webm"))
    assert frames.shape == (5, 3, 12, 16) and fps == 6
    assert (frames - 0.5).abs().max() < 12 / 255  # two lossy generations of a flat grey
    assert (target / "tracks.json").read_text() == '{"tracks": []}'
