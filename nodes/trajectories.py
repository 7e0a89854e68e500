"""Trajectory nodes: tracks and a motion brush from the widget JSON, and a model-free preview field."""

from __future__ import annotations

import json

import torch

from ..motion_i2v.tracks.dense import dense_field
from ..motion_i2v.tracks.overlay import overlay_tracks
from ..motion_i2v.tracks.parsing import POINT_LISTS, parse_drawing
from ..motion_i2v.tracks.raster import brush_mask
from ..motion_i2v.tracks.sampling import sample_tracks
from ..motion_i2v.tracks.shared import EDGE_MARGIN_FRACTION, EDGE_MARGIN_PIXELS
from ..motion_i2v.tracks.value import Drawing, Tracks
from .comfy import check_interrupted, intermediate_device, temp_picture
from .convert import brush_to_engine, field_to_comfy, image_from_engine, image_to_engine
from .spec import FIELD, TRACKS

DEFAULT_TRAJECTORIES = json.dumps(
    {"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[256, 160], [352, 128]]}]}
)
# What canvas coordinates without one (KJNodes strings, core TRACKS) were made on: the image itself, or a
# width x height canvas (the node's widgets) stretched onto the image.
SOURCE_SIZES = ("image", "width x height")
EDGE_RULE = (
    f"Points at most {EDGE_MARGIN_FRACTION:.0%} of the canvas (at least {EDGE_MARGIN_PIXELS:g} pixels) beyond an "
    "edge are moved onto it, as a spline drawn to the edge ends there; points further out are refused."
)


# The canvas editor's shortcut list, as web/js/trajectory_commands.js shortcutHelp() prints it (a test keeps them equal).
EDITOR_SHORTCUTS = (
    "T: track mode: click adds a point to the selected track, on its curve inserts one; drag moves\n"
    "A: anchor mode: click adds a static point (a one-point track)\n"
    "B: brush mode: paint the region that may move\n"
    "E: erase mode: unpaint the brush\n"
    "N: start a new track\n"
    "Shift+Delete / Shift+Backspace: delete the selected track\n"
    "Delete / Backspace: delete the selected point (or right-click a point)\n"
    "Ctrl+Z: undo\n"
    "Ctrl+Shift+Z / Ctrl+Y: redo\n"
    "Ctrl+Delete / Ctrl+Backspace: remove every track and the brush\n"
    "[: smaller brush\n"
    "]: larger brush\n"
    ",: select the previous track\n"
    ".: select the next track\n"
    "Left: previous frame\n"
    "Right: next frame"
)


class MotionI2VTrajectories:
    NODE_ID = "MotionI2VTrajectories"
    DISPLAY_NAME = "Motion-I2V Trajectories"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "build"
    RETURN_TYPES = (TRACKS, "MASK", "IMAGE")
    RETURN_NAMES = ("tracks", "brush", "preview")
    OUTPUT_TOOLTIPS = (
        "Per-frame point tracks (core TRACKS: track_path [F, N, 2] pixels, track_visibility [F, N], plus width "
        "and height), for Motion-I2V's sparse hint, the preview field, or core Wan-Move nodes.",
        "Motion brush [1, H, W]: 1 where painted (may move), 0 where held still; all ones when nothing is "
        "painted (everything may move).",
        "The tracks drawn over the image (or a grey canvas): a coloured line with an arrowhead per moving "
        "track, a dot per anchor, the painted brush region tinted purple.",
    )
    DESCRIPTION = (
        "Point tracks and a motion brush for Motion-I2V, sampled to a number of frames.\n\n"
        "The trajectories text is our JSON, {\"version\": 1, \"width\": W, \"height\": H, \"tracks\": "
        "[{\"points\": [[x, y], ...], \"start\": 0, \"end\": null, \"easing\": \"linear\", \"interpolation\": "
        "\"pchip\"}], \"brush\": {\"strokes\": [{\"points\": [[x, y], ...], \"radius\": 24, \"erase\": false}]}}, "
        "in pixels of a W x H canvas (rescaled to the image), or KJNodes coordinates: a string "
        "([{\"x\": .., \"y\": ..}, ...] or a list of them) or a list of such strings (AppendStringsToList).\n"
        "Coordinates that carry no canvas (KJNodes strings, core TRACKS) are pixels of the image, or with "
        f"source_size '{SOURCE_SIZES[1]}' of a width x height canvas stretched onto the image (set width and height "
        "to KJ SplineEditor's mask_width and mask_height, or core GenerateTracks' width and height). A KJNodes "
        f"list of points is one track with a point per frame (SplineEditor), or with point_lists '{POINT_LISTS[1]}' "
        "one still anchor per point (PointsEditor).\n" + EDGE_RULE + " A brush radius is at most the canvas "
        "diagonal.\nWith trajectories linked from another node, the node runs on the linked value and the editor's "
        "drawing is not used (the editor says so).\n"
        "Each track moves through its control points between frames start and end (PCHIP over the points as "
        "in the official demo, or at constant speed with arc_length), with optional easing. A one-point track "
        "is an anchor: it holds its spot exactly still.\n"
        "Brush: painted = may move (the official motion brush). Unpainted pixels are held still by the "
        "Motion-I2V nodes. With no strokes the brush output is all ones: everything may move.\n"
        "The executed background (image or grey canvas) is also shown on the node.\n\n"
        "Canvas editor: drop or paste an image on the node, or connect one (a LoadImage shows before any run). "
        "Click to add points, drag to move them. Shortcuts (click the canvas first):\n"
        + EDITOR_SHORTCUTS
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "trajectories": ("STRING", {
                    "multiline": True,
                    "default": DEFAULT_TRAJECTORIES,
                    "tooltip": "Tracks and brush strokes: our JSON ({\"version\": 1, \"width\", \"height\", "
                               "\"tracks\", \"brush\"}), a KJNodes coordinate string, or a list of them. One-point "
                               "tracks are static anchors. May be empty when tracks are connected.",
                }),
                "frames": ("INT", {
                    "default": 16, "min": 2, "max": 128,
                    "tooltip": "Number of frames to sample every track to (Motion-I2V makes 16).",
                }),
                "width": ("INT", {
                    "default": 512, "min": 8, "max": 8192, "step": 8,
                    "tooltip": "Image width in pixels, used when no image is connected (and the canvas of "
                               "source_size 'width x height').",
                }),
                "height": ("INT", {
                    "default": 320, "min": 8, "max": 8192, "step": 8,
                    "tooltip": "Image height in pixels, used when no image is connected (and the canvas of "
                               "source_size 'width x height').",
                }),
            },
            "optional": {
                "source_size": (list(SOURCE_SIZES), {
                    "default": SOURCE_SIZES[0],
                    "tooltip": "Where coordinates without a canvas (KJNodes strings, core TRACKS) were drawn: "
                               "'image' = in pixels of the image; 'width x height' = on a canvas of the width and "
                               "height above, stretched onto the connected image. Our JSON and our TRACKS carry "
                               "their canvas and are always rescaled from it.",
                }),
                "point_lists": (list(POINT_LISTS), {
                    "default": POINT_LISTS[0],
                    "tooltip": "What a KJNodes list of points is: 'tracks' = one moving track, a point per frame "
                               "(SplineEditor); 'anchors' = a still anchor per point (PointsEditor).",
                }),
                "image": ("IMAGE", {
                    "tooltip": "The image to animate: its size wins over width/height (our JSON coordinates are "
                               "rescaled to it) and its first frame is the preview background.",
                }),
                "tracks": (TRACKS, {
                    "tooltip": "More tracks to add (e.g. from core Wan-Move or KJNodes track nodes), resampled to "
                               "the frame count; placed by source_size when they carry no canvas size, rescaled "
                               "from their own canvas when they do.",
                }),
            },
        }

    def build(self, trajectories, frames, width, height, source_size=SOURCE_SIZES[0], point_lists=POINT_LISTS[0],
              image=None, tracks=None):
        background = None
        canvas = (width, height)
        if image is not None:
            background = image_to_engine(image, "image")[0]  # [3, H, W]
            canvas = (background.shape[-1], background.shape[-2])
        source = canvas if source_size == SOURCE_SIZES[0] else (width, height)
        hint = _source_hint(source, source_size)
        if tracks is not None and isinstance(trajectories, str) and not trajectories.strip():
            drawing = Drawing(*canvas)
        else:
            drawing = parse_drawing(trajectories, *canvas, source=source, point_lists=point_lists, foreign_hint=hint,
                                    check_cancel=check_interrupted)
        # with neither drawn nor connected tracks, sampling says there are none
        drawn = drawing.tracks or tracks is None
        result = sample_tracks(drawing, frames, check_cancel=check_interrupted) if drawn else None
        if tracks is not None:
            extra = Tracks.from_tracks(tracks, *source, hint=hint).rescaled(*canvas).resampled(frames)
            result = extra if result is None else result.merged(extra)
        brush = brush_mask(drawing, check_cancel=check_interrupted)
        preview = overlay_tracks(result, background, brush if drawing.strokes else None, check_cancel=check_interrupted)
        shown = background if background is not None else torch.full((3, canvas[1], canvas[0]), 0.5)
        outputs = (result.to_tracks(), brush[None].to(intermediate_device()), image_from_engine(preview[None]))
        # Under "background", not "images": ComfyUI would draw "images" again below the editor.
        return {"ui": {"background": [temp_picture(shown, "motion_i2v_trajectories")]}, "result": outputs}


def _source_hint(source: tuple[int, int], source_size: str) -> str:
    """What to add when coordinates without a canvas fall off the one they were read on."""
    if source_size == SOURCE_SIZES[0]:
        return (f"; coordinates without a canvas are read as pixels of the {source[0]}x{source[1]} image: if they "
                f"were made on another canvas, choose source_size '{SOURCE_SIZES[1]}' and set width and height to it")
    return (f"; coordinates without a canvas are read on the {source[0]}x{source[1]} canvas of width and height: set "
            "them to the canvas the coordinates were made on")


class MotionI2VTracksToField:
    NODE_ID = "MotionI2VTracksToField"
    DISPLAY_NAME = "Motion-I2V Tracks to Motion Field"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "convert"
    RETURN_TYPES = (FIELD,)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("Dense motion field [F, 2, H, W] in pixels, frame 0 still: a model-free preview of the tracks.",)
    DESCRIPTION = (
        "A dense motion field from point tracks without any model, for previews and quick warps.\n\n"
        "Around each track's start point the field takes that track's displacement, fading with a Gaussian of "
        "the given radius; where tracks overlap their motions are averaged, and far from every track the "
        "field falls to zero, so the background stays put. An anchor (one-point track) pins its surroundings "
        "still. With a brush mask (painted = may move) the field is zero outside the painted region; an empty "
        "brush means everything may move.\n"
        "The field has the size of the image when one is connected (tracks are rescaled from their canvas; "
        "tracks without a canvas, e.g. from core GenerateTracks, are taken as its pixels), else the tracks' own "
        "canvas, else the brush's size."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "tracks": (TRACKS, {
                    "tooltip": "Point tracks, e.g. from Motion-I2V Trajectories or core track nodes.",
                }),
                "radius": ("FLOAT", {
                    "default": 64.0, "min": 1.0, "max": 4096.0, "step": 1.0,
                    "tooltip": "How far a track's motion reaches, in pixels: about 14% of it remains at this "
                               "distance, about 1% at 1.5 times it.",
                }),
            },
            "optional": {
                "brush": ("MASK", {
                    "tooltip": "Motion brush of the field's size: 1 = may move, 0 = held still (zero motion).",
                }),
                "image": ("IMAGE", {
                    "tooltip": "The image the field is for: gives its size (only the size is used).",
                }),
            },
        }

    def convert(self, tracks, radius, brush=None, image=None):
        if image is not None:
            height, width = image_to_engine(image, "image").shape[-2:]
        elif brush is not None:
            height, width = brush.shape[-2:]
        else:
            height = width = None
        if height is None and isinstance(tracks, dict) and not {"width", "height"} <= set(tracks):
            raise ValueError("tracks: these TRACKS carry no canvas size; connect the image (or a brush MASK of its "
                             "size), or build the tracks with Motion-I2V Trajectories")
        field_tracks = Tracks.from_tracks(tracks, width, height)
        if image is not None:
            field_tracks = field_tracks.rescaled(width, height)
        held = None if brush is None else brush_to_engine(brush, field_tracks.height, field_tracks.width,
                                                          "the field")
        return (field_to_comfy(dense_field(field_tracks, radius, held)),)


NODES = [MotionI2VTrajectories, MotionI2VTracksToField]
