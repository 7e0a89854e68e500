"""Forward splatting and backward warping on cases with known answers (the official kernel is in fx5)."""

import math

import pytest
import torch

from motion_i2v import warp
from motion_i2v.warp import backward_warp, forward_splat


@pytest.fixture(params=["scatter", "sparse"], autouse=True)
def splat_path(request, monkeypatch):
    """Run every test through both accumulation paths, in steps smaller than C and than H*W."""
    monkeypatch.setattr(warp, "SPARSE_MIN_CHANNELS", 10**9 if request.param == "scatter" else 1)
    monkeypatch.setattr(warp, "CHUNK_ELEMENTS", 100)  # a few channels per step at these sizes
    monkeypatch.setattr(warp, "CONTRIBUTIONS_PER_STEP", 64)  # a few pixels per scatter step
    return request.param


def constant_flow(frames, height, width, dx, dy):
    flow = torch.empty(frames, 2, height, width)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def random_source(frames=2, channels=3, height=6, width=10, seed=0):
    return torch.rand(frames, channels, height, width, generator=torch.Generator().manual_seed(seed)) + 0.5


@pytest.mark.parametrize("mode", ["avg", "sum"])
def test_integer_shift_moves_pixels_exactly_and_leaves_zero_holes(mode):
    source = random_source()
    out = forward_splat(source, constant_flow(2, 6, 10, dx=2, dy=-1), mode=mode)
    # (x, y) -> (x + 2, y - 1): target rows 0..4 take source rows 1..5, columns 2..9 take 0..7.
    expected = torch.zeros_like(source)
    expected[:, :, 0:5, 2:10] = source[:, :, 1:6, 0:8]
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    assert (out[:, :, 5] == 0).all() and (out[:, :, :, :2] == 0).all()


def test_zero_flow_is_identity():
    source = random_source()
    flow = torch.zeros(2, 2, 6, 10)
    assert torch.equal(forward_splat(source, flow, mode="sum"), source)
    torch.testing.assert_close(forward_splat(source, flow), source, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("dx, dy", [(10, 0), (-10.5, 0), (0, 6), (0, -6.25), (1e30, 0), (3, -1e30)])
def test_vectors_leaving_the_image_drop_their_pixels(dx, dy):
    source = random_source()
    assert (forward_splat(source, constant_flow(2, 6, 10, dx, dy)) == 0).all()
    assert (forward_splat(source, constant_flow(2, 6, 10, dx, dy), mode="sum") == 0).all()


def test_two_sources_on_one_target_average():
    source = torch.tensor([3.0, 5.0, 7.0]).view(1, 1, 1, 3)
    flow = torch.zeros(1, 2, 1, 3)
    flow[0, 0] = torch.tensor([1.0, 0.0, 5.0])  # pixel 0 joins pixel 1, pixel 2 leaves the image
    assert forward_splat(source, flow, mode="avg").flatten().tolist() == pytest.approx([0.0, 4.0, 0.0])
    assert forward_splat(source, flow, mode="sum").flatten().tolist() == pytest.approx([0.0, 8.0, 0.0])


def test_fractional_shift_splits_the_weight_bilinearly():
    source = torch.zeros(1, 2, 4, 4)
    source[0, :, 1, 1] = torch.tensor([2.0, -4.0])
    flow = constant_flow(1, 4, 4, dx=100, dy=0)  # every other pixel leaves the image
    flow[0, :, 1, 1] = torch.tensor([0.25, 0.5])
    out = forward_splat(source, flow, mode="sum")
    # (1.25, 1.5): x weights 0.75 / 0.25 on columns 1 / 2, y weights 0.5 / 0.5 on rows 1 / 2.
    weights = torch.zeros(4, 4)
    weights[1:3, 1] = 0.75 * 0.5
    weights[1:3, 2] = 0.25 * 0.5
    torch.testing.assert_close(out[0], source[0, :, 1, 1, None, None] * weights)
    averaged = forward_splat(source, flow)
    expected_average = source[0, :, 1, 1, None, None].expand(2, 2, 2)
    torch.testing.assert_close(averaged[0, :, 1:3, 1:3], expected_average, atol=1e-6, rtol=1e-6)
    assert (averaged[0, :, 0] == 0).all() and (averaged[0, :, 3] == 0).all()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("channel", [0, 1])
def test_non_finite_flow_pixels_are_skipped(bad, channel):
    source = random_source()
    flow = torch.zeros(2, 2, 6, 10)
    flow[1, channel, 2, 3] = bad
    expected = source.clone()
    expected[1, :, 2, 3] = 0
    assert torch.equal(forward_splat(source, flow, mode="sum"), expected)
    torch.testing.assert_close(forward_splat(source, flow), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "source_shape, flow_shape",
    [
        ((3, 6, 10), (1, 2, 6, 10)),  # source not 4-D
        ((1, 3, 6, 10), (1, 3, 6, 10)),  # flow with 3 channels
        ((2, 3, 6, 10), (1, 2, 6, 10)),  # N differs
        ((1, 3, 6, 10), (1, 2, 6, 11)),  # W differs
    ],
)
def test_bad_shapes_raise(source_shape, flow_shape):
    with pytest.raises(ValueError, match="forward_splat"):
        forward_splat(torch.zeros(source_shape), torch.zeros(flow_shape))
    if len(source_shape) == 4:
        with pytest.raises(ValueError, match="backward_warp"):
            backward_warp(torch.zeros(source_shape), torch.zeros(flow_shape))


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="'avg' or 'sum', got 'max'"):
        forward_splat(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2), mode="max")


@pytest.mark.parametrize("dtype, big", [(torch.float16, 2048.0), (torch.bfloat16, 256.0)])
def test_low_precision_sources_accumulate_in_float32(dtype, big):
    # Nine pixels land on pixel 0: big + 8 * 1. Adding 1 to `big` rounds back to `big` in this
    # dtype, so only a float32 accumulator gets big + 8, which the dtype represents exactly.
    source = torch.tensor([big] + [1.0] * 8, dtype=dtype).view(1, 1, 1, 9)
    flow = torch.zeros(1, 2, 1, 9)
    flow[0, 0] = -torch.arange(9.0)
    out = forward_splat(source, flow, mode="sum")
    assert out.dtype == dtype
    assert out[0, 0, 0, 0].item() == big + 8
    averaged = forward_splat(source, flow)
    assert averaged.dtype == dtype and averaged[0, 0, 0, 0].item() == pytest.approx((big + 8) / 9, rel=1e-2)


def test_channels_last_source_gives_the_same_values_in_its_memory_format():
    source = random_source(channels=5)
    flow = torch.randn(2, 2, 6, 10, generator=torch.Generator().manual_seed(1)) * 3
    out = forward_splat(source.contiguous(memory_format=torch.channels_last), flow)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, forward_splat(source, flow))


def test_the_two_paths_agree_on_a_random_field(monkeypatch):
    source = random_source(channels=7, height=12, width=9)
    flow = torch.randn(2, 2, 12, 9, generator=torch.Generator().manual_seed(2)) * 4
    ours = forward_splat(source, flow)
    monkeypatch.setattr(warp, "SPARSE_MIN_CHANNELS", 1 if warp.SPARSE_MIN_CHANNELS > 1 else 10**9)
    torch.testing.assert_close(ours, forward_splat(source, flow), atol=1e-6, rtol=1e-5)


def test_backward_warp_zero_flow_is_identity():
    source = random_source()
    torch.testing.assert_close(backward_warp(source, torch.zeros(2, 2, 6, 10)), source, atol=1e-6, rtol=1e-6)


def test_backward_warp_integer_shift_samples_exactly():
    source = random_source()
    out = backward_warp(source, constant_flow(2, 6, 10, dx=2, dy=-1))
    # Output (x, y) reads source (x + 2, y - 1); outside reads are zero padding.
    expected = torch.zeros_like(source)
    expected[:, :, 1:6, 0:8] = source[:, :, 0:5, 2:10]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
