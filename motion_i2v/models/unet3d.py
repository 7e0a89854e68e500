"""The inflated SD1.5 UNet of both stages (official ``UNet3DConditionModel``), key for key.

Stage 1 (flow UNet): 8 input channels = reference-image latent then noisy flow latent, a per-frame
``stride_embedding`` added to the time embedding, trajectory-ControlNet residuals. Stage 2: 4 input
channels, no stride embedding, per-frame timesteps (frame 0 gets t = 1), a motion-aware temporal
processor fed through ``temporal_context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange, repeat
from torch import nn

from .blocks import BlockInputs, DownBlock, MidBlock, UpBlock
from .config import UNet3DConfig
from .embeddings import attach_frame_embedding, frame_embedding


@dataclass(frozen=True)
class ControlResiduals:
    """ControlNet outputs already multiplied by the conditioning scale.

    ``down``: one [B, C_i, F, H_i, W_i] tensor per UNet skip connection (conv_in's first).
    ``mid``: [B, C_last, F, H_last, W_last], added to the mid block's output.
    """

    down: tuple[torch.Tensor, ...]
    mid: torch.Tensor


def check_sample(sample: torch.Tensor, channels: int, text: torch.Tensor) -> None:
    if sample.ndim != 5 or sample.shape[1] != channels:
        raise ValueError(f"sample: expected [B, {channels}, F, H, W], got {list(sample.shape)}")
    if text.ndim != 3 or text.shape[0] != sample.shape[0]:
        raise ValueError(f"encoder_hidden_states: expected [B, T, D] with B = {sample.shape[0]}, "
                         f"got {list(text.shape)}")


def fold_frames(sample: torch.Tensor) -> torch.Tensor:
    return rearrange(sample, "b c f h w -> (b f) c h w")


def attach_encoder(model: nn.Module, config: UNet3DConfig) -> None:
    """Give ``model`` the input conv, time embeddings, down blocks and mid block (UNet and ControlNet alike)."""
    model.config = config
    channels = config.block_out_channels
    model.conv_in = nn.Conv2d(config.in_channels, channels[0], kernel_size=3, padding=1)
    attach_frame_embedding(model, config)
    model.down_blocks = nn.ModuleList(DownBlock(config, i, channels[max(i - 1, 0)]) for i in range(len(channels)))
    model.mid_block = MidBlock(config)


def block_inputs(model: nn.Module, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor,
                 stride: torch.Tensor | None, temporal_context: Any) -> BlockInputs:
    """The per-call inputs every block shares, frames folded into the batch."""
    batch, _, frames = sample.shape[:3]
    temb = frame_embedding(model, timestep, stride, batch, frames, sample.device)
    text = repeat(encoder_hidden_states, "b t d -> (b f) t d", f=frames)
    return BlockInputs(temb, text, frames, temporal_context)


class UNet3D(nn.Module):
    """The inflated UNet. Build from a ``UNet3DConfig``; parameter names are the official keys."""

    def __init__(self, config: UNet3DConfig):
        super().__init__()
        attach_encoder(self, config)
        channels = config.block_out_channels
        self.up_blocks = nn.ModuleList(UpBlock(config, i) for i in range(len(channels)))
        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, channels[0], eps=config.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(channels[0], config.out_channels, kernel_size=3, padding=1)

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor, *,
                stride: torch.Tensor | None = None, control: ControlResiduals | None = None,
                temporal_context: Any = None) -> torch.Tensor:
        """Predict the noise.

        ``sample``: [B, C_in, F, H, W]. ``timestep``: number, 0-d, [B] or per-frame [B, F].
        ``encoder_hidden_states``: [B, T, D] text states, shared by all frames. ``stride``: [B, F] or
        [1, F] frame offsets (flow UNet only). ``control``: ControlNet residuals. ``temporal_context``:
        handed to every temporal processor. Returns [B, C_out, F, H, W].
        """
        check_sample(sample, self.config.in_channels, encoder_hidden_states)
        frames = sample.shape[2]
        inputs = block_inputs(self, sample, timestep, encoder_hidden_states, stride, temporal_context)
        hidden = self.conv_in(fold_frames(sample))
        skips = [hidden]
        for block in self.down_blocks:
            hidden, block_skips = block(hidden, inputs)
            skips.extend(block_skips)
        if control is not None:
            if len(control.down) != len(skips):
                raise ValueError(f"control: {len(control.down)} down residuals for {len(skips)} skip connections")
            skips = [skip + fold_frames(extra) for skip, extra in zip(skips, control.down)]
        hidden = self.mid_block(hidden, inputs)
        if control is not None:
            hidden = hidden + fold_frames(control.mid)
        for block in self.up_blocks:
            count = len(block.resnets)
            block_skips, skips = skips[-count:], skips[:-count]
            # Odd latent sizes: upsample to the next skip's size rather than x2 (as diffusers does).
            upsample_size = tuple(skips[-1].shape[-2:]) if skips else None
            hidden = block(hidden, block_skips, inputs, upsample_size)
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return rearrange(hidden, "(b f) c h w -> b c f h w", f=frames)
