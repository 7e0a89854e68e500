"""Motion extraction from a video: 16 frames at 320x512, per DIS preset.

``python benchmarks/v2v.py`` prints one line per case: ``case  ref_ms  ours_ms  ratio  peak_GiB  device``,
then one line with the mean end-point errors.

ref = plain DIS from frame 0 to every frame (15 flows, no chain, no consistency check); ours =
``v2v.extract_motion`` (60 flows: chains, chain-started direct flows, forward-backward choice and
reliability). The video is tests/synthetic_video.py's texture zooming to 1.2x (up to 60 px at the
corners); the errors are measured where the true motion keeps the pixel 8 px inside the image.
peak_GiB: the process's peak resident set (imports included). OpenCV runs on the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from motion_i2v.v2v import DIS_PRESETS, _dis_pairs, extract_motion  # noqa: E402
from stage1 import line, peak_gib, time_ms  # noqa: E402
from synthetic_video import moving_texture  # noqa: E402

FRAMES, HEIGHT, WIDTH, MARGIN = 16, 320, 512, 8


def plain_dis(video: torch.Tensor, preset: str) -> torch.Tensor:
    """The baseline: [F, 2, H, W] DIS flows from frame 0, frame 0 zero."""
    pair_flow = _dis_pairs(video, preset)
    return torch.stack([torch.zeros(2, HEIGHT, WIDTH)] + [pair_flow(0, i, None) for i in range(1, FRAMES)])


def main() -> int:
    video, truth = moving_texture("zoom", FRAMES, HEIGHT, WIDTH)
    x = torch.arange(WIDTH) + truth[:, 0]
    y = torch.arange(HEIGHT)[:, None] + truth[:, 1]
    interior = (x >= MARGIN) & (x <= WIDTH - 1 - MARGIN) & (y >= MARGIN) & (y <= HEIGHT - 1 - MARGIN)
    device = torch.device("cpu")
    print(f"{'case':20s} {'ref_ms':>10s} {'ours_ms':>10s} {'ratio':>6s} {'peak_GiB':>9s}  device")
    errors = []
    for preset in DIS_PRESETS:
        ref_ms = time_ms(lambda: plain_dis(video, preset))
        ours_ms = time_ms(lambda: extract_motion(video, preset=preset))
        print(line(f"extract_{preset}", ref_ms, ours_ms, peak_gib(device), device), flush=True)
        for name, flow in (("ref", plain_dis(video, preset)), ("ours", extract_motion(video, preset=preset).flow)):
            errors.append(f"{preset} {name} {(flow - truth).norm(dim=1)[interior].mean():.3f}")
    print(f"# mean EPE px, 16x320x512 zoom to 1.2x, interior: {', '.join(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
