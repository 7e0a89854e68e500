"""A long field re-based per segment and composed back: camera, V2V and track-derived fields, seams, visibility."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.camera import camera_field
from motion_i2v.flow import MotionField
from motion_i2v.segments.fields import compose_segments, fill_unreached, rebase_field
from motion_i2v.segments.plan import SegmentPlan
from motion_i2v.tracks.dense import dense_field
from motion_i2v.tracks.value import Tracks
from motion_i2v.v2v import extract_motion
from synthetic_video import moving_texture

pytestmark = pytest.mark.usefixtures("single_thread")
HEIGHT, WIDTH, FRAMES = 64, 96, 46  # 46 frames = 3 segments of 16


def round_trip(field: MotionField, overlap: int = 0):
    """(the per-segment fields, the composed field, the end-point error [N, H, W] in pixels)."""
    plan = SegmentPlan(field.frames, 16, overlap)
    segments = [rebase_field(field, segment) for segment in plan]
    composed = compose_segments(plan, [segment.motion.flow for segment in segments])
    return segments, composed, (composed.flow - field.flow).norm(dim=1)


def long_tracks(count: int = 12, seed: int = 0) -> Tracks:
    """Tracks that drift and wobble over the 46 frames, staying on the canvas."""
    generator = torch.Generator().manual_seed(seed)
    time = torch.linspace(0, 1, FRAMES)[:, None, None]
    size = torch.tensor([WIDTH - 1.0, HEIGHT - 1.0])
    start = torch.rand(1, count, 2, generator=generator) * size
    velocity = (torch.rand(1, count, 2, generator=generator) - 0.5) * 40
    wobble = torch.sin(time * 6.28 * torch.rand(1, count, 1, generator=generator)) * 5
    path = (start + velocity * time + wobble).clamp(torch.zeros(2), size)
    return Tracks(path, torch.ones(FRAMES, count, dtype=torch.bool), WIDTH, HEIGHT)


@pytest.mark.parametrize("overlap", [0, 3])
@pytest.mark.parametrize("preset, amount", [
    ("pan_x", 40.3), ("pan_y", -25.0), ("zoom_in", 1.6), ("zoom_out", 1.6), ("rotate", 25.0),
])
def test_camera_fields_come_back_exactly(preset, amount, overlap):
    field = MotionField(camera_field(preset, FRAMES, HEIGHT, WIDTH, amount))
    segments, composed, error = round_trip(field, overlap)
    tracked = composed.tracked
    assert composed.flow.shape == (FRAMES, 2, HEIGHT, WIDTH)
    assert tracked[: 16 - overlap].all()  # the first segment is the long field's own slice
    assert tracked.float().mean() > 0.7
    assert error[tracked].max() < 1e-4  # bilinear reads of an affine field are exact
    for segment in segments:
        assert torch.equal(segment.motion.flow[0], torch.zeros(2, HEIGHT, WIDTH))


def test_what_leaves_the_image_is_dropped_at_the_seam():
    field = MotionField(camera_field("pan_x", FRAMES, HEIGHT, WIDTH, 45.0))  # 1 px per frame to the right
    segments, composed, _ = round_trip(field)
    # by frame 15 the 15 right columns of frame 0 left the image; by frame 30, 30 of them
    assert composed.tracked[16:31, :, -15:].sum() == 0 and composed.tracked[16:31, :, :-15].all()
    assert composed.tracked[31:, :, -30:].sum() == 0 and composed.tracked[31:, :, :-30].all()
    # and what came in from the left was never in frame 0
    assert segments[1].reached[:, :15].sum() == 0 and segments[1].reached[:, 15:].all()
    torch.testing.assert_close(segments[1].motion.flow[:, 0, :, :15], segments[1].motion.flow[:, 0, :, 20:35])


def test_a_track_derived_field_comes_back_within_interpolation_error():
    field = MotionField(dense_field(long_tracks(), radius=24.0))
    _, composed, error = round_trip(field)
    tracked = error[composed.tracked]
    assert composed.tracked.float().mean() > 0.95
    # dense_field divides by max(1, sum of weights): its gradient jumps where that sum crosses 1, and bilinear
    # reads are only first-order exact there (with a smooth normalisation the worst case is 0.02 px)
    assert tracked.mean() < 5e-3
    assert tracked.quantile(0.99) < 0.06
    assert tracked.max() < 0.5


@pytest.fixture(scope="module")
def extracted():
    """46-frame synthetic clips and their fields extracted with DIS (about 0.5 s each)."""
    return {kind: extract_motion(moving_texture(kind, frames=FRAMES, height=HEIGHT, width=WIDTH)[0])
            for kind in ("translate", "rotate", "zoom")}


@pytest.mark.parametrize("overlap", [0, 3])
@pytest.mark.parametrize("kind", ["translate", "rotate", "zoom"])
def test_a_v2v_field_comes_back_within_interpolation_error(extracted, kind, overlap):
    field = extracted[kind]
    segments, composed, error = round_trip(field, overlap)
    tracked = error[composed.tracked]
    assert composed.tracked.float().mean() > 0.8
    assert tracked.mean() < 3e-3
    assert tracked.quantile(0.99) < 0.03
    assert tracked.max() < 0.35
    for segment in segments:  # the reliability follows the pixels and is zero where nothing arrived
        reliability = segment.motion.reliability
        assert reliability.shape == (segment.motion.frames, HEIGHT, WIDTH)
        assert 0 <= reliability.min() and reliability.max() <= 1
        assert reliability[:, ~segment.reached].sum() == 0
        assert (reliability <= reliability[:1]).all()  # frame s's reliability bounds every later frame's
    assert torch.equal(segments[0].motion.reliability, field.reliability[:16])


def test_seams_are_exact():
    field = MotionField(camera_field("rotate", FRAMES, HEIGHT, WIDTH, 20.0))
    plan = SegmentPlan(FRAMES, 16)
    segments = [rebase_field(field, segment) for segment in plan]
    assert torch.equal(segments[0].motion.flow, field.flow[:16])  # segment 0 needs no re-basing
    for previous, segment, rebased in zip(plan, plan.segments[1:], segments[1:]):
        assert segment.start == previous.end  # its reference is the previous segment's last frame
        assert torch.equal(rebased.motion.flow[0], torch.zeros(2, HEIGHT, WIDTH))
    composed = compose_segments(plan, [segment.motion.flow for segment in segments])
    assert torch.equal(composed.flow[:16], field.flow[:16])


def test_occluded_and_disoccluded_content():
    flow = torch.zeros(31, 2, 48, 80)
    flow[:, 0, 16:32, 10:26] = torch.arange(31.0)[:, None, None]  # a 16 px square moves 1 px per frame right
    field = MotionField(flow)
    segments, composed, error = round_trip(field)
    # at frame 15 the square has left columns 10..24 behind: nothing of frame 0 arrives there
    unreached = ~segments[1].reached
    assert unreached[16:32, 11:25].all() and unreached.sum() <= 16 * 16
    # the square covers background at columns 26..40: one of the two is seen at each pixel, the other is hidden
    # from the seam on; whatever stays seen composes back exactly
    hidden = ~composed.tracked[16]
    assert hidden[16:32].sum() >= 16 * 15 and not hidden[:16].any() and not hidden[32:].any()
    assert error[composed.tracked].max() < 1e-4
    # the re-based field moves what is seen at frame 15: the square 1 px per frame, the background not at all
    last = segments[1].motion.flow[-1, 0, 16:32]
    assert torch.equal(last[:, 25], torch.full((16,), 15.0))  # only the square lands on column 25
    assert ((last[:, 26:41] == 15) | (last[:, 26:41] == 0)).all()
    assert torch.equal(segments[1].motion.flow[:, :, 36:], torch.zeros(16, 2, 12, 80))


def test_fill_keeps_reached_values_and_spreads_their_neighbours():
    values = torch.randn(3, 2, 20, 30, generator=torch.Generator().manual_seed(0))
    reached = torch.ones(20, 30, dtype=torch.bool)
    reached[5:12, 8:20] = False
    filled = fill_unreached(values, reached)
    assert torch.equal(filled[..., reached], values[..., reached])
    low, high = values[..., reached].amin(-1), values[..., reached].amax(-1)
    assert ((filled[..., ~reached] >= low[..., None]) & (filled[..., ~reached] <= high[..., None])).all()
    constant = torch.full((2, 20, 30), 3.5)
    torch.testing.assert_close(fill_unreached(constant.masked_fill(~reached, 99.0), reached), constant)
    assert torch.equal(fill_unreached(values, torch.zeros(20, 30, dtype=torch.bool)), torch.zeros_like(values))
    assert fill_unreached(values, torch.ones(20, 30, dtype=torch.bool)) is values


def test_rebase_calls_the_cancel_check_and_refuses_segments_past_the_field():
    field = MotionField(camera_field("pan_x", 20, 16, 24, 5.0))
    calls = []
    rebase_field(field, SegmentPlan(20, 16)[1], check_cancel=lambda: calls.append(1))
    assert calls == [1, 1]
    with pytest.raises(ValueError, match=r"motion field: segment 1 covers long frames 15\.\.30, but the field has 20 "
                                         r"frames; plan the segments for 20 frames"):
        rebase_field(field, SegmentPlan(31, 16)[1])


def test_compose_refuses_fields_that_do_not_fit_the_plan():
    plan = SegmentPlan(31, 16)
    with pytest.raises(ValueError, match="segments: the plan has 2 segments, got fields for 1"):
        compose_segments(plan, [torch.zeros(16, 2, 8, 8)])
    with pytest.raises(ValueError, match=r"segment 1: expected 16 frames \(long frames 15\.\.30\)"):
        compose_segments(plan, [torch.zeros(16, 2, 8, 8), torch.zeros(15, 2, 8, 8)])
    with pytest.raises(ValueError, match=r"segment 1 motion field: expected shape \[F, 2, H, W\]"):
        compose_segments(plan, [torch.zeros(16, 2, 8, 8), torch.zeros(16, 3, 8, 8)])


def test_work_larger_than_the_memory_is_refused_before_allocating(monkeypatch):
    from motion_i2v import memory

    field = MotionField(camera_field("pan_x", 31, 40, 64, 5.0))  # 620 KiB
    monkeypatch.setattr(memory, "ram_available", lambda: 100 * 1024)
    plan = SegmentPlan(31, 16)
    # 8 fields of 16 x 2 x 40 x 64 floats (2.5 MiB); 3 of 31 (1.8 MiB)
    with pytest.raises(memory.NotEnoughMemory, match=r"re-basing a motion field \(16 frames at 64x40\): needs about "
                                                     r"2 MiB of RAM"):
        rebase_field(field, plan[1])
    with pytest.raises(memory.NotEnoughMemory, match=r"composing a motion field \(31 frames at 64x40\): needs about "
                                                     r"2 MiB of RAM"):
        compose_segments(plan, [field.flow[:16], field.flow[15:]])
