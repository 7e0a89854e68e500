"""Tiny stand-ins for the CLIP and VAE that ComfyUI's CheckpointLoaderSimple returns, for workflow tests.

A tiny checkpoint (``write_tiny_checkpoint``) is a safetensors file with ``first_stage_model.*``, an
AutoencoderKL of the pack's tiny ``image_vae`` config (diffusers key names, 4 latent channels, 8x
downscale like SD1.5's), and ``cond_stage_model.*``, a ``TinyTextEncoder`` whose width is the tiny
models' ``cross_attention_dim``, so its prompts fit the tiny UNets. ``TinyVAE`` and ``TinyCLIP`` offer
the methods of ``comfy.sd.VAE`` / ``comfy.sd.CLIP`` that core nodes and ours call, with ComfyUI's
conventions (COMFYUI.md A.2):

- ``TinyVAE.encode(IMAGE [B, H, W, C] in 0..1) -> [B, 4, H/8, W/8]``: cropped to a multiple of 8, mapped
  to [-1, 1], the posterior mean, unscaled; ``decode(latent) -> IMAGE`` clamps ``(x + 1) / 2`` to 0..1.
- ``TinyCLIP.tokenize(text) -> {"l": [[(token, weight), ...], ...]}`` in windows of 77 (start, 75
  tokens, end, padded with end); ``encode_from_tokens_scheduled(tokens)`` -> CONDITIONING
  ``[[cond [1, 77 k, D], {"pooled_output": [1, D]}]]``.

The tokens are UTF-8 bytes: the stand-in needs prompts to change the embeddings, not to understand them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

CONTEXT = 77
START, END = 256, 257
VAE_PREFIX, TEXT_PREFIX = "first_stage_model.", "cond_stage_model."
TINY_CHECKPOINT = "tiny_sd15.safetensors"
SEED = 20240126


def random_state(module: nn.Module, prefix: str, generator: torch.Generator, dtype=torch.float32) -> dict:
    """The module's state with random floats under ``prefix``: norms 1, biases 0, the rest N(0, 0.02)."""
    state = {}
    for name, value in module.state_dict().items():
        if not value.is_floating_point():
            state[prefix + name] = value.clone()
        elif name.endswith("bias"):
            state[prefix + name] = torch.zeros(value.shape, dtype=dtype)
        elif value.ndim == 1 and name.endswith("weight"):
            state[prefix + name] = torch.ones(value.shape, dtype=dtype)
        else:
            state[prefix + name] = (torch.randn(value.shape, generator=generator) * 0.02).to(dtype)
    return state


def text_width() -> int:
    """The tiny models' text width (``cross_attention_dim`` of the tiny stage-1 and stage-2 UNets)."""
    configs = Path(__file__).resolve().parents[1] / "motion_i2v" / "configs" / "tiny"
    widths = {json.loads((configs / f"{kind}.json").read_text())["cross_attention_dim"]
              for kind in ("flow_unet", "animation_unet")}
    if len(widths) != 1:
        raise ValueError(f"the tiny UNets disagree on the text width: {sorted(widths)}")
    return widths.pop()


class TinyTextEncoder(nn.Module):
    """Byte embeddings, one causal pre-norm transformer layer, a final norm: [B, 77] -> [B, 77, D]."""

    def __init__(self, width: int):
        super().__init__()
        self.token = nn.Embedding(END + 1, width)
        self.position = nn.Parameter(torch.empty(CONTEXT, width))
        self.layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=2 * width, batch_first=True,
                                                norm_first=True)
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(states [B, 77, D], pooled [B, D] = the state at the first end token, as CLIP pools)."""
        causal = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
        states = self.norm(self.layer(self.token(tokens) + self.position, src_mask=causal, is_causal=True))
        pooled = states[torch.arange(tokens.shape[0]), (tokens == END).int().argmax(dim=1)]
        return states, pooled


def _image_vae(device="meta"):
    from motion_i2v.weights.loader import build_model

    return build_model("image_vae", "tiny", device=device)


def write_tiny_checkpoint(folder: Path, name: str = TINY_CHECKPOINT) -> Path:
    """Write the tiny checkpoint (random weights from a fixed seed) into ``folder``; returns its path."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(SEED)
    with torch.device("meta"):
        text = TinyTextEncoder(text_width())
    state = random_state(_image_vae(), VAE_PREFIX, generator) | random_state(text, TEXT_PREFIX, generator)
    path = Path(folder) / name
    save_file(state, path)
    return path


class TinyVAE:
    """``comfy.sd.VAE``'s encode/decode on a tiny diffusers AutoencoderKL."""

    downscale_ratio = upscale_ratio = 8
    latent_channels = 4
    latent_dim = 2

    def __init__(self, state: dict):
        self.first_stage_model = _image_vae()
        self.first_stage_model.load_state_dict(state, assign=True)
        self.first_stage_model.eval()

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        height, width = (pixels.shape[1] // 8) * 8, (pixels.shape[2] // 8) * 8
        pixels = pixels[:, :height, :width, :3].movedim(-1, 1) * 2.0 - 1.0
        return self.first_stage_model.encode(pixels).latent_dist.mode().float()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        images = self.first_stage_model.decode(latent.float()).sample
        return ((images + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1)


class TinyCLIP:
    """``comfy.sd.CLIP``'s tokenize / encode_from_tokens(_scheduled) on a ``TinyTextEncoder``."""

    def __init__(self, state: dict):
        width = state["position"].shape[1]
        with torch.device("meta"):
            self.encoder = TinyTextEncoder(width)
        self.encoder.load_state_dict(state, assign=True)
        self.encoder.eval()

    def tokenize(self, text: str) -> dict:
        data = list(text.encode("utf-8")) or [END]
        windows = [data[start:start + CONTEXT - 2] for start in range(0, len(data), CONTEXT - 2)]
        return {"l": [[(token, 1.0) for token in [START, *window] + [END] * (CONTEXT - 1 - len(window))]
                      for window in windows]}

    def encode_from_tokens(self, tokens: dict, return_pooled: bool = False):
        ids = torch.tensor([[token for token, _ in window] for window in tokens["l"]])
        states, pooled = self.encoder(ids)
        cond = states.reshape(1, -1, states.shape[-1])  # windows side by side along the tokens, as ComfyUI joins them
        return (cond, pooled[:1]) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: dict) -> list:
        cond, pooled = self.encode_from_tokens(tokens, return_pooled=True)
        return [[cond, {"pooled_output": pooled}]]


def load_tiny_checkpoint(path: Path) -> tuple[TinyCLIP, TinyVAE]:
    from safetensors.torch import load_file

    state = load_file(str(path))
    parts = {prefix: {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
             for prefix in (VAE_PREFIX, TEXT_PREFIX)}
    if not all(parts.values()):
        raise ValueError(f"{path} is not a tiny checkpoint: it needs {VAE_PREFIX}* and {TEXT_PREFIX}* keys")
    return TinyCLIP(parts[TEXT_PREFIX]), TinyVAE(parts[VAE_PREFIX])
