"""Memory: what a request will take, what the device has, and a refusal before the allocation.

Sizes that come from inputs (frames, width, height, a file's declared shape) are checked against the memory where the
work runs before anything large is allocated: above the machine's RAM the allocator would fail with a raw error, and
below it the memory is really taken and the out-of-memory killer may end the whole server. The estimates are coarse
(measured peaks of each operation per frame and pixel, rounded up; ``benchmarks/memory.py`` compares them with the
measured peaks) and the check leaves ``HEADROOM`` of the memory to everything else.
"""

from __future__ import annotations

import os

import torch

HEADROOM = 0.1  # the share of the available memory a request must leave free
FLOAT_BYTES = 4
GIB = 2**30

# One denoising step's activations in bytes per latent pixel, frame and CFG batch entry, by stage and weight width in
# bytes: the real-size peaks measured on the CPU (README Performance: stage 1 10.8 / 5.7 GiB, stage 2 8.3 / 5.3 GiB in
# fp32 / bf16 for CFG x 15 / 16 frames of 64x40 latents) less the weights and ~0.4 GiB of Python and torch, rounded up.
STEP_BYTES = {1: {4: 48 * 1024, 2: 26 * 1024}, 2: {4: 40 * 1024, 2: 34 * 1024}}
# An SD-style VAE (the flow VAE or the image VAE, float32) decoding one frame: bytes per output pixel (measured 3.1-4.0
# KB at 512x320; encoding takes less).
VAE_BYTES_PER_PIXEL = 4096
LATENT_FACTOR = 8


def format_bytes(count: int) -> str:
    if count >= GIB / 10:
        return f"{count / GIB:.1f} GiB"
    return f"{count / 2**20:.0f} MiB" if count >= 2**20 else f"{count / 1024:.0f} KiB"


def field_bytes(frames: int, height: int, width: int, channels: int = 2) -> int:
    """The bytes of one float32 tensor [frames, channels, height, width]."""
    return frames * channels * height * width * FLOAT_BYTES


def _read_number(path: str) -> int | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_available(root: str = "/sys/fs/cgroup") -> int | None:
    """Memory left under this container's cgroup limit (v2, else v1), inactive page cache counted as free (the kernel
    reclaims it before the out-of-memory killer acts); None without a limit."""
    for folder, limit_file, usage_file, cache_key in (
        (root, "memory.max", "memory.current", "inactive_file"),
        (f"{root}/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _read_number(f"{folder}/{limit_file}"), _read_number(f"{folder}/{usage_file}")
        if limit is None or usage is None or limit >= 2**60:  # absent, or "no limit"
            continue
        cache = 0
        try:
            with open(f"{folder}/memory.stat") as handle:
                cache = next((int(line.split()[1]) for line in handle if line.split()[0] == cache_key), 0)
        except OSError:
            pass
        return max(0, limit - usage + cache)
    return None


def ram_available() -> int | None:
    """RAM new allocations can take without swapping: /proc/meminfo's MemAvailable (else ``os.sysconf``), capped by
    a container's cgroup limit; None where neither exists."""
    available = None
    try:
        with open("/proc/meminfo") as handle:
            available = next((int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:")), None)
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            pass
    limit = cgroup_available()
    return available if limit is None else limit if available is None else min(available, limit)


def available_memory(device="cpu", *, whole_device: bool = False) -> int | None:
    """Bytes new work on ``device`` can take, or None when unknown.

    CUDA: the driver's free memory plus what torch's cache holds unused; MPS: Metal's recommended working set less
    what is allocated; CPU: ``ram_available``. ``whole_device``: the work may have the whole accelerator (ComfyUI moves
    other models out before loading ours), so its total counts; on the CPU nothing is moved out.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        if whole_device:
            return total
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "mps":
        total = torch.mps.recommended_max_memory()
        return total if whole_device else max(0, total - torch.mps.driver_allocated_memory())
    return ram_available() if device.type == "cpu" else None


class NotEnoughMemory(ValueError):
    """A request refused before its allocation: it would not fit in the memory available."""


SMALLER = "use fewer frames or a smaller size"


def check_memory(needed: int, what: str, device="cpu", *, whole_device: bool = False, detail: str = "",
                 hint: str = SMALLER) -> None:
    """Refuse ``what`` (the inputs that set the size, e.g. "camera motion (256 frames at 4096x4096)") when its
    estimated ``needed`` bytes exceed the memory available on ``device`` less ``HEADROOM``.

    ``detail`` follows the estimate in brackets; ``hint`` says what to change.
    """
    available = available_memory(device, whole_device=whole_device)
    if available is None or needed <= available * (1 - HEADROOM):
        return
    place = "RAM" if torch.device(device).type == "cpu" else f"memory on {device}"
    raise NotEnoughMemory(
        f"{what}: needs about {format_bytes(needed)}{f' ({detail})' if detail else ''} of {place}, but "
        f"{format_bytes(available)} is available; {hint}"
    )


def module_bytes(module: torch.nn.Module) -> int:
    """The bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def stage_bytes(stage: int, *, frames: int, height: int, width: int, dtype: torch.dtype, guided: bool,
                vae_frames: int = 0) -> int:
    """Peak activation bytes of Motion-I2V stage 1 or 2 making ``frames`` frames (frame 0 included) of a ``width`` x
    ``height`` image with the UNet in ``dtype``: one denoising step (stage 1's UNet sees frames 1..F-1; the batch doubles
    under CFG), or a VAE coding ``vae_frames`` frames at once, whichever is more."""
    latent_pixels = (height // LATENT_FACTOR) * (width // LATENT_FACTOR)
    unet_frames = frames - 1 if stage == 1 else frames
    per_pixel = STEP_BYTES[stage][2 if dtype.itemsize <= 2 else 4]
    step = per_pixel * latent_pixels * unet_frames * (2 if guided else 1)
    return max(step, VAE_BYTES_PER_PIXEL * height * width * vae_frames)


def check_stage_memory(stage: int, *, frames: int, height: int, width: int, dtype: torch.dtype, guided: bool,
                       weights: int, device, vae_frames: int = 0) -> None:
    """Refuse a stage whose ``weights`` (bytes still to load onto ``device``) and ``stage_bytes`` would not fit."""
    needed = weights + stage_bytes(stage, frames=frames, height=height, width=width, dtype=dtype, guided=guided,
                                   vae_frames=vae_frames)
    dtype_name = str(dtype).removeprefix("torch.")
    check_memory(needed, f"Motion-I2V stage {stage} ({frames} frames at {width}x{height}, {dtype_name}, "
                 f"CFG {'on' if guided else 'off'})", device, whole_device=True,
                 detail=f"weights {format_bytes(weights)}", hint=f"{SMALLER}, or fp16/bf16 weights")
