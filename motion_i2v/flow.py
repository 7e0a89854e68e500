"""Motion-field conventions, in one place.

A motion field holds, for every pixel of the reference frame (frame 0), its displacement to each
frame: ``flow: [F, 2, H, W] float32``, in pixels, channel 0 = dx (to the right), channel 1 = dy
(down). Frame 0 is zero. These are displacements from the reference, not frame-to-frame flows: the
model was trained on tracks from the first frame to every other frame
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/train_ctrl_flow_gen_dot.py#L625-L643).

The official model sees fields in a normalised "pseudo-image" encoding,
``u = (dx / W + 1) / 2``, ``v = (dy / H + 1) / 2``, so zero motion is 0.5 and the largest
representable displacement is the image size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import check_finite, check_number

# The largest fields the nodes and the CLI make or read: a few times Motion-I2V's 16 frames and 512x320, and more than
# a video model can use. Larger ones are refused before any allocation (a memory check also weighs the product).
MAX_FRAMES = 256
MAX_SIDE = 4096


def check_field_size(frames: int, height: int, width: int, name: str = "motion field") -> None:
    """Raise unless a field of ``frames`` x ``height`` x ``width`` is within MAX_FRAMES and MAX_SIDE."""
    check_number(frames, f"{name} frames", low=1, high=MAX_FRAMES, integer=True)
    check_number(width, f"{name} width", low=1, high=MAX_SIDE, integer=True)
    check_number(height, f"{name} height", low=1, high=MAX_SIDE, integer=True)


def check_field(flow: torch.Tensor, name: str = "motion field") -> None:
    """Raise a ValueError unless ``flow`` is a ``[F, 2, H, W]`` float tensor with F, H, W >= 1.

    Only the layout, which costs nothing: a field's values are checked once, when a ``MotionField`` is made (every
    field between nodes is one), not again by each operation that takes its tensor.
    """
    if not isinstance(flow, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor [F, 2, H, W], got {type(flow).__name__}")
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"{name}: expected shape [F, 2, H, W], got {list(flow.shape)}")
    if not flow.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor, got {flow.dtype}")
    if flow.shape[0] < 1 or flow.shape[2] < 1 or flow.shape[3] < 1:
        raise ValueError(f"{name}: empty field of shape {list(flow.shape)}")


@dataclass(frozen=True)
class MotionField:
    """A motion field travelling between nodes, checked when made (layout, finite displacements).

    ``flow``: [F, 2, H, W] float32 pixels, channel 0 = dx, frame 0 = reference.
    ``reliability``: optional [F, H, W] float in 0..1 (1 = trusted), e.g. from video extraction.
    """

    flow: torch.Tensor
    reliability: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_field(self.flow)
        check_finite(self.flow, "motion field")
        if self.reliability is not None:
            frames, _, height, width = self.flow.shape
            if tuple(self.reliability.shape) != (frames, height, width):
                raise ValueError(
                    f"motion field reliability: expected shape {[frames, height, width]}, "
                    f"got {list(self.reliability.shape)}"
                )

    def to(self, device) -> MotionField:
        """This field on ``device``: itself when it is there already, else a moved copy (moving keeps a field
        valid, so it is not checked again)."""
        if self.flow.device == torch.device(device):
            return self
        moved = copy.copy(self)
        object.__setattr__(moved, "flow", self.flow.to(device))
        if self.reliability is not None:
            object.__setattr__(moved, "reliability", self.reliability.to(device))
        return moved

    @property
    def frames(self) -> int:
        return self.flow.shape[0]

    @property
    def height(self) -> int:
        return self.flow.shape[2]

    @property
    def width(self) -> int:
        return self.flow.shape[3]


def _size_scale(flow: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1, 1] tensor holding (W, H) of the field, to scale channel 0 by W and 1 by H."""
    height, width = flow.shape[-2:]
    return flow.new_tensor([width, height]).view(1, 2, 1, 1)


def to_normalized(flow: torch.Tensor) -> torch.Tensor:
    """Pixels -> the official encoding: [F, 2, H, W] pixels -> [F, 2, H, W] with 0.5 = no motion."""
    return (flow / _size_scale(flow) + 1) / 2


def from_normalized(encoded: torch.Tensor) -> torch.Tensor:
    """The official decoding (``clamp(2 * dec - 1, -1, 1) * [W, H]``): [F, 2, H, W] -> pixels."""
    return (2 * encoded - 1).clamp(-1, 1) * _size_scale(encoded)


def resize_field(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a field to (height, width) and rescale its vectors to the new pixel grid.

    ``flow``: [F, 2, H, W] pixels. Bilinear, ``align_corners=False``, as the official stage-2
    motion modules resize the field to each feature resolution.
    """
    in_height, in_width = flow.shape[-2:]
    if (in_height, in_width) == (height, width):
        return flow
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    scale = flow.new_tensor([width / in_width, height / in_height]).view(1, 2, 1, 1)
    return resized * scale


def zero_field(frames: int, height: int, width: int, device=None) -> torch.Tensor:
    """A still field: [F, 2, H, W] zeros."""
    return torch.zeros(frames, 2, height, width, device=device)
