"""The per-frame time embedding of the inflated UNet and its ControlNet.

``emb[b, f] = time_embedding(time_proj(t[b, f])) + stride_embedding(time_proj(stride[b, f]))``
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/flowgen/models/unet3d.py#L426-L442):
the flow UNet adds the embedding of each frame's offset in the source video
(``stride``) to the timestep embedding; stage 2 has no stride embedding but gives frame 0 its own
timestep. The modules sit at the model's top level, under the official key names.
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

from .config import UNet3DConfig


def attach_frame_embedding(model: nn.Module, config: UNet3DConfig) -> None:
    """Add ``time_proj``, ``time_embedding`` and (flow models) ``stride_embedding`` to ``model``."""
    channels = config.block_out_channels[0]
    model.time_proj = Timesteps(channels, config.flip_sin_to_cos, config.freq_shift)
    model.time_embedding = TimestepEmbedding(channels, config.time_embed_dim)
    if config.stride_embedding:
        model.stride_embedding = TimestepEmbedding(channels, config.time_embed_dim)


def frame_embedding(model: nn.Module, timestep, stride: torch.Tensor | None, batch: int, frames: int,
                    device: torch.device) -> torch.Tensor:
    """-> [(B F), D] in the model's dtype.

    ``timestep``: a number, a 0-d tensor, [B] or per-frame [B, F]. ``stride``: [B, F] or [1, F]
    frame offsets, required exactly when the model has a stride embedding.
    """
    dtype = model.time_embedding.linear_1.weight.dtype
    steps = torch.as_tensor(timestep, device=device)
    steps = steps.reshape(-1, 1) if steps.ndim <= 1 else steps
    if steps.shape[0] not in (1, batch) or steps.shape[1] not in (1, frames):
        raise ValueError(f"timestep: expected a number, [B] or [B, F] with B = {batch}, F = {frames}, "
                         f"got {list(torch.as_tensor(timestep).shape)}")
    emb = model.time_embedding(model.time_proj(steps.expand(batch, frames).reshape(-1)).to(dtype))
    has_stride = hasattr(model, "stride_embedding")
    if has_stride != (stride is not None):
        got = "None" if stride is None else list(stride.shape)
        raise ValueError(f"stride: this model {'needs a' if has_stride else 'has no'} per-frame stride, got {got}")
    if stride is None:
        return emb
    stride = torch.as_tensor(stride, device=device)
    if stride.ndim != 2 or stride.shape[1] != frames or stride.shape[0] not in (1, batch):
        raise ValueError(f"stride: expected [B, F] or [1, F] with F = {frames}, got {list(stride.shape)}")
    return emb + model.stride_embedding(model.time_proj(stride.expand(batch, frames).reshape(-1)).to(dtype))
