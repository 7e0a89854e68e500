"""Point trajectories as data: tracks sampled per frame (``Trajectories``), tracks and brush strokes as drawn.

Pixel space everywhere: origin top-left, x right, y down; a valid point satisfies
0 <= x <= W-1 and 0 <= y <= H-1; pixel (col, row) covers [col, col+1) x [row, row+1), so its centre
is (col + 0.5, row + 0.5). Track and point numbers in error messages are 0-based, as in the JSON.

The widget value becomes ``TrackSpec`` / ``BrushStroke`` in ``trajectory_json``, specs become
``Trajectories`` in ``track_sampling``; ``raster`` paints the brush and ``track_drawing`` draws tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange

from ..easing import check_easing
from .pchip import pchip

INTERPOLATIONS = ("pchip", "arc_length")


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_points(value) -> tuple[tuple[float, float], ...]:
    """A non-empty list of finite [x, y] pairs -> a tuple of float pairs."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"points: expected a non-empty list of [x, y] points, got {value!r:.80}")
    points = []
    for i, point in enumerate(value):
        if not (isinstance(point, (list, tuple)) and len(point) == 2 and all(map(_is_real, point))):
            raise ValueError(f"point {i}: expected [x, y] numbers, got {point!r:.80}")
        x, y = float(point[0]), float(point[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {i} is not finite: ({x}, {y})")
        points.append((x, y))
    return tuple(points)


def check_size(width, height, what: str = "trajectories") -> None:
    if not (is_integer(width) and is_integer(height) and width > 0 and height > 0):
        raise ValueError(f"{what}: expected a positive integer width and height, got {width!r} x {height!r}")


def check_frames(frames) -> None:
    if not is_integer(frames) or frames < 2:
        raise ValueError(f"frames: expected an integer of at least 2, got {frames!r}")


def check_inside(specs: list[TrackSpec], width: int, height: int) -> None:
    for k, spec in enumerate(specs):
        for i, (x, y) in enumerate(spec.points):
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise ValueError(f"trajectories: point {i} of track {k} is at ({x}, {y}), outside the {width}x{height} image")


def with_location(make, what: str, **fields):
    """Call ``make`` (a TrackSpec, a BrushStroke, a sampler), prefixing its ValueError with where."""
    try:
        return make(**fields)
    except ValueError as error:
        raise ValueError(f"trajectories: {what}: {error}") from None


@dataclass(frozen=True)
class TrackSpec:
    """A track as drawn: control points ((x, y), ...) in pixels (one point = static anchor), the
    frames ``start``..``end`` (None = last frame) during which it moves, and how."""

    points: tuple[tuple[float, float], ...]
    start: int = 0
    end: int | None = None
    easing: str = "linear"
    interpolation: str = "pchip"

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _check_points(self.points))
        if not is_integer(self.start) or self.start < 0:
            raise ValueError(f"start: expected an integer frame >= 0, got {self.start!r}")
        if self.end is not None and (not is_integer(self.end) or self.end <= self.start):
            raise ValueError(f"end: expected null or an integer frame after start {self.start}, got {self.end!r}")
        check_easing(self.easing)
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: expected one of {list(INTERPOLATIONS)}, got {self.interpolation!r}")


@dataclass(frozen=True)
class BrushStroke:
    """One motion-brush stroke: a polyline ((x, y), ...) in pixels painted ``radius`` pixels wide
    on each side (one point = a disk); an ``erase`` stroke clears instead of painting."""

    points: tuple[tuple[float, float], ...]
    radius: float
    erase: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _check_points(self.points))
        if not _is_real(self.radius) or not math.isfinite(self.radius) or self.radius <= 0:
            raise ValueError(f"radius: expected a positive number of pixels, got {self.radius!r}")
        if not isinstance(self.erase, bool):
            raise ValueError(f"erase: expected true or false, got {self.erase!r}")


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Point tracks sampled per frame: ComfyUI core's TRACKS plus the image size.

    ``path``: [F, N, 2] float32 pixels (x, y); ``visibility``: [F, N] bool; ``width``, ``height``:
    the pixel size of the image the coordinates belong to.
    """

    path: torch.Tensor
    visibility: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        path, visibility = self.path, self.visibility
        if not isinstance(path, torch.Tensor) or path.ndim != 3 or path.shape[-1] != 2 or 0 in path.shape:
            shape = list(path.shape) if isinstance(path, torch.Tensor) else type(path).__name__
            raise ValueError(f"tracks: expected track_path [F, N, 2] with F, N >= 1, got {shape}")
        if not path.is_floating_point():
            raise ValueError(f"tracks: track_path must hold floats, got {path.dtype}")
        if not torch.isfinite(path).all():
            raise ValueError("tracks: track_path holds NaN or infinite coordinates")
        if not isinstance(visibility, torch.Tensor) or visibility.shape != path.shape[:2] or visibility.dtype != torch.bool:
            shape = list(visibility.shape) if isinstance(visibility, torch.Tensor) else type(visibility).__name__
            raise ValueError(f"tracks: expected track_visibility [F, N] = {list(path.shape[:2])} bool, got {shape}")
        check_size(self.width, self.height, "tracks")

    @property
    def frames(self) -> int:
        return self.path.shape[0]

    @property
    def count(self) -> int:
        return self.path.shape[1]

    def to_tracks(self) -> dict:
        """The TRACKS socket value; core Wan-Move nodes read only the first two keys."""
        return {"track_path": self.path, "track_visibility": self.visibility, "width": self.width, "height": self.height}

    @classmethod
    def from_tracks(cls, tracks: dict, width: int | None = None, height: int | None = None) -> Trajectories:
        """Read a TRACKS dict; ``width``/``height`` are used only when the dict carries none (core's)."""
        if not isinstance(tracks, dict) or "track_path" not in tracks:
            raise ValueError(f"tracks: expected a TRACKS dict with 'track_path' [F, N, 2], got {type(tracks).__name__}")
        path = torch.as_tensor(tracks["track_path"]).float()
        visibility = tracks.get("track_visibility")
        visibility = torch.ones(path.shape[:2], dtype=torch.bool) if visibility is None else torch.as_tensor(visibility)
        width, height = tracks.get("width", width), tracks.get("height", height)
        if width is None or height is None:
            raise ValueError("tracks: this TRACKS dict carries no width/height; give the image size it belongs to")
        return cls(path, visibility.bool(), int(width), int(height))

    def rescaled(self, width: int, height: int) -> Trajectories:
        """The same tracks on a ``width x height`` image (points scaled per axis)."""
        check_size(width, height)
        if (width, height) == (self.width, self.height):
            return self
        scale = self.path.new_tensor([width / self.width, height / self.height])
        return Trajectories(self.path * scale, self.visibility, width, height)

    def resampled(self, frames: int) -> Trajectories:
        """The same tracks over ``frames`` frames: positions by PCHIP over time, visibility nearest."""
        check_frames(frames)
        if frames == self.frames:
            return self
        query = torch.linspace(0, 1, frames, dtype=torch.float64)
        nearest = (query * (self.frames - 1)).round().long()
        if self.frames == 1:
            path = self.path.repeat(frames, 1, 1)
        else:
            knots = torch.linspace(0, 1, self.frames, dtype=torch.float64)
            values = rearrange(self.path.detach().cpu().double(), "f n c -> f (n c)")  # each coordinate a series
            path = rearrange(pchip(knots, values, query), "f (n c) -> f n c", c=2)
        visibility = self.visibility[nearest.to(self.visibility.device)]
        return Trajectories(path.to(self.path), visibility, self.width, self.height)

    def merged(self, other: Trajectories) -> Trajectories:
        """Both sets of tracks side by side (same frame count and image size)."""
        if (other.frames, other.width, other.height) != (self.frames, self.width, self.height):
            raise ValueError(
                f"tracks: cannot merge {other.count} tracks of {other.frames} frames on {other.width}x{other.height} "
                f"with {self.count} tracks of {self.frames} frames on {self.width}x{self.height}"
            )
        path = torch.cat([self.path, other.path.to(self.path)], dim=1)
        visibility = torch.cat([self.visibility, other.visibility.to(self.visibility.device)], dim=1)
        return Trajectories(path, visibility, self.width, self.height)
