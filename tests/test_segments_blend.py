"""Joining per-segment frames: seams held once, overlaps ramped, N frames out."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.segments.blend import blend_weights, join
from motion_i2v.segments.plan import SegmentPlan


def sliced(plan: SegmentPlan, video: torch.Tensor) -> list[torch.Tensor]:
    return [video[segment.span] for segment in plan]


def test_without_overlap_every_frame_comes_from_one_segment():
    plan = SegmentPlan(46, 16)
    weights = blend_weights(plan)
    assert weights.shape == (3, 46)
    assert set(weights.unique().tolist()) == {0.0, 1.0}
    assert weights.sum(0).eq(1).all()
    # the seams 15 and 30 belong to the segment that rendered them first
    assert weights[:, 15].tolist() == [1, 0, 0] and weights[:, 30].tolist() == [0, 1, 0]
    assert weights[:, 16].tolist() == [0, 1, 0] and weights[:, 31].tolist() == [0, 0, 1]


def test_an_overlap_ramps_linearly_from_the_seam():
    plan = SegmentPlan(20, 8, overlap=2)  # [0..7], [5..12], [10..17], [15..19]
    weights = blend_weights(plan)
    torch.testing.assert_close(weights.sum(0), torch.ones(20))
    # seam 5 is segment 0's; frames 6 and 7 go from 1/3 to 2/3 of segment 1; frame 8 is segment 1's alone
    torch.testing.assert_close(weights[0, 4:9], torch.tensor([1, 1, 2 / 3, 1 / 3, 0]))
    torch.testing.assert_close(weights[1, 4:9], torch.tensor([0, 0, 1 / 3, 2 / 3, 1]))
    torch.testing.assert_close(weights[3, 15:], torch.tensor([0, 1 / 3, 2 / 3, 1, 1]))
    assert (weights > 0).sum(0).max() == 2  # never three segments in one frame


def test_join_gives_n_frames_with_no_duplicate():
    video = torch.arange(46.0)[:, None, None, None].expand(46, 3, 4, 5)  # frame j holds the value j
    plan = SegmentPlan(46, 16)
    joined = join(plan, sliced(plan, video))
    assert joined.shape == (46, 3, 4, 5)  # 16 + 15 + 15 frames, the seams once
    assert torch.equal(joined, video)  # exact: weights 0 and 1
    assert joined[:, 0, 0, 0].unique().numel() == 46


def test_join_blends_what_two_segments_render_differently():
    plan = SegmentPlan(20, 8, overlap=2)
    parts = [torch.full((segment.frames, 1), float(segment.index)) for segment in plan]  # segment k paints k
    joined = join(plan, parts)[:, 0]
    torch.testing.assert_close(joined, blend_weights(plan).T @ torch.arange(4.0))
    torch.testing.assert_close(joined[4:9], torch.tensor([0, 0, 1 / 3, 2 / 3, 1]))
    # segments that agree join to the video itself, overlaps included
    video = torch.rand(20, 2, 3)
    torch.testing.assert_close(join(plan, sliced(plan, video)), video, rtol=0, atol=1e-6)


def test_join_keeps_the_dtype_and_refuses_parts_that_do_not_fit():
    plan = SegmentPlan(31, 16)
    video = torch.rand(31, 4, 2, 2).to(torch.bfloat16)
    assert join(plan, sliced(plan, video)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="segments: the plan has 2 segments, got frames for 1"):
        join(plan, [video[:16]])
    with pytest.raises(ValueError, match=r"segment 1: expected 16 frames \(long frames 15..30\) of shape \[4, 2, 2\], "
                                         r"got \[15, 4, 2, 2\]"):
        join(plan, [video[:16], video[15:30]])
