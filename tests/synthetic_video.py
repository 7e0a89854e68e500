"""Synthetic videos with known motion: a smooth texture translated, rotated or zoomed over time.

The texture is a sum of random sinusoids (wavelengths 8..48 px, any orientation), defined
everywhere, so every frame is sampled exactly, with no resampling blur and no border padding.
"""

from __future__ import annotations

import math

import torch

MOTIONS = {  # the motion at the last frame
    "translate": "30 px right, 15 px up",
    "rotate": "10 degrees clockwise on screen about the centre",
    "zoom": "scale 1.2 about the centre",
}


def texture(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Colour at pixel positions x, y [...] float32 -> [..., 3] float32 in 0..1."""
    generator = torch.Generator().manual_seed(seed)
    channels = []
    for _ in range(3):
        angle, wavelength, phase = torch.rand(3, 12, 1, 1, generator=generator)
        angle, wavelength, phase = angle * math.pi, 8 + 40 * wavelength, phase * 2 * math.pi
        along = x * torch.cos(angle) + y * torch.sin(angle)
        channels.append(0.5 + 0.08 * torch.sin(2 * math.pi * along / wavelength + phase).sum(0))
    return torch.stack(channels, dim=-1).clamp(0, 1)


def _affine(kind: str, progress: float, height: int, width: int) -> torch.Tensor:
    """[2, 3] float64 map from frame-0 pixel positions to their positions at ``progress`` in 0..1."""
    center = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64)
    if kind == "translate":
        return torch.tensor([[1, 0, 30 * progress], [0, 1, -15 * progress]], dtype=torch.float64)
    if kind == "rotate":
        angle = math.radians(10 * progress)
        linear = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    elif kind == "zoom":
        linear = torch.eye(2) * (1 + 0.2 * progress)
    else:
        raise ValueError(f"kind: expected one of {list(MOTIONS)}, got {kind!r}")
    linear = linear.double()
    return torch.cat((linear, (center - linear @ center)[:, None]), dim=1)


def moving_texture(kind: str, frames: int = 16, height: int = 128, width: int = 192):
    """(video [F, H, W, 3] float32 0..1, true field [F, 2, H, W] float32 pixels from frame 0)."""
    rows, columns = torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64)
    ys, xs = torch.meshgrid(rows, columns, indexing="ij")
    points = torch.stack((xs, ys, torch.ones_like(xs)))  # homogeneous [3, H, W]
    video, field = [], []
    for index in range(frames):
        motion = _affine(kind, index / max(frames - 1, 1), height, width)
        inverse = torch.linalg.inv(torch.cat((motion, motion.new_tensor([[0, 0, 1]]))))[:2]
        # Frame i shows at q the texture point that frame 0 showed at motion^-1(q).
        source = torch.einsum("ij,jhw->ihw", inverse, points)
        video.append(texture(source[0].float(), source[1].float()))
        field.append((torch.einsum("ij,jhw->ihw", motion, points) - points[:2]).float())
    return torch.stack(video), torch.stack(field)
