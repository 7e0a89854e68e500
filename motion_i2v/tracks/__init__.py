"""Point tracks and the motion brush: parsed, sampled, drawn and turned into motion hints.

Vocabulary, the same in every name and message here:
- canvas: the ``width x height`` pixel grid coordinates belong to (``canvas``); a point: (x, y) pixels on it;
- track: one point moving over the frames; drawn, it is a few control points (``DrawnTrack``), sampled, one
  point per frame (``Tracks``); an anchor: a track of one point, held still;
- frame: 0..F-1, frame 0 is the image; visibility: whether a track is seen at a frame;
- brush: strokes painted where the image may move (``BrushStroke``), rasterised into a mask [H, W]
  (1 = painted = may move); its unpainted pixels are the static region;
- drawing: a canvas with drawn tracks and brush strokes, what the editor saves (``Drawing``).

Modules: ``shared`` (constants shared with the editor), ``canvas`` (sizes and the edge rule), ``value`` (the
value types), ``parsing`` (our JSON and other packs' formats), ``pchip``, ``sampling`` (drawn tracks at every
frame), ``raster`` (thick polylines, the brush mask), ``brush`` (what the brush means), ``overlay`` (tracks drawn
over an image), ``hint`` (the ControlNet's sparse hint), ``dense`` (a model-free field from tracks).

Long loops take ``check_cancel``: called between steps, it raises to stop (a node passes ComfyUI's interrupt
check; the engine imports nothing from ComfyUI).
"""

from typing import Callable

CheckCancel = Callable[[], None]
