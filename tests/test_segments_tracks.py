"""Long tracks cut for a segment: sliced from its first frame, dropped when not seen there, and the hint they give."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.segments.plan import SegmentPlan
from motion_i2v.segments.tracks import segment_tracks
from motion_i2v.tracks.hint import sparse_hint
from motion_i2v.tracks.value import Tracks

WIDTH, HEIGHT, FRAMES = 96, 64, 46


def tracks() -> Tracks:
    """Three tracks over 46 frames: 0 moves right 1 px a frame, 1 stands still, 2 is hidden from frame 20 on."""
    frames = torch.arange(FRAMES, dtype=torch.float32)
    path = torch.stack([
        torch.stack([10 + frames, torch.full_like(frames, 20.0)], dim=1),
        torch.tensor([50.0, 40.0]).expand(FRAMES, 2),
        torch.stack([80 - frames * 0.5, 10 + frames * 0.25], dim=1),
    ], dim=1)  # [F, N, 2]
    visibility = torch.ones(FRAMES, 3, dtype=torch.bool)
    visibility[20:, 2] = False
    return Tracks(path, visibility, WIDTH, HEIGHT)


def test_a_segment_keeps_the_long_positions_from_its_first_frame():
    plan, long = SegmentPlan(FRAMES, 16), tracks()
    first, second = segment_tracks(long, plan[0]), segment_tracks(long, plan[1])
    assert torch.equal(first.path, long.path[:16]) and torch.equal(first.visibility, long.visibility[:16])
    # segment 1 starts at frame 15, where track 2 is still seen; it keeps its visibility, hidden from frame 20
    assert (second.frames, second.count) == (16, 3)
    assert torch.equal(second.path, long.path[15:31])
    assert second.visibility[:, 2].tolist() == [True] * 5 + [False] * 11
    assert (second.width, second.height) == (WIDTH, HEIGHT)


def test_a_track_not_seen_at_the_segment_start_is_dropped():
    long = tracks()
    third = segment_tracks(long, SegmentPlan(FRAMES, 16)[2])  # frames 30..45: track 2 is hidden at 30
    assert third.count == 2
    assert torch.equal(third.path, long.path[30:, :2])
    assert third.visibility.all()


def test_no_track_seen_at_the_start_means_no_tracks():
    long = tracks()
    hidden = Tracks(long.path, long.visibility & (torch.arange(FRAMES) < 15)[:, None], WIDTH, HEIGHT)
    assert segment_tracks(hidden, SegmentPlan(FRAMES, 16)[1]) is None


def test_the_hint_of_a_segment_is_drawn_from_its_first_frame():
    long = tracks()
    segment = SegmentPlan(FRAMES, 16)[1]  # frames 15..30
    flow, mask = sparse_hint(segment_tracks(long, segment), flow_unit=4)
    assert flow.shape == (16, 2, HEIGHT, WIDTH)
    assert flow[0].abs().max() == 0  # every segment's frame 0 is its reference: no motion yet
    # track 0 is at (25, 20) at frame 15: its square is centred there, with the motion since frame 15
    square = (slice(16, 24), slice(21, 29))  # rows 20 +- 4, columns 25 +- 4
    for frame in range(16):
        assert flow[frame, 0][square].eq(frame).all() and flow[frame, 1][square].eq(0).all()
    assert mask[:, 16:24, 21:29].eq(1).all()
    # track 2 writes its square only while it is seen (long frames 15..19)
    row, col = int(long.path[15, 2, 1]), int(long.path[15, 2, 0])
    assert mask[:5, row, col].eq(1).all() and mask[5:, row, col].eq(0).all()


def test_a_segment_past_the_tracks_is_refused():
    with pytest.raises(ValueError, match=r"tracks: segment 3 covers long frames 45\.\.60, but the tracks have 46 "
                                         r"frames; sample the tracks to the video's frame count"):
        segment_tracks(tracks(), SegmentPlan(61, 16)[3])
