"""Run an API prompt the way ComfyUI 0.8.0's server does, without ComfyUI (for tests).

Validation mirrors ``execution.validate_prompt`` / ``validate_inputs``: only nodes reachable from an
``OUTPUT_NODE`` run; required inputs must be present; a link's upstream ``RETURN_TYPES[slot]`` must match
the declared type (``*`` and comma lists as in ``comfy_execution/validation.py``); widget values are
unwrapped from ``{"__value__": ...}`` and coerced (INT, FLOAT, STRING, BOOLEAN), range-checked and checked
against COMBO lists unless ``VALIDATE_INPUTS`` declares that argument; ``VALIDATE_INPUTS`` gets linked
inputs as None and ``input_types`` when it asks. Outputs whose inputs fail are dropped with their
``node_errors``, as the server answers HTTP 200 with errors; no valid output is a ``PromptError``.

Execution runs the needed nodes in topological order inside ``torch.inference_mode()``, one instance
per node, with ComfyUI's list semantics: every value is a list; a node without ``INPUT_IS_LIST`` runs
once per element of its longest input list (shorter lists repeat their last element); outputs flagged
in ``OUTPUT_IS_LIST`` are concatenated, others collected per call; ``ui`` dicts merge per key. Hidden
inputs PROMPT, EXTRA_PNGINFO, UNIQUE_ID and DYNPROMPT (None here) are filled in. Not modelled: caching,
lazy inputs (refused), subgraph expansion, async nodes, V3 classes.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field

import torch

from workflow_tools import types_match

COERCE = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


class PromptError(Exception):
    """The server would answer HTTP 400: ``error`` as in its JSON, ``node_errors`` per node id."""

    def __init__(self, error: dict, node_errors: dict | None = None):
        self.error, self.node_errors = error, node_errors or {}
        lines = [f"{error['type']}: {error['message']} {error.get('details', '')}".rstrip()]
        for node_id, entry in self.node_errors.items():
            lines += [f"  node {node_id} ({entry['class_type']}): {e['type']}: {e['details']}" for e in entry["errors"]]
        super().__init__("\n".join(lines))


class NodeExecutionError(Exception):
    """A node raised while running (the server's ``execution_error``); the cause is chained."""

    def __init__(self, node_id: str, class_type: str, error: BaseException):
        self.node_id, self.class_type = node_id, class_type
        super().__init__(f"node {node_id} ({class_type}) raised {type(error).__name__}: {error}")


@dataclass
class Execution:
    outputs: dict[str, list[list]] = field(default_factory=dict)  # node id -> per output slot, a list of values
    ui: dict[str, dict] = field(default_factory=dict)  # node id -> merged ui dict (what /history shows)
    order: list[str] = field(default_factory=list)
    node_errors: dict[str, dict] = field(default_factory=dict)


def _declared(cls) -> dict[str, tuple[str, object, dict]]:
    """name -> (category, type, options) for required, optional and hidden inputs."""
    spec = cls.INPUT_TYPES()
    declared = {}
    for category in ("required", "optional", "hidden"):
        for name, entry in spec.get(category, {}).items():
            if category == "hidden":
                declared[name] = (category, entry, {})
            else:
                entry = entry if isinstance(entry, (list, tuple)) else (entry,)
                declared[name] = (category, entry[0], dict(entry[1]) if len(entry) > 1 and entry[1] else {})
    return declared


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _error(kind: str, message: str, details: str) -> dict:
    return {"type": kind, "message": message, "details": details}


def _validate_function(cls):
    function = getattr(cls, "VALIDATE_INPUTS", None)
    if function is None:
        return None, [], False
    spec = inspect.getfullargspec(function)
    return function, spec.args, spec.varkw is not None


def _validate_node(prompt: dict, classes: dict, node_id: str, validated: dict) -> bool:
    if node_id in validated:
        return validated[node_id][0]
    validated[node_id] = (False, [])  # a cycle reaching back here counts as invalid
    entry = prompt[node_id]
    cls = classes[entry["class_type"]]
    inputs = entry["inputs"]
    function, function_args, has_kwargs = _validate_function(cls)
    errors, valid, received_types = [], True, {}
    for name, (category, kind, options) in _declared(cls).items():
        if category == "hidden":
            continue
        if name not in inputs:
            if category == "required":
                errors.append(_error("required_input_missing", "Required input is missing", name))
            continue
        value = inputs[name]
        if isinstance(value, list):
            if not _is_link(value) or value[0] not in prompt:
                errors.append(_error("bad_linked_input", "Bad linked input, must be a length-2 list of "
                                     "[node_id, slot_index]", f"{name}: {value!r}"))
                continue
            upstream = classes[prompt[value[0]]["class_type"]]
            if value[1] >= len(upstream.RETURN_TYPES):
                errors.append(_error("bad_linked_input", "Linked output slot does not exist", f"{name}: {value!r}"))
                continue
            received = upstream.RETURN_TYPES[value[1]]
            received_types[name] = received
            if "input_types" not in function_args and not types_match(received, "COMBO" if isinstance(kind, list)
                                                                        else kind):
                errors.append(_error("return_type_mismatch", "Return type mismatch between linked nodes",
                                     f"{name}, received_type({received}) mismatch input_type({kind})"))
                continue
            valid = _validate_node(prompt, classes, value[0], validated) and valid
            continue
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        if isinstance(kind, str) and kind in COERCE:
            try:
                value = inputs[name] = COERCE[kind](value)
            except (TypeError, ValueError) as error:
                errors.append(_error("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                                     f"{name}, {value}, {error}"))
                continue
        if name in function_args or has_kwargs:
            continue
        if "min" in options and value < options["min"]:
            errors.append(_error("value_smaller_than_min", f"Value {value} smaller than min of {options['min']}", name))
        elif "max" in options and value > options["max"]:
            errors.append(_error("value_bigger_than_max", f"Value {value} bigger than max of {options['max']}", name))
        elif isinstance(kind, list) or kind == "COMBO":
            choices = kind if isinstance(kind, list) else options.get("options", [])
            if value not in choices:
                shown = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
                errors.append(_error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {shown}"))
    if function is not None and (function_args or has_kwargs):
        arguments = {name: (None if _is_link(value) else value) for name, value in inputs.items()
                     if name in function_args or has_kwargs}
        if "input_types" in function_args:
            arguments["input_types"] = received_types
        verdict = function(**arguments)
        if verdict is not True:
            errors.append(_error("custom_validation_failed", "Custom validation failed for node",
                                 "" if verdict is False else str(verdict)))
    validated[node_id] = (not errors and valid, errors)
    return validated[node_id][0]


def validate_prompt(prompt: dict, classes: dict) -> tuple[dict, list[str], dict]:
    """(the prompt with coerced values, the valid output node ids, node_errors); raises PromptError."""
    prompt = {node_id: {**entry, "inputs": copy.copy(entry.get("inputs", {}))} for node_id, entry in prompt.items()}
    for node_id, entry in prompt.items():
        if "class_type" not in entry:
            raise PromptError(_error("invalid_prompt", "Cannot execute because a node is missing the class_type "
                                     "property.", f"Node ID '#{node_id}'"))
        if entry["class_type"] not in classes:
            raise PromptError(_error("invalid_prompt", f"Cannot execute because node {entry['class_type']} does "
                                     "not exist.", f"Node ID '#{node_id}'"))
    outputs = [node_id for node_id, entry in prompt.items()
               if getattr(classes[entry["class_type"]], "OUTPUT_NODE", False) is True]
    if not outputs:
        raise PromptError(_error("prompt_no_outputs", "Prompt has no outputs", ""))
    validated, good, node_errors = {}, [], {}
    for output in outputs:
        if _validate_node(prompt, classes, output, validated):
            good.append(output)
            continue
        for node_id, (_, errors) in validated.items():
            if errors:
                entry = node_errors.setdefault(node_id, {"errors": errors, "dependent_outputs": [],
                                                         "class_type": prompt[node_id]["class_type"]})
                entry["dependent_outputs"].append(output)
    if not good:
        raise PromptError(_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", ""),
                          node_errors)
    return prompt, good, node_errors


def _execution_order(prompt: dict, outputs: list[str]) -> list[str]:
    """The nodes the outputs need, each after everything it reads (depth-first, outputs in order)."""
    order, state = [], {}

    def visit(node_id: str) -> None:
        if state.get(node_id) == "done":
            return
        if state.get(node_id) == "active":
            raise PromptError(_error("dependency_cycle", "Dependency cycle detected", f"node {node_id}"))
        state[node_id] = "active"
        for value in prompt[node_id]["inputs"].values():
            if _is_link(value):
                visit(value[0])
        state[node_id] = "done"
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def _input_lists(node_id: str, prompt: dict, classes: dict, results: dict, extra_data: dict) -> dict[str, list]:
    cls = classes[prompt[node_id]["class_type"]]
    declared = _declared(cls)
    if any(options.get("lazy") for _, _, options in declared.values()):
        raise NotImplementedError(f"{prompt[node_id]['class_type']}: the mini executor does not model lazy inputs")
    values = {}
    for name, value in prompt[node_id]["inputs"].items():
        if name not in declared:
            continue  # the server ignores undeclared inputs too
        values[name] = results[value[0]][value[1]] if _is_link(value) else [value]
    hidden = {"PROMPT": prompt, "DYNPROMPT": None, "EXTRA_PNGINFO": extra_data.get("extra_pnginfo"),
              "UNIQUE_ID": node_id}
    for name, (category, kind, _) in declared.items():
        if category == "hidden" and kind in hidden:
            values[name] = [hidden[kind]]
    return values


def _call_node(cls, node, arguments: dict[str, list]) -> list:
    function = getattr(node, cls.FUNCTION)
    if getattr(cls, "INPUT_IS_LIST", False):
        return [function(**arguments)]
    calls = max((len(values) for values in arguments.values()), default=1)
    return [function(**{name: values[min(index, len(values) - 1)] for name, values in arguments.items()})
            for index in range(calls)]


def _merge(cls, class_type: str, returns: list) -> tuple[list[list], dict]:
    results, uis = [], []
    for value in returns:
        if isinstance(value, dict):
            if "ui" in value:
                uis.append(value["ui"])
            if "result" in value:
                results.append(value["result"])
        else:
            results.append(value)
    count = len(cls.RETURN_TYPES)
    for result in results:
        if not isinstance(result, tuple) or len(result) != count:
            raise TypeError(f"{class_type} returned {type(result).__name__} "
                            f"{len(result) if hasattr(result, '__len__') else ''}, expected a tuple of {count} "
                            f"(RETURN_TYPES {cls.RETURN_TYPES})")
    is_list = getattr(cls, "OUTPUT_IS_LIST", (False,) * count)
    merged = [[item for result in results for item in result[slot]] if is_list[slot]
              else [result[slot] for result in results] for slot in range(count)]
    ui = {key: [item for part in uis for item in part[key]] for key in uis[0]} if uis else {}
    return merged, ui


def run_prompt(prompt: dict, classes: dict, extra_data: dict | None = None) -> Execution:
    """Validate and execute ``prompt`` (API format) with the node classes in ``classes`` (id -> class)."""
    prompt, outputs, node_errors = validate_prompt(prompt, classes)
    execution = Execution(node_errors=node_errors)
    execution.order = _execution_order(prompt, outputs)
    with torch.inference_mode():
        for node_id in execution.order:
            class_type = prompt[node_id]["class_type"]
            cls = classes[class_type]
            arguments = _input_lists(node_id, prompt, classes, execution.outputs, extra_data or {})
            try:
                merged, ui = _merge(cls, class_type, _call_node(cls, cls(), arguments))
            except Exception as error:
                raise NodeExecutionError(node_id, class_type, error) from error
            execution.outputs[node_id] = merged
            if ui:
                execution.ui[node_id] = ui
    return execution
