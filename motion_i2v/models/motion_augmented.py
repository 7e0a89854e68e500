"""Motion-augmented temporal attention: the stage-2 "forward" motion modules
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/animation/models/forward_motion_module.py#L447-L619).

In every temporal attention of the animation UNet, the layer-normed frame-0 features are
forward-splatted along the motion field to every later frame, and the frames attend over both
their own tokens and these warped copies of the reference:

    tokens  = [h0, w1, h1, w2, h2, ..., w(F-1), h(F-1)]     # 2F-1 tokens, w_i = splat(h0, f_0->i)
    tokens += PE[0 .. 2F-2]                                  # originals at even, warped at odd indices
    q = to_q(tokens[0::2])     k, v = to_k(tokens), to_v(tokens)
    out = to_out(softmax(q k^T / sqrt(d)) v)                 # F queries over 2F-1 keys, per pixel

No weights are added. Since attention without a mask does not depend on the order of its keys,
the interleaved sequence is never built: the keys are ``[originals + even PE, warped + odd PE]``.

Reference pairing under classifier-free guidance. The official code tiles the batch of frame-0
features ``B`` times over ``F-1`` frames (``repeat``) but lays the flows out batch-major, so the
warped token of (sample b, frame i) comes from the frame-0 feature of sample
``(b * (F-1) + i - 1) % B`` (fx4's "batching quirk"). With the CFG batch [uncond, cond] the
two halves' references alternate frame by frame. The released weights were fine-tuned with this
pairing, so it is the default ("official"); "per_sample" warps every sample's own reference, the
intended behaviour, which the weights were not trained with. A host that lays the CFG batch out in
another order (ComfyUI runs [positive, negative] or [negative, positive] as memory allows) says where
each of its samples sits in the official [negative, positive] batch (``MotionGuidance.order``), and
gets the official pairing all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from einops import rearrange

from ..flow import resize_field
from ..warp import forward_splat
from .motion_module import (
    TemporalAttention,
    TemporalAttnProcessor,
    TemporalCall,
    merge_heads,
    set_temporal_processor,
    split_heads,
)

PAIRINGS = ("official", "per_sample")


@dataclass(frozen=True)
class MotionGuidance:
    """The per-call temporal context of the animation UNet: the field that guides the rendering.

    ``flow``: [F, 2, H, W] (shared by the whole batch) or [B, F, 2, H, W] float pixels at image
    resolution, channel 0 = dx, frame 0 = 0, the displacement of the reference frame to frame i.
    ``pairing``: which sample's frame-0 feature is warped for each sample (see the module doc).
    ``order``: for each sample of the UNet batch, its index in the official CFG batch [negative,
    positive] (a permutation of 0..B-1); None when the UNet batch is in that order.
    The field is resized once per feature size and kept (the attention runs at 4 sizes, 42 times
    per UNet call at the official configuration).
    """

    flow: torch.Tensor
    pairing: str = "official"
    order: tuple[int, ...] | None = None
    _resized: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pairing not in PAIRINGS:
            raise ValueError(f"motion guidance: pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        flow = self.flow
        if not isinstance(flow, torch.Tensor) or flow.ndim not in (4, 5) or flow.shape[-3] != 2:
            shape = list(flow.shape) if isinstance(flow, torch.Tensor) else type(flow).__name__
            raise ValueError(f"motion guidance: flow must be [F, 2, H, W] or [B, F, 2, H, W], got {shape}")
        if flow.ndim == 4:
            object.__setattr__(self, "flow", flow[None])

    def in_order(self, order) -> MotionGuidance:
        """The same guidance for a UNet batch laid out as ``order`` (see ``order``); shares the resized fields."""
        guidance = replace(self, order=tuple(order))
        object.__setattr__(guidance, "_resized", self._resized)
        return guidance

    def at(self, height: int, width: int) -> torch.Tensor:
        """The field at a feature size: [B, F, 2, height, width] float32, vectors in feature pixels."""
        key = (height, width)
        if key not in self._resized:
            batch = self.flow.shape[0]
            flat = rearrange(self.flow.float(), "b f two h w -> (b f) two h w")
            resized = resize_field(flat, height, width)
            self._resized[key] = rearrange(resized, "(b f) two h w -> b f two h w", b=batch)
        return self._resized[key]


def reference_sources(batch: int, frames: int, pairing: str, order: tuple[int, ...] | None = None) -> torch.Tensor:
    """Which sample's frame 0 is warped to each (sample, frame >= 1): [B * (F-1)] int64, sample-major.

    ``order``: each sample's index in the official batch (None: the batch is in the official order).
    """
    slots = torch.arange(batch * (frames - 1))
    if pairing == "per_sample":
        return slots // (frames - 1)
    if order is None:
        return slots % batch  # the official .repeat(F-1) tiling
    if sorted(order) != list(range(batch)):
        raise ValueError(f"motion guidance: order must place the {batch} samples of the batch, got {order}")
    position = torch.tensor(order)  # sample -> its index in the official batch
    official_slots = position[slots // (frames - 1)] * (frames - 1) + slots % (frames - 1)
    return torch.argsort(position)[official_slots % batch]


def warp_reference(hidden: torch.Tensor, guidance: MotionGuidance, height: int, width: int) -> torch.Tensor:
    """Forward-splat every sample's frame-0 tokens to frames 1..F-1.

    ``hidden``: [(B H W), F, C] layer-normed tokens. Returns the warped tokens [(B H W), F-1, C]
    in ``hidden``'s dtype; the splat runs in float32 on detached features, as the official code's.
    """
    frames, channels = hidden.shape[1], hidden.shape[2]
    batch = hidden.shape[0] // (height * width)
    flow = guidance.at(height, width).to(hidden.device)
    if flow.shape[0] not in (1, batch) or flow.shape[1] != frames:
        raise ValueError(
            f"motion guidance: the field has batch {flow.shape[0]} and {flow.shape[1]} frames, "
            f"the UNet runs batch {batch} with {frames} frames"
        )
    flow = rearrange(flow[:, 1:].expand(batch, -1, -1, -1, -1), "b f two h w -> (b f) two h w")
    reference = rearrange(hidden[:, 0].detach().float(), "(b h w) c -> b c h w", h=height, w=width)
    sources = reference[reference_sources(batch, frames, guidance.pairing, guidance.order).to(hidden.device)]
    warped = forward_splat(sources, flow, mode="avg")
    warped = rearrange(warped, "(b f) c h w -> (b h w) f c", b=batch, c=channels)
    return warped.to(hidden.dtype)


def augmented_attention(attn: TemporalAttention, hidden: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
    """Temporal attention of the frames over themselves and the warped reference tokens.

    ``attn``: a motion module's ``TemporalAttention`` (to_q/k/v/out, heads, ``pos_encoder.pe``
    [1, P, C] with P >= 2F-1). ``hidden``: [N, F, C] (N = B*H*W); ``warped``: [N, F-1, C].
    Returns [N, F, C].
    """
    frames = hidden.shape[1]
    positions = attn.pos_encoder.pe[0, : 2 * frames - 1].to(hidden)
    queries = hidden + positions[0::2]
    keys = torch.cat([queries, warped + positions[1::2]], dim=1)
    q, k, v = (split_heads(proj(tokens), attn.heads) for proj, tokens in
               ((attn.to_q, queries), (attn.to_k, keys), (attn.to_v, keys)))
    return attn.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


def max_guided_frames(max_positions: int) -> int:
    """The most frames one pass renders: 2F-1 interleaved tokens fit ``max_positions`` PE positions (16 for 32)."""
    return (max_positions + 1) // 2


def check_frames(frames: int, max_positions: int) -> None:
    """Raise unless 2F-1 interleaved tokens fit the positional table (F <= 16 for max_len 32)."""
    if frames > max_guided_frames(max_positions):
        raise ValueError(
            f"frames: the motion-augmented attention interleaves 2F-1 tokens and the positional "
            f"encoding has {max_positions} positions, so at most {max_guided_frames(max_positions)} frames; "
            f"got {frames}"
        )


class MotionAugmentedProcessor:
    """Temporal processor of the animation UNet: motion-augmented when the UNet call's
    ``temporal_context`` is a ``MotionGuidance``, plain AnimateDiff attention otherwise."""

    plain = TemporalAttnProcessor()

    def __call__(self, attn: TemporalAttention, hidden: torch.Tensor, call: TemporalCall) -> torch.Tensor:
        if not isinstance(call.context, MotionGuidance) or call.frames == 1:
            return self.plain(attn, hidden, call)
        check_frames(call.frames, attn.pos_encoder.pe.shape[1])
        warped = warp_reference(hidden, call.context, call.height, call.width)
        return augmented_attention(attn, hidden, warped)


def install_motion_augmentation(unet: torch.nn.Module) -> int:
    """Give every temporal attention of ``unet`` the motion-augmented processor; returns how many."""
    processor = MotionAugmentedProcessor()
    return set_temporal_processor(unet, lambda name, attn: processor)
