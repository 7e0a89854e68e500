"""The motion-augmented temporal attention against a naive, loop-by-loop transcription of the official code."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange

from motion_i2v.models.motion_augmented import (
    MotionAugmentedProcessor,
    MotionGuidance,
    check_frames,
    reference_sources,
    warp_reference,
)
from motion_i2v.models.motion_module import TemporalAttention, TemporalAttnProcessor, TemporalCall

HEIGHT, WIDTH, CHANNELS, HEADS = 3, 4, 8, 2


def naive_splat(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """softsplat "avg", one source pixel at a time. source [C, H, W], flow [2, H, W]."""
    channels, height, width = source.shape
    total = torch.zeros(channels, height, width, dtype=torch.float64)
    weight = torch.zeros(height, width, dtype=torch.float64)
    for y in range(height):
        for x in range(width):
            tx, ty = x + float(flow[0, y, x]), y + float(flow[1, y, x])
            left, top = math.floor(tx), math.floor(ty)
            for col, wx in ((left, 1 - (tx - left)), (left + 1, tx - left)):
                for row, wy in ((top, 1 - (ty - top)), (top + 1, ty - top)):
                    if 0 <= col < width and 0 <= row < height:
                        total[:, row, col] += source[:, y, x].double() * wx * wy
                        weight[row, col] += wx * wy
    return (total / (weight + 1e-7)).float()


def naive_official(attn, hidden, flow, positions, pairing):
    """forward_motion_module.VersatileAttention.forward, spelled out. hidden [(B L), HW, C], flow [B, L, 2, H, W]."""
    batch, frames = flow.shape[:2]
    video = hidden.reshape(batch, frames, HEIGHT, WIDTH, CHANNELS)
    reference = video[:, 0].permute(0, 3, 1, 2)
    if pairing == "official":
        tiled = reference.repeat(frames - 1, 1, 1, 1)  # the official tiling: slot k <- sample k % B
    else:
        tiled = reference.repeat_interleave(frames - 1, dim=0)
    flows = flow[:, 1:].reshape(batch * (frames - 1), 2, HEIGHT, WIDTH)
    warped = torch.stack([naive_splat(tiled[k], flows[k]) for k in range(len(flows))])
    warped = warped.reshape(batch, frames - 1, CHANNELS, HEIGHT * WIDTH).permute(0, 1, 3, 2)
    tokens = hidden.reshape(batch, frames, HEIGHT * WIDTH, CHANNELS)
    sequence = [tokens[:, 0]]
    for i in range(frames - 1):
        sequence += [warped[:, i], tokens[:, i + 1]]
    sequence = torch.stack(sequence, dim=1) + positions[: 2 * frames - 1, None]  # [B, 2L-1, HW, C]
    out = torch.empty(batch, frames, HEIGHT * WIDTH, CHANNELS)
    head_dim = CHANNELS // HEADS
    for b in range(batch):
        for p in range(HEIGHT * WIDTH):
            q = attn.to_q(sequence[b, 0::2, p])
            k, v = attn.to_k(sequence[b, :, p]), attn.to_v(sequence[b, :, p])
            heads = []
            for h in range(HEADS):
                part = slice(h * head_dim, (h + 1) * head_dim)
                weights = torch.softmax(q[:, part] @ k[:, part].T / math.sqrt(head_dim), dim=-1)
                heads.append(weights @ v[:, part])
            out[b, :, p] = attn.to_out[0](torch.cat(heads, dim=-1))
    return out.reshape(batch * frames, HEIGHT * WIDTH, CHANNELS)


def fold(hidden, frames):
    """[(B F), (H W), C] -> the processor's [(B H W), F, C]."""
    return rearrange(hidden, "(b f) s c -> (b s) f c", f=frames)


def unfold(hidden, frames, batch):
    return rearrange(hidden, "(b s) f c -> (b f) s c", b=batch)


@pytest.fixture
def case():
    generator = torch.Generator().manual_seed(0)
    batch, frames = 2, 4
    attn = TemporalAttention(CHANNELS, HEADS, max_len=32)
    for tensor in attn.state_dict().values():
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.5)
    hidden = torch.randn(batch * frames, HEIGHT * WIDTH, CHANNELS, generator=generator)
    flow = torch.randn(batch, frames, 2, HEIGHT, WIDTH, generator=generator) * 1.5
    flow[:, 0] = 0
    return attn, hidden, flow, attn.pos_encoder.pe[0], batch, frames


@pytest.mark.parametrize("pairing", ["official", "per_sample"])
def test_matches_the_naive_official_attention(case, pairing):
    attn, hidden, flow, positions, batch, frames = case
    call = TemporalCall(frames, HEIGHT, WIDTH, MotionGuidance(flow, pairing=pairing))
    with torch.no_grad():
        ours = unfold(MotionAugmentedProcessor()(attn, fold(hidden, frames), call), frames, batch)
        expected = naive_official(attn, hidden, flow, positions, pairing)
    torch.testing.assert_close(ours, expected, atol=2e-5, rtol=1e-5)


def test_the_pairings_differ_only_across_samples(case):
    attn, hidden, flow, positions, batch, frames = case
    tokens = fold(hidden, frames)
    official = warp_reference(tokens, MotionGuidance(flow, "official"), HEIGHT, WIDTH)
    per_sample = warp_reference(tokens, MotionGuidance(flow, "per_sample"), HEIGHT, WIDTH)
    assert (official - per_sample).abs().max() > 0.1
    single = fold(hidden[:frames], frames)
    torch.testing.assert_close(
        warp_reference(single, MotionGuidance(flow[:1], "official"), HEIGHT, WIDTH),
        warp_reference(single, MotionGuidance(flow[:1], "per_sample"), HEIGHT, WIDTH),
        atol=0, rtol=0,
    )


def test_official_sources_alternate_under_cfg():
    # B=2, F=4: slots (b, i) = (0,1) (0,2) (0,3) (1,1) (1,2) (1,3) take sample k % 2
    assert reference_sources(2, 4, "official").tolist() == [0, 1, 0, 1, 0, 1]
    assert reference_sources(2, 4, "per_sample").tolist() == [0, 0, 0, 1, 1, 1]


def test_official_sources_follow_the_samples_when_the_batch_is_reordered():
    # F=3, official [negative, positive]: both samples warp negative to frame 1, positive to frame 2 (slots 0..3
    # take official sample k % 2). Batched [positive, negative] (order (1, 0)) that is batch samples 1 then 0.
    assert reference_sources(2, 3, "official").tolist() == [0, 1, 0, 1]
    assert reference_sources(2, 3, "official", (1, 0)).tolist() == [1, 0, 1, 0]
    # F=4: negative takes (neg, pos, neg), positive (pos, neg, pos): swapping the samples swaps the sources too
    assert reference_sources(2, 4, "official", (1, 0)).tolist() == [0, 1, 0, 1, 0, 1]
    assert reference_sources(2, 3, "official", (0, 1)).tolist() == reference_sources(2, 3, "official").tolist()
    assert reference_sources(2, 4, "per_sample", (1, 0)).tolist() == [0, 0, 0, 1, 1, 1]
    assert reference_sources(1, 4, "official", (0,)).tolist() == [0, 0, 0]  # a half alone warps its own
    with pytest.raises(ValueError, match="order must place the 2 samples"):
        reference_sources(2, 4, "official", (1, 1))


@pytest.mark.parametrize("pairing", ["official", "per_sample"])
def test_a_reordered_batch_gets_the_same_warped_tokens(case, pairing):
    attn, hidden, flow, positions, batch, frames = case
    guidance = MotionGuidance(flow[:1], pairing)
    tokens = rearrange(hidden, "(b f) (h w) c -> b f h w c", f=frames, h=HEIGHT)
    in_order = warp_reference(fold(hidden, frames), guidance, HEIGHT, WIDTH)
    swapped = rearrange(tokens.flip(0), "b f h w c -> (b h w) f c")
    reordered = warp_reference(swapped, guidance.in_order((1, 0)), HEIGHT, WIDTH)
    expected = rearrange(in_order, "(b h w) f c -> b (h w) f c", b=batch, h=HEIGHT).flip(0)
    torch.testing.assert_close(rearrange(reordered, "(b h w) f c -> b (h w) f c", b=batch, h=HEIGHT), expected,
                               atol=0, rtol=0)
    assert guidance.in_order((1, 0))._resized is guidance._resized


def test_without_guidance_it_is_plain_temporal_attention(case):
    attn, hidden, flow, positions, batch, frames = case
    tokens = fold(hidden, frames)
    with torch.no_grad():
        plain = TemporalAttnProcessor()(attn, tokens, TemporalCall(frames, HEIGHT, WIDTH))
        unguided = MotionAugmentedProcessor()(attn, tokens, TemporalCall(frames, HEIGHT, WIDTH, context="other"))
        guided = MotionAugmentedProcessor()(attn, tokens, TemporalCall(frames, HEIGHT, WIDTH, MotionGuidance(flow)))
    torch.testing.assert_close(unguided, plain, atol=0, rtol=0)
    assert (guided - plain).abs().max() > 0.01


def test_still_field_warps_frame_zero_onto_itself(case):
    _, hidden, flow, _, batch, frames = case
    tokens = fold(hidden, frames)
    warped = warp_reference(tokens, MotionGuidance(torch.zeros_like(flow), "per_sample"), HEIGHT, WIDTH)
    torch.testing.assert_close(warped, tokens[:, :1].expand(-1, frames - 1, -1), atol=1e-6, rtol=1e-6)


def test_half_precision_tokens_are_splatted_in_float32(case):
    _, hidden, flow, _, batch, frames = case
    tokens = fold(hidden, frames)
    guidance = MotionGuidance(flow, "official")
    reference = warp_reference(tokens, guidance, HEIGHT, WIDTH)
    half = warp_reference(tokens.bfloat16(), guidance, HEIGHT, WIDTH)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), reference, atol=0.05, rtol=0.02)


def test_field_is_resized_and_rescaled_per_feature_size():
    flow = torch.zeros(3, 2, 32, 64)
    flow[1:, 0], flow[1:, 1] = 8.0, -4.0  # pixels at 64x32
    at = MotionGuidance(flow).at(8, 16)  # features 16x8: a quarter of the size
    assert at.shape == (1, 3, 2, 8, 16)
    torch.testing.assert_close(at[0, 1, 0], torch.full((8, 16), 2.0))
    torch.testing.assert_close(at[0, 2, 1], torch.full((8, 16), -1.0))
    assert MotionGuidance(flow).at(8, 16) is not at
    guidance = MotionGuidance(flow)
    assert guidance.at(8, 16) is guidance.at(8, 16)


def test_bad_guidance_is_refused(case):
    _, hidden, flow, _, batch, frames = case
    with pytest.raises(ValueError, match="pairing must be one of"):
        MotionGuidance(flow, pairing="swapped")
    with pytest.raises(ValueError, match=r"flow must be \[F, 2, H, W\]"):
        MotionGuidance(flow[:, :, :1])
    with pytest.raises(ValueError, match="the field has batch 2 and 3 frames"):
        warp_reference(fold(hidden, frames), MotionGuidance(flow[:, :3]), HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="at most 16 frames; got 17"):
        check_frames(17, 32)
    check_frames(16, 32)
    short = TemporalAttention(CHANNELS, HEADS, max_len=6)  # 2F-1 = 7 tokens need 7 positions
    with pytest.raises(ValueError, match="at most 3 frames; got 4"):
        MotionAugmentedProcessor()(short, fold(hidden, frames), TemporalCall(frames, HEIGHT, WIDTH, MotionGuidance(flow)))
