"""Trajectory nodes: tracks and a motion brush from the widget JSON, and a model-free preview field."""

from __future__ import annotations

import hashlib
import io
import json
import os

import torch
from einops import rearrange
from PIL import Image

from ..motion_i2v.tracks.dense import dense_field
from ..motion_i2v.flow import MotionField
from ..motion_i2v.tracks.raster import rasterize_brush
from ..motion_i2v.tracks.overlay import draw_trajectories
from ..motion_i2v.tracks.sampling import sample_tracks
from ..motion_i2v.tracks.value import Trajectories
from ..motion_i2v.tracks.parsing import parse_trajectories
from .comfy import intermediate_device, temp_dir
from .convert import image_from_engine, image_to_engine, mask_to_engine

DEFAULT_TRAJECTORIES = json.dumps(
    {"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[256, 160], [352, 128]]}]}
)


def _save_temp_png(image: torch.Tensor) -> dict:
    """Save [3, H, W] 0..1 to ComfyUI's temp folder as PreviewImage does; returns its ui entry.

    The name is the content's hash, so re-running with the same picture rewrites the same file.
    """
    pixels = rearrange((image.detach().cpu().clamp(0, 1) * 255).round().byte(), "c h w -> h w c").numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    data = buffer.getvalue()
    filename = f"motion_i2v_trajectories_{hashlib.sha1(data).hexdigest()[:16]}.png"
    folder = temp_dir()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, filename), "wb") as handle:
        handle.write(data)
    return {"filename": filename, "subfolder": "", "type": "temp"}


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
    RETURN_TYPES = ("TRACKS", "MASK", "IMAGE")
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
        "in pixels of a W x H canvas (rescaled to the image), or a KJNodes coordinate string "
        "([{\"x\": .., \"y\": ..}, ...] or a list of them, in image pixels).\n"
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
                               "\"tracks\", \"brush\"}) or a KJNodes coordinate string. One-point tracks are "
                               "static anchors. May be empty when tracks are connected.",
                }),
                "frames": ("INT", {
                    "default": 16, "min": 2, "max": 128,
                    "tooltip": "Number of frames to sample every track to (Motion-I2V makes 16).",
                }),
                "width": ("INT", {
                    "default": 512, "min": 8, "max": 8192, "step": 8,
                    "tooltip": "Image width in pixels, used when no image is connected.",
                }),
                "height": ("INT", {
                    "default": 320, "min": 8, "max": 8192, "step": 8,
                    "tooltip": "Image height in pixels, used when no image is connected.",
                }),
            },
            "optional": {
                "image": ("IMAGE", {
                    "tooltip": "The image to animate: its size wins over width/height (our JSON coordinates are "
                               "rescaled to it) and its first frame is the preview background.",
                }),
                "tracks": ("TRACKS", {
                    "tooltip": "More tracks to add (e.g. from core Wan-Move nodes), resampled to the frame count "
                               "and rescaled when they carry another image size.",
                }),
            },
        }

    def build(self, trajectories, frames, width, height, image=None, tracks=None):
        background = None
        if image is not None:
            background = image_to_engine(image, "image")[0]  # [3, H, W]
            height, width = background.shape[-2:]
        if tracks is not None and not trajectories.strip():
            specs, strokes = [], []
        else:
            specs, strokes = parse_trajectories(trajectories, width, height)
        result = None if tracks is not None and not specs else sample_tracks(specs, frames, width, height)
        if tracks is not None:
            extra = Trajectories.from_tracks(tracks, width, height).resampled(frames).rescaled(width, height)
            result = extra if result is None else result.merged(extra)
        brush = rasterize_brush(strokes, width, height)
        preview = draw_trajectories(result, background, brush if strokes else None)
        shown = background if background is not None else torch.full((3, height, width), 0.5)
        outputs = (result.to_tracks(), brush[None].to(intermediate_device()), image_from_engine(preview[None]))
        # Under "background", not "images": ComfyUI would draw "images" again below the editor.
        return {"ui": {"background": [_save_temp_png(shown)]}, "result": outputs}


class MotionI2VTracksToField:
    NODE_ID = "MotionI2VTracksToField"
    DISPLAY_NAME = "Motion-I2V Tracks to Motion Field"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "convert"
    RETURN_TYPES = ("MOTION_FIELD",)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("Dense motion field [F, 2, H, W] in pixels, frame 0 still: a model-free preview of the tracks.",)
    DESCRIPTION = (
        "A dense motion field from point tracks without any model, for previews and quick warps.\n\n"
        "Around each track's start point the field takes that track's displacement, fading with a Gaussian of "
        "the given radius; where tracks overlap their motions are averaged, and far from every track the "
        "field falls to zero, so the background stays put. An anchor (one-point track) pins its surroundings "
        "still. With a brush mask (painted = may move) the field is zero outside the painted region; an empty "
        "brush means everything may move."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "tracks": ("TRACKS", {
                    "tooltip": "Point tracks, e.g. from Motion-I2V Trajectories. Core TRACKS without an image "
                               "size need the brush input for the size.",
                }),
                "radius": ("FLOAT", {
                    "default": 64.0, "min": 1.0, "max": 4096.0, "step": 1.0,
                    "tooltip": "How far a track's motion reaches, in pixels: about 14% of it remains at this "
                               "distance, about 1% at 1.5 times it.",
                }),
            },
            "optional": {
                "brush": ("MASK", {
                    "tooltip": "Motion brush of the image's size: 1 = may move, 0 = held still (zero motion).",
                }),
            },
        }

    def convert(self, tracks, radius, brush=None):
        if brush is None and isinstance(tracks, dict) and "width" not in tracks:
            raise ValueError("tracks: these TRACKS carry no image size; connect a brush MASK of the image's size, "
                             "or build the tracks with Motion-I2V Trajectories")
        size = {} if brush is None else {"width": brush.shape[-1], "height": brush.shape[-2]}
        trajectories = Trajectories.from_tracks(tracks, **size)
        movable = None if brush is None else mask_to_engine(brush, trajectories.height, trajectories.width, "brush")
        flow = dense_field(trajectories, radius, movable)
        return (MotionField(flow.to(intermediate_device())),)


NODES = [MotionI2VTrajectories, MotionI2VTracksToField]
