"""The long-video loop (``segments.render``) with stand-in stages: seams, progress, Cancel, the brush, the checks.

Both real stages run through the loop in tests/test_segments_pipeline.py (tiny models).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from motion_i2v import memory
from motion_i2v.camera import camera_field
from motion_i2v.flow import MotionField
from motion_i2v.segments.fields import compose_segments, rebase_field
from motion_i2v.segments.plan import SegmentPlan
from motion_i2v.models import UNet3DConfig
from motion_i2v.pipelines.flow_gen import FlowModelSpec
from motion_i2v.segments.render import PredictedMotion, RebasedMotion, long_bytes, render_long
from motion_i2v.tracks.brush import Brush
from motion_i2v.tracks.value import Tracks
from motion_i2v.weights.configs import bundled_config

HEIGHT, WIDTH = 32, 48
TINY_FLOW_UNET = UNet3DConfig.from_official(bundled_config("flow_unet", "tiny"))
TEXT = torch.zeros(1, 7, TINY_FLOW_UNET.cross_attention_dim)


def unreachable(*args):
    raise AssertionError("no model may load or run before every input is checked")


@dataclass
class StillMotion:
    """Stage 1 stand-in: no motion, ``steps`` steps per segment."""

    steps: int = 2
    calls: list = field(default_factory=list)

    def check(self, plan, height, width, brush):
        pass

    def __call__(self, segment, image, brush, seed, callback):
        self.calls.append(segment.index)
        for step in range(1, self.steps + 1):
            callback(step, self.steps, None)
        return MotionField(torch.zeros(segment.frames, 2, *image.shape[-2:]))


@dataclass
class NoiseRender:
    """Stage 2 stand-in: frame 0 is the first frame, the others noise drawn from the seed; records what it got."""

    steps: int = 3
    got: list = field(default_factory=list)

    def check(self, plan, height, width, brush):
        pass

    def __call__(self, segment, image, field, brush, seed, callback):
        self.got.append((segment, image.clone(), field.flow, brush, seed))
        for step in range(1, self.steps + 1):
            callback(step, self.steps, torch.zeros(1))
        frames = torch.rand(segment.frames, 3, *image.shape[-2:], generator=torch.Generator().manual_seed(seed))
        return torch.cat([image, frames[1:]])


def image() -> torch.Tensor:
    return torch.rand(1, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("overlap", [0, 2])
def test_each_segment_starts_from_the_frame_the_previous_one_rendered(overlap):
    plan = SegmentPlan(46, 16, overlap)
    render = NoiseRender()
    video = render_long(plan, image(), StillMotion(), render, seed=7)
    assert video.frames.shape == (46, 3, HEIGHT, WIDTH)
    assert [seed for *_, seed in render.got] == [7 + k for k in range(len(plan))]
    torch.testing.assert_close(render.got[0][1], image(), rtol=0, atol=0)
    for (previous, _, _, _, seed), (segment, first, *_) in zip(render.got, render.got[1:]):
        seam = segment.start
        rendered = torch.rand(previous.frames, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(seed))
        # the next segment's first frame is the previous segment's frame at the seam, which the video holds once
        assert torch.equal(first[0], rendered[seam - previous.start])
        assert torch.equal(video.frames[seam], first[0])
        # the overlap is cross-faded: the new segment's weight rises by 1 / (O + 1) a frame
        for i in range(1, overlap + 1):
            mine = torch.rand(segment.frames, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(seed + 1))[i]
            mixed = (1 - i / (overlap + 1)) * rendered[seam - previous.start + i] + i / (overlap + 1) * mine
            torch.testing.assert_close(video.frames[seam + i], mixed)


def test_one_progress_count_over_every_step_of_every_segment_and_cancel_stops_it():
    plan = SegmentPlan(46, 16)
    reported = []
    render_long(plan, image(), StillMotion(), NoiseRender(), callback=lambda *args: reported.append(args))
    assert [(step, total) for step, total, _ in reported] == [(step, 15) for step in range(1, 16)]  # 3 x (2 + 3)
    assert [preview is None for _, _, preview in reported] == [True, True, False, False, False] * 3

    class Cancelled(Exception):
        pass

    def cancel_at_seven(step, total, preview):
        if step == 7:
            raise Cancelled

    motion, render = StillMotion(), NoiseRender()
    with pytest.raises(Cancelled):
        render_long(plan, image(), motion, render, callback=cancel_at_seven)
    assert motion.calls == [0, 1] and len(render.got) == 1  # stopped in segment 1's stage 1


def test_every_segment_holds_the_brush_of_the_image():
    mask = torch.zeros(HEIGHT, WIDTH)
    mask[:, 24:] = 1
    brush = Brush.from_mask(mask, HEIGHT, WIDTH)
    render = NoiseRender()
    render_long(SegmentPlan(46, 16), image(), StillMotion(), render, brush=brush)
    assert len(render.got) == 3 and all(held is brush for _, _, _, held, _ in render.got)


def test_a_camera_move_re_based_segment_by_segment():
    pan = MotionField(camera_field("pan_x", 46, HEIGHT, WIDTH, 30.0))
    plan = SegmentPlan(46, 16)
    render = NoiseRender()
    video = render_long(plan, image(), RebasedMotion(pan), render)
    for segment, (_, _, flow, _, _) in zip(plan, render.got):
        torch.testing.assert_close(flow, rebase_field(pan, segment).motion.flow, rtol=0, atol=0)
    composed = compose_segments(plan, video.fields)
    tracked = composed.tracked[:, None].expand_as(pan.flow)
    torch.testing.assert_close(composed.flow[tracked], pan.flow[tracked], rtol=0, atol=1e-4)


def test_inputs_are_checked_before_any_segment_runs(monkeypatch):
    plan = SegmentPlan(46, 16)
    motion, render = StillMotion(), NoiseRender()

    def predicted(frames=46, width=WIDTH, controlnet=True, **options):
        tracks = Tracks(torch.zeros(frames, 1, 2), torch.ones(frames, 1, dtype=torch.bool), width, HEIGHT)
        return PredictedMotion(unreachable, FlowModelSpec(TINY_FLOW_UNET, controlnet), unreachable, TEXT,
                               **{"negative_text": TEXT, "tracks": tracks, **options})

    cases = [
        (lambda: render_long(plan, image()[0], motion, render), r"image: expected \[1, 3, H, W\], got \[3, 32, 48\]"),
        (lambda: render_long(plan, image()[:, :, :, :44], motion, render), "multiples of 8"),
        (lambda: render_long(plan, image(), motion, render, brush=Brush(torch.ones(8, 8, dtype=torch.bool))),
         "brush: the mask is 8x8 but the image is 48x32"),
        (lambda: render_long(plan, image(), motion, render, seed=-1), "seed: expected an integer in 0..18446744073709551615"),
        (lambda: render_long(plan, image(), RebasedMotion(MotionField(torch.zeros(40, 2, HEIGHT, WIDTH))), render),
         "motion field: it has 40 frames, the video 46"),
        (lambda: render_long(plan, image(), RebasedMotion(MotionField(torch.zeros(46, 2, 8, 8))), render),
         "motion field: it is 8x8 but the image is 48x32"),
        (lambda: render_long(plan, image(), predicted(frames=40), render), "tracks: they have 40 frames, the video 46"),
        (lambda: render_long(plan, image(), predicted(width=96), render),
         "control: the tracks are on a 96x32 canvas but the image is 48x32"),
        (lambda: render_long(plan, image(), predicted(controlnet=False), render),
         "control: the flow model was loaded without its ControlNet"),
        (lambda: render_long(plan, image(), predicted(stride=17), render), r"stride: expected an integer in 1\.\.16"),
        (lambda: render_long(plan, image(), predicted(flow_unit=0), render), r"flow_unit: expected an integer"),
        (lambda: render_long(plan, image(), predicted(negative_text=torch.zeros(1, 7, 5)), render),
         r"negative: expected SD1.5 text states \[1, T, 32\], got \[1, 7, 5\]"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert motion.calls == [] and render.got == []

    monkeypatch.setattr(memory, "ram_available", lambda: 2**30)
    # 1024 frames at 512x320 in 69 segments: the video (3 channels) and the fields (2 channels, 68 seams twice)
    assert len(SegmentPlan(1024, 16)) == 69
    assert long_bytes(SegmentPlan(1024, 16), 320, 512) == (1024 * 3 + (1024 + 68) * 2) * 320 * 512 * 4
    with pytest.raises(memory.NotEnoughMemory, match=r"long video \(1024 frames at 512x320\): needs about 3\.2 GiB"):
        render_long(SegmentPlan(1024, 16), torch.zeros(1, 3, 320, 512), motion, render)
    assert motion.calls == []
