"""Stage-2 denoising step: time at the tiny config, and (``--real``) peak memory at full size.

``python benchmarks/stage2.py [--real] [--device cpu|cuda]`` prints one line per case:
``case  ref_ms  ours_ms  ratio  peak_GiB  device``.

One step = one call of the stage-2 denoiser: CFG batch 2 x 16 frames at 320x512 (40x64 latents),
frame 0 clean at t = 1, text cross-attention. "ours" runs the motion-augmented temporal attention
(every motion module splats frame 0's features along a field and attends over 31 tokens); the
reference is the same UNet with plain AnimateDiff temporal attention (no field), so the ratio is the
price of the motion guidance. ``--real`` builds the official-size animation UNet (random weights;
minutes on a CPU) and runs one guided step in float32 and bfloat16, each in its own process so that
peaks do not mix: ref = fp32, ours = bf16. peak_GiB: CUDA peak allocated memory, or on the CPU the
process's peak resident set (imports included).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from motion_i2v.weights.loader import build_model  # noqa: E402
from motion_i2v.models.motion_augmented import MotionGuidance  # noqa: E402
from motion_i2v.pipelines.animate import AnimationDenoiser  # noqa: E402
from stage1 import line, peak_gib, reset_peak, time_ms  # noqa: E402

FRAMES, LATENT_HEIGHT, LATENT_WIDTH, TOKENS = 16, 40, 64, 77


def step(unet, device, dtype, guided: bool, generator: torch.Generator):
    """A stage-2 denoiser on random inputs and a smooth random field; returns ``() -> eps``."""
    width = unet.config.cross_attention_dim
    x = torch.randn(1, 4, FRAMES, LATENT_HEIGHT, LATENT_WIDTH, generator=generator).to(device)
    reference = torch.randn(1, 4, LATENT_HEIGHT, LATENT_WIDTH, generator=generator).to(device)
    text, negative = (torch.randn(1, TOKENS, width, generator=generator).to(device, dtype) for _ in range(2))
    coarse = torch.randn(FRAMES, 2, 5, 8, generator=generator) * 16  # pixels, smooth at image size
    flow = torch.nn.functional.interpolate(coarse, size=(LATENT_HEIGHT * 8, LATENT_WIDTH * 8), mode="bilinear")
    flow[0] = 0
    guidance = MotionGuidance(flow.to(device)) if guided else None
    denoiser = AnimationDenoiser(unet, reference, text, negative, guidance, cfg=7.0)
    return lambda: denoiser(x, 961)


@torch.inference_mode()
def tiny_cases(device: torch.device) -> list[str]:
    generator = torch.Generator().manual_seed(0)
    unet = build_model("animation_unet", "tiny", device=device)
    ref_ms = time_ms(step(unet, device, torch.float32, False, generator))
    guided = step(unet, device, torch.float32, True, generator)
    reset_peak(device)
    return [line("tiny_stage2_step", ref_ms, time_ms(guided), peak_gib(device), device)]


def _real_step(dtype_name: str, device_name: str, queue) -> None:
    """One full-size guided step in a fresh process; puts (milliseconds, peak GiB) on ``queue``."""
    device, dtype = torch.device(device_name), getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        unet = build_model("animation_unet", "official", device="meta").to_empty(device=device)
        for tensor in unet.state_dict().values():  # random weights, cheaper than the real initialisers
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
        guided = step(unet.to(dtype), device, dtype, True, generator)
        reset_peak(device)
        start = time.perf_counter()
        guided()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        queue.put(((time.perf_counter() - start) * 1e3, peak_gib(device)))


def real_cases(device: torch.device) -> list[str]:
    """fp32 then bf16, each in a fresh process; the bf16 row's reference is the fp32 time."""
    context, rows, fp32_ms = multiprocessing.get_context("spawn"), [], None
    for dtype_name, short in (("float32", "fp32"), ("bfloat16", "bf16")):
        queue = context.Queue()
        worker = context.Process(target=_real_step, args=(dtype_name, str(device), queue))
        worker.start()
        milliseconds, peak = queue.get()
        worker.join()
        rows.append(line(f"real_stage2_{short}", fp32_ms, milliseconds, peak, device))
        fp32_ms = fp32_ms or milliseconds
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="also one full-size step in fp32 and bf16 (minutes on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    cases = [tiny_cases] + ([real_cases] if args.real else [])
    print(f"{'case':20s} {'ref_ms':>10s} {'ours_ms':>10s} {'ratio':>6s} {'peak_GiB':>9s}  device")
    for rows in (case(torch.device(args.device)) for case in cases):
        print("\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
