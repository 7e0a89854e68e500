"""The memory estimates that guard heavy work against the peaks they estimate, on the CPU.

``python benchmarks/memory.py [--cases NAME ...]`` prints one line per case:
``case  estimate_MiB  measured_MiB  ratio`` (ratio = estimate / measured: at least 1 means the check is on the safe
side). Each case runs in a fresh process with glibc returning every freed block at once
(``MALLOC_MMAP_THRESHOLD_``), and measured = the rise of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs after the inputs exist) while the operation runs. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motion_i2v import camera, edit, preview, v2v, visualize  # noqa: E402
from motion_i2v.flow import MotionField  # noqa: E402
from motion_i2v.tracks import dense  # noqa: E402
from motion_i2v.tracks.value import Tracks  # noqa: E402

FRAMES, HEIGHT, WIDTH, TRACKS = 16, 320, 512, 10
MIB = 2**20


def _field(generator):
    return torch.randn(FRAMES, 2, HEIGHT, WIDTH, generator=generator) * 4


def _tracks(generator):
    path = torch.rand(FRAMES, TRACKS, 2, generator=generator) * torch.tensor([WIDTH - 1, HEIGHT - 1])
    return Tracks(path, torch.ones(FRAMES, TRACKS, dtype=torch.bool), WIDTH, HEIGHT)


# name: (inputs from a generator, the operation on them, the estimate its check uses, in bytes)
SIZE = (FRAMES, HEIGHT, WIDTH)
CASES = {
    "camera_with_scene": (_field, lambda flow: camera.camera_field("zoom_in", *SIZE, 1.2, scene=flow),
                          camera.affine_bytes(*SIZE)),
    "tracks_to_field": (_tracks, lambda tracks: dense.dense_field(tracks, 64.0), dense.dense_bytes(TRACKS, *SIZE)),
    "warp_preview": (lambda g: (torch.rand(1, 3, HEIGHT, WIDTH, generator=g), _field(g)),
                     lambda inputs: preview.warp_preview(*inputs), preview.preview_bytes(*SIZE)),
    "flow_to_color": (_field, visualize.flow_to_color, visualize.color_bytes(*SIZE)),
    "draw_arrows_s16": (_field, lambda flow: visualize.draw_arrows(torch.rand(1, 3, HEIGHT, WIDTH), flow, 16),
                        visualize.arrows_bytes(*SIZE)),
    "resample_2x": (_field, lambda flow: edit.resample(flow, 2 * FRAMES), edit.retime_bytes(2 * FRAMES, HEIGHT, WIDTH)),
    "smooth_sigma5": (_field, lambda flow: edit.smooth_time(flow, 5.0), edit.smooth_bytes(*SIZE, 5.0)),
    "extract_dis_fast": (lambda g: torch.rand(FRAMES, HEIGHT, WIDTH, 3, generator=g),
                         lambda frames: v2v.extract_motion(frames, "dis", preset="fast"), v2v.fuse_bytes(*SIZE)),
    "resize_motion_2x": (lambda g: MotionField(_field(g), torch.rand(FRAMES, HEIGHT, WIDTH, generator=g)),
                         lambda field: v2v.resize_motion(field, 2 * HEIGHT, 2 * WIDTH),
                         v2v.resize_bytes(FRAMES, 2 * HEIGHT, 2 * WIDTH)),
}


def _status(key: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(key))


def measure(name: str) -> str:
    """Run one case in this process; returns its line."""
    make, operation, estimate = CASES[name]
    torch.set_num_threads(1)
    with torch.inference_mode():
        inputs = make(torch.Generator().manual_seed(0))
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # the peak resident set starts again from the current one
        before = _status("VmRSS:")
        result = operation(inputs)
        measured = _status("VmHWM:") - before
        del result
    return f"{name:20s} {estimate / MIB:12.0f} {measured / MIB:12.0f} {estimate / measured:6.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES))
    parser.add_argument("--one", choices=list(CASES), help=argparse.SUPPRESS)  # a child process's case
    args = parser.parse_args(argv)
    if args.one:
        print(measure(args.one))
        return 0
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    print(f"{'case':20s} {'estimate_MiB':>12s} {'measured_MiB':>12s} {'ratio':>6s}   ({FRAMES} frames at {WIDTH}x{HEIGHT})")
    for name in args.cases:
        child = subprocess.run([sys.executable, __file__, "--one", name], env=environment, capture_output=True,
                               text=True, check=True)
        print(child.stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
