"""The ``trajectories`` value and other packs' track formats -> a ``Drawing``.

Formats (``parse_drawing`` tells them apart):
- our widget JSON ``{"version": 1, "width", "height", "tracks": [...], "brush": {"strokes": [...]}}``
  (schema in web/js/trajectory_model.js and the node's description), on its own canvas ``width x height``;
- KJNodes coordinate strings: ``[{"x": .., "y": ..}, ...]`` (one list), a list of such lists, single quotes
  allowed, and a list of such strings (KJNodes' AppendStringsToList gives a Python list, as core's own track
  parser accepts) or of already parsed lists. They carry no canvas: their coordinates are pixels of a
  ``source`` canvas the caller names. A list of points is one track, a point per frame (SplineEditor), or
  with ``point_lists="anchors"`` one static anchor per point (PointsEditor's positive_coords);
- ComfyUI core TRACKS dicts are read by ``Tracks.from_tracks`` instead.

Hostile text is refused with a message before any heavy work: more than ``MAX_TEXT`` characters, nesting
deeper than Python's parser goes, NaN / Infinity / numbers too large to be finite, more than ``MAX_TRACKS``
tracks or strokes, more than ``MAX_POINTS`` points in one.
"""

from __future__ import annotations

import json
import math

from . import CheckCancel
from .canvas import OffCanvasError, check_canvas_size, is_integer, short_repr
from .value import BrushStroke, Drawing, DrawnTrack

VERSION = 1
POINT_LISTS = ("tracks", "anchors")  # what a KJNodes list of points is: one track, or an anchor per point
MAX_TEXT = 16_000_000  # characters: ~1M points of JSON, far more than any drawing
MAX_TRACKS = 4096  # tracks, and brush strokes
MAX_POINTS = 65536  # points of one track or stroke
MAX_SIDE = 65536  # pixels of a canvas side in our JSON
_TOP_KEYS = ("version", "width", "height", "tracks", "brush")
_TRACK_KEYS = ("points", "start", "end", "easing", "interpolation")
_STROKE_KEYS = ("points", "radius", "erase")


def _fail(message: str) -> ValueError:
    return ValueError(f"trajectories: {message}")


def _refuse_constant(name: str):
    raise _fail(f"the JSON holds {name}; coordinates and sizes must be finite numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _fail(f"the JSON number {text[:40]} is too large to be finite")
    return value


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > 18:  # Python refuses ints of more than 4300 digits with a bare message
        raise _fail(f"the JSON number {text[:40]} has more digits than any size or coordinate")
    return int(text)


def _loads(text: str):
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_small_int)


def load_json(text: str):
    """json.loads, retried with ' -> " as KJNodes does; every failure is a ValueError naming the problem
    (with line and column for syntax errors)."""
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise _fail(f"the text is {len(text)} characters long; at most {MAX_TEXT} are read")
    if not isinstance(text, str) or not text.strip():
        raise _fail('empty; expected our JSON {"version": 1, ...} or a KJNodes coordinate string')
    failure = None
    for attempt in (text, text.replace("'", '"') if "'" in text else None):
        if attempt is None:
            break
        try:
            return _loads(attempt)
        except json.JSONDecodeError as error:  # ' -> " keeps positions, so the last error's place is right
            failure = error
        except RecursionError:
            raise _fail("the JSON nests lists or objects deeper than can be read; ours nests 5 levels") from None
    raise _fail(f"not valid JSON at line {failure.lineno}, column {failure.colno}: {failure.msg}") from None


def _check_count(items: list, limit: int, what: str) -> None:
    if len(items) > limit:
        raise _fail(f"{what} holds {len(items)} items; at most {limit} are read")


def _check_keys(obj: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise _fail(f"{what} has unknown keys {unknown}; allowed: {list(allowed)}")


def _made(make, what: str, fields: dict):
    """``make(**fields)`` (a DrawnTrack or BrushStroke), its ValueError prefixed with where."""
    points = fields.get("points")
    if isinstance(points, list):
        _check_count(points, MAX_POINTS, f"{what}'s points")
    try:
        return make(**fields)
    except ValueError as error:
        raise _fail(f"{what}: {error}") from None


def _parse_ours(data: dict, check_cancel: CheckCancel | None) -> Drawing:
    if "version" not in data:
        raise _fail('the JSON object has no "version"; expected {"version": 1, "width": .., "height": .., '
                    '"tracks": [..]}')
    if not is_integer(data["version"]) or data["version"] != VERSION:
        raise _fail(f"unsupported version {short_repr(data['version'])}; this pack reads version {VERSION}")
    _check_keys(data, _TOP_KEYS, "the JSON object")
    width, height = data.get("width"), data.get("height")
    check_canvas_size(width, height, "trajectories: canvas")
    if max(width, height) > MAX_SIDE:
        raise _fail(f"canvas: {width}x{height} is larger than {MAX_SIDE} pixels a side")
    tracks = data.get("tracks")
    if not isinstance(tracks, list):
        raise _fail(f'"tracks" should be a list of tracks, got {type(tracks).__name__}')
    _check_count(tracks, MAX_TRACKS, '"tracks"')
    drawn = []
    for k, track in enumerate(tracks):
        if check_cancel is not None:
            check_cancel()
        if not isinstance(track, dict) or "points" not in track:
            raise _fail(f'track {k} should be an object with "points", got {short_repr(track)}')
        _check_keys(track, _TRACK_KEYS, f"track {k}")
        drawn.append(_made(DrawnTrack, f"track {k}", track))
    brush = data.get("brush") or {"strokes": []}
    if not isinstance(brush, dict) or not isinstance(brush.get("strokes", []), list):
        raise _fail(f'"brush" should be {{"strokes": [..]}}, got {short_repr(brush)}')
    _check_keys(brush, ("strokes",), '"brush"')
    _check_count(brush.get("strokes", []), MAX_TRACKS, '"brush"')
    strokes = []
    for k, stroke in enumerate(brush.get("strokes", [])):
        if check_cancel is not None:
            check_cancel()
        if not isinstance(stroke, dict):
            raise _fail(f"brush stroke {k} should be an object, got {short_repr(stroke)}")
        _check_keys(stroke, _STROKE_KEYS, f"brush stroke {k}")
        strokes.append(_made(BrushStroke, f"brush stroke {k}", stroke))
    return Drawing(width, height, tuple(drawn), tuple(strokes))


def _point_lists(data: list) -> list[list]:
    """The lists of {"x", "y"} points in a KJNodes value: one list, a list of lists, or a list whose items are
    coordinate strings or such lists (AppendStringsToList)."""
    if not data:
        raise _fail("the coordinate list is empty")
    _check_count(data, MAX_TRACKS, "the coordinate list")
    if all(isinstance(item, dict) for item in data):
        return [data]
    lists = []
    for i, item in enumerate(data):
        if isinstance(item, str) and not item.strip():
            raise _fail(f"item {i} of the list is an empty string (an unconnected input of the node joining them?)")
        inner = load_json(item) if isinstance(item, str) else item
        if not isinstance(inner, list) or not inner:
            raise _fail(f"item {i} of the list should be a non-empty coordinate list, got {short_repr(inner)}")
        if all(isinstance(point, dict) for point in inner):
            lists.append(inner)
        elif all(isinstance(track, list) for track in inner):
            lists.extend(inner)
        else:
            raise _fail('a KJNodes coordinate list holds {"x": .., "y": ..} objects, lists of them, or coordinate '
                        f"strings; item {i} is {short_repr(inner)}")
        _check_count(lists, MAX_TRACKS, "the coordinate lists")
    return lists


def _parse_kj(data: list, source: tuple[int, int], point_lists: str, check_cancel: CheckCancel | None) -> Drawing:
    tracks = []
    for k, points in enumerate(_point_lists(data)):
        if check_cancel is not None:
            check_cancel()
        _check_count(points, MAX_POINTS, f"track {k}")
        for i, point in enumerate(points):
            if not (isinstance(point, dict) and "x" in point and "y" in point):
                raise _fail(f'point {i} of track {k} should be {{"x": .., "y": ..}}, got {short_repr(point)}')
        xy = [(point["x"], point["y"]) for point in points]
        if point_lists == "anchors":
            tracks.extend(_made(DrawnTrack, f"track {k}", {"points": [p]}) for p in xy)
        else:
            tracks.append(_made(DrawnTrack, f"track {k}", {"points": xy}))
        _check_count(tracks, MAX_TRACKS, "the anchors")
    return Drawing(*source, tuple(tracks))


def parse_drawing(value, width: int, height: int, *, source: tuple[int, int] | None = None,
                  point_lists: str = "tracks", foreign_hint: str = "",
                  check_cancel: CheckCancel | None = None) -> Drawing:
    """Parse the ``trajectories`` value (a string, or a list as KJNodes' AppendStringsToList gives) into a
    drawing on a ``width x height`` canvas.

    Our JSON is rescaled from its own canvas. KJNodes coordinates are pixels of ``source`` (width, height;
    default this canvas), stretched to it; ``point_lists`` (one of ``POINT_LISTS``) says what a list of
    points is; ``foreign_hint`` is added to the error for their points off the source canvas. Raises a
    ValueError naming the problem (JSON errors with line and column, points off the canvas, unknown keys,
    bad easing or interpolation names).
    """
    check_canvas_size(width, height)
    if point_lists not in POINT_LISTS:
        raise ValueError(f"point_lists: expected one of {list(POINT_LISTS)}, got {point_lists!r}")
    data = load_json(value) if isinstance(value, str) else value
    if isinstance(data, dict):
        return _parse_ours(data, check_cancel).rescaled(width, height)
    if not isinstance(data, list):
        raise _fail(f'expected our JSON object {{"version": 1, ...}} or a KJNodes coordinate list, got a '
                    f"{type(data).__name__}")
    source = (width, height) if source is None else source
    check_canvas_size(*source, "source size")
    try:
        drawing = _parse_kj(data, source, point_lists, check_cancel)
    except OffCanvasError as error:
        raise OffCanvasError(f"{error}{foreign_hint}") from None
    return drawing.rescaled(width, height)
