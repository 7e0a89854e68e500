"""motion_i2v.checks: numbers, choices and tensors as hostile callers send them (NaN passes ComfyUI's min/max)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from motion_i2v.checks import cancel_point, check_choice, check_finite, check_number


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1.5", None, True, [1.0], torch.tensor(1.0)])
def test_anything_but_a_finite_number_is_refused(value):
    with pytest.raises(ValueError, match=r"^cfg: expected a finite number in 0\.\.30, got " + re.escape(repr(value))):
        check_number(value, "cfg", low=0, high=30)


def test_ranges_integers_and_numpy_numbers():
    check_number(np.float32(2.5), "scale", above=0)
    check_number(np.int64(3), "frames", low=1, high=256, integer=True)
    check_number(10**400, "frames", low=1, integer=True)  # huge ints are finite: no float conversion overflow
    with pytest.raises(ValueError, match=r"scale: expected a finite number > 0, got 0"):
        check_number(0, "scale", above=0)
    with pytest.raises(ValueError, match=r"amount: expected a finite number > 0 and <= 30, got 31"):
        check_number(31, "amount", above=0, high=30)
    with pytest.raises(ValueError, match=r"frames: expected an integer in 1\.\.256, got 2\.0"):
        check_number(2.0, "frames", low=1, high=256, integer=True)


def test_combo_values_that_are_not_strings_are_refused_with_the_options():
    check_choice("zoom_in", ("pan_x", "zoom_in"), "preset")
    for value in (3, ["zoom_in"], None, "Zoom_in"):
        with pytest.raises(ValueError, match=rf"^preset: expected one of \['pan_x', 'zoom_in'\], got "):
            check_choice(value, ("pan_x", "zoom_in"), "preset")


def test_non_finite_tensors_are_named():
    check_finite(torch.rand(2, 3), "image")
    check_finite(torch.zeros(0), "image")
    check_finite(torch.tensor([1, 2]), "indices")  # integers are always finite
    for bad in (float("nan"), float("inf"), -float("inf")):
        tensor = torch.rand(3, 4, dtype=torch.bfloat16)
        tensor[1, 2] = bad
        with pytest.raises(ValueError, match="^image: contains NaN or infinite values"):
            check_finite(tensor, "image")


def test_cancel_point_calls_the_check_when_there_is_one():
    calls = []
    cancel_point(None)
    cancel_point(lambda: calls.append(1))
    assert calls == [1]
