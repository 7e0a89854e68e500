"""``python -m motion_i2v preview``: animate an image along drawn tracks and camera moves, no model.

Writes OUT (.webp, .gif, .mp4 or .webm) and, beside it, OUT's stem + "_flow.png": the colour-coded
motion field of a few frames with the colour-wheel legend.
"""

from __future__ import annotations

import argparse
import os
import time

from ..camera import DEFAULT_AMOUNTS, PRESETS, camera_field, check_camera
from ..checks import check_number
from ..easing import EASINGS
from ..flow import MAX_FRAMES, MAX_SIDE, check_field_size, zero_field
from ..media import (
    ANIMATION_EXTENSIONS,
    check_animation_output,
    check_writable,
    load_image,
    load_mask,
    save_animation,
    save_image,
)
from ..memory import check_memory
from ..preview import preview_bytes, warp_preview
from ..tracks.brush import Brush
from ..tracks.dense import dense_field
from ..tracks.parsing import parse_drawing
from ..tracks.raster import brush_mask
from ..tracks.sampling import sample_tracks
from ..visualize import field_strip

HELP = "Preview the motion of an image along tracks and camera presets (warp only, no model)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="the reference image (PNG, JPEG, ...)")
    parser.add_argument(
        "--tracks",
        help="a trajectories file: our versioned JSON or a KJNodes coordinate string (may be left out with --camera)",
    )
    parser.add_argument("--out", required=True, help=f"the animation to write, one of {', '.join(ANIMATION_EXTENSIONS)}")
    parser.add_argument("--frames", type=int, default=16, help=f"number of frames, 1..{MAX_FRAMES} (default 16)")
    parser.add_argument("--brush", help="a motion-brush mask image, white = movable (replaces the brush in --tracks)")
    parser.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="PRESET[:AMOUNT]",
        help=f"a camera move applied after the tracks, repeatable, in order; PRESET is one of {', '.join(PRESETS)}; "
        f"AMOUNT at the last frame (pixels, scale factor or degrees; defaults {DEFAULT_AMOUNTS})",
    )
    parser.add_argument("--camera-easing", default="linear", choices=EASINGS, help="easing of the camera moves")
    parser.add_argument("--radius", type=float, default=64.0, help="how far each track's motion reaches, pixels")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of OUT (default 8)")


def _parse_camera(spec: str) -> tuple[str, float]:
    preset, _, amount = spec.partition(":")
    if preset not in PRESETS:
        raise ValueError(f"--camera {spec!r}: the preset must be one of {list(PRESETS)}")
    if not amount:
        return preset, DEFAULT_AMOUNTS[preset]
    try:
        value = float(amount)
    except ValueError:
        raise ValueError(f"--camera {spec!r}: the amount after ':' must be a number, got {amount!r}") from None
    check_camera(preset, value, f"--camera {spec!r}")
    return preset, value


def strip_path(out: str) -> str:
    """The colour-coded field's picture written beside OUT."""
    return os.path.splitext(out)[0] + "_flow.png"


def check_outputs(out: str, fps: float) -> None:
    """``--out`` (extension, place, ``--fps``) and the field picture beside it, before any work."""
    check_animation_output(out, fps, "--out")
    check_writable(strip_path(out), "the field picture beside --out")


def _check_arguments(args) -> list[tuple[str, float]]:
    """Every argument and output, before any image is read or field computed."""
    check_outputs(args.out, args.fps)
    check_number(args.frames, "--frames", low=1, high=MAX_FRAMES, integer=True)
    check_number(args.radius, "--radius", above=0, high=MAX_SIDE)
    if args.tracks is None and not args.camera:
        raise ValueError("nothing moves: give --tracks, --camera, or both")
    for option, path in (("--image", args.image), ("--tracks", args.tracks), ("--brush", args.brush)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{option}: no such file: {path}")
    return [_parse_camera(spec) for spec in args.camera]


def _motion(args, cameras, height: int, width: int):
    """The dense field of the tracks with the camera moves composed on top: [F, 2, H, W]."""
    if args.tracks is None:
        field = zero_field(args.frames, height, width)
    else:
        with open(args.tracks, encoding="utf-8") as handle:
            drawing = parse_drawing(handle.read(), width, height)
        if args.brush is not None:
            brush = Brush.from_mask(load_mask(args.brush), height, width, name="--brush")
        else:
            brush = Brush.from_mask(brush_mask(drawing), height, width) if drawing.strokes else None
        field = dense_field(sample_tracks(drawing, args.frames), args.radius, brush)
    for preset, amount in cameras:
        field = camera_field(preset, args.frames, height, width, amount, easing=args.camera_easing, scene=field)
    return field


def run(args) -> int:
    cameras = _check_arguments(args)
    started = time.perf_counter()
    image = load_image(args.image)
    height, width = image.shape[-2:]
    check_field_size(args.frames, height, width, "--image")
    check_memory(preview_bytes(args.frames, height, width), f"preview (--frames {args.frames} at {width}x{height})")
    field = _motion(args, cameras, height, width)
    frames = warp_preview(image, field)
    save_animation(frames, args.out, fps=args.fps)
    save_image(field_strip(field), strip_path(args.out))
    print(f"wrote {args.out} ({args.frames} frames, {width}x{height}) and {strip_path(args.out)} in "
          f"{time.perf_counter() - started:.1f} s")
    return 0
