"""What the motion brush means: painted pixels may move, the others are held still.

A brush arrives as a mask [H, W] with 1 = painted = may move. As in the official demo
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L528-L535), a
pixel counts as painted when its value is above 0.5, and a brush with nothing painted means no brush (everything may
move). ``Brush`` holds the result, checked once when made; the sparse hint, the dense field and both pipelines take it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..checks import check_finite


def _shape(value) -> object:
    return list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


@dataclass(frozen=True, eq=False)
class Brush:
    """The pixels a motion brush holds still: ``still`` [H, W] bool, True = held at the first frame.

    Make one with ``Brush.from_mask``, which checks the mask once and gives None where the brush holds nothing
    (nothing painted, or everything).
    """

    still: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.still, torch.Tensor) or self.still.ndim != 2 or self.still.dtype != torch.bool:
            raise ValueError(f"brush: expected a still region [H, W] of booleans, got {_shape(self.still)}")

    @property
    def height(self) -> int:
        return self.still.shape[0]

    @property
    def width(self) -> int:
        return self.still.shape[1]

    @classmethod
    def from_mask(cls, mask: torch.Tensor, height: int, width: int, *, name: str = "brush",
                  against: str = "the image") -> Brush | None:
        """The brush of ``mask`` [H, W] float 0..1 (1 = painted = may move), which must be ``width x height``
        (the size of ``against``, named in the error) and finite; None when it holds nothing still."""
        if not isinstance(mask, torch.Tensor) or mask.ndim != 2:
            raise ValueError(f"{name}: expected a mask [H, W], got {_shape(mask)}")
        if tuple(mask.shape) != (height, width):
            raise ValueError(f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} but {against} is {width}x{height}; "
                             "resize the mask to it first")
        check_finite(mask, name)
        still = mask <= 0.5
        return None if still.all() or not still.any() else cls(still)

    def check_size(self, height: int, width: int, against: str, name: str = "brush") -> None:
        """Raise unless the brush is ``width x height``, the size of ``against``."""
        if (self.height, self.width) != (height, width):
            raise ValueError(f"{name}: the mask is {self.width}x{self.height} but {against} is {width}x{height}; "
                             "resize the mask to it first")
