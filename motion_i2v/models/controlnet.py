"""The sparse-trajectory ControlNet of stage 1 (official ``flowgen/models/controlnet.py``).

A copy of the flow UNet's encoder (conv_in, time and stride embeddings, down blocks and mid block,
motion modules included) whose input is the UNet's 8-channel sample plus an embedding of the
5-channel control at latent resolution, ``[flow-VAE latent of the sparse flow (4, unscaled),
mask (1)]`` (https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/flowgen/models/controlnet.py#L93-L140,
built at https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/scripts/app.py#L451-L465). Zero-initialised 1x1 convolutions turn every skip state and the mid
output into residuals for the UNet, multiplied by the conditioning scale.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torch import nn

from .config import UNet3DConfig
from .unet3d import ControlResiduals, attach_encoder, block_inputs, check_sample, fold_frames

CONTROL_CHANNELS = 5  # flow-VAE latent (4) + hint mask (1)
CONDITIONING_HIDDEN = 512  # hard-coded upstream, whatever the UNet width


class ConditioningEmbedding(nn.Module):
    """Conv3d(5 -> 512, k=(1,3,3)) - SiLU - Conv3d(512 -> C0, k=(1,3,3)): per-frame 3x3 convs."""

    def __init__(self, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv3d(CONTROL_CHANNELS, CONDITIONING_HIDDEN, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.SiLU(),
            nn.Conv3d(CONDITIONING_HIDDEN, out_channels, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
        )

    def forward(self, control: torch.Tensor) -> torch.Tensor:
        return self.layers(control)


def _zero_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class TrajectoryControlNet(nn.Module):
    """Built from the flow UNet's config (``out_channels`` and the up path are unused)."""

    def __init__(self, config: UNet3DConfig):
        super().__init__()
        attach_encoder(self, config)
        channels = config.block_out_channels
        self.controlnet_cond_embedding = ConditioningEmbedding(channels[0])
        skip_channels = [channels[0]]
        for i, width in enumerate(channels):
            skip_channels += [width] * (config.layers_per_block + (i < len(channels) - 1))
        self.controlnet_down_blocks = nn.ModuleList(_zero_conv(width) for width in skip_channels)
        self.controlnet_mid_block = _zero_conv(channels[-1])

    def embed(self, control: torch.Tensor) -> torch.Tensor:
        """The condition embedding: [B, 5, F, H, W] -> [B, C0, F, H, W].

        It does not depend on the timestep, so a sampler may compute it once and pass it to every step.
        """
        if control.ndim != 5 or control.shape[1] != CONTROL_CHANNELS:
            raise ValueError(f"control: expected [B, {CONTROL_CHANNELS}, F, H, W] (flow latent + mask at latent "
                             f"size), got {list(control.shape)}")
        return self.controlnet_cond_embedding(control)

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor,
                control: torch.Tensor | None = None, *, control_embedding: torch.Tensor | None = None,
                stride: torch.Tensor | None = None, scale: float = 1.0,
                temporal_context: Any = None) -> ControlResiduals:
        """Residuals for the UNet, already multiplied by ``scale``.

        ``sample``, ``timestep``, ``encoder_hidden_states``, ``stride``: exactly what the UNet gets.
        ``control``: [B, 5, F, H, W] at latent resolution, or instead ``control_embedding`` = ``embed(control)``.
        """
        check_sample(sample, self.config.in_channels, encoder_hidden_states)
        if (control is None) == (control_embedding is None):
            raise ValueError("control: give either the control or its embedding")
        embedding = self.embed(control) if control is not None else control_embedding
        expected = [sample.shape[0], self.config.block_out_channels[0], *sample.shape[2:]]
        if list(embedding.shape) != expected:
            raise ValueError(f"control: expected {[expected[0], CONTROL_CHANNELS, *expected[2:]]} (flow latent + "
                             f"mask at latent size), got an embedding of {list(embedding.shape)}")
        frames = sample.shape[2]
        inputs = block_inputs(self, sample, timestep, encoder_hidden_states, stride, temporal_context)
        hidden = self.conv_in(fold_frames(sample)) + fold_frames(embedding)
        skips = [hidden]
        for block in self.down_blocks:
            hidden, block_skips = block(hidden, inputs)
            skips.extend(block_skips)
        hidden = self.mid_block(hidden, inputs)

        def residual(conv: nn.Conv2d, state: torch.Tensor) -> torch.Tensor:
            return rearrange(conv(state) * scale, "(b f) c h w -> b c f h w", f=frames)

        return ControlResiduals(
            down=tuple(residual(conv, skip) for conv, skip in zip(self.controlnet_down_blocks, skips)),
            mid=residual(self.controlnet_mid_block, hidden),
        )
