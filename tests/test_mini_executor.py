"""The test executor follows ComfyUI's validation and list semantics (tests/mini_executor.py)."""

import pytest
import torch
from mini_executor import NodeExecutionError, PromptError, run_prompt, validate_prompt


class Numbers:
    """Fans a count out as a list of ints (OUTPUT_IS_LIST)."""

    RETURN_TYPES = ("INT", "STRING")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 1, "max": 10})}}

    def run(self, count):
        return list(range(count)), "tag"


class Add:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    calls = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0, "min": -100, "max": 100}), "b": ("INT",)},
                "optional": {"mode": (["plus", "minus"],)}}

    def run(self, a, b, mode="plus"):
        Add.calls.append((a, b))
        return (a + b if mode == "plus" else a - b,)


class Collect:
    """Receives whole lists (INPUT_IS_LIST); an output node whose ui shows what it got."""

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT",)}, "hidden": {"node": "UNIQUE_ID"}}

    def run(self, values, node):
        return {"ui": {"values": values, "node": node, "inference": [torch.is_inference_mode_enabled()]}}


class Show:
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT,FLOAT",)}}

    def run(self, value):
        return {"ui": {"value": [value]}}


class Picky:
    """VALIDATE_INPUTS owns 'limit', so the built-in max check is skipped for it."""

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    seen = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"limit": ("INT", {"default": 0, "max": 5}), "value": ("INT",)}}

    @classmethod
    def VALIDATE_INPUTS(cls, limit, value, input_types):
        cls.seen.append((limit, value, input_types))
        return True if limit != 13 else "unlucky"

    def run(self, limit, value):
        return (limit + value,)


class Broken:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        return 5  # not a tuple


CLASSES = {cls.__name__: cls for cls in (Numbers, Add, Collect, Show, Picky, Broken)}


def test_lists_fan_out_and_shorter_lists_repeat_their_last_element():
    Add.calls.clear()
    prompt = {
        "1": {"class_type": "Numbers", "inputs": {"count": "3"}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 10, "mode": "plus"}},
        "3": {"class_type": "Collect", "inputs": {"values": ["2", 0]}},
    }
    execution = run_prompt(prompt, CLASSES)
    assert Add.calls == [(0, 10), (1, 10), (2, 10)]  # "3" was coerced to 3 by validation
    assert execution.ui["3"] == {"values": [10, 11, 12], "node": ["3"], "inference": [True]}
    assert execution.outputs["1"] == [[0, 1, 2], ["tag"]]
    assert execution.order == ["1", "2", "3"]


def test_only_nodes_feeding_outputs_run():
    Add.calls.clear()
    prompt = {"1": {"class_type": "Add", "inputs": {"a": 1, "b": 2}},
              "2": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
              "3": {"class_type": "Add", "inputs": {"a": 5, "b": 5}}}
    execution = run_prompt(prompt, CLASSES)
    assert Add.calls == [(5, 5)] and execution.ui == {"2": {"value": [10]}}


def test_validation_errors_name_the_input():
    prompt = {"1": {"class_type": "Add", "inputs": {"a": 101, "b": 2, "mode": "times"}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Add", "inputs": {"a": 1}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
              "5": {"class_type": "Numbers", "inputs": {"count": 2}},
              "6": {"class_type": "Show", "inputs": {"value": ["5", 1]}}}
    with pytest.raises(PromptError) as caught:
        run_prompt(prompt, CLASSES)
    errors = {node: [(e["type"], e["details"]) for e in entry["errors"]]
              for node, entry in caught.value.node_errors.items()}
    assert errors == {
        "1": [("value_bigger_than_max", "a"), ("value_not_in_list", "mode: 'times' not in ['plus', 'minus']")],
        "3": [("required_input_missing", "b")],
        "6": [("return_type_mismatch", "value, received_type(STRING) mismatch input_type(INT,FLOAT)")],
    }
    assert caught.value.error["type"] == "prompt_outputs_failed_validation"


def test_valid_outputs_run_beside_invalid_ones():
    prompt = {"1": {"class_type": "Add", "inputs": {"a": 1, "b": 1}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Add", "inputs": {"a": "x", "b": 1}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    execution = run_prompt(prompt, CLASSES)
    assert execution.ui == {"2": {"value": [2]}}
    assert execution.node_errors["3"]["errors"][0]["type"] == "invalid_input_type"
    assert execution.node_errors["3"]["dependent_outputs"] == ["4"]


def test_validate_inputs_sees_links_as_none_and_owns_its_arguments():
    Picky.seen.clear()
    prompt = {"1": {"class_type": "Add", "inputs": {"a": 1, "b": 1}},
              "2": {"class_type": "Picky", "inputs": {"limit": 9, "value": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    assert run_prompt(prompt, CLASSES).ui["3"] == {"value": [11]}  # 9 > max 5 is not checked
    assert Picky.seen == [(9, None, {"value": "INT"})]
    prompt["2"]["inputs"]["limit"] = 13
    with pytest.raises(PromptError, match="custom_validation_failed"):
        run_prompt(prompt, CLASSES)


def test_prompt_level_errors():
    with pytest.raises(PromptError, match="prompt_no_outputs"):
        validate_prompt({"1": {"class_type": "Add", "inputs": {"a": 1, "b": 1}}}, CLASSES)
    with pytest.raises(PromptError, match="node Nope does not exist"):
        validate_prompt({"1": {"class_type": "Nope", "inputs": {}}}, CLASSES)


def test_widget_lists_arrive_unwrapped_and_bad_returns_fail_clearly():
    prompt = {"1": {"class_type": "Show", "inputs": {"value": {"__value__": 4}}}}
    assert run_prompt(prompt, CLASSES).ui["1"] == {"value": [4]}
    prompt = {"1": {"class_type": "Broken", "inputs": {}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    with pytest.raises(NodeExecutionError, match=r"node 1 \(Broken\) raised TypeError: Broken returned int"):
        run_prompt(prompt, CLASSES)
