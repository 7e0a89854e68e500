"""Track values: ``Drawing`` (tracks and brush strokes as drawn) and ``Tracks`` (every track's point per frame).

Each value checks its invariants once, when it is made, and applies the edge rule of ``canvas`` to its
points; code that receives one relies on them and checks nothing again:
- ``DrawnTrack``: finite control points (one point = a static anchor), a frame window start < end, a known
  easing and interpolation;
- ``BrushStroke``: finite points, a positive radius, ``erase`` a bool;
- ``Drawing``: a canvas size, its tracks' and strokes' points on the canvas, radii at most the canvas diagonal
  (a larger brush paints nothing more);
- ``Tracks``: ``path`` [F, N, 2] finite floats, ``visibility`` [F, N] bool, a canvas size, every visible point
  on the canvas.
Track and point numbers in messages are 0-based, as in the JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from einops import rearrange

from ..easing import check_easing
from .canvas import OffCanvasError, check_canvas_size, check_frame_count, is_integer, onto_canvas, short_repr
from .pchip import pchip

INTERPOLATIONS = ("pchip", "arc_length")
VALUE_KEY = "motion_i2v_tracks"  # the checked Tracks inside a TRACKS dict made by ``Tracks.to_tracks``


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_points(value) -> tuple[tuple[float, float], ...]:
    """A non-empty list of finite [x, y] pairs -> a tuple of float pairs."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"points: expected a non-empty list of [x, y] points, got {short_repr(value)}")
    points = []
    for i, point in enumerate(value):
        if not (isinstance(point, (list, tuple)) and len(point) == 2 and all(map(_is_real, point))):
            raise ValueError(f"point {i}: expected [x, y] numbers, got {short_repr(point)}")
        x, y = float(point[0]), float(point[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {i} is not finite: ({x}, {y})")
        points.append((x, y))
    return tuple(points)


@dataclass(frozen=True)
class DrawnTrack:
    """A track as drawn: control points ((x, y), ...) in pixels (one point = a static anchor), the
    frames ``start``..``end`` (None = last frame) during which it moves, and how."""

    points: tuple[tuple[float, float], ...]
    start: int = 0
    end: int | None = None
    easing: str = "linear"
    interpolation: str = "pchip"

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _check_points(self.points))
        if not is_integer(self.start) or self.start < 0:
            raise ValueError(f"start: expected an integer frame >= 0, got {short_repr(self.start)}")
        if self.end is not None and (not is_integer(self.end) or self.end <= self.start):
            raise ValueError(f"end: expected null or an integer frame after start {self.start}, got {short_repr(self.end)}")
        if not isinstance(self.easing, str):
            raise ValueError(f"easing: expected a name, got {short_repr(self.easing)}")
        check_easing(self.easing)
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: expected one of {list(INTERPOLATIONS)}, got {short_repr(self.interpolation)}")


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
            raise ValueError(f"radius: expected a positive number of pixels, got {short_repr(self.radius)}")
        if not isinstance(self.erase, bool):
            raise ValueError(f"erase: expected true or false, got {short_repr(self.erase)}")


def _placed(points: tuple[tuple[float, float], ...], width: int, height: int, where: str):
    moved = onto_canvas(torch.tensor(points, dtype=torch.float64), width, height, what="trajectories",
                        name=lambda i: f"point {i} of {where}")
    return tuple(map(tuple, moved.tolist()))


@dataclass(frozen=True)
class Drawing:
    """Tracks and brush strokes as drawn on a ``width x height`` canvas (the ``trajectories`` widget value).

    No strokes means no brush: everything may move.
    """

    width: int
    height: int
    tracks: tuple[DrawnTrack, ...] = ()
    strokes: tuple[BrushStroke, ...] = ()

    def __post_init__(self) -> None:
        check_canvas_size(self.width, self.height, "trajectories: canvas")
        tracks = tuple(replace(track, points=_placed(track.points, self.width, self.height, f"track {k}"))
                       for k, track in enumerate(self.tracks))
        diagonal = math.hypot(self.width, self.height)
        strokes = []
        for k, stroke in enumerate(self.strokes):
            if stroke.radius > diagonal:
                raise ValueError(f"trajectories: brush stroke {k}: radius {stroke.radius} is more than the "
                                 f"{self.width}x{self.height} canvas's diagonal ({diagonal:.1f} pixels)")
            strokes.append(replace(stroke, points=_placed(stroke.points, self.width, self.height,
                                                          f"brush stroke {k}")))
        object.__setattr__(self, "tracks", tracks)
        object.__setattr__(self, "strokes", tuple(strokes))

    def rescaled(self, width: int, height: int) -> Drawing:
        """The same drawing on a ``width x height`` canvas: points scale per axis, brush radii by the square
        root of the two scales (at most the new diagonal)."""
        check_canvas_size(width, height)
        if (width, height) == (self.width, self.height):
            return self
        scale_x, scale_y = width / self.width, height / self.height
        radius_scale = math.sqrt(scale_x * scale_y)
        diagonal = math.hypot(width, height)

        def move(points):
            return tuple((x * scale_x, y * scale_y) for x, y in points)

        tracks = tuple(replace(track, points=move(track.points)) for track in self.tracks)
        strokes = tuple(replace(stroke, points=move(stroke.points), radius=min(stroke.radius * radius_scale, diagonal))
                        for stroke in self.strokes)
        return Drawing(width, height, tracks, strokes)


@dataclass(frozen=True, eq=False)
class Tracks:
    """Point tracks sampled per frame: ComfyUI core's TRACKS plus the canvas size.

    ``path``: [F, N, 2] float pixels (x, y); ``visibility``: [F, N] bool; ``width``, ``height``: the
    canvas the coordinates belong to.
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
        check_canvas_size(self.width, self.height, "tracks")
        considered = visibility.to(path.device)  # a track's position while hidden may be anywhere
        placed = onto_canvas(path, self.width, self.height, what="tracks", considered=considered,
                             name=lambda frame, track: f"track {track} in frame {frame}")
        object.__setattr__(self, "path", placed)

    @property
    def frames(self) -> int:
        return self.path.shape[0]

    @property
    def count(self) -> int:
        return self.path.shape[1]

    def to_tracks(self) -> dict:
        """The TRACKS socket value; core Wan-Move nodes read only the first two keys. The checked value itself
        travels along (``VALUE_KEY``), so our own nodes downstream do not check the same points again."""
        return {"track_path": self.path, "track_visibility": self.visibility, "width": self.width,
                "height": self.height, VALUE_KEY: self}

    @classmethod
    def from_tracks(cls, tracks: dict, width: int | None = None, height: int | None = None, *,
                    hint: str = "") -> Tracks:
        """Read a TRACKS dict. ``width``/``height`` give the canvas of dicts that carry none (core's and
        KJNodes'); ``hint`` is added to the error for points off that canvas. A visibility of one column
        [F, 1] (core's from a mask) holds for every track."""
        if not isinstance(tracks, dict) or "track_path" not in tracks:
            raise ValueError(f"tracks: expected a TRACKS dict with 'track_path' [F, N, 2], got {type(tracks).__name__}")
        made = tracks.get(VALUE_KEY)
        if isinstance(made, Tracks) and made._made_this(tracks):
            return made
        try:
            path = torch.as_tensor(tracks["track_path"]).float()
            visibility = tracks.get("track_visibility")
            visibility = torch.ones(path.shape[:2], dtype=torch.bool) if visibility is None else torch.as_tensor(visibility)
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"tracks: track_path / track_visibility are not tensors: {error}") from None
        if path.ndim == 3 and visibility.ndim == 2 and visibility.shape == (path.shape[0], 1):
            visibility = visibility.expand(path.shape[:2])
        own = "width" in tracks and "height" in tracks
        if not own and (width is None or height is None):
            raise ValueError("tracks: these TRACKS carry no canvas size (core and KJNodes track nodes make such); "
                             "connect them to Motion-I2V Trajectories' tracks input, which places them on the image")
        size = (tracks["width"], tracks["height"]) if own else (width, height)
        try:
            return cls(path, visibility.bool(), *(int(side) for side in size))
        except OffCanvasError as error:
            raise OffCanvasError(f"{error}{'' if own else hint}") from None

    def _made_this(self, tracks: dict) -> bool:
        """Whether ``tracks`` is still what ``to_tracks`` made (the same tensors and canvas): checked already."""
        return (tracks["track_path"] is self.path and tracks.get("track_visibility") is self.visibility
                and tracks.get("width") == self.width and tracks.get("height") == self.height)

    def rescaled(self, width: int, height: int) -> Tracks:
        """The same tracks on a ``width x height`` canvas (points scaled per axis)."""
        check_canvas_size(width, height)
        if (width, height) == (self.width, self.height):
            return self
        scale = self.path.new_tensor([width / self.width, height / self.height])
        return Tracks(self.path * scale, self.visibility, width, height)

    def resampled(self, frames: int) -> Tracks:
        """The same tracks over ``frames`` frames: positions by PCHIP over time, visibility nearest."""
        check_frame_count(frames)
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
        return Tracks(path.to(self.path), visibility, self.width, self.height)

    def merged(self, other: Tracks) -> Tracks:
        """Both sets of tracks side by side (same frame count and canvas)."""
        if (other.frames, other.width, other.height) != (self.frames, self.width, self.height):
            raise ValueError(
                f"tracks: cannot merge {other.count} tracks of {other.frames} frames on {other.width}x{other.height} "
                f"with {self.count} tracks of {self.frames} frames on {self.width}x{self.height}"
            )
        path = torch.cat([self.path, other.path.to(self.path)], dim=1)
        visibility = torch.cat([self.visibility, other.visibility.to(self.visibility.device)], dim=1)
        return Tracks(path, visibility, self.width, self.height)
