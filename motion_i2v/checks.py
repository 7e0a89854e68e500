"""Checks of user-facing values, in one message style: the input's name, what was expected, what arrived.

Values reach the engine from widgets, the API, hand-edited workflows and the command line. ComfyUI's min/max test
lets NaN through (every comparison with NaN is false) and a combo with its own VALIDATE_INPUTS skips the list test,
so the engine checks type, finiteness and range itself, before any heavy work.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Iterable

import torch

# Engine loops that can run long call this once per frame, row or iteration; a node passes ComfyUI's interrupt
# check (nodes/comfy.py ``check_interrupted``), which raises to stop the work. None: nothing to check.
CheckCancel = Callable[[], None]


def cancel_point(check_cancel: CheckCancel | None) -> None:
    """Give the user's Cancel a chance: call ``check_cancel`` when there is one."""
    if check_cancel is not None:
        check_cancel()


def _bounds(low: float | None, high: float | None, above: float | None) -> str:
    if low is not None and high is not None:
        return f" in {low}..{high}"
    lower = f" >= {low}" if low is not None else f" > {above}" if above is not None else ""
    upper = f" <= {high}" if high is not None else ""
    return lower + (" and" if lower and upper else "") + upper


def check_number(value, name: str, *, low: float | None = None, high: float | None = None,
                 above: float | None = None, integer: bool = False) -> None:
    """Raise unless ``value`` is a finite real number (an integer if ``integer``) within ``low``..``high`` and
    greater than ``above``."""
    kind = "an integer" if integer else "a finite number"
    expected = f"{name}: expected {kind}{_bounds(low, high, above)}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        raise ValueError(expected)
    if not isinstance(value, numbers.Integral) and not math.isfinite(value):
        raise ValueError(expected)
    if (low is not None and value < low) or (high is not None and value > high) or (
            above is not None and value <= above):
        raise ValueError(expected)


def check_choice(value, choices: Iterable[str], name: str) -> None:
    """Raise unless ``value`` is one of the strings ``choices`` (a number or a list is refused, not looked up)."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if a float tensor holds NaN or an infinity (min and max only: no tensor-sized temporary)."""
    if tensor.is_floating_point() and tensor.numel():
        low, high = torch.aminmax(tensor)
        if not (math.isfinite(low.item()) and math.isfinite(high.item())):
            raise ValueError(f"{name}: contains NaN or infinite values; check the node that made it")
