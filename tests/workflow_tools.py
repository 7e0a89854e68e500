"""ComfyUI workflows without a browser: UI -> API conversion, a static checker, the README node table.

The UI format is what ComfyUI's frontend (comfyui-frontend-package 1.35.9, ComfyUI 0.8.0) saves; the API
format is what ``POST /prompt`` takes. ``to_api`` follows the frontend's ``graphToPrompt``
(COMFYUI.md A.7): virtual nodes (Reroute, PrimitiveNode, notes) and muted/bypassed nodes are dropped,
widget values are read positionally in widget order, where the frontend stores extra values after some
widgets (``control_after_generate`` after a seed, a filter after a controlled COMBO, the ``upload``
button last), and links are resolved through reroutes and bypassed nodes.

Node input specs come from V1 classes (``NodeSpec.from_class``) or from a server's ``/object_info``
(``NodeSpec.from_object_info``), so the same code converts against the real server and offline.

Command line: ``python tests/workflow_tools.py node-reference`` prints the README's node table;
``python tests/workflow_tools.py to-api WORKFLOW.json`` prints the API prompt of a workflow (pack nodes
plus the core nodes of tests/core_nodes.py).
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
VIRTUAL_TYPES = ("Reroute", "PrimitiveNode", "Note", "MarkdownNote")
MODE_MUTED, MODE_BYPASS = 2, 4
# Seeds get a control widget without asking for one (frontend useIntWidget).
SEED_NAMES = ("seed", "noise_seed")
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
COMBO_CONTROL_VALUES = CONTROL_VALUES + ("increment-wrap",)
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
README_BEGIN, README_END = "<!-- nodes:begin -->", "<!-- nodes:end -->"


class WorkflowError(ValueError):
    """A workflow the frontend could not have produced, or that cannot be converted."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    kind: str  # "COMBO" for choice lists, else the socket/widget type
    options: dict
    optional: bool
    choices: tuple = ()

    @property
    def is_widget(self) -> bool:
        return self.kind in WIDGET_KINDS and not self.options.get("forceInput", False)

    def default(self):
        """The value a fresh widget holds (frontend widget constructors)."""
        if "default" in self.options:
            return self.options["default"]
        if self.kind == "COMBO":
            return self.choices[0] if self.choices else None
        return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[self.kind]

    def control_values(self) -> int:
        """How many frontend-only values follow this widget in ``widgets_values``."""
        if self.kind == "INT":
            control = self.options.get("control_after_generate")
            return int(bool(self.name in SEED_NAMES if control is None else control))
        if self.kind == "FLOAT":
            return int(bool(self.options.get("control_after_generate")))
        if self.kind == "COMBO":
            return 2 * int(bool(self.options.get("control_after_generate")))
        return 0


@dataclass(frozen=True)
class NodeSpec:
    node_type: str
    display_name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]
    output_node: bool = False
    output_is_list: tuple[bool, ...] = ()
    category: str = ""
    description: str = ""

    @classmethod
    def from_class(cls, node_type: str, node_class, display_name: str | None = None) -> NodeSpec:
        """The spec of a V1 node class (``INPUT_TYPES`` classmethod, ``RETURN_TYPES``...)."""
        outputs = tuple(node_class.RETURN_TYPES)
        return cls(
            node_type=node_type,
            display_name=display_name or getattr(node_class, "DISPLAY_NAME", node_type),
            inputs=_parse_inputs(node_type, node_class.INPUT_TYPES()),
            outputs=outputs,
            output_names=tuple(getattr(node_class, "RETURN_NAMES", outputs)),
            output_node=bool(getattr(node_class, "OUTPUT_NODE", False)),
            output_is_list=tuple(getattr(node_class, "OUTPUT_IS_LIST", (False,) * len(outputs))),
            category=getattr(node_class, "CATEGORY", ""),
            description=getattr(node_class, "DESCRIPTION", ""),
        )

    @classmethod
    def from_object_info(cls, info: dict) -> NodeSpec:
        """The spec of one ``GET /object_info`` entry, in its ``input_order``."""
        declared = info.get("input", {})
        order = info.get("input_order", {})
        ordered = {
            section: {name: declared[section][name] for name in order.get(section, declared.get(section, {}))}
            for section in ("required", "optional")
            if section in declared
        }
        outputs = tuple(info.get("output", ()))
        return cls(
            node_type=info["name"],
            display_name=info.get("display_name") or info["name"],
            inputs=_parse_inputs(info["name"], ordered),
            outputs=outputs,
            output_names=tuple(info.get("output_name", outputs)),
            output_node=bool(info.get("output_node", False)),
            output_is_list=tuple(info.get("output_is_list", (False,) * len(outputs))),
            category=info.get("category", ""),
            description=info.get("description", ""),
        )

    def input(self, name: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def widgets(self) -> list[tuple[str, InputSpec | None, int]]:
        """``(name, spec, extra)`` per widget in the order the frontend creates them.

        ``extra`` counts the frontend-only values stored right after the widget's own value; the
        ``upload`` button of media COMBOs comes after the optional inputs (spec None). The widgets our
        web/js glue adds are not saved (``widget.serialize = false``), so they take no place here.
        """
        layout = [(spec.name, spec, spec.control_values()) for spec in self.inputs if spec.is_widget]
        if any(spec.options.get(flag) is True for spec in self.inputs if not spec.optional and spec.kind == "COMBO"
               for flag in UPLOAD_FLAGS):
            layout.append(("upload", None, 0))
        return layout


def _parse_inputs(node_type: str, input_types: dict) -> tuple[InputSpec, ...]:
    parsed = []
    for section in ("required", "optional"):
        for name, entry in input_types.get(section, {}).items():
            if not isinstance(entry, (list, tuple)) or not entry:
                raise WorkflowError(f"{node_type}: input {name!r} has no type: {entry!r}")
            kind, options = entry[0], dict(entry[1]) if len(entry) > 1 and entry[1] else {}
            if isinstance(kind, (list, tuple)):
                parsed.append(InputSpec(name, "COMBO", options, section == "optional", tuple(kind)))
            elif kind == "COMBO":
                choices = tuple(options.get("options", ()))
                parsed.append(InputSpec(name, "COMBO", options, section == "optional", choices))
            else:
                parsed.append(InputSpec(name, kind, options, section == "optional"))
    return tuple(parsed)


def types_match(received: str, expected: str) -> bool:
    """ComfyUI's link rule (``comfy_execution/validation.py``): equal, ``*``, or overlapping comma lists."""
    if received == expected or "*" in (received, expected):
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    left = {part.strip() for part in received.split(",")}
    right = {part.strip() for part in expected.split(",")}
    return "*" in left or "*" in right or bool(left & right)


# --------------------------------------------------------------------------------------------- the graph


@dataclass
class Graph:
    """A UI workflow indexed by node id and link id."""

    nodes: dict[int, dict]
    links: dict[int, tuple[int, int, int, int, str]]  # id -> (origin, origin_slot, target, target_slot, type)
    workflow: dict = field(repr=False)

    @classmethod
    def parse(cls, workflow: dict) -> Graph:
        if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
            raise WorkflowError("not a UI workflow: expected an object with a 'nodes' list")
        if "definitions" in workflow and workflow["definitions"].get("subgraphs"):
            raise WorkflowError("subgraphs are not supported: expand them before saving")
        nodes = {}
        for node in workflow["nodes"]:
            if node["id"] in nodes:
                raise WorkflowError(f"node id {node['id']} appears twice")
            nodes[node["id"]] = node
        links = {}
        for link in workflow.get("links", []):
            if isinstance(link, dict):  # the 1.0 schema stores links as objects
                link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                        link["type"]]
            link_id, origin, origin_slot, target, target_slot, kind = link
            links[link_id] = (origin, origin_slot, target, target_slot, kind)
        return cls(nodes, links, workflow)

    def title(self, node: dict, specs: dict[str, NodeSpec]) -> str:
        spec = specs.get(node["type"])
        return node.get("title") or (spec.display_name if spec else node["type"])

    def input_link(self, node: dict, slot: int):
        inputs = node.get("inputs") or []
        if slot >= len(inputs) or inputs[slot].get("link") is None:
            return None
        link_id = inputs[slot]["link"]
        if link_id not in self.links:
            raise WorkflowError(f"node {node['id']} input {inputs[slot]['name']!r} uses link {link_id}, "
                                f"which is not in 'links'")
        return self.links[link_id]

    def resolve_input(self, node: dict, slot: int, kind: str | None = None, seen: frozenset = frozenset()):
        """The (origin node, output slot) feeding input ``slot`` of ``node``, or None (ExecutableNodeDTO)."""
        key = (node["id"], "in", slot)
        if key in seen:
            raise WorkflowError(f"circular reference while resolving input {slot} of node {node['id']}")
        link = self.input_link(node, slot)
        if link is None:
            return None
        origin = self.nodes.get(link[0])
        if origin is None:
            raise WorkflowError(f"link into node {node['id']} comes from node {link[0]}, which does not exist")
        return self.resolve_output(origin, link[1], kind or node["inputs"][slot]["type"], seen | {key})

    def resolve_output(self, node: dict, slot: int, kind: str, seen: frozenset):
        key = (node["id"], "out", slot)
        if key in seen:
            raise WorkflowError(f"circular reference while resolving output {slot} of node {node['id']}")
        seen = seen | {key}
        if node.get("mode") == MODE_BYPASS:
            index = self._bypass_slot(node, slot, kind)
            return None if index < 0 else self.resolve_input(node, index, None, seen)
        if node["type"] in VIRTUAL_TYPES:
            # A reroute passes its single input on; primitives and notes resolve to nothing (their value,
            # if any, was already written into the target widget).
            if node["type"] == "Reroute" and self.input_link(node, slot) is not None:
                return self.resolve_input(node, slot, kind, seen)
            return None
        return node, slot

    @staticmethod
    def _bypass_slot(node: dict, slot: int, kind: str) -> int:
        inputs = node.get("inputs") or []
        if kind in ("*", ""):
            return slot if len(inputs) > slot else 0
        output_kind = node["outputs"][slot]["type"]
        fits = [types_match(spec["type"], output_kind) and types_match(spec["type"], kind) for spec in inputs]
        if slot < len(inputs) and fits[slot]:
            return slot
        exact = next((i for i, spec in enumerate(inputs) if spec["type"] == kind), -1)
        if exact >= 0:
            return exact
        return fits.index(True) if True in fits else -1

    def primitive_values(self) -> dict[tuple[int, str], object]:
        """What PrimitiveNode.applyToGraph writes: (target node id, widget name) -> value."""
        written = {}
        for node in self.nodes.values():
            if node["type"] != "PrimitiveNode" or node.get("mode") in (MODE_MUTED, MODE_BYPASS):
                continue
            if (node.get("properties") or {}).get("Run widget replace on values"):
                raise WorkflowError(f"PrimitiveNode {node['id']}: 'Run widget replace on values' is not supported")
            for link_id in (node.get("outputs") or [{}])[0].get("links") or []:
                _, _, target, target_slot, _ = self.links[link_id]
                target_input = self.nodes[target]["inputs"][target_slot]
                if "widget" in target_input:
                    written[(target, target_input["widget"]["name"])] = node["widgets_values"][0]
        return written


# ---------------------------------------------------------------------------------------- UI -> API


def widget_values(node: dict, spec: NodeSpec) -> dict[str, object]:
    """Widget name -> saved value, consuming ``widgets_values`` in frontend order (defaults when short)."""
    saved = node.get("widgets_values")
    layout = spec.widgets()
    if isinstance(saved, dict):
        return {name: saved.get(name, inp.default()) for name, inp, _ in layout if inp is not None}
    saved = list(saved or [])
    values, position = {}, 0
    for name, inp, extra in layout:
        if inp is not None:
            values[name] = saved[position] if position < len(saved) else inp.default()
        position += 1 + extra
    return values


def saved_values(workflow: dict, spec: NodeSpec, name: str) -> list:
    """The value of widget ``name`` on every node of ``spec``'s type (e.g. the checkpoints a workflow loads)."""
    return [widget_values(node, spec)[name] for node in workflow["nodes"] if node["type"] == spec.node_type]


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """The frontend's ``processDynamicPrompt``: strip C comments, pick one option per ``{a|b}`` group."""
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    position = 0

    def escaped() -> str:  # a backslash keeps the next character (handleEscape)
        nonlocal position
        position += 1
        return "\\" + text[position - 1:position]

    def choice_block() -> str:
        nonlocal position
        options, choice, depth = [], "", 0
        while position < len(text):
            char = text[position]
            position += 1
            if char == "\\":
                choice += escaped()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(choice)
                choice = ""
                continue
            choice += char
        options.append(choice)
        return process_dynamic_prompt(options[math.floor(rng.random() * len(options))], rng)

    result = ""
    while position < len(text):
        char = text[position]
        position += 1
        if char == "\\":
            result += escaped()
        elif char == "{":
            result += choice_block()
        else:
            result += char
    return re.sub(r"\\([{}|])", r"\1", result)


def to_api(workflow: dict, specs: dict[str, NodeSpec], rng: random.Random | None = None) -> dict:
    """The API prompt the frontend would queue for ``workflow`` (``graphToPrompt``)."""
    graph = Graph.parse(workflow)
    rng = rng or random.Random(0)
    primitives = graph.primitive_values()
    prompt = {}
    for node_id, node in graph.nodes.items():
        if node["type"] in VIRTUAL_TYPES or node.get("mode") in (MODE_MUTED, MODE_BYPASS):
            continue
        spec = specs.get(node["type"])
        if spec is None:
            raise WorkflowError(f"node {node_id}: unknown node type {node['type']!r}")
        inputs = {}
        for name, value in widget_values(node, spec).items():
            value = primitives.get((node_id, name), value)
            inp = spec.input(name)
            if inp.kind == "STRING" and inp.options.get("dynamicPrompts") and isinstance(value, str):
                value = process_dynamic_prompt(value, rng)
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        for slot, slot_info in enumerate(node.get("inputs") or []):
            resolved = graph.resolve_input(node, slot)
            if resolved is not None:
                origin, origin_slot = resolved
                inputs[slot_info["name"]] = [str(origin["id"]), origin_slot]
        prompt[str(node_id)] = {"inputs": inputs, "class_type": node["type"],
                                "_meta": {"title": graph.title(node, specs)}}
    for entry in prompt.values():
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                del entry["inputs"][name]
    return prompt


# ------------------------------------------------------------------------------------ the test profile


def quick_settings(prompt: dict, steps: int) -> dict:
    """A copy of ``prompt`` with every literal ``steps`` input lowered to at most ``steps``: the graph and
    every other value stay as saved, only the denoising loops get short enough for CPU tests."""
    quick = {}
    for node_id, entry in prompt.items():
        inputs = dict(entry["inputs"])
        if isinstance(inputs.get("steps"), int):
            inputs["steps"] = min(inputs["steps"], steps)
        quick[node_id] = {**entry, "inputs": inputs}
    return quick


def write_small_inputs(source: Path, target: Path, divisor: int) -> None:
    """Copy the files of ``source`` into ``target``, images and videos shrunk by ``divisor`` (sizes stay multiples
    of 8 when they were multiples of 8 * divisor): the workflows then run at a tiny resolution, the trajectories
    and brushes, stored in canvas pixels, being rescaled to the image by the nodes."""
    # imported here: run as a script, this module loads before main() puts the repo root on sys.path
    from motion_i2v.media import VIDEO_CODECS, load_video, save_animation

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in VIDEO_CODECS:
            frames, fps = load_video(str(path))
            size = (frames.shape[2] // divisor, frames.shape[3] // divisor)
            small = torch.nn.functional.interpolate(frames, size=size, mode="bilinear", antialias=True)
            save_animation(small, str(target / path.name), fps)
        elif suffix in (".png", ".jpg", ".jpeg", ".webp"):
            with Image.open(path) as picture:
                size = (picture.width // divisor, picture.height // divisor)
                picture.resize(size, Image.LANCZOS).save(target / path.name)
        else:
            (target / path.name).write_bytes(path.read_bytes())


# -------------------------------------------------------------------------------------- static checks


def _check_widget_value(inp: InputSpec, value) -> str | None:
    if inp.kind == "COMBO":
        if value not in inp.choices:
            shown = list(inp.choices) if len(inp.choices) <= 20 else f"{len(inp.choices)} choices"
            return f"{value!r} is not one of {shown}"
        return None
    expected = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}[inp.kind]
    if not isinstance(value, expected) or (inp.kind in ("INT", "FLOAT") and isinstance(value, bool)):
        return f"{value!r} is not a {inp.kind}"
    if inp.kind in ("INT", "FLOAT"):
        if "min" in inp.options and value < inp.options["min"]:
            return f"{value} is smaller than min {inp.options['min']}"
        if "max" in inp.options and value > inp.options["max"]:
            return f"{value} is bigger than max {inp.options['max']}"
    return None


def _check_widgets(node: dict, spec: NodeSpec, label: str) -> list[str]:
    problems = []
    saved = node.get("widgets_values")
    layout = spec.widgets()
    if isinstance(saved, dict):
        unknown = set(saved) - {name for name, _, _ in layout}
        if unknown:
            problems.append(f"{label}: widgets_values names {sorted(unknown)} are not widgets")
        return problems + [f"{label}: widget {name!r}: {error}" for name, value in saved.items()
                           if (inp := spec.input(name)) is not None and (error := _check_widget_value(inp, value))]
    saved = list(saved or [])
    expected = sum(1 + extra for _, _, extra in layout)
    if len(saved) != expected:
        names = [name for name, _, _ in layout]
        problems.append(f"{label}: {len(saved)} widgets_values for {expected} slots (widgets {names}, "
                        f"plus the frontend's control values)")
        return problems
    position = 0
    for name, inp, extra in layout:
        if inp is not None and (error := _check_widget_value(inp, saved[position])):
            problems.append(f"{label}: widget {name!r}: {error}")
        allowed = COMBO_CONTROL_VALUES if inp is not None and inp.kind == "COMBO" else CONTROL_VALUES
        if extra and saved[position + 1] not in allowed:
            problems.append(f"{label}: widget {name!r} is followed by {saved[position + 1]!r}, "
                            f"expected a control_after_generate value {allowed}")
        if extra == 2 and not isinstance(saved[position + 2], str):
            problems.append(f"{label}: widget {name!r}: the control filter must be a string")
        position += 1 + extra
    return problems


def _check_slots(node: dict, spec: NodeSpec, label: str) -> list[str]:
    problems = []
    widget_names = {name for name, _, _ in spec.widgets()}
    for slot in node.get("inputs") or []:
        inp = spec.input(slot["name"])
        if inp is None:
            # the frontend also keeps a slot for its own widgets (LoadImage's "upload", type IMAGEUPLOAD)
            if slot["name"] not in widget_names or slot.get("link") is not None:
                problems.append(f"{label}: input slot {slot['name']!r} is not declared by {spec.node_type}")
            continue
        if slot.get("widget") and slot["widget"].get("name") not in widget_names:
            problems.append(f"{label}: input slot {slot['name']!r} claims widget {slot['widget']}, "
                            f"which {spec.node_type} does not have")
        if slot.get("type") != inp.kind:
            problems.append(f"{label}: input slot {slot['name']!r} has type {slot.get('type')!r}, "
                            f"{spec.node_type} declares {inp.kind!r}")
    saved = [slot.get("type") for slot in node.get("outputs") or []]
    # Releases append outputs (ComfyUI 0.33's SaveImage gained IMAGE): a workflow saved before keeps loading.
    if saved != list(spec.outputs[:len(saved)]):
        problems.append(f"{label}: output types {saved} are not {spec.node_type}'s RETURN_TYPES "
                        f"{list(spec.outputs)} (or the first of them, as an earlier release saved them)")
    connected = {slot["name"] for slot in node.get("inputs") or [] if slot.get("link") is not None}
    for inp in spec.inputs:
        if not inp.optional and not inp.is_widget and inp.name not in connected:
            problems.append(f"{label}: required input {inp.name!r} ({inp.kind}) is not connected")
    return problems


def _check_links(graph: Graph, specs: dict[str, NodeSpec]) -> list[str]:
    problems = []
    for link_id, (origin, origin_slot, target, target_slot, kind) in graph.links.items():
        if origin not in graph.nodes or target not in graph.nodes:
            problems.append(f"link {link_id}: joins missing nodes {origin} -> {target}")
            continue
        source, sink = graph.nodes[origin], graph.nodes[target]
        outputs, inputs = source.get("outputs") or [], sink.get("inputs") or []
        if origin_slot >= len(outputs) or link_id not in (outputs[origin_slot].get("links") or []):
            problems.append(f"link {link_id}: node {origin} output {origin_slot} does not list it")
        if target_slot >= len(inputs) or inputs[target_slot].get("link") != link_id:
            problems.append(f"link {link_id}: node {target} input {target_slot} does not hold it")
            continue
        sink_spec = specs.get(sink["type"])
        if sink_spec is None:
            continue
        resolved = graph.resolve_input(sink, target_slot)
        if resolved is None:
            continue
        source_node, slot = resolved
        source_spec = specs.get(source_node["type"])
        inp = sink_spec.input(inputs[target_slot]["name"])
        if source_spec is None or inp is None:
            continue
        received = source_spec.outputs[slot] if slot < len(source_spec.outputs) else None
        if received is None or not types_match(received, inp.kind):
            problems.append(f"link {link_id}: {source_node['type']} {source_node['id']} output {slot} "
                            f"({received}) cannot feed {sink['type']} {target} input {inp.name!r} ({inp.kind})")
    for node in graph.nodes.values():
        for slot in node.get("outputs") or []:
            for link_id in slot.get("links") or []:
                if link_id not in graph.links:
                    problems.append(f"node {node['id']} output {slot.get('name')!r} lists link {link_id}, "
                                    f"which is not in 'links'")
    return problems


def _check_reachability(graph: Graph, specs: dict[str, NodeSpec]) -> list[str]:
    """Every executable node should feed an output node: ComfyUI runs nothing else."""
    prompt_nodes = {node_id for node_id, node in graph.nodes.items()
                    if node["type"] not in VIRTUAL_TYPES and node.get("mode") not in (MODE_MUTED, MODE_BYPASS)}
    outputs = [node_id for node_id in prompt_nodes
               if graph.nodes[node_id]["type"] in specs and specs[graph.nodes[node_id]["type"]].output_node]
    if not outputs:
        return ["the workflow has no output node, so ComfyUI would refuse it (prompt_no_outputs)"]
    reached, stack = set(), list(outputs)
    while stack:
        node = graph.nodes[stack.pop()]
        if node["id"] in reached:
            continue
        reached.add(node["id"])
        for slot in range(len(node.get("inputs") or [])):
            resolved = graph.resolve_input(node, slot)
            if resolved is not None:
                stack.append(resolved[0]["id"])
    return [f"node {node_id} ({graph.nodes[node_id]['type']}) feeds no output node, so it never runs"
            for node_id in sorted(prompt_nodes - reached)]


def check_workflow(workflow: dict, specs: dict[str, NodeSpec]) -> list[str]:
    """Everything in ``workflow`` the frontend or the server would reject or silently change; [] when clean."""
    try:
        graph = Graph.parse(workflow)
    except (WorkflowError, KeyError, TypeError) as error:
        return [f"unreadable workflow: {error!r}"]
    problems = []
    max_node, max_link = max(graph.nodes, default=0), max(graph.links, default=0)
    if workflow.get("last_node_id", max_node) < max_node:
        problems.append(f"last_node_id {workflow.get('last_node_id')} is below the largest node id {max_node}")
    if workflow.get("last_link_id", max_link) < max_link:
        problems.append(f"last_link_id {workflow.get('last_link_id')} is below the largest link id {max_link}")
    for node in graph.nodes.values():
        label = f"node {node['id']} ({node['type']})"
        if node["type"] in VIRTUAL_TYPES:
            continue
        spec = specs.get(node["type"])
        if spec is None:
            problems.append(f"{label}: unknown node type {node['type']!r} (neither the pack's NODE_CLASS_MAPPINGS "
                            f"nor tests/core_nodes.py know it)")
            continue
        problems += _check_widgets(node, spec, label)
        problems += _check_slots(node, spec, label)
    try:
        problems += _check_links(graph, specs)
        problems += _check_reachability(graph, specs)
    except WorkflowError as error:
        problems.append(str(error))
    return problems


# ----------------------------------------------------------------------------------- README node table


def _describe_input(inp: InputSpec) -> str:
    if inp.kind == "COMBO":
        kind = "COMBO"
    elif inp.kind in ("INT", "FLOAT") and ("min" in inp.options or "max" in inp.options):
        kind = f"{inp.kind} {inp.options.get('min', '')}..{inp.options.get('max', '')}"
    else:
        kind = inp.kind
    return f"`{inp.name}` {kind}{' (optional)' if inp.optional else ''}"


def node_reference(specs: list[NodeSpec]) -> str:
    """The README's node table: one row per node, grouped by category, in the pack's order."""
    rows = ["| Node | Id | Inputs | Outputs | What it does |", "|---|---|---|---|---|"]
    for spec in sorted(specs, key=lambda s: s.category):
        inputs = "<br>".join(_describe_input(inp) for inp in spec.inputs) or "–"
        outputs = "<br>".join(f"`{name}` {kind}" for name, kind in zip(spec.output_names, spec.outputs)) or "–"
        summary = spec.description.strip().split("\n")[0].replace("|", "\\|")
        rows.append(f"| {spec.display_name} ({spec.category.removeprefix('Motion-I2V/')}) | `{spec.node_type}` "
                    f"| {inputs} | {outputs} | {summary} |")
    return "\n".join(rows) + "\n"


def pack_specs(pack) -> dict[str, NodeSpec]:
    return {node_id: NodeSpec.from_class(node_id, cls, pack.NODE_DISPLAY_NAME_MAPPINGS.get(node_id))
            for node_id, cls in pack.NODE_CLASS_MAPPINGS.items()}


def readme_section(readme: str) -> str | None:
    """The text between the README's node markers, or None when the markers are absent."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        return None
    return readme[begin + len(README_BEGIN):end].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import load_pack  # also puts the repo root on sys.path

    pack = load_pack()
    if argv[:1] == ["node-reference"]:
        sys.stdout.write(node_reference(list(pack_specs(pack).values())))
        return 0
    if argv[:1] == ["to-api"] and len(argv) == 2:
        from core_nodes import core_specs

        specs = {**core_specs(), **pack_specs(pack)}
        json.dump(to_api(json.loads(Path(argv[1]).read_text()), specs), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stderr.write("usage: python tests/workflow_tools.py node-reference | to-api WORKFLOW.json\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
