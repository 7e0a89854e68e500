"""AnimateDiff-v2 ("Vanilla") motion modules: temporal self-attention across frames.

Module and parameter names follow the official checkpoints key for key
(``motion_modules.N.temporal_transformer.transformer_blocks.0.attention_blocks.{0,1}.to_q`` ...,
``norms.{0,1}``, ``ff_norm``, ``pos_encoder.pe``).

``TemporalAttention`` owns the weights; a swappable processor does the maths, as diffusers'
``Attention`` does. A processor is called as ``processor(attn, hidden, call)`` with
``hidden: [(B H W), F, C]`` (the LayerNormed tokens of one feature location over time) and a
``TemporalCall`` carrying the feature map's size and the UNet call's ``temporal_context``. The
processor adds the positional encoding itself, so a processor that attends over another sequence
(stage 2 interleaves warped tokens) places the encoding where it needs it.

Layers take ``operations`` (default ``torch.nn``): anything with ``Linear``, ``LayerNorm`` and
``GroupNorm`` of torch's signatures, so a host can build them with its own casting layers (ComfyUI's
``comfy.ops``) without the engine knowing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

MOTION_NORM_GROUPS = 32  # upstream's default for the motion-module GroupNorm, never the UNet's norm_num_groups


def sinusoidal_positions(max_len: int, channels: int) -> torch.Tensor:
    """The official PositionalEncoding table: [1, max_len, C] float32, sin on even, cos on odd channels."""
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
    table = torch.zeros(1, max_len, channels)
    table[0, :, 0::2] = torch.sin(position * div_term)
    table[0, :, 1::2] = torch.cos(position * div_term)
    return table


class PositionalEncoding(nn.Module):
    """Holds the persistent ``pe`` buffer [1, max_len, C]; processors add ``pe[:, :length]`` themselves."""

    def __init__(self, channels: int, max_len: int):
        super().__init__()
        self.register_buffer("pe", sinusoidal_positions(max_len, channels))


@dataclass(frozen=True)
class TemporalCall:
    """What a temporal processor knows about the call besides its tokens.

    ``frames``, ``height``, ``width``: F and the feature map's H, W (the tokens are ``[(B H W), F, C]``).
    ``context``: the ``temporal_context`` passed to the UNet's forward (None for plain AnimateDiff).
    """

    frames: int
    height: int
    width: int
    context: Any = None


def split_heads(tokens: torch.Tensor, heads: int) -> torch.Tensor:
    return rearrange(tokens, "n s (h d) -> n h s d", h=heads)


def merge_heads(tokens: torch.Tensor) -> torch.Tensor:
    return rearrange(tokens, "n h s d -> n s (h d)")


class TemporalAttnProcessor:
    """Plain AnimateDiff temporal self-attention: PE over frames 0..F-1, then softmax attention over F."""

    def __call__(self, attn: TemporalAttention, hidden: torch.Tensor, call: TemporalCall) -> torch.Tensor:
        hidden = hidden + attn.pos_encoder.pe[:, : hidden.shape[1]].to(hidden)
        query, key, value = (split_heads(proj(hidden), attn.heads) for proj in (attn.to_q, attn.to_k, attn.to_v))
        out = F.scaled_dot_product_attention(query, key, value)
        return attn.to_out(merge_heads(out))


Processor = Callable[["TemporalAttention", torch.Tensor, TemporalCall], torch.Tensor]


class TemporalAttention(nn.Module):
    """Temporal self-attention weights (to_q, to_k, to_v without bias; to_out = Linear + Dropout)."""

    def __init__(self, channels: int, heads: int, max_len: int, operations=nn):
        super().__init__()
        self.heads = heads
        self.to_q = operations.Linear(channels, channels, bias=False)
        self.to_k = operations.Linear(channels, channels, bias=False)
        self.to_v = operations.Linear(channels, channels, bias=False)
        self.to_out = nn.Sequential(operations.Linear(channels, channels), nn.Dropout(0.0))
        self.pos_encoder = PositionalEncoding(channels, max_len)
        self.processor: Processor = TemporalAttnProcessor()

    def forward(self, hidden: torch.Tensor, call: TemporalCall) -> torch.Tensor:
        """``hidden``: [(B H W), F, C] -> [(B H W), F, C]."""
        return self.processor(self, hidden, call)


class Geglu(nn.Module):
    """``proj`` to twice the width, then value * GELU(gate) (Shazeer 2020, "GLU Variants Improve Transformer")."""

    def __init__(self, channels: int, inner: int, operations=nn):
        super().__init__()
        self.proj = operations.Linear(channels, 2 * inner)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(hidden).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """diffusers' ``FeedForward(activation_fn="geglu")`` key for key (``net.0.proj``, ``net.2``), 4x wide."""

    def __init__(self, channels: int, operations=nn):
        super().__init__()
        inner = 4 * channels
        self.net = nn.ModuleList([Geglu(channels, inner, operations), nn.Dropout(0.0),
                                  operations.Linear(inner, channels)])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            hidden = layer(hidden)
        return hidden


class TemporalTransformerBlock(nn.Module):
    """Pre-norm residual temporal attentions (``norms.i`` + ``attention_blocks.i``), then a GEGLU feed-forward."""

    def __init__(self, channels: int, heads: int, attention_blocks: int, max_len: int, operations=nn):
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            TemporalAttention(channels, heads, max_len, operations) for _ in range(attention_blocks)
        )
        self.norms = nn.ModuleList(operations.LayerNorm(channels) for _ in range(attention_blocks))
        self.ff = FeedForward(channels, operations)
        self.ff_norm = operations.LayerNorm(channels)

    def forward(self, hidden: torch.Tensor, call: TemporalCall) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            hidden = attention(norm(hidden), call) + hidden
        return self.ff(self.ff_norm(hidden)) + hidden


class TemporalTransformer(nn.Module):
    """GroupNorm per frame, Linear in, temporal transformer blocks, Linear out, residual."""

    def __init__(self, channels: int, heads: int, layers: int, attention_blocks: int, max_len: int, operations=nn):
        super().__init__()
        self.norm = operations.GroupNorm(MOTION_NORM_GROUPS, channels, eps=1e-6)
        self.proj_in = operations.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            TemporalTransformerBlock(channels, heads, attention_blocks, max_len, operations) for _ in range(layers)
        )
        self.proj_out = operations.Linear(channels, channels)

    def forward(self, hidden: torch.Tensor, frames: int, context: Any = None) -> torch.Tensor:
        """``hidden``: [(B F), C, H, W] -> [(B F), C, H, W]."""
        height, width = hidden.shape[-2:]
        call = TemporalCall(frames, height, width, context)
        tokens = rearrange(self.norm(hidden), "(b f) c h w -> (b h w) f c", f=frames)
        tokens = self.proj_in(tokens)
        for block in self.transformer_blocks:
            tokens = block(tokens, call)
        tokens = self.proj_out(tokens)
        return rearrange(tokens, "(b h w) f c -> (b f) c h w", h=height, w=width) + hidden


class MotionModule(nn.Module):
    """One AnimateDiff "Vanilla" temporal module (the key level ``motion_modules.N``)."""

    def __init__(self, channels: int, heads: int, layers: int, attention_blocks: int, max_len: int, operations=nn):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, heads, layers, attention_blocks, max_len, operations)

    def forward(self, hidden: torch.Tensor, frames: int, context: Any = None) -> torch.Tensor:
        if frames > self.max_len:
            raise ValueError(f"frames: the motion modules encode at most {self.max_len} positions, got {frames}")
        return self.temporal_transformer(hidden, frames, context)

    @property
    def max_len(self) -> int:
        return self.temporal_transformer.transformer_blocks[0].attention_blocks[0].pos_encoder.pe.shape[1]


def set_temporal_processor(model: nn.Module, factory: Callable[[str, TemporalAttention], Any]) -> int:
    """Give every temporal attention of ``model`` the processor ``factory(name, attention)``; returns how many."""
    count = 0
    for name, module in model.named_modules():
        if isinstance(module, TemporalAttention):
            module.processor = factory(name, module)
            count += 1
    return count
