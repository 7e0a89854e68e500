"""Easing curves shared by trajectories and camera presets.

``s`` is the normalised time in 0..1 (0 = motion starts, 1 = motion ends); the curve returns the
fraction ``u`` of the path covered: linear u = s, ease_in u = s^2, ease_out u = 1 - (1 - s)^2,
ease_in_out u = 3s^2 - 2s^3 (smoothstep). Every curve maps 0 to 0 and 1 to 1.
"""

from __future__ import annotations

import torch

EASINGS = ("linear", "ease_in", "ease_out", "ease_in_out")


def check_easing(name: str, what: str = "easing") -> None:
    """Raise a ValueError unless ``name`` is one of ``EASINGS``."""
    if name not in EASINGS:
        raise ValueError(f"{what}: expected one of {list(EASINGS)}, got {name!r}")


def ease(s: torch.Tensor, name: str) -> torch.Tensor:
    """Apply the easing curve ``name`` to ``s`` (any shape, values in 0..1; clamp before calling)."""
    check_easing(name)
    if name == "ease_in":
        return s * s
    if name == "ease_out":
        return 1 - (1 - s) * (1 - s)
    if name == "ease_in_out":
        return s * s * (3 - 2 * s)
    return s
