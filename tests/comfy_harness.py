"""Call a node class the way ComfyUI 0.8.0 does, without ComfyUI.

``call_node`` validates the inputs as ``execution.validate_inputs`` would (required inputs present,
INT/FLOAT coerced and range-checked, COMBO membership, VALIDATE_INPUTS), instantiates the class,
calls ``FUNCTION`` and checks the result against ``RETURN_TYPES``.
"""

from __future__ import annotations

WIDGET_TYPES = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
REQUIRED_ATTRIBUTES = ("NODE_ID", "DISPLAY_NAME", "CATEGORY", "FUNCTION", "RETURN_TYPES", "DESCRIPTION")


class ValidationError(Exception):
    pass


def input_specs(cls) -> dict[str, tuple]:
    spec = cls.INPUT_TYPES()
    merged = {}
    for section in ("required", "optional"):
        merged.update({name: (section, *value) for name, value in spec.get(section, {}).items()})
    return merged


def _validate(cls, inputs: dict) -> dict:
    values = {}
    for name, (section, kind, *rest) in input_specs(cls).items():
        options = rest[0] if rest else {}
        if name not in inputs:
            if section == "required":
                raise ValidationError(f"{cls.NODE_ID}: required input {name!r} missing")
            continue
        value = inputs[name]
        if isinstance(kind, list):
            if value not in kind:
                raise ValidationError(f"{cls.NODE_ID}: {name}={value!r} not in {kind}")
        elif kind in WIDGET_TYPES and not isinstance(value, (dict, list)):  # a list arrives only by a link
            value = WIDGET_TYPES[kind](value)
            if "min" in options and value < options["min"]:
                raise ValidationError(f"{cls.NODE_ID}: {name}={value} smaller than min {options['min']}")
            if "max" in options and value > options["max"]:
                raise ValidationError(f"{cls.NODE_ID}: {name}={value} bigger than max {options['max']}")
        values[name] = value
    unknown = set(inputs) - set(input_specs(cls))
    if unknown:
        raise ValidationError(f"{cls.NODE_ID}: inputs {sorted(unknown)} are not declared")
    if hasattr(cls, "VALIDATE_INPUTS"):
        verdict = cls.VALIDATE_INPUTS(**values)
        if verdict is not True:
            raise ValidationError(f"{cls.NODE_ID}: {verdict}")
    return values


def call_node(cls, **inputs):
    """Validate, run, and return the node's outputs as a tuple (the ``ui`` part, if any, is in ``.ui``)."""
    values = _validate(cls, inputs)
    result = getattr(cls(), cls.FUNCTION)(**values)
    ui = None
    if isinstance(result, dict):
        ui, result = result.get("ui"), result.get("result", ())
    if not isinstance(result, tuple) or len(result) != len(cls.RETURN_TYPES):
        raise AssertionError(f"{cls.NODE_ID}: returned {type(result).__name__} of length "
                             f"{len(result) if hasattr(result, '__len__') else '?'}, expected {len(cls.RETURN_TYPES)} outputs")
    return NodeResult(result, ui)


class NodeResult(tuple):
    def __new__(cls, values, ui):
        obj = super().__new__(cls, values)
        obj.ui = ui
        return obj


def check_node_class(cls) -> None:
    """The static contract every node class must meet (tooltips, description, category, ids)."""
    for attribute in REQUIRED_ATTRIBUTES:
        assert getattr(cls, attribute, None), f"{cls.__name__} lacks {attribute}"
    assert cls.NODE_ID.startswith("MotionI2V"), cls.NODE_ID
    assert cls.CATEGORY.startswith("Motion-I2V/"), cls.CATEGORY
    for name, (_, kind, *rest) in input_specs(cls).items():
        options = rest[0] if rest else {}
        assert options.get("tooltip"), f"{cls.NODE_ID}: input {name!r} has no tooltip"
    tooltips = getattr(cls, "OUTPUT_TOOLTIPS", ())
    assert len(tooltips) == len(cls.RETURN_TYPES), f"{cls.NODE_ID}: OUTPUT_TOOLTIPS must match RETURN_TYPES"
    assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES)
    assert callable(getattr(cls, cls.FUNCTION, None)), f"{cls.NODE_ID}: FUNCTION {cls.FUNCTION!r} missing"
