"""Seeing motion fields: the Middlebury colour coding, its legend, arrows over an image.

The colour coding is the one of Baker et al., "A Database and Evaluation Methodology for Optical
Flow" (IJCV 2011) and their ``flowToColor`` code: hue = direction on a 55-colour wheel
(red -> yellow -> green -> cyan -> blue -> magenta), saturation = magnitude, zero motion = white.
With y pointing down, +x is red, +y (down) orange-yellow, -x cyan-blue and -y (up) violet.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageDraw

from .checks import CheckCancel, cancel_point, check_number
from .flow import MAX_SIDE, check_field
from .memory import FLOAT_BYTES, check_memory, field_bytes

# The wheel's segments (Baker et al.): (length, channel held at 255, channel ramped, ramp up or down).
WHEEL_SEGMENTS = (
    (15, 0, 1, "up"),  # red -> yellow
    (6, 1, 0, "down"),  # yellow -> green
    (4, 1, 2, "up"),  # green -> cyan
    (11, 2, 1, "down"),  # cyan -> blue
    (13, 2, 0, "up"),  # blue -> magenta
    (6, 0, 2, "down"),  # magenta -> red
)
COLOR_CHUNK = 2**22  # pixels colour-coded at once (a frame of 2048x2048): bounds the temporaries
# Arrows drawn per call at most: PIL takes ~16 us an arrow here, so this is about half a minute.
MAX_ARROWS = 2**21
MAX_ARROW_SCALE = 1000.0


def color_wheel() -> torch.Tensor:
    """The 55 wheel colours: [55, 3] float32 RGB in 0..1 (the original's 8-bit values / 255)."""
    rows = []
    for length, held, ramped, direction in WHEEL_SEGMENTS:
        ramp = torch.floor(255 * torch.arange(length) / length)
        colors = torch.zeros(length, 3)
        colors[:, held] = 255
        colors[:, ramped] = ramp if direction == "up" else 255 - ramp
        rows.append(colors)
    return torch.cat(rows) / 255


def color_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``flow_to_color``: the result and the temporaries of one group (~24 floats a pixel)."""
    return field_bytes(frames, height, width, 3) + 24 * FLOAT_BYTES * min(frames * height * width, COLOR_CHUNK)


def arrows_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``draw_arrows``: the result, the lengths of a group of frames, and a frame's picture
    on its way to and from PIL (float copies, ~48 bytes a pixel)."""
    return field_bytes(frames, height, width, 3) + FLOAT_BYTES * min(frames * height * width, COLOR_CHUNK) + \
        48 * height * width


def flow_to_color(flow: torch.Tensor, max_magnitude: float | None = None, *,
                  check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Colour-code a field: [F, 2, H, W] pixels -> [F, 3, H, W] float32 RGB in 0..1.

    Vectors are divided by ``max_magnitude`` (default: the largest magnitude over all frames, so
    the frames share one scale). Inside the unit disk saturation grows with magnitude from white;
    longer vectors (only with a given ``max_magnitude``) get the full colour darkened to 75 %.
    Frames are coded a few at a time, ``check_cancel`` called before each group.
    """
    check_field(flow)
    if max_magnitude is not None:
        check_number(max_magnitude, "max_magnitude", above=0)
    frames, _, height, width = flow.shape
    check_memory(color_bytes(frames, height, width), f"colour coding ({frames} frames at {width}x{height})")
    if max_magnitude is None:
        max_magnitude = _largest(flow)
    out = torch.empty(frames, 3, height, width, device=flow.device)
    group = max(1, COLOR_CHUNK // (height * width))
    wheel = color_wheel().to(flow.device)
    for start in range(0, frames, group):
        cancel_point(check_cancel)
        out[start : start + group] = _color(flow[start : start + group].float() / max_magnitude, wheel)
    return out


def _color(flow: torch.Tensor, wheel: torch.Tensor) -> torch.Tensor:
    """[F, 2, H, W] vectors in units of the full-colour length -> [F, 3, H, W] RGB (``flow_to_color``)."""
    # Adding +0.0 turns -0.0 into +0.0, so a purely horizontal vector always lands on wheel index 0.
    u, v = flow[:, 0] + 0.0, flow[:, 1] + 0.0
    radius = torch.sqrt(u * u + v * v)
    count = wheel.shape[0]
    position = (torch.atan2(-v, -u) / math.pi + 1) / 2 * (count - 1)
    lower = position.floor().long()
    upper = torch.where(lower + 1 == count, 0, lower + 1)
    weight = (position - lower)[..., None]
    color = (1 - weight) * wheel[lower] + weight * wheel[upper]  # [F, H, W, 3]
    inside = (radius <= 1)[..., None]
    color = torch.where(inside, 1 - radius[..., None] * (1 - color), color * 0.75)
    return rearrange(color, "f h w c -> f c h w")


def legend(size: int = 128) -> torch.Tensor:
    """The colour wheel on a white square: [3, size, size]; each pixel shows the colour of the
    displacement from the centre to it, the disk's rim being ``max_magnitude``."""
    check_number(size, "legend size", low=3, high=MAX_SIDE, integer=True)
    centre = (size - 1) / 2
    offsets = torch.arange(size, dtype=torch.float32) - centre
    ys, xs = torch.meshgrid(offsets, offsets, indexing="ij")
    disk = flow_to_color(torch.stack((xs, ys))[None], max_magnitude=centre)[0]
    return torch.where((xs * xs + ys * ys <= centre * centre)[None], disk, torch.ones_like(disk))


def _largest(flow: torch.Tensor) -> float:
    """The largest displacement length of a field, or 1 for a still field (white either way); a few frames at a
    time, so the temporaries stay small, and with hypot, which does not overflow where the squares would."""
    group = max(1, COLOR_CHUNK // (flow.shape[2] * flow.shape[3]))
    largest = max(torch.hypot(part[:, 0].float(), part[:, 1].float()).max().item() for part in flow.split(group))
    return min(largest, torch.finfo(torch.float32).max) if largest > 0 else 1.0


def _to_pil(image: torch.Tensor) -> Image.Image:
    array = (rearrange(image.float().clamp(0, 1), "c h w -> h w c") * 255).round().byte().cpu().numpy()
    return Image.fromarray(array, "RGB")


def _from_pil(picture: Image.Image) -> torch.Tensor:
    return rearrange(torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255), "h w c -> c h w")


def draw_arrows(background: torch.Tensor, flow: torch.Tensor, spacing: int = 32, scale: float = 1.0, *,
                check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Arrows of the field on a grid, drawn over images: [F, 3, H, W] 0..1.

    ``background``: [1, 3, H, W] (one image for every frame) or [F, 3, H, W], 0..1.
    ``flow``: [F, 2, H, W] pixels. An arrow starts at every grid point (``spacing`` pixels apart,
    half a spacing from the edges), points along the displacement times ``scale`` and takes its
    colour from the colour coding; displacements drawn shorter than half a pixel are left out.
    At most MAX_ARROWS arrows; ``check_cancel`` is called before every row of them.
    """
    check_field(flow)
    frames, _, height, width = flow.shape
    if background.ndim != 4 or background.shape[1] != 3 or background.shape[0] not in (1, frames):
        raise ValueError(f"arrow background: expected [1 or F, 3, H, W] with F = {frames}, got {list(background.shape)}")
    if tuple(background.shape[2:]) != (height, width):
        raise ValueError(
            f"arrow background: the image is {background.shape[3]}x{background.shape[2]} "
            f"but the motion field is {width}x{height}"
        )
    check_number(spacing, "arrow spacing", low=1, integer=True)
    check_number(scale, "arrow scale", above=0, high=MAX_ARROW_SCALE)
    rows = torch.arange(spacing // 2, height, spacing)
    cols = torch.arange(spacing // 2, width, spacing)
    if frames * len(rows) * len(cols) > MAX_ARROWS:
        raise ValueError(
            f"arrow spacing: {spacing} pixels gives {len(cols)}x{len(rows)} arrows on each of {frames} frames, more "
            f"than the {MAX_ARROWS} drawn at most; raise the spacing"
        )
    check_memory(arrows_bytes(frames, height, width), f"arrows ({frames} frames at {width}x{height})")
    # float64: a long finite displacement times the scale stays finite.
    vectors = flow[:, :, rows][..., cols].double() * scale  # [F, 2, rows, cols]
    colors = flow_to_color(flow[:, :, rows][..., cols].float(), _largest(flow))
    line_width = max(1, round(min(height, width) / 256))
    # An arrow longer than this leaves the image, barbs and outline included, whatever its start: drawn this long
    # it looks the same, and PIL's time grows with a line's length.
    longest = math.hypot(height, width) + 4 * (4.0 + 3.0 * (line_width + 2))
    out = torch.empty(frames, 3, height, width)
    for frame in range(frames):
        picture = _to_pil(background[frame % background.shape[0]])
        pen = ImageDraw.Draw(picture)
        (along_x, along_y), frame_colors = vectors[frame].tolist(), colors[frame].tolist()
        for i, y in enumerate(rows.tolist()):
            cancel_point(check_cancel)
            for j, x in enumerate(cols.tolist()):
                dx, dy = along_x[i][j], along_y[i][j]
                length = math.hypot(dx, dy)
                if length < 0.5:
                    continue
                if length > longest:
                    dx, dy, length = dx * longest / length, dy * longest / length, longest
                color = tuple(round(255 * channel[i][j]) for channel in frame_colors)
                for fill, extra in (((0, 0, 0), 2), (color, 0)):  # a dark outline, then the colour
                    _arrow(pen, x, y, dx, dy, length, fill, line_width + extra)
        out[frame] = _from_pil(picture)
    return out


def _arrow(pen: ImageDraw.ImageDraw, x, y, dx, dy, length, fill, width) -> None:
    """A shaft from (x, y) to (x + dx, y + dy) and two barbs at 25 degrees off the back direction."""
    tip_x, tip_y = x + dx, y + dy
    barb = min(0.35 * length, 4.0 + 3.0 * width)
    back = math.atan2(-dy, -dx)
    pen.line((x, y, tip_x, tip_y), fill=fill, width=width)
    for turn in (-0.44, 0.44):
        pen.line(
            (tip_x, tip_y, tip_x + barb * math.cos(back + turn), tip_y + barb * math.sin(back + turn)),
            fill=fill,
            width=width,
        )


def field_strip(flow: torch.Tensor, count: int = 4, gap: int = 4) -> torch.Tensor:
    """A few colour-coded frames side by side and the legend: [3, H, count * (W + gap) + H] 0..1.

    The frames shown are evenly spaced from frame 1 to the last (frame 0 is always still) and share
    one colour scale; the legend, an H x H wheel, closes the strip. Gaps are white.
    """
    check_field(flow)
    frames, _, height, width = flow.shape
    check_number(count, "strip frame count", low=1, integer=True)
    check_number(gap, "strip gap", low=0, integer=True)
    if height < 3:
        raise ValueError(f"field strip: the field must be at least 3 pixels high for the legend, got {height}")
    chosen = sorted({round(i) for i in np.linspace(0, frames - 1, count + 1)[1:].tolist()})
    colors = flow_to_color(flow[chosen])
    white = torch.ones(3, height, gap)
    pieces = [torch.cat((frame, white), dim=2) for frame in colors]
    return torch.cat((*pieces, legend(height)), dim=2)
