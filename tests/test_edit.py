"""Field edits: analytic results on ramps and pans, frame 0 kept zero, shape errors."""

import pytest
import torch

from motion_i2v.edit import blend, multiply_mask, negate, ping_pong, resample, reverse, scale, smooth_time

F, H, W = 9, 4, 6


def _ramp(frames=F, speed=(2.0, -1.0)):
    """A uniform motion moving ``speed`` pixels per frame: frame i = i * speed."""
    per_frame = torch.tensor(speed).view(1, 2, 1, 1)
    return torch.arange(frames, dtype=torch.float32).view(-1, 1, 1, 1) * per_frame.expand(1, 2, H, W)


def _random(frames=F, seed=0):
    generator = torch.Generator().manual_seed(seed)
    field = torch.randn(frames, 2, H, W, generator=generator)
    field[0] = 0
    return field


def test_scale_and_negate():
    field = _random()
    assert torch.allclose(scale(field, 2.5), 2.5 * field)
    assert torch.equal(negate(field), -field)


def test_mask_of_one_frame_or_every_frame():
    field = _random()
    mask = torch.zeros(H, W)
    mask[:, :3] = 1
    masked = multiply_mask(field, mask)
    assert torch.equal(masked[..., :3], field[..., :3]) and masked[..., 3:].abs().max() == 0
    per_frame = torch.linspace(0, 1, F).view(F, 1, 1).expand(F, H, W)
    assert torch.allclose(multiply_mask(field, per_frame), field * torch.linspace(0, 1, F).view(F, 1, 1, 1))


def test_resample_interpolates_linearly_and_keeps_the_ends():
    field = _ramp()
    longer = resample(field, 17)  # 8 steps -> 16 steps, half a frame each
    assert longer.shape == (17, 2, H, W)
    assert torch.allclose(longer, _ramp(17, speed=(1.0, -0.5)), atol=1e-5)
    assert torch.equal(resample(field, 1), field[:1])


def test_reverse_of_an_eased_pan_eases_out_back_to_the_start():
    s = torch.linspace(0, 1, F)
    eased_in = s**2 * 10
    field = eased_in.view(F, 1, 1, 1) * torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(F, 2, H, W)
    back = reverse(field)
    expected = ((1 - s) ** 2 - 1) * 10  # f(F-1-i) - f(F-1) = -10 (1 - (1-s)^2), an ease_out
    assert torch.allclose(back[:, 0, 0, 0], expected, atol=1e-5)
    assert back[0].abs().max() == 0
    assert torch.allclose(reverse(_ramp()), negate(_ramp()))  # uniform speed: backwards = opposite


def test_ping_pong_is_a_seamless_loop():
    field = _ramp(5)
    loop = ping_pong(field)
    assert loop.shape == (8, 2, H, W)  # period 2 (5 - 1)
    assert loop[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8, 6, 4, 2]
    same_count = ping_pong(field, 5)  # times 0, 1.6, 3.2, 4.8, 6.4 -> frames 0, 1.6, 3.2, 3.2, 1.6
    assert torch.allclose(same_count[:, 0, 0, 0], torch.tensor([0.0, 3.2, 6.4, 6.4, 3.2]), atol=1e-5)


def test_blend_weights_the_two_fields():
    first, second = _random(seed=1), _random(seed=2)
    assert torch.allclose(blend(first, second, 0.25), 0.75 * first + 0.25 * second)
    assert torch.equal(blend(first, second, 0.0), first)


def test_smoothing_keeps_a_uniform_motion_and_frame_zero():
    field = _ramp(16)
    smoothed = smooth_time(field, 1.5)
    assert smoothed[0].abs().max() == 0
    # Away from the end (radius 5), a straight motion through the origin is unchanged.
    assert torch.allclose(smoothed[:10], field[:10], atol=1e-4)
    assert torch.equal(smooth_time(field, 0.0), field)


def test_smoothing_removes_jitter():
    field = _ramp(16) + 0.5 * _random(16, seed=3)
    field[0] = 0
    jitter_before = (field[2:] - 2 * field[1:-1] + field[:-2]).abs().mean()
    smoothed = smooth_time(field, 2.0)
    jitter_after = (smoothed[2:] - 2 * smoothed[1:-1] + smoothed[:-2]).abs().mean()
    assert smoothed[0].abs().max() == 0 and jitter_after < jitter_before / 3


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: multiply_mask(_random(), torch.ones(H, W + 1)), r"mask: expected \[H, W\] or \[F, H, W\]"),
        (lambda: multiply_mask(_random(), torch.ones(F + 1, H, W)), "mask: expected"),
        (lambda: blend(_random(), _random(F + 1), 0.5), "blend: the motion fields differ in shape"),
        (lambda: resample(_random(), 0), r"frames: expected an integer in 1\.\.256, got 0"),
        (lambda: resample(_random(), 100000), r"frames: expected an integer in 1\.\.256, got 100000"),
        (lambda: ping_pong(_random(), 0), r"frames: expected an integer in 1\.\.256"),
        (lambda: resample(_random(), 4.5), r"frames: expected an integer in 1\.\.256, got 4\.5"),
        (lambda: smooth_time(_random(), -1.0), r"smoothing sigma: expected a finite number in 0\.\.100"),
        (lambda: smooth_time(_random(), float("nan")), r"smoothing sigma: expected a finite number in 0\.\.100"),
        (lambda: scale(_random(), float("inf")), "scale factor: expected a finite number"),
        (lambda: scale(_random(), "2"), "scale factor: expected a finite number, got '2'"),
        (lambda: blend(_random(), _random(), float("nan")), "blend weight: expected a finite number, got nan"),
        (lambda: multiply_mask(_random(), torch.full((H, W), float("nan"))), "mask: contains NaN"),
        (lambda: scale(torch.zeros(F, H, W), 1.0), r"motion field: expected shape \[F, 2, H, W\]"),
    ],
)
def test_bad_edit_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_edits_larger_than_the_memory_are_refused_before_allocating(monkeypatch):
    from motion_i2v import memory

    monkeypatch.setattr(memory, "ram_available", lambda: 100 * 1024)  # the 9-frame field takes 1.7 KiB
    field = _random()
    # the result, two interpolated frames and their sum: 4 x 256 x 2 x 4 x 6 x 4 bytes
    with pytest.raises(memory.NotEnoughMemory, match=r"resample \(256 frames at 6x4\): needs about 192 KiB of RAM, "
                                                     r"but 100 KiB is available"):
        resample(field, 256)
    with pytest.raises(memory.NotEnoughMemory, match=r"smoothing \(9 frames at 6x4, sigma 100\.0\)"):
        smooth_time(field, 100.0)  # a 300-frame kernel radius extends the 9 frames to 609
    assert resample(field, 8).shape == (8, 2, H, W)
