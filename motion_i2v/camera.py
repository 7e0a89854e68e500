"""Camera motion as motion fields, and composing fields.

Every preset is a per-frame affine map of the image plane about a centre ``c``:
``p -> c + A_i (p - c) + t_i``, so its field is ``(A_i - I)(p - c) + t_i`` (pixels, frame 0 zero).
Amounts describe the content at the last frame; intermediate frames follow an easing curve
(``easing.py``) of the normalised time s = i / (F - 1):

============  ==========================================================================
preset        amount at the last frame
============  ==========================================================================
pan_x         content displacement in pixels along x (+ = right, i.e. the camera pans left)
pan_y         content displacement in pixels along y (+ = down)
zoom_in       scale factor s > 0 the content grows by (frame i scales by s ** u_i)
zoom_out      factor s > 0 the content shrinks by (frame i scales by s ** -u_i)
rotate        degrees, + = counter-clockwise on screen (as PIL's ``Image.rotate``)
============  ==========================================================================

Zoom interpolates the scale geometrically so the apparent zoom speed is constant, and zooming in
then out by the same factor cancels. Pixel coordinates are those of ``warp.py``: pixel (x, y) has
its centre at integer (x, y), so the default centre is ((W - 1) / 2, (H - 1) / 2).
"""

from __future__ import annotations

import math

import torch

from .checks import check_choice, check_number
from .easing import check_easing, ease
from .flow import check_field, check_field_size
from .memory import check_memory, field_bytes
from .warp import backward_warp

PRESETS = ("pan_x", "pan_y", "zoom_in", "zoom_out", "rotate")
# A moderate amount per preset, for callers that let the amount be left out.
DEFAULT_AMOUNTS = {"pan_x": 32.0, "pan_y": 32.0, "zoom_in": 1.25, "zoom_out": 1.25, "rotate": 10.0}
# The widest amounts accepted (pixels, degrees, or a zoom factor, which must also be at least MIN_ZOOM).
MAX_AMOUNT, MIN_ZOOM = 4096.0, 1e-3
# Peak memory of ``affine_field`` in [F, 2, H, W] float32 fields (measured: 2.4 without a scene, 4.1 with one).
FIELD_COPIES = 5


def progress(frames: int, easing: str = "linear") -> torch.Tensor:
    """The eased fraction of the motion done at each frame: [F] float32, 0 at frame 0, 1 at F - 1."""
    check_number(frames, "frames", low=1, integer=True)
    check_easing(easing)
    return ease(torch.linspace(0, 1, frames) if frames > 1 else torch.zeros(1), easing)


def check_camera(preset: str, amount: float, name: str = "camera") -> None:
    """Raise unless ``preset`` is one of PRESETS and ``amount`` suits it (see the module doc)."""
    check_choice(preset, PRESETS, f"{name} preset")
    check_number(amount, f"{name} amount", low=-MAX_AMOUNT, high=MAX_AMOUNT)
    if preset in ("zoom_in", "zoom_out") and amount < MIN_ZOOM:
        raise ValueError(f"{name} amount: {preset} needs a scale factor > 0 (at least {MIN_ZOOM}), got {amount}")


def _camera_transforms(preset: str, frames: int, amount: float, easing: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame linear parts [F, 2, 2] and translations [F, 2] (pixels) of a preset."""
    check_camera(preset, amount)
    u = progress(frames, easing)
    identity = torch.eye(2).expand(frames, 2, 2)
    zeros = torch.zeros(frames)
    if preset == "pan_x":
        return identity, torch.stack((amount * u, zeros), dim=1)
    if preset == "pan_y":
        return identity, torch.stack((zeros, amount * u), dim=1)
    if preset == "rotate":
        angle = math.radians(amount) * u
        cos, sin = angle.cos(), angle.sin()
        # y points down, so a counter-clockwise turn on screen sends +x towards -y.
        linear = torch.stack((torch.stack((cos, sin), dim=1), torch.stack((-sin, cos), dim=1)), dim=1)
        return linear, torch.zeros(frames, 2)
    exponent = u if preset == "zoom_in" else -u
    scale = torch.tensor(float(amount)) ** exponent
    return scale[:, None, None] * identity, torch.zeros(frames, 2)


def affine_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``affine_field`` (and so ``camera_field``) for ``frames`` of ``width`` x ``height``."""
    return FIELD_COPIES * field_bytes(frames, height, width)


def affine_field(
    linear: torch.Tensor,
    offset: torch.Tensor,
    height: int,
    width: int,
    *,
    center: tuple[float, float] | None = None,
    scene: torch.Tensor | None = None,
) -> torch.Tensor:
    """The field of the per-frame maps p -> c + A_i (p - c) + t_i: [F, 2, H, W] float32 pixels.

    ``linear``: [F, 2, 2] matrices A_i acting on (x, y); ``offset``: [F, 2] translations t_i in
    pixels; ``center``: c = (x, y) in pixels (default: the image centre).
    ``scene``: optional [F, 2, H, W] motion of the content itself; the map then moves the already
    displaced points, which is ``compose(scene, affine)`` evaluated exactly (the map is known
    everywhere, so points that leave the image need no extrapolation).
    """
    frames = linear.shape[0]
    if height < 1 or width < 1:
        raise ValueError(f"affine field size: expected width and height >= 1, got {width}x{height}")
    if scene is not None:
        check_field(scene, "scene motion field")
        if tuple(scene.shape) != (frames, 2, height, width):
            raise ValueError(
                f"scene motion field: expected shape {[frames, 2, height, width]} to match the camera, "
                f"got {list(scene.shape)}"
            )
    cx, cy = ((width - 1) / 2, (height - 1) / 2) if center is None else center
    check_number(cx, "camera centre x")
    check_number(cy, "camera centre y")
    check_memory(affine_bytes(frames, height, width), f"camera motion ({frames} frames at {width}x{height})")
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    relative = torch.stack((xs - cx, ys - cy))[None]  # [1, 2, H, W], p - c
    if scene is not None:
        relative = relative + scene.float()
    moved = torch.einsum("fij,fjhw->fihw", linear.float() - torch.eye(2), relative.expand(frames, -1, -1, -1))
    field = moved + offset.float()[:, :, None, None]
    return field if scene is None else field + scene.float()


def camera_field(
    preset: str,
    frames: int,
    height: int,
    width: int,
    amount: float,
    *,
    easing: str = "linear",
    center: tuple[float, float] | None = None,
    scene: torch.Tensor | None = None,
) -> torch.Tensor:
    """The motion field of a camera preset: [F, 2, H, W] float32 pixels, frame 0 zero.

    ``center``: (x, y) pixels the zoom and rotation turn about (default: the image centre).
    ``scene``: optional [F, 2, H, W] motion of the content before the camera moves it (see
    ``affine_field``).
    """
    check_field_size(frames, height, width, "camera motion")
    linear, offset = _camera_transforms(preset, frames, amount, easing)
    return affine_field(linear, offset, height, width, center=center, scene=scene)


def _check_pair(first: torch.Tensor, second: torch.Tensor, what: str) -> None:
    check_field(first, f"{what}: first motion field")
    check_field(second, f"{what}: second motion field")
    if first.shape != second.shape:
        raise ValueError(
            f"{what}: the motion fields differ in shape, {list(first.shape)} and {list(second.shape)}; "
            "resize or resample one of them first"
        )


def compose(first: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """The displacement of moving along ``first`` and then along ``then``: [F, 2, H, W] pixels.

    total(p) = first(p) + then(p + first(p)), frame by frame; ``then`` is sampled bilinearly at the
    displaced points, and points displaced outside the image read its nearest border value.
    """
    _check_pair(first, then, "compose")
    return first + backward_warp(then, first, padding_mode="border")


def add(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The plain sum of two fields of the same shape: [F, 2, H, W] pixels."""
    _check_pair(first, second, "add")
    return first + second
