"""Draw the example inputs: ``image.png`` (a 512x320 landscape), ``brush.png`` (its motion brush), and for
video-to-video ``source_video.webm`` (a camera zooming in on the landscape) and ``first_frame_edit.png``
(the landscape in autumn colours: the edited first frame).

Run ``python example_inputs/make_examples.py``; the output is the same on every run (fixed shapes and a
seeded numpy generator), so the committed PNGs can be regenerated bit for bit. The video's frames are
too, but its WebM container records the time it was written, so the file's bytes differ.

Landmarks, in pixels (x right, y down): the sun is a disk of radius 34 centred at (400, 80); the
tree's crown is centred at (120, 170) with radius about 48 and its trunk runs down to y = 262;
the horizon of the far hills is near y = 175. The brush (white = movable) covers the sun and the
tree with a margin of about 10 pixels.

The video: 16 frames at 8 fps, 512x320, of the landscape softened as by a camera lens (Gaussian blur,
sigma 1.5 px) and zoomed in toward the tree's crown: the pixel p of frame 0 is at c + s_i (p - c) in
frame i, with c = (120, 170) and s_i = 1 + 0.2 i / 15 (pixel indices, x right, y down). The blur keeps
the file small (about 40 KB): OpenCV's writer takes no quality setting, and VP9 spends its bits on the
fine grass texture.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script, the pack's video writer is not on the path
from motion_i2v.media import save_animation  # noqa: E402

WIDTH, HEIGHT = 512, 320
SUN = (400, 80, 34)  # centre x, centre y, radius
TREE_CROWN = (120, 170, 48)
TREE_TRUNK = (112, 190, 128, 262)  # left, top, right, bottom
SEED = 20240713
VIDEO_FRAMES, VIDEO_FPS = 16, 8
ZOOM_CENTRE, ZOOM_END = (120, 170), 1.2  # towards the tree's crown, final scale
LENS_BLUR = 1.5
# PIL hue 0..255: greens (63..155 degrees) turn orange to yellow (hue scaled), and more vivid (saturation scaled).
GREEN_HUES, AUTUMN_HUE_SCALE, AUTUMN_SATURATION_SCALE = (45, 110), 0.35, 1.6


def _sky() -> np.ndarray:
    """A vertical gradient from deep blue at the top to a pale haze at the horizon: [H, W, 3] uint8."""
    fraction = np.linspace(0, 1, HEIGHT)[:, None, None]
    top, horizon = np.array([40, 90, 170]), np.array([200, 222, 240])
    return np.broadcast_to((1 - fraction) * top + fraction * horizon, (HEIGHT, WIDTH, 3)).round().astype(np.uint8)


def _hill(pen: ImageDraw.ImageDraw, base: float, waves: tuple[tuple[float, float, float], ...], color) -> None:
    """Fill below the curve y = base + sum(a sin(2 pi x / period + phase))."""
    outline = [(x, base + sum(a * math.sin(2 * math.pi * x / p + s) for a, p, s in waves)) for x in range(WIDTH + 1)]
    pen.polygon([*outline, (WIDTH, HEIGHT), (0, HEIGHT)], fill=color)


def draw_image(rng: np.random.Generator) -> Image.Image:
    picture = Image.fromarray(_sky(), "RGB")
    pen = ImageDraw.Draw(picture)
    for x, y, rx, ry in ((70, 50, 46, 14), (110, 40, 34, 16), (250, 70, 60, 13), (290, 60, 30, 14), (470, 150, 40, 9)):
        pen.ellipse((x - rx, y - ry, x + rx, y + ry), fill=(244, 246, 250))
    sx, sy, radius = SUN
    for ring, color in ((radius, (250, 170, 40)), (radius - 6, (255, 205, 70)), (radius - 16, (255, 235, 150))):
        pen.ellipse((sx - ring, sy - ring, sx + ring, sy + ring), fill=color)
    _hill(pen, 178, ((10, 190, 0.4), (6, 70, 1.3)), (96, 128, 150))  # far, bluish
    _hill(pen, 214, ((12, 260, 2.0), (5, 90, 0.2)), (92, 150, 70))
    _hill(pen, 262, ((9, 330, 4.1), (4, 60, 0.9)), (70, 128, 52))
    # Grass tufts and flowers: the texture that makes warps visible on the hills.
    for x, y, shade in zip(rng.integers(0, WIDTH, 900), rng.integers(205, HEIGHT, 900), rng.integers(0, 3, 900)):
        color = ((52, 100, 40), (120, 175, 80), (60, 115, 45))[shade]
        pen.line((x, y, x + (shade - 1), y - 5), fill=color)
    for x, y, shade in zip(rng.integers(0, WIDTH, 120), rng.integers(230, HEIGHT, 120), rng.integers(0, 2, 120)):
        pen.ellipse((x - 2, y - 2, x + 2, y + 2), fill=((240, 240, 90), (235, 110, 150))[shade])
    pen.rectangle(TREE_TRUNK, fill=(100, 66, 40))
    pen.line((116, 200, 116, 258), fill=(80, 50, 30), width=2)
    cx, cy, crown = TREE_CROWN
    for dx, dy, r, color in (
        (0, 0, crown, (40, 100, 40)),
        (-22, -12, 26, (52, 122, 48)),
        (18, -20, 24, (60, 132, 52)),
        (-8, 16, 22, (46, 110, 44)),
        (22, 12, 20, (56, 126, 50)),
        (0, -30, 16, (76, 150, 64)),
    ):
        pen.ellipse((cx + dx - r, cy + dy - r, cx + dx + r, cy + dy + r), fill=color)
    for x, y in zip(rng.integers(cx - 34, cx + 34, 14), rng.integers(cy - 30, cy + 30, 14)):
        pen.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(200, 40, 40))  # apples
    return picture


def draw_brush() -> Image.Image:
    """White (255) over the sun and the tree, with a 10 pixel margin; black elsewhere."""
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    pen = ImageDraw.Draw(mask)
    margin = 10
    sx, sy, radius = SUN
    pen.ellipse((sx - radius - margin, sy - radius - margin, sx + radius + margin, sy + radius + margin), fill=255)
    cx, cy, crown = TREE_CROWN
    pen.ellipse((cx - crown - margin, cy - crown - 30 - margin // 2, cx + crown + margin, cy + crown + margin), fill=255)
    left, top, right, bottom = TREE_TRUNK
    pen.rectangle((left - margin, top, right + margin, bottom + margin // 2), fill=255)
    return mask


def zoom_scales() -> list[float]:
    """The camera's zoom per frame: 1 at frame 0, ZOOM_END at the last."""
    return [1 + (ZOOM_END - 1) * index / (VIDEO_FRAMES - 1) for index in range(VIDEO_FRAMES)]


def draw_video(image: Image.Image) -> torch.Tensor:
    """Frames [F, 3, H, W] 0..1 of the zoom described in the module doc."""
    soft = image.filter(ImageFilter.GaussianBlur(LENS_BLUR))
    # PIL's affine maps output to input points with pixel centres at k + 0.5, so the centre moves by half a pixel.
    cx, cy = (coordinate + 0.5 for coordinate in ZOOM_CENTRE)
    frames = [
        soft.transform(soft.size, Image.AFFINE, (1 / s, 0, cx - cx / s, 0, 1 / s, cy - cy / s), Image.BICUBIC)
        for s in zoom_scales()
    ]
    return rearrange(torch.from_numpy(np.stack(frames)), "f h w c -> f c h w").float() / 255


def draw_autumn(image: Image.Image) -> Image.Image:
    """The image with its greens turned vivid orange and yellow, everything else kept."""
    hue, saturation, value = (np.asarray(band).astype(np.float64) for band in image.convert("HSV").split())
    green = (hue >= GREEN_HUES[0]) & (hue <= GREEN_HUES[1])
    hue = np.where(green, hue * AUTUMN_HUE_SCALE, hue)
    saturation = np.where(green, np.minimum(saturation * AUTUMN_SATURATION_SCALE, 255), saturation)
    bands = [Image.fromarray(np.round(band).astype(np.uint8), "L") for band in (hue, saturation, value)]
    return Image.merge("HSV", bands).convert("RGB")


def main() -> None:
    folder = Path(__file__).resolve().parent
    image = draw_image(np.random.default_rng(SEED))
    image.save(folder / "image.png", optimize=True)
    draw_brush().save(folder / "brush.png", optimize=True)
    save_animation(draw_video(image), str(folder / "source_video.webm"), fps=VIDEO_FPS)
    draw_autumn(image).save(folder / "first_frame_edit.png", optimize=True)


if __name__ == "__main__":
    main()
