"""Files in and out: images, masks, animations, and motion fields as safetensors.

Images are ``[B, C, H, W]`` float32 RGB in 0..1, videos ``[F, 3, H, W]`` likewise; masks ``[H, W]``
float32 in 0..1 (white = 1).
A motion field file holds the tensor "flow" [F, 2, H, W] float32 pixels (and "reliability"
[F, H, W] when the field has one) and string metadata: format = FIELD_FORMAT, version,
frames, height, width.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageOps
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .checks import check_finite, check_number
from .flow import MotionField, check_field_size
from .memory import check_memory, field_bytes

# Videos go through OpenCV's FFmpeg: mp4v is what every OpenCV build writes to .mp4; VP9 in WebM is
# smaller and plays in browsers (ComfyUI's Load Video preview), which mp4v does not.
VIDEO_CODECS = {".mp4": "mp4v", ".webm": "VP90"}
ANIMATION_EXTENSIONS = (".webp", ".gif", *VIDEO_CODECS)
FIELD_FORMAT = "motion_i2v.motion_field"
FIELD_VERSION = 1
WEBP_QUALITY = 90
MAX_FPS = 1000.0  # WebP and GIF frame durations are whole milliseconds


def _check_exists(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: no such file: {path}")


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[F, 3, H, W] 0..1 -> [F, H, W, 3] uint8."""
    return (rearrange(frames.detach().float().clamp(0, 1), "f c h w -> f h w c") * 255).round().byte().cpu().numpy()


def _check_frames(frames: torch.Tensor, what: str) -> None:
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[0] < 1:
        shape = list(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"{what}: expected frames [F, 3, H, W] with F >= 1, got {shape}")


def _make_folder(path: str) -> None:
    """Create the folder a file is written to, as a fresh clone has no output folder yet."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def check_writable(path, what: str, *, folder: bool = False) -> None:
    """Raise unless a file (or with ``folder``, files in a folder) can be written at ``path``: the file's folder, or
    the folder itself, exists and is writable or can be created (its nearest existing parent is a writable folder)."""
    path = os.fspath(path)
    if "\0" in path:
        raise ValueError(f"{what}: the path contains a NUL character: {path!r}")
    path = os.path.abspath(path)
    if not folder and os.path.isdir(path):
        raise ValueError(f"{what}: {path} is a folder; give a file name")
    folder = path if folder else os.path.dirname(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: cannot write into {folder} (not a writable folder)")


def check_animation_output(path: str, fps: float, what: str = "animation file") -> None:
    """Everything ``save_animation`` needs of ``path`` and ``fps``, checked before the frames exist: the extension,
    OpenCV for videos, a writable place, and 0 < fps <= MAX_FPS."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in ANIMATION_EXTENSIONS:
        raise ValueError(f"{what}: the extension must be one of {list(ANIMATION_EXTENSIONS)}, got {path!r}")
    check_number(fps, "fps", above=0, high=MAX_FPS)
    if extension in VIDEO_CODECS:
        _import_cv2(f"writing {path!r}")
    check_writable(path, what)


def save_animation(frames: torch.Tensor, path: str, fps: float = 8.0) -> None:
    """Write ``frames`` [F, 3, H, W] 0..1 as an animated .webp or .gif (Pillow, looping) or an .mp4 or
    .webm video (OpenCV, codec from VIDEO_CODECS); the extension of ``path`` chooses."""
    _check_frames(frames, "animation")
    check_animation_output(path, fps)
    extension = os.path.splitext(path)[1].lower()
    pixels = _to_uint8(frames)
    _make_folder(path)
    if extension in VIDEO_CODECS:
        _save_video(pixels, path, fps, VIDEO_CODECS[extension])
        return
    pictures = [Image.fromarray(frame, "RGB") for frame in pixels]
    options = {"quality": WEBP_QUALITY} if extension == ".webp" else {"disposal": 1}
    pictures[0].save(
        path, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0, **options
    )


def _import_cv2(purpose: str):
    try:
        import cv2
    except ImportError as error:
        raise ValueError(f"{purpose} needs OpenCV (pip install opencv-python-headless)") from error
    return cv2


def _save_video(pixels: np.ndarray, path: str, fps: float, codec: str) -> None:
    cv2 = _import_cv2(f"writing {path!r}")
    height, width = pixels.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*codec), float(fps), (width, height))
    if not writer.isOpened():
        raise ValueError(f"OpenCV could not open {path!r} for writing with the {codec} codec")
    try:
        for frame in pixels:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV wants BGR
    finally:
        writer.release()


def load_video(path: str) -> tuple[torch.Tensor, float]:
    """Read every frame of a video file (any format OpenCV's FFmpeg decodes) -> (frames [F, 3, H, W]
    float32 0..1, frames per second)."""
    _check_exists(path, "video")
    cv2 = _import_cv2(f"reading {path!r}")
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        frames = []
        while True:
            found, frame = capture.read()
            if not found:
                break
            frames.append(torch.from_numpy(np.ascontiguousarray(frame[..., ::-1])))  # BGR -> RGB
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"video: OpenCV decoded no frame from {path!r}; is it a video file?")
    return rearrange(torch.stack(frames), "f h w c -> f c h w").float() / 255, float(fps)


def save_image(image: torch.Tensor, path: str) -> None:
    """Write one image [3, H, W] 0..1 (format from the extension, e.g. .png)."""
    _check_frames(image[None], "image")
    _make_folder(path)
    Image.fromarray(_to_uint8(image[None])[0], "RGB").save(path)


def _read_picture(path: str, what: str, mode: str) -> np.ndarray:
    """An image file as a float32 array in 0..1, EXIF rotation applied, converted to PIL ``mode``."""
    _check_exists(path, what)
    try:
        with Image.open(path) as picture:
            converted = ImageOps.exif_transpose(picture).convert(mode)
    except OSError as error:
        raise ValueError(f"{what}: cannot read {path!r} as an image ({error})") from error
    return np.asarray(converted, dtype=np.float32) / 255


def load_image(path: str) -> torch.Tensor:
    """Read an image file (EXIF rotation applied, alpha dropped) -> [1, 3, H, W] float32 0..1."""
    return rearrange(torch.from_numpy(_read_picture(path, "image", "RGB")), "h w c -> 1 c h w")


def load_mask(path: str) -> torch.Tensor:
    """Read a mask image, white = 1 (its luminance; colour and alpha ignored) -> [H, W] float32 0..1."""
    return torch.from_numpy(_read_picture(path, "mask", "L"))


def save_mask(mask: torch.Tensor, path: str) -> None:
    """Write a mask [H, W] 0..1 as an 8-bit grayscale image (white = 1)."""
    if mask.ndim != 2:
        raise ValueError(f"mask: expected [H, W], got {list(mask.shape)}")
    Image.fromarray((mask.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy(), "L").save(path)


def save_field(field: MotionField, path: str) -> None:
    """Write a MotionField to ``path`` as safetensors (see the module doc for the layout)."""
    tensors = {"flow": field.flow.detach().float().contiguous().cpu()}
    if field.reliability is not None:
        tensors["reliability"] = field.reliability.detach().float().contiguous().cpu()
    metadata = {
        "format": FIELD_FORMAT,
        "version": str(FIELD_VERSION),
        "frames": str(field.frames),
        "height": str(field.height),
        "width": str(field.width),
    }
    save_file(tensors, path, metadata=metadata)


def load_field(path: str) -> MotionField:
    """Read a motion field written by ``save_field``; any other file raises a ValueError saying why."""
    _check_exists(path, "motion field")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = set(handle.keys())
            if metadata.get("format") != FIELD_FORMAT:
                raise ValueError(
                    f"motion field: {path!r} is a safetensors file but not a Motion-I2V motion field "
                    f"(metadata format {metadata.get('format')!r}, expected {FIELD_FORMAT!r})"
                )
            if metadata.get("version") != str(FIELD_VERSION):
                raise ValueError(
                    f"motion field: {path!r} has format version {metadata.get('version')!r}; "
                    f"this version of the pack reads version {FIELD_VERSION}"
                )
            if "flow" not in names or not names <= {"flow", "reliability"}:
                raise ValueError(f"motion field: {path!r} holds tensors {sorted(names)}, expected 'flow' (and 'reliability')")
            _check_stored_field(path, handle.get_slice("flow").get_shape())
            flow = handle.get_tensor("flow")
            reliability = handle.get_tensor("reliability") if "reliability" in names else None
    except SafetensorError as error:
        raise ValueError(f"motion field: {path!r} is not a safetensors file ({error})") from error
    expected = [int(metadata.get(key, -1)) if metadata.get(key, "").isdigit() else metadata.get(key)
                for key in ("frames", "height", "width")]
    if list(flow.shape) != [expected[0], 2, *expected[1:]]:
        raise ValueError(
            f"motion field: {path!r} declares frames, height, width = {expected} "
            f"but its flow has shape {list(flow.shape)}"
        )
    if reliability is not None:
        check_finite(reliability, f"motion field reliability in {path!r}")
    return MotionField(flow.float(), None if reliability is None else reliability.float())


def _check_stored_field(path: str, shape: list[int]) -> None:
    """The stored flow's shape within the field limits and the memory, before it is read."""
    if len(shape) != 4 or shape[1] != 2:
        raise ValueError(f"motion field: {path!r} holds a flow of shape {shape}, expected [F, 2, H, W]")
    frames, _, height, width = shape
    check_field_size(frames, height, width, f"motion field {path!r}")
    # the flow and its reliability as stored and as float32
    check_memory(2 * field_bytes(frames, height, width, 3), f"motion field {path!r} ({frames} frames at {width}x{height})")
