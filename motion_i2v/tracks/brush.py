"""What the motion brush means: painted pixels may move, the others are held still.

The brush everywhere in this pack is a MASK [H, W] with 1 = painted = may move. As in the official demo, a
pixel counts as painted when its value is above 0.5, and a brush with nothing painted means no brush
(everything may move). The sparse hint, the dense field and both pipelines read it through ``static_region``.
"""

from __future__ import annotations

import torch


def static_region(brush: torch.Tensor | None, height: int, width: int, name: str = "brush") -> torch.Tensor | None:
    """The pixels a motion brush holds still: [H, W] bool, or None when everything may move.

    ``brush``: [H, W] float 0..1, 1 = painted = may move, or None.
    """
    if brush is None:
        return None
    if not isinstance(brush, torch.Tensor) or tuple(brush.shape) != (height, width):
        shape = list(brush.shape) if isinstance(brush, torch.Tensor) else type(brush).__name__
        raise ValueError(f"{name}: expected a mask [H, W] = [{height}, {width}] (the tracks' canvas), got {shape}")
    static = brush <= 0.5
    return None if static.all() else static
