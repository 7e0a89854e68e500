"""Stage-1 denoising step: time at the tiny config, and (``--real``) peak memory at full size.

``python benchmarks/stage1.py [--real] [--device cpu|cuda]`` prints one line per case:
``case  ref_ms  ours_ms  ratio  peak_GiB  device``.

One step = one call of the stage-1 denoiser: CFG batch 2 x 15 frames, 8-channel input, stride
embedding, text cross-attention, and for "stage1" the trajectory ControlNet; tiny cases at 96x64
(12x8 latents, the tests' size), real cases at 512x320 (64x40 latents). The reference is
diffusers' ``UNetMotionModel`` (AnimateDiff) of the same size and input, the network a
diffusers-only port would run, without stride embedding or ControlNet.
``--real`` builds the official-size UNet + ControlNet (random weights; minutes on a CPU) and runs one
step in float32 and bfloat16, each in its own process so that peaks do not mix: ref = fp32, ours = bf16.
peak_GiB: CUDA peak allocated memory, or on the CPU the process's peak resident set (imports included).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motion_i2v.weights.configs import bundled_config  # noqa: E402
from motion_i2v.weights.loader import build_model  # noqa: E402
from motion_i2v.pipelines.flow_gen import FlowDenoiser, frame_strides  # noqa: E402

FRAMES, TOKENS = 16, 77  # 16 frames = 15 generated + the image
TINY_LATENT, REAL_LATENT = (8, 12), (40, 64)


def peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kilobytes on Linux


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def step_inputs(width: int, latent_size: tuple[int, int], device, dtype, generator: torch.Generator):
    shape = (1, 4, FRAMES - 1, *latent_size)
    x, image_latent = (torch.randn(shape, generator=generator).to(device) for _ in range(2))
    text, negative = (torch.randn(1, TOKENS, width, generator=generator).to(device, dtype) for _ in range(2))
    control = torch.randn(1, 5, *shape[2:], generator=generator).to(device, dtype)
    return x, image_latent, text, negative, control


def denoiser(unet, controlnet, inputs) -> FlowDenoiser:
    x, image_latent, text, negative, control = inputs
    return FlowDenoiser(unet, image_latent, text, negative, frame_strides(FRAMES).to(x.device), guidance=7.0,
                        controlnet=controlnet, control=control if controlnet is not None else None)


def diffusers_reference(config: dict, device, dtype):
    """AnimateDiff's UNetMotionModel at the same size: 8 input channels, same blocks, heads and text width."""
    from diffusers import UNetMotionModel

    blocks = len(config["block_out_channels"])
    cross = ["CrossAttnDownBlockMotion"] * (blocks - 1)
    model = UNetMotionModel(
        in_channels=8, out_channels=4, block_out_channels=tuple(config["block_out_channels"]),
        down_block_types=(*cross, "DownBlockMotion"),
        up_block_types=("UpBlockMotion", *["CrossAttnUpBlockMotion"] * (blocks - 1)),
        layers_per_block=config["layers_per_block"], norm_num_groups=config["norm_num_groups"],
        cross_attention_dim=config["cross_attention_dim"], num_attention_heads=config["attention_head_dim"],
        motion_num_attention_heads=config["motion_module_kwargs"]["num_attention_heads"], motion_max_seq_length=32,
    )
    # nn.Module.to: ModelMixin.to warns about keep-in-float32 modules, a from_pretrained setting
    return torch.nn.Module.to(model, device, dtype).eval()


def reference_step(model, inputs):
    x, image_latent, text, negative, _ = inputs
    sample = torch.cat([image_latent, x], dim=1).repeat(2, 1, 1, 1, 1).to(model.dtype)
    # UNetMotionModel takes the text per frame: [(B F), T, D]
    states = torch.cat([negative, text]).repeat_interleave(x.shape[2], dim=0)
    return model(sample, 961, states).sample


def line(case: str, ref_ms, ours_ms, peak: float, device) -> str:
    ratio = f"{ours_ms / ref_ms:.2f}" if ref_ms else "-"
    ref = f"{ref_ms:.1f}" if ref_ms else "-"
    return f"{case:20s} {ref:>10s} {ours_ms:10.1f} {ratio:>6s} {peak:9.2f}  {device}"


def time_ms(function) -> float:
    """Median milliseconds of ``function()``, on one thread (Timer's default), so ratios do not hang on core count."""
    return Timer("function()", globals={"function": function}).blocked_autorange(min_run_time=1.0).median * 1e3


@torch.inference_mode()
def tiny_cases(device: torch.device) -> list[str]:
    config = bundled_config("flow_unet", "tiny")
    generator = torch.Generator().manual_seed(0)
    unet = build_model("flow_unet", "tiny", device=device)
    controlnet = build_model("controlnet", "tiny", device=device)
    reference = diffusers_reference(config, device, torch.float32)
    inputs = step_inputs(config["cross_attention_dim"], TINY_LATENT, device, torch.float32, generator)
    ref_ms = time_ms(lambda: reference_step(reference, inputs))
    rows = []
    for case, network in (("tiny_unet_step", None), ("tiny_stage1_step", controlnet)):
        step = denoiser(unet, network, inputs)
        reset_peak(device)
        ours_ms = time_ms(lambda: step(inputs[0], 961))
        rows.append(line(case, ref_ms, ours_ms, peak_gib(device), device))
    return rows


def _real_step(dtype_name: str, device_name: str, queue) -> None:
    """One full-size step in a fresh process; puts (milliseconds, peak GiB) on ``queue``."""
    import time

    device, dtype = torch.device(device_name), getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        models = []
        for kind in ("flow_unet", "controlnet"):
            model = build_model(kind, "official", device="meta").to_empty(device=device)
            for tensor in model.state_dict().values():  # random weights, cheaper than the real initialisers
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
            models.append(model.to(dtype))
        inputs = step_inputs(768, REAL_LATENT, device, dtype, generator)
        step = denoiser(*models, inputs)
        reset_peak(device)
        start = time.perf_counter()
        step(inputs[0], 961)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        queue.put(((time.perf_counter() - start) * 1e3, peak_gib(device)))


def real_cases(device: torch.device):
    """Yields the fp32 row, then the bf16 row, each as soon as its process is done."""
    context = multiprocessing.get_context("spawn")
    reference_ms = None
    for dtype_name, case in (("float32", "real_step_fp32"), ("bfloat16", "real_step_bf16")):
        queue = context.Queue()
        process = context.Process(target=_real_step, args=(dtype_name, str(device), queue))
        process.start()
        milliseconds, peak = queue.get()
        process.join()
        yield line(case, reference_ms, milliseconds, peak, device)
        reference_ms = milliseconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true",
                        help="also run one full-size step in fp32 and bf16 (slow on CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"{'case':20s} {'ref_ms':>10s} {'ours_ms':>10s} {'ratio':>6s} {'peak_GiB':>9s}  device")
    for cases in (tiny_cases, real_cases) if args.real else (tiny_cases,):
        for row in cases(device):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
