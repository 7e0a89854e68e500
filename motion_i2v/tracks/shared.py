"""What the trajectory editor and the engine share, defined once in ``web/js/tracks_shared.js``.

That JS module holds one JSON object (the editor imports it); this module reads the same text, so the node's
preview and the editor draw the same colours and apply the same edge rule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SHARED_FILE = Path(__file__).resolve().parents[2] / "web" / "js" / "tracks_shared.js"
_OBJECT = re.compile(r"export const SHARED = Object\.freeze\((\{.*?\})\);", re.DOTALL)


def _read() -> dict:
    try:
        text = SHARED_FILE.read_text(encoding="utf-8")
    except OSError as error:
        raise RuntimeError(f"the pack is incomplete: {SHARED_FILE} cannot be read ({error})") from None
    found = _OBJECT.search(text)
    if found is None:
        raise RuntimeError(f"{SHARED_FILE}: no 'export const SHARED = Object.freeze({{...}});' object")
    return json.loads(found.group(1))


def _rgb(colour: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (r, g, b) in 0..1."""
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


_SHARED = _read()
PALETTE: tuple[tuple[float, float, float], ...] = tuple(_rgb(colour) for colour in _SHARED["palette"])
BRUSH_TINT = _rgb(_SHARED["brush_tint"]["color"])
BRUSH_OPACITY: float = _SHARED["brush_tint"]["opacity"]
EDGE_MARGIN_FRACTION: float = _SHARED["edge_margin"]["fraction"]
EDGE_MARGIN_PIXELS: float = _SHARED["edge_margin"]["pixels"]
