"""The inflated UNet's down, mid and up blocks, on diffusers' 2D layers.

Spatial layers see frames folded into the batch, ``[(B F), C, H, W]``, which is exactly the
official ``InflatedConv3d`` / ``InflatedGroupNorm`` / ``Transformer3DModel`` behaviour and makes the
per-frame time embedding ``[(B F), D]`` a plain diffusers ``temb``. Only the motion modules mix
frames. Submodule names match the official checkpoints (``resnets.i``, ``attentions.i``,
``motion_modules.i``, ``downsamplers.0``, ``upsamplers.0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from diffusers.models.upsampling import Upsample2D
from torch import nn

from .config import UNet3DConfig
from .motion_module import MotionModule


@dataclass(frozen=True)
class BlockInputs:
    """What every block of one UNet call shares.

    ``temb``: [(B F), D] per-frame time embedding. ``text``: [(B F), T, D_text] cross-attention
    states. ``frames``: F. ``temporal_context``: passed on to the motion modules' processors.
    """

    temb: torch.Tensor
    text: torch.Tensor
    frames: int
    temporal_context: Any = None


def _resnet(config: UNet3DConfig, in_channels: int, out_channels: int, output_scale_factor: float = 1.0):
    return ResnetBlock2D(
        in_channels=in_channels, out_channels=out_channels, temb_channels=config.time_embed_dim,
        groups=config.norm_num_groups, eps=config.norm_eps, non_linearity="silu",
        output_scale_factor=output_scale_factor,
    )


def _transformer(config: UNet3DConfig, channels: int, heads: int):
    return Transformer2DModel(
        num_attention_heads=heads, attention_head_dim=channels // heads, in_channels=channels,
        norm_num_groups=config.norm_num_groups, cross_attention_dim=config.cross_attention_dim,
    )


def _motion(config: UNet3DConfig, channels: int):
    return MotionModule(channels, config.motion_heads, config.motion_layers, config.motion_attention_blocks,
                        config.motion_max_len)


def _layers(resnets, attentions, motion_modules):
    """Zip a block's layers, padding absent attentions / motion modules with None."""
    count = len(resnets)
    return zip(resnets, attentions or [None] * count, motion_modules or [None] * count)


def _apply(layer, attention, motion, hidden: torch.Tensor, inputs: BlockInputs) -> torch.Tensor:
    hidden = layer(hidden, inputs.temb)
    if attention is not None:
        hidden = attention(hidden, encoder_hidden_states=inputs.text, return_dict=False)[0]
    if motion is not None:
        hidden = motion(hidden, inputs.frames, inputs.temporal_context)
    return hidden


class DownBlock(nn.Module):
    """``layers`` x (resnet, optional cross-attention, optional motion module), then an optional stride-2 conv."""

    def __init__(self, config: UNet3DConfig, index: int, in_channels: int):
        super().__init__()
        channels, heads = config.block_out_channels[index], config.attention_heads[index]
        count = config.layers_per_block
        self.resnets = nn.ModuleList(
            _resnet(config, in_channels if i == 0 else channels, channels) for i in range(count)
        )
        if config.cross_attention_blocks[index]:
            self.attentions = nn.ModuleList(_transformer(config, channels, heads) for _ in range(count))
        if config.down_motion(index):
            self.motion_modules = nn.ModuleList(_motion(config, channels) for _ in range(count))
        if index < len(config.block_out_channels) - 1:
            padding = config.downsample_padding
            self.downsamplers = nn.ModuleList(
                [Downsample2D(channels, use_conv=True, out_channels=channels, padding=padding, name="op")]
            )

    def forward(self, hidden: torch.Tensor, inputs: BlockInputs) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``hidden``: [(B F), C, H, W]; returns the output and the skip states, in order."""
        skips = []
        for layer, attention, motion in _layers(self.resnets, getattr(self, "attentions", None),
                                                getattr(self, "motion_modules", None)):
            hidden = _apply(layer, attention, motion, hidden, inputs)
            skips.append(hidden)
        if hasattr(self, "downsamplers"):
            hidden = self.downsamplers[0](hidden)
            skips.append(hidden)
        return hidden, skips


class MidBlock(nn.Module):
    """resnet, then (cross-attention, motion module, resnet): the motion module sits before the second resnet."""

    def __init__(self, config: UNet3DConfig):
        super().__init__()
        channels, heads = config.block_out_channels[-1], config.attention_heads[-1]
        scale = config.mid_block_scale_factor
        self.resnets = nn.ModuleList(_resnet(config, channels, channels, scale) for _ in range(2))
        self.attentions = nn.ModuleList([_transformer(config, channels, heads)])
        if config.motion_module_mid_block:
            self.motion_modules = nn.ModuleList([_motion(config, channels)])

    def forward(self, hidden: torch.Tensor, inputs: BlockInputs) -> torch.Tensor:
        hidden = self.resnets[0](hidden, inputs.temb)
        hidden = self.attentions[0](hidden, encoder_hidden_states=inputs.text, return_dict=False)[0]
        if hasattr(self, "motion_modules"):
            hidden = self.motion_modules[0](hidden, inputs.frames, inputs.temporal_context)
        return self.resnets[1](hidden, inputs.temb)


class UpBlock(nn.Module):
    """``layers + 1`` x (concat a skip, resnet, optional cross-attention, optional motion module), then an
    optional nearest x2 upsample + conv."""

    def __init__(self, config: UNet3DConfig, index: int):
        super().__init__()
        reversed_channels = list(reversed(config.block_out_channels))
        blocks = len(reversed_channels)
        channels = reversed_channels[index]
        previous = reversed_channels[max(index - 1, 0)]
        skip_in = reversed_channels[min(index + 1, blocks - 1)]
        count = config.layers_per_block + 1
        heads = list(reversed(config.attention_heads))[index]
        self.resnets = nn.ModuleList(
            _resnet(config, (previous if i == 0 else channels) + (skip_in if i == count - 1 else channels), channels)
            for i in range(count)
        )
        if list(reversed(config.cross_attention_blocks))[index]:
            self.attentions = nn.ModuleList(_transformer(config, channels, heads) for _ in range(count))
        if config.up_motion(index):
            self.motion_modules = nn.ModuleList(_motion(config, channels) for _ in range(count))
        if index < blocks - 1:
            self.upsamplers = nn.ModuleList([Upsample2D(channels, use_conv=True, out_channels=channels)])

    def forward(self, hidden: torch.Tensor, skips: list[torch.Tensor], inputs: BlockInputs,
                upsample_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``skips``: this block's skip states, consumed last first."""
        for (layer, attention, motion), skip in zip(
            _layers(self.resnets, getattr(self, "attentions", None), getattr(self, "motion_modules", None)),
            reversed(skips),
        ):
            hidden = _apply(layer, attention, motion, torch.cat([hidden, skip], dim=1), inputs)
        if hasattr(self, "upsamplers"):
            hidden = self.upsamplers[0](hidden, upsample_size)
        return hidden

