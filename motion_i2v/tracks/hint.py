"""The official sparse hint: the ControlNet's flow and mask drawn from point tracks.

The demo (https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L555-L608)
writes, for every track and frame i, the displacement d_i = P(i) - P(0) into the axis-aligned square
[y0 - r, y0 + r) x [x0 - r, x0 + r) around the track's start P(0) = (x0, y0), clipped to the image,
with mask 1 there; r is the "flow unit" (64 at 320x512), later tracks overwrite earlier ones. With a
motion brush, pixels outside the painted region are an explicit "no motion" hint: flow 0, mask 1
(``brush.Brush``).
"""

from __future__ import annotations

import torch

from . import CheckCancel
from .brush import Brush
from .value import Tracks


def sparse_hint(
    tracks: Tracks, flow_unit: int = 64, brush: Brush | None = None, *, check_cancel: CheckCancel | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's sparse flow hint and its mask.

    ``tracks``: F frames of N tracks on a W x H canvas; ``flow_unit``: r, half the side of each
    square, in pixels; ``brush``: on the tracks' canvas, or None.
    Returns ``flow`` [F, 2, H, W] float32 pixels (channel 0 = dx; frame 0 is zero) and ``mask``
    [F, H, W] float32 (1 = hinted). Frame 0 is written like the others (zero displacement, mask 1 in
    the squares); the demo's control starts at frame 1, so a caller feeding the ControlNet drops it.

    - The square's centre pixel is (floor(x0), floor(y0)): the pixel that contains P(0), and exactly
      the demo's ``int()`` for its integer clicks and its non-negative coordinates.
    - A frame where a track is not visible leaves that track's square unwritten.
    - Deliberate deviation: the demo turns a single click into the track [p, p + (1, 1)], which
      moves the anchor by up to one pixel; here a one-point track is exactly static (zero
      displacement, mask 1).
    """
    if isinstance(flow_unit, bool) or not isinstance(flow_unit, int) or flow_unit < 1:
        raise ValueError(f"flow_unit: expected an integer number of pixels >= 1, got {flow_unit!r}")
    frames, height, width = tracks.frames, tracks.height, tracks.width
    path = tracks.path.float()
    device = path.device
    if brush is not None:
        brush.check_size(height, width, "the tracks' canvas")
    flow = torch.zeros(frames, 2, height, width, device=device)
    mask = torch.zeros(frames, height, width, device=device)
    displacement = path - path[:1]  # [F, N, 2]
    centres = path[0].floor().long().tolist()  # [N] of (col, row)
    for n, (col, row) in enumerate(centres):
        if check_cancel is not None:
            check_cancel()
        rows = slice(min(max(row - flow_unit, 0), height), min(max(row + flow_unit, 0), height))
        cols = slice(min(max(col - flow_unit, 0), width), min(max(col + flow_unit, 0), width))
        visible = tracks.visibility[:, n].to(device)
        flow[visible, :, rows, cols] = displacement[visible, n, :, None, None]
        mask[visible, rows, cols] = 1
    if brush is not None:
        static = brush.still.to(device)
        flow = flow.masked_fill(static, 0)
        mask = mask.masked_fill(static, 1)
    return flow, mask
