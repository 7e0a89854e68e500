"""``python -m motion_i2v preview``: animate an image along drawn tracks and camera moves, no model.

Writes OUT (.webp, .gif, .mp4 or .webm) and, beside it, OUT's stem + "_flow.png": the colour-coded
motion field of a few frames with the colour-wheel legend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..camera import DEFAULT_AMOUNTS, PRESETS, camera_field
from ..easing import EASINGS
from ..flow import zero_field
from ..media import ANIMATION_EXTENSIONS, load_image, load_mask, save_animation, save_image
from ..preview import warp_preview
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
    parser.add_argument("--frames", type=int, default=16, help="number of frames (default 16)")
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
        return preset, float(amount)
    except ValueError:
        raise ValueError(f"--camera {spec!r}: the amount after ':' must be a number, got {amount!r}") from None


def _check_arguments(args) -> list[tuple[str, float]]:
    """Everything that can be checked before reading images or computing fields."""
    if os.path.splitext(args.out)[1].lower() not in ANIMATION_EXTENSIONS:
        raise ValueError(f"--out {args.out!r}: the extension must be one of {list(ANIMATION_EXTENSIONS)}")
    if args.frames < 1:
        raise ValueError(f"--frames: expected at least 1, got {args.frames}")
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
            brush = load_mask(args.brush)
            if tuple(brush.shape) != (height, width):
                raise ValueError(
                    f"--brush: the mask is {brush.shape[1]}x{brush.shape[0]} but the image is {width}x{height}"
                )
        else:
            brush = brush_mask(drawing) if drawing.strokes else None
        field = dense_field(sample_tracks(drawing, args.frames), args.radius, brush)
    for preset, amount in cameras:
        field = camera_field(preset, args.frames, height, width, amount, easing=args.camera_easing, scene=field)
    return field


def run(args) -> int:
    try:
        cameras = _check_arguments(args)
        started = time.perf_counter()
        image = load_image(args.image)
        height, width = image.shape[-2:]
        field = _motion(args, cameras, height, width)
        frames = warp_preview(image, field)
        strip_path = os.path.splitext(args.out)[0] + "_flow.png"
        save_animation(frames, args.out, fps=args.fps)
        save_image(field_strip(field), strip_path)
    except (ValueError, OSError) as error:
        print(f"preview: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.frames} frames, {width}x{height}) and {strip_path} in {time.perf_counter() - started:.1f} s")
    return 0
