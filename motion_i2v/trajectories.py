"""Point trajectories: the widget JSON and foreign formats, resampling to frames, the motion brush.

Pixel space everywhere: origin top-left, x right, y down; a valid point satisfies
0 <= x <= W-1 and 0 <= y <= H-1; pixel (col, row) covers [col, col+1) x [row, row+1), so its centre
is (col + 0.5, row + 0.5). Track and point numbers in error messages are 0-based, as in the JSON.

Formats (``parse_trajectories`` tells them apart):
- our widget JSON ``{"version": 1, "width", "height", "tracks": [...], "brush": {"strokes": [...]}}``
  (schema in the README); coordinates are in the canvas ``width x height`` and get rescaled to the
  target image, points by (W / width, H / height), brush radii by the square root of their product;
- KJNodes coordinate strings: ``[{"x": .., "y": ..}, ...]`` (one track), a list of those, or a list
  of such strings, single quotes allowed; coordinates are target pixels, one sample per frame;
- ComfyUI core TRACKS dicts, through ``Trajectories.from_tracks``.

Sampling a track to F frames (``sample_track``; the JS editor mirrors it):
1. s = clamp((i - start) / (end - start), 0, 1) for frame i, with end = F - 1 unless given;
2. u = easing(s) (``motion_i2v.easing``);
3. "pchip": position = C(u), where C is the monotone cubic through the K control points at
   t_k = k / (K - 1) (Fritsch-Carlson slopes with scipy's endpoint rule, x and y separately). With
   the defaults and F = 16 this is the official demo's ``interpolate_trajectory`` (app.py:195-212).
   "arc_length": position = C(u'), where u' puts the point at the fraction u of C's length
   (C cut into ARC_LENGTH_STEPS chords per segment, chord lengths summed, u' linearly interpolated
   in that table), i.e. constant speed along the same curve.
A one-point track is a static anchor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import torch
from einops import rearrange

from .easing import check_easing, ease

VERSION = 1
INTERPOLATIONS = ("pchip", "arc_length")
ARC_LENGTH_STEPS = 1024  # chords per PCHIP segment; the JS editor uses the same table
_TOP_KEYS = ("version", "width", "height", "tracks", "brush")
_TRACK_KEYS = ("points", "start", "end", "easing", "interpolation")
_STROKE_KEYS = ("points", "radius", "erase")
PIECE_LENGTH = 16.0  # rasterising cuts polylines into pieces this long (pixels), each in its own window
_WINDOW_BUDGET = 1 << 21  # window pixels tested at once (about 16 MiB per float64 temporary)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value) -> bool:
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


def _check_size(width, height, what: str = "trajectories") -> None:
    if not (_is_integer(width) and _is_integer(height) and width > 0 and height > 0):
        raise ValueError(f"{what}: expected a positive integer width and height, got {width!r} x {height!r}")


def _check_frames(frames) -> None:
    if not _is_integer(frames) or frames < 2:
        raise ValueError(f"frames: expected an integer of at least 2, got {frames!r}")


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
        if not _is_integer(self.start) or self.start < 0:
            raise ValueError(f"start: expected an integer frame >= 0, got {self.start!r}")
        if self.end is not None and (not _is_integer(self.end) or self.end <= self.start):
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
        _check_size(self.width, self.height, "tracks")

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
        _check_size(width, height)
        if (width, height) == (self.width, self.height):
            return self
        scale = self.path.new_tensor([width / self.width, height / self.height])
        return Trajectories(self.path * scale, self.visibility, width, height)

    def resampled(self, frames: int) -> Trajectories:
        """The same tracks over ``frames`` frames: positions by PCHIP over time, visibility nearest."""
        _check_frames(frames)
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


# ---------------------------------------------------------------------------------------------
# Parsing


def _load_json(text: str):
    """json.loads, retried with ' -> " as KJNodes does; a failure names line and column."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError('trajectories: empty; expected our JSON {"version": 1, ...} or a KJNodes coordinate string')
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        failure = error
    if "'" in text:
        try:
            return json.loads(text.replace("'", '"'))
        except json.JSONDecodeError as error:  # ' -> " keeps positions; this error is past the quotes
            failure = error
    raise ValueError(f"trajectories: not valid JSON at line {failure.lineno}, column {failure.colno}: {failure.msg}") from None


def _check_keys(obj: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise ValueError(f"trajectories: {what} has unknown keys {unknown}; allowed: {list(allowed)}")


def _check_inside(specs: list[TrackSpec], width: int, height: int) -> None:
    for k, spec in enumerate(specs):
        for i, (x, y) in enumerate(spec.points):
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise ValueError(f"trajectories: point {i} of track {k} is at ({x}, {y}), outside the {width}x{height} image")


def _build(make, what: str, **fields):
    """Call ``make`` (a TrackSpec, a BrushStroke, a sampler), prefixing its ValueError with where."""
    try:
        return make(**fields)
    except ValueError as error:
        raise ValueError(f"trajectories: {what}: {error}") from None


def _parse_versioned(data: dict, width: int, height: int):
    if "version" not in data:
        raise ValueError('trajectories: the JSON object has no "version"; expected {"version": 1, "width": .., '
                         '"height": .., "tracks": [..]}')
    if not _is_integer(data["version"]) or data["version"] != VERSION:
        raise ValueError(f"trajectories: unsupported version {data['version']!r}; this pack reads version {VERSION}")
    _check_keys(data, _TOP_KEYS, "the JSON object")
    canvas_width, canvas_height = data.get("width"), data.get("height")
    _check_size(canvas_width, canvas_height, "trajectories: canvas")
    tracks = data.get("tracks")
    if not isinstance(tracks, list):
        raise ValueError(f'trajectories: "tracks" should be a list of tracks, got {type(tracks).__name__}')
    specs = []
    for k, track in enumerate(tracks):
        if not isinstance(track, dict) or "points" not in track:
            raise ValueError(f'trajectories: track {k} should be an object with "points", got {track!r:.80}')
        _check_keys(track, _TRACK_KEYS, f"track {k}")
        specs.append(_build(TrackSpec, f"track {k}", **track))
    _check_inside(specs, canvas_width, canvas_height)
    brush = data.get("brush") or {"strokes": []}
    if not isinstance(brush, dict) or not isinstance(brush.get("strokes", []), list):
        raise ValueError(f'trajectories: "brush" should be {{"strokes": [..]}}, got {brush!r:.80}')
    _check_keys(brush, ("strokes",), '"brush"')
    strokes = []
    for k, stroke in enumerate(brush.get("strokes", [])):
        if not isinstance(stroke, dict):
            raise ValueError(f"trajectories: brush stroke {k} should be an object, got {stroke!r:.80}")
        _check_keys(stroke, _STROKE_KEYS, f"brush stroke {k}")
        strokes.append(_build(BrushStroke, f"brush stroke {k}", **stroke))
    return _rescale(specs, strokes, (canvas_width, canvas_height), (width, height))


def _rescale(specs, strokes, canvas: tuple[int, int], target: tuple[int, int]):
    """Canvas pixels -> target pixels; points are clamped into the image (a sub-pixel change that
    keeps W-1 inside when shrinking)."""
    if canvas == target:
        return specs, strokes
    scale_x, scale_y = target[0] / canvas[0], target[1] / canvas[1]

    def move(points, clamp: bool):
        moved = ((x * scale_x, y * scale_y) for x, y in points)
        if not clamp:
            return tuple(moved)
        return tuple((min(max(x, 0.0), target[0] - 1.0), min(max(y, 0.0), target[1] - 1.0)) for x, y in moved)

    specs = [replace(spec, points=move(spec.points, clamp=True)) for spec in specs]
    radius_scale = math.sqrt(scale_x * scale_y)
    strokes = [replace(s, points=move(s.points, clamp=False), radius=s.radius * radius_scale) for s in strokes]
    return specs, strokes


def _kj_tracks(data: list, depth: int = 0) -> list[list]:
    """Raw tracks from a KJNodes value: one track, a list of tracks, or a list of coordinate strings."""
    if not data:
        raise ValueError("trajectories: the coordinate list is empty")
    if all(isinstance(item, str) for item in data) and depth == 0:  # AppendStringsToList output
        tracks = []
        for text in data:
            inner = _load_json(text)
            if not isinstance(inner, list):
                raise ValueError(f"trajectories: expected a coordinate list in each string, got {type(inner).__name__}")
            tracks.extend(_kj_tracks(inner, depth + 1))
        return tracks
    if all(isinstance(item, dict) for item in data):
        return [data]
    if all(isinstance(item, list) for item in data):
        return data
    raise ValueError('trajectories: a KJNodes coordinate list holds {"x": .., "y": ..} objects, lists of them, '
                     f"or coordinate strings; got {data[0]!r:.80} ...")


def _parse_kj(data: list, width: int, height: int) -> list[TrackSpec]:
    specs = []
    for k, track in enumerate(_kj_tracks(data)):
        for i, point in enumerate(track):
            if not (isinstance(point, dict) and "x" in point and "y" in point):
                raise ValueError(f'trajectories: point {i} of track {k} should be {{"x": .., "y": ..}}, got {point!r:.80}')
        specs.append(_build(TrackSpec, f"track {k}", points=[(p["x"], p["y"]) for p in track]))
    _check_inside(specs, width, height)
    return specs


def parse_trajectories(text: str, width: int, height: int) -> tuple[list[TrackSpec], list[BrushStroke]]:
    """Parse the ``trajectories`` widget value for a ``width x height`` image.

    Our versioned JSON is rescaled from its canvas to the image; KJNodes coordinates are taken as
    image pixels and have no brush. Raises a ValueError naming the problem (JSON errors with line and
    column, points outside the image, unknown keys, bad easing or interpolation names).
    """
    _check_size(width, height)
    data = _load_json(text)
    if isinstance(data, dict):
        return _parse_versioned(data, width, height)
    if isinstance(data, list):
        return _parse_kj(data, width, height), []
    raise ValueError(f'trajectories: expected our JSON object {{"version": 1, ...}} or a KJNodes coordinate '
                     f"list, got a {type(data).__name__}")


# ---------------------------------------------------------------------------------------------
# Resampling


def _edge_slope(h0, h1, m0, m1):
    """scipy's one-sided three-point end slope, limited to keep the end segment monotone."""
    slope = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    slope = torch.where(slope.sign() != m0.sign(), torch.zeros_like(slope), slope)
    overshoot = (m0.sign() != m1.sign()) & (slope.abs() > 3 * m0.abs())
    return torch.where(overshoot, 3 * m0, slope)


def pchip_slopes(knots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Fritsch-Carlson slopes as scipy.interpolate.PchipInterpolator computes them.

    ``knots``: [K] increasing, K >= 2; ``values``: [K, D] (D independent series) -> slopes [K, D].
    """
    h = knots.diff().unsqueeze(-1)  # [K-1, 1]
    m = values.diff(dim=0) / h  # secant slopes [K-1, D]
    if len(knots) == 2:
        return torch.cat([m, m])
    # interior: 0 at a local extremum or flat secant, else the weighted harmonic mean of the secants
    flat = (m[1:].sign() != m[:-1].sign()) | (m[1:] == 0) | (m[:-1] == 0)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    inner = 1 / ((w1 / m[:-1] + w2 / m[1:]) / (w1 + w2))
    inner = torch.where(flat, torch.zeros_like(inner), inner)
    first = _edge_slope(h[0], h[1], m[0], m[1])
    last = _edge_slope(h[-1], h[-2], m[-1], m[-2])
    return torch.cat([first[None], inner, last[None]])


def pchip(knots: torch.Tensor, values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """The monotone cubic through (knots, values) at ``query`` [Q] -> [Q, D] (values [K, D])."""
    slopes = pchip_slopes(knots, values)
    segment = (torch.searchsorted(knots, query, right=True) - 1).clamp(0, len(knots) - 2)
    t0, h = knots[segment], (knots[segment + 1] - knots[segment])
    tau = ((query - t0) / h).unsqueeze(-1)
    # cubic Hermite basis on [t0, t0 + h]
    h00 = (1 + 2 * tau) * (1 - tau) ** 2
    h10 = tau * (1 - tau) ** 2
    h01 = tau * tau * (3 - 2 * tau)
    h11 = tau * tau * (tau - 1)
    h = h.unsqueeze(-1)
    return (h00 * values[segment] + h10 * h * slopes[segment]
            + h01 * values[segment + 1] + h11 * h * slopes[segment + 1])


def _arc_length_parameter(knots: torch.Tensor, points: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
    """The curve parameters at which C has covered ``fraction`` [Q] of its length (see module doc)."""
    fine = torch.linspace(0, 1, ARC_LENGTH_STEPS * (len(knots) - 1) + 1, dtype=torch.float64)
    chords = pchip(knots, points, fine).diff(dim=0).norm(dim=-1)
    covered = torch.cat([chords.new_zeros(1), chords.cumsum(0)])
    if covered[-1] == 0:
        return fraction
    target = fraction * covered[-1]
    right = torch.searchsorted(covered, target, right=True).clamp(1, len(fine) - 1)
    left = right - 1
    span = (covered[right] - covered[left]).clamp(min=torch.finfo(torch.float64).tiny)
    weight = ((target - covered[left]) / span).clamp(0, 1)
    return fine[left] + weight * (fine[right] - fine[left])


def sample_track(spec: TrackSpec, frames: int) -> torch.Tensor:
    """Positions of one track at frames 0..F-1: [F, 2] float64 pixels (see the module doc)."""
    _check_frames(frames)
    end = frames - 1 if spec.end is None else spec.end
    if end > frames - 1 or spec.start >= end:
        raise ValueError(f"start {spec.start} / end {spec.end}: expected 0 <= start < end <= {frames - 1} "
                         f"for {frames} frames")
    points = torch.tensor(spec.points, dtype=torch.float64)  # [K, 2]
    if len(points) == 1:
        return points.expand(frames, 2)
    s = ((torch.arange(frames, dtype=torch.float64) - spec.start) / (end - spec.start)).clamp(0, 1)
    u = ease(s, spec.easing)
    knots = torch.linspace(0, 1, len(points), dtype=torch.float64)
    if spec.interpolation == "arc_length":
        u = _arc_length_parameter(knots, points, u)
    return pchip(knots, points, u)


def sample_tracks(specs: list[TrackSpec], frames: int, width: int, height: int) -> Trajectories:
    """All tracks at frames 0..F-1 on a ``width x height`` image, every one visible throughout."""
    _check_size(width, height)
    _check_frames(frames)
    if not specs:
        raise ValueError("trajectories: no tracks; draw at least one (a single point makes a static anchor)")
    _check_inside(specs, width, height)
    paths = [_build(sample_track, f"track {k}", spec=spec, frames=frames) for k, spec in enumerate(specs)]
    path = torch.stack(paths, dim=1).float()  # [F, N, 2]
    return Trajectories(path, torch.ones(frames, len(specs), dtype=torch.bool), width, height)


# ---------------------------------------------------------------------------------------------
# Rasterising: the motion brush and the preview


def _pieces(points: torch.Tensor) -> torch.Tensor:
    """The polyline ``points`` [K, 2] as segments [S, 2 (start, end), 2] no longer than PIECE_LENGTH
    (K = 1: one zero-length segment), so each fits a small fixed window."""
    if len(points) == 1:
        return points[None].expand(1, 2, 2)
    start, along = points[:-1], points[1:] - points[:-1]
    counts = (along.norm(dim=-1) / PIECE_LENGTH).ceil().clamp(min=1).long()
    segment = torch.repeat_interleave(torch.arange(len(counts)), counts)
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    step = (torch.arange(len(segment)) - first).double()
    begin = (step / counts[segment]).unsqueeze(-1)
    finish = ((step + 1) / counts[segment]).unsqueeze(-1)
    return torch.stack([start[segment] + begin * along[segment], start[segment] + finish * along[segment]], dim=1)


def _cover(pieces: torch.Tensor, radii: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixels whose centre lies within ``radii`` [S] of a piece [S, 2, 2] -> [H, W] bool.

    Every piece is tested over its own square window of pixels, all windows at once (in chunks that
    bound memory).
    """
    side = math.ceil(PIECE_LENGTH + 2 * radii.max().item()) + 2  # a window holds a piece plus its radius
    offsets = torch.arange(side, dtype=torch.float64)
    inside = torch.zeros(height * width, dtype=torch.bool)
    step = max(1, _WINDOW_BUDGET // (side * side))
    for chunk, radius in zip(pieces.split(step), radii.split(step)):
        corner = (chunk.amin(dim=1) - radius[:, None]).floor()  # [S, 2] top-left (col, row) of each window
        cols = corner[:, 0, None, None] + offsets[None, None, :]  # [S, 1, side]
        rows = corner[:, 1, None, None] + offsets[None, :, None]  # [S, side, 1]
        start, along = chunk[:, 0, :, None, None], (chunk[:, 1] - chunk[:, 0])[..., None, None]  # [S, 2, 1, 1]
        dx, dy = cols + 0.5 - start[:, 0], rows + 0.5 - start[:, 1]
        length2 = (along * along).sum(1).clamp(min=torch.finfo(torch.float64).tiny)  # 0-length piece: t = 0
        t = ((dx * along[:, 0] + dy * along[:, 1]) / length2).clamp(0, 1)
        gap2 = (dx - t * along[:, 0]) ** 2 + (dy - t * along[:, 1]) ** 2  # [S, side, side]
        hit = (gap2 <= radius[:, None, None] ** 2) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        inside[(rows * width + cols).expand_as(hit)[hit].long()] = True
    return rearrange(inside, "(h w) -> h w", w=width)


def near_polyline(points: torch.Tensor, radius: float, height: int, width: int) -> torch.Tensor:
    """Pixels whose centre lies within ``radius`` of the polyline ``points`` [K, 2] (K = 1: a disk):
    [H, W] bool."""
    pieces = _pieces(points.double())
    return _cover(pieces, pieces.new_full((len(pieces),), float(radius)), height, width)


def rasterize_brush(strokes: list[BrushStroke], width: int, height: int) -> torch.Tensor:
    """The motion-brush mask: [H, W] float32, 1 = painted = movable, 0 = held still.

    A pixel is painted when its centre lies within a stroke's radius of its polyline; strokes apply
    in order and erase strokes clear. No strokes = no brush = everything movable (all ones).
    """
    _check_size(width, height)
    if not strokes:
        return torch.ones(height, width)
    painted = torch.zeros(height, width, dtype=torch.bool)
    for stroke in strokes:
        region = near_polyline(torch.tensor(stroke.points), stroke.radius, height, width)
        painted = painted & ~region if stroke.erase else painted | region
    return painted.float()


# the preview's look: 10 distinct track colours (RGB 0..1), line and marker sizes in pixels
PALETTE = (
    (0.95, 0.26, 0.21), (0.13, 0.59, 0.95), (0.30, 0.69, 0.31), (1.00, 0.76, 0.03), (0.61, 0.15, 0.69),
    (0.00, 0.74, 0.83), (1.00, 0.44, 0.13), (0.91, 0.12, 0.39), (0.55, 0.76, 0.29), (0.47, 0.33, 0.28),
)
BRUSH_TINT = (0.5, 0.0, 0.5)  # the demo's purple over movable pixels (visualize_drag_v2)
LINE_RADIUS, START_RADIUS, ANCHOR_RADIUS, OUTLINE = 1.5, 3.0, 5.0, 1.0
ARROW_LENGTH, ARROW_ANGLE = 10.0, math.radians(28)


def _track_shapes(positions: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
    """(polyline, radius) pairs drawing one track: a dot for an anchor, else a line with a start dot
    and an arrowhead along its last moving step. ``positions``: [F, 2] float64 pixels."""
    steps = positions.diff(dim=0).norm(dim=-1)
    moving = steps.nonzero()
    if len(moving) == 0:
        return [(positions[:1], ANCHOR_RADIUS)]
    last = moving[-1].item()
    direction = (positions[last + 1] - positions[last]) / steps[last]
    tip = positions[last + 1]
    wings = []
    for angle in (ARROW_ANGLE, -ARROW_ANGLE):
        cos, sin = math.cos(angle), math.sin(angle)
        back = torch.stack([direction[0] * cos - direction[1] * sin, direction[0] * sin + direction[1] * cos])
        wings.append(tip - ARROW_LENGTH * back)
    arrow = torch.stack([wings[0], tip, wings[1]])
    return [(positions, LINE_RADIUS), (arrow, LINE_RADIUS), (positions[:1], START_RADIUS)]


def draw_trajectories(
    trajectories: Trajectories, background: torch.Tensor | None = None, brush: torch.Tensor | None = None
) -> torch.Tensor:
    """The tracks drawn over an image: [3, H, W] float32 0..1 on the CPU.

    ``background``: [3, H, W] 0..1 or None (mid grey); ``brush``: [H, W] 1 = movable, tinted purple
    as in the demo. Each track gets a palette colour with a dark outline: anchors are dots, moving
    tracks a polyline through their per-frame positions with a start dot and an arrowhead.
    """
    height, width = trajectories.height, trajectories.width
    if background is None:
        canvas = torch.full((3, height, width), 0.5)
    elif tuple(background.shape) != (3, height, width):
        raise ValueError(f"background: expected [3, {height}, {width}] for the tracks' image, got {list(background.shape)}")
    else:
        canvas = background.detach().float().cpu().clone()
    if brush is not None:
        if tuple(brush.shape) != (height, width):
            raise ValueError(f"brush: expected [{height}, {width}] for the tracks' image, got {list(brush.shape)}")
        tinted = 0.7 * canvas + 0.3 * torch.tensor(BRUSH_TINT).view(3, 1, 1)
        canvas = torch.where(brush.detach().cpu() > 0.5, tinted, canvas)
    # label 2n = outline of track n, 2n + 1 = its fill; later tracks cover earlier ones
    label = torch.full((height, width), -1, dtype=torch.long)
    for n in range(trajectories.count):
        shapes = _track_shapes(trajectories.path[:, n].detach().cpu().double())
        pieces = [_pieces(points) for points, _ in shapes]
        radii = torch.cat([piece.new_full((len(piece),), radius) for piece, (_, radius) in zip(pieces, shapes)])
        pieces = torch.cat(pieces)
        for grow, value in ((OUTLINE, 2 * n), (0.0, 2 * n + 1)):
            label[_cover(pieces, radii + grow, height, width)] = value
    colours = torch.tensor([c for n in range(trajectories.count) for c in ((0.0, 0.0, 0.0), PALETTE[n % len(PALETTE)])])
    drawn = label >= 0
    canvas[:, drawn] = rearrange(colours[label[drawn]], "p c -> c p")
    return canvas
