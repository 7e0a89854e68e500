"""Devices and precisions by name: the engine's one "auto" device choice, its one "auto" precision, the dtype names.

ComfyUI nodes take ComfyUI's device choice instead (``nodes/comfy.py``), which falls back to this one.
"""

from __future__ import annotations

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_dtype(dtype) -> torch.dtype:
    """``"fp32" | "fp16" | "bf16"`` or one of those torch dtypes -> torch.dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")


def resolve_device(device) -> torch.device:
    """``"auto"`` (CUDA, then MPS, then CPU) or anything ``torch.device`` accepts."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """What "auto" precision means on ``device``, for both stages' loaders and the CLI: bf16 on CUDA GPUs that have
    it (half the memory with fp32's range, so no activation overflows), else fp16; fp32 on the CPU, where half
    precision is slow."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device.type == "mps" else torch.float32
