"""The ``trajectories`` widget value and foreign track formats -> tracks and brush strokes as drawn.

Formats (``parse_trajectories`` tells them apart):
- our widget JSON ``{"version": 1, "width", "height", "tracks": [...], "brush": {"strokes": [...]}}``
  (schema in the README); coordinates are in the canvas ``width x height`` and get rescaled to the
  target image, points by (W / width, H / height), brush radii by the square root of their product;
- KJNodes coordinate strings: ``[{"x": .., "y": ..}, ...]`` (one track), a list of those, or a list
  of such strings, single quotes allowed; coordinates are target pixels, one sample per frame;
- ComfyUI core TRACKS dicts are read by ``Trajectories.from_tracks`` instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

from .value import BrushStroke, TrackSpec, check_inside, check_size, is_integer, with_location

VERSION = 1
_TOP_KEYS = ("version", "width", "height", "tracks", "brush")
_TRACK_KEYS = ("points", "start", "end", "easing", "interpolation")
_STROKE_KEYS = ("points", "radius", "erase")


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


def _parse_versioned(data: dict, width: int, height: int):
    if "version" not in data:
        raise ValueError('trajectories: the JSON object has no "version"; expected {"version": 1, "width": .., '
                         '"height": .., "tracks": [..]}')
    if not is_integer(data["version"]) or data["version"] != VERSION:
        raise ValueError(f"trajectories: unsupported version {data['version']!r}; this pack reads version {VERSION}")
    _check_keys(data, _TOP_KEYS, "the JSON object")
    canvas_width, canvas_height = data.get("width"), data.get("height")
    check_size(canvas_width, canvas_height, "trajectories: canvas")
    tracks = data.get("tracks")
    if not isinstance(tracks, list):
        raise ValueError(f'trajectories: "tracks" should be a list of tracks, got {type(tracks).__name__}')
    specs = []
    for k, track in enumerate(tracks):
        if not isinstance(track, dict) or "points" not in track:
            raise ValueError(f'trajectories: track {k} should be an object with "points", got {track!r:.80}')
        _check_keys(track, _TRACK_KEYS, f"track {k}")
        specs.append(with_location(TrackSpec, f"track {k}", **track))
    check_inside(specs, canvas_width, canvas_height)
    brush = data.get("brush") or {"strokes": []}
    if not isinstance(brush, dict) or not isinstance(brush.get("strokes", []), list):
        raise ValueError(f'trajectories: "brush" should be {{"strokes": [..]}}, got {brush!r:.80}')
    _check_keys(brush, ("strokes",), '"brush"')
    strokes = []
    for k, stroke in enumerate(brush.get("strokes", [])):
        if not isinstance(stroke, dict):
            raise ValueError(f"trajectories: brush stroke {k} should be an object, got {stroke!r:.80}")
        _check_keys(stroke, _STROKE_KEYS, f"brush stroke {k}")
        strokes.append(with_location(BrushStroke, f"brush stroke {k}", **stroke))
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
        specs.append(with_location(TrackSpec, f"track {k}", points=[(p["x"], p["y"]) for p in track]))
    check_inside(specs, width, height)
    return specs


def parse_trajectories(text: str, width: int, height: int) -> tuple[list[TrackSpec], list[BrushStroke]]:
    """Parse the ``trajectories`` widget value for a ``width x height`` image.

    Our versioned JSON is rescaled from its canvas to the image; KJNodes coordinates are taken as
    image pixels and have no brush. Raises a ValueError naming the problem (JSON errors with line and
    column, points outside the image, unknown keys, bad easing or interpolation names).
    """
    check_size(width, height)
    data = _load_json(text)
    if isinstance(data, dict):
        return _parse_versioned(data, width, height)
    if isinstance(data, list):
        return _parse_kj(data, width, height), []
    raise ValueError(f'trajectories: expected our JSON object {{"version": 1, ...}} or a KJNodes coordinate '
                     f"list, got a {type(data).__name__}")
