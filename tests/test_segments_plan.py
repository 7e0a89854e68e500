"""The segment plan: frame ranges, the shared seam, the overlap, the limit read off the animation config."""

from __future__ import annotations

import dataclasses

import pytest

from motion_i2v.models import UNet3DConfig
from motion_i2v.segments.plan import MAX_FRAMES, SegmentPlan, max_overlap, plan_segments
from motion_i2v.weights.configs import bundled_config


def ranges(plan: SegmentPlan) -> list[tuple[int, int]]:
    return [(segment.start, segment.end) for segment in plan]


def official_config() -> UNet3DConfig:
    return UNet3DConfig.from_official(bundled_config("animation_unet", "official"))


def test_46_frames_are_three_segments_sharing_their_seams():
    plan = SegmentPlan(46, 16)
    assert ranges(plan) == [(0, 15), (15, 30), (30, 45)]
    assert [segment.frames for segment in plan] == [16, 16, 16]
    assert [segment.index for segment in plan] == [0, 1, 2]
    # each segment starts on the previous one's last frame: 46 = 16 + 15 + 15 frames of output
    for previous, segment in zip(plan, plan.segments[1:]):
        assert segment.start == previous.end


def test_only_the_last_segment_is_shorter():
    assert ranges(SegmentPlan(40, 16)) == [(0, 15), (15, 30), (30, 39)]
    assert ranges(SegmentPlan(17, 16)) == [(0, 15), (15, 16)]
    assert ranges(SegmentPlan(16, 16)) == [(0, 15)]
    assert ranges(SegmentPlan(2, 16)) == [(0, 1)]


def test_an_overlap_moves_each_start_back_by_that_many_frames():
    plan = SegmentPlan(46, 16, overlap=3)
    # step 16 - 1 - 3 = 12; segments share the seam and 3 more frames
    assert ranges(plan) == [(0, 15), (12, 27), (24, 39), (36, 45)]
    for previous, segment in zip(plan, plan.segments[1:]):
        assert previous.end - segment.start == 3
    assert plan[-1].frames >= plan.overlap + 2  # the last segment renders a frame of its own


@pytest.mark.parametrize("frames", range(2, 120, 7))
@pytest.mark.parametrize("length, overlap", [(16, 0), (16, 7), (5, 1), (2, 0), (9, 3)])
def test_every_plan_covers_the_video_once_in_order(frames, length, overlap):
    plan = SegmentPlan(frames, length, overlap)
    assert plan[0].start == 0 and plan[-1].end == frames - 1
    assert all(2 <= segment.frames <= length for segment in plan)
    for previous, segment in zip(plan, plan.segments[1:]):
        assert previous.end - segment.start == overlap  # the seam plus `overlap` shared frames
    for earlier, later in zip(plan, plan.segments[2:]):
        assert later.start > earlier.end  # no frame in three segments, no start inside a blend


def test_span_slices_the_long_video():
    plan = SegmentPlan(46, 16)
    assert list(range(46))[plan[1].span] == list(range(15, 31))
    assert len(plan) == 3 and list(plan) == list(plan.segments)


def test_the_length_limit_is_read_off_the_animation_config():
    config = official_config()
    assert config.motion_max_len == 32
    assert plan_segments(46, config).length == 16  # 2F - 1 <= 32
    shorter = dataclasses.replace(config, motion_max_len=24)
    assert plan_segments(46, shorter).length == 12
    assert plan_segments(46, config, length=8, overlap=2).length == 8
    with pytest.raises(ValueError, match=r"segment_length: expected 2\.\.16, got 17: one pass of the animation "
                                         r"UNet renders at most 16 frames"):
        plan_segments(46, config, length=17)
    with pytest.raises(ValueError, match=r"segment_length: expected 2\.\.12, got 16"):
        plan_segments(46, shorter, length=16)


def test_max_overlap():
    assert [max_overlap(length) for length in (2, 3, 4, 5, 16)] == [0, 0, 1, 1, 7]


@pytest.mark.parametrize("arguments, message", [
    ((1, 16), r"frames: expected an integer in 2\.\.1024, got 1"),
    ((0, 16), r"frames: expected an integer in 2\.\.1024, got 0"),
    ((MAX_FRAMES + 1, 16), r"frames: expected an integer in 2\.\.1024, got 1025"),
    ((46.0, 16), r"frames: expected an integer in 2\.\.1024, got 46\.0"),
    ((46, 1), r"segment_length: expected an integer >= 2, got 1"),
    ((46, 16, 15), r"overlap: expected an integer in 0\.\.7 for segment_length 16 \(each segment must start after "
                   r"the frames the previous one blends: 2 x overlap < segment_length - 1\), got 15"),
    ((46, 16, 8), r"overlap: expected an integer in 0\.\.7 for segment_length 16 .*got 8"),
    ((46, 16, -1), r"overlap: expected an integer in 0\.\.7 .*got -1"),
    ((46, 2, 1), r"overlap: expected an integer in 0\.\.0 for segment_length 2 .*got 1"),
    ((46, 16, True), r"overlap: expected an integer in 0\.\.7 .*got True"),
])
def test_plans_that_do_not_fit_are_refused_naming_the_input(arguments, message):
    with pytest.raises(ValueError, match=message):
        SegmentPlan(*arguments)
