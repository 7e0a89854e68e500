"""Forward splat against backward warp (grid_sample) on the same tensors, and the warp preview.

``python benchmarks/warp.py [--device cpu|cuda] [--cases NAME ...]`` prints one line per case:
``case  ref_ms  ours_ms  ratio  peak_GiB  device``.

- ``splat_FxCxHxW``: ref = ``warp.backward_warp`` (``F.grid_sample``, bilinear, grid built per call),
  ours = ``warp.forward_splat`` (official "avg" softsplat), both moving the same float32 source
  along the same smooth random field (about 8 px, many pixels crossing image borders). C = 4 is an
  image-like case; C = 320 at 320x512 is the widest stage-2 feature at full image size (3.4 GB per
  tensor); 30x320x40x64 is one stage-2 motion module's call (CFG x 15 frames at latent size), its
  source channels-last as ``models.motion_augmented`` passes it (a view of [(B H W), C] tokens).
- ``preview_16x320x512``: ref = a plain ``forward_splat`` of the image (holes stay black), ours =
  ``preview.warp_preview`` (holes filled), 16 frames.
Each case runs in its own process, so peak_GiB is that case's peak: CUDA peak allocated memory, or
on the CPU the process's peak resident set (imports, inputs and outputs included).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from motion_i2v.preview import warp_preview  # noqa: E402
from motion_i2v.warp import backward_warp, forward_splat  # noqa: E402
from stage1 import line, peak_gib, reset_peak, time_ms  # noqa: E402

SPLAT_CASES = {  # name: (frames, channels, height, width, memory format)
    "splat_16x4x320x512": (16, 4, 320, 512, torch.contiguous_format),
    "splat_16x320x320x512": (16, 320, 320, 512, torch.contiguous_format),
    "splat_30x320x40x64": (30, 320, 40, 64, torch.channels_last),
}
PREVIEW_CASE = "preview_16x320x512"


def smooth_field(frames: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """[F, 2, H, W] pixels: bicubic upsampling of a coarse random field, std 8 px at 320x512."""
    coarse = torch.randn(frames, 2, 5, 8, generator=generator) * 8 * width / 512
    return F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)


@torch.inference_mode()
def run_case(name: str, device_name: str, queue) -> None:
    """Time one case in this process; puts its output line on ``queue``."""
    device = torch.device(device_name)
    generator = torch.Generator().manual_seed(0)
    if name == PREVIEW_CASE:
        frames, height, width = 16, 320, 512
        image = torch.rand(1, 3, height, width, generator=generator).to(device)
        flow = smooth_field(frames, height, width, generator).to(device)
        flow[0] = 0
        ref_ms = time_ms(lambda: forward_splat(image.expand(frames, -1, -1, -1), flow))
        reset_peak(device)
        ours_ms = time_ms(lambda: warp_preview(image, flow))
    else:
        frames, channels, height, width, memory_format = SPLAT_CASES[name]
        source = torch.randn(frames, channels, height, width, generator=generator).to(device)
        source = source.contiguous(memory_format=memory_format)
        flow = smooth_field(frames, height, width, generator).to(device)
        ref_ms = time_ms(lambda: backward_warp(source, flow))
        reset_peak(device)
        ours_ms = time_ms(lambda: forward_splat(source, flow))
    queue.put(line(name, ref_ms, ours_ms, peak_gib(device), device))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    cases = [*SPLAT_CASES, PREVIEW_CASE]
    parser.add_argument("--cases", nargs="+", default=cases, choices=cases)
    args = parser.parse_args()
    print(f"{'case':20s} {'ref_ms':>10s} {'ours_ms':>10s} {'ratio':>6s} {'peak_GiB':>9s}  device")
    context = multiprocessing.get_context("spawn")
    for name in args.cases:
        queue = context.Queue()
        process = context.Process(target=run_case, args=(name, args.device, queue))
        process.start()
        process.join()
        print(queue.get() if process.exitcode == 0 else f"{name:20s} failed (exit code {process.exitcode})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
