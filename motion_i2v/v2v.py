"""Zero-shot video-to-video: a source video's motion as a Motion-I2V field with a reliability.

Stage 2 animates an (edited) first frame along any field f_{0->i}; the official fields come from DOT tracks from
the first frame to every other frame
(https://github.com/G-U-N/Motion-I2V/blob/bc787e167610a2c6f4d569eca71fb6a26e5b8c56/train_ctrl_flow_gen_dot.py#L625-L643).
Here the field comes from dense optical flow, a flow from A to B
giving every pixel of A its displacement into B, so A = frame 0 is the field convention:

1. Per frame i = 1..F-1, the consecutive flows g_i: (i-1)->i and h_i: i->(i-1), chained by
   backward warping into c_i(p) = c_{i-1}(p) + g_i(p + c_{i-1}(p)) (0->i) and
   b_i(q) = h_i(q) + b_{i-1}(q + h_i(q)) (i->0). Small steps match reliably, but errors add up.
2. The direct flows 0->i and i->0. DIS starts them from the chains (so a large motion is found
   and the chain's drift corrected); RAFT, which takes no initial flow, matches from scratch.
3. Each candidate's forward-backward error e(p) = |f(p) + b(p + f(p))|, with its own backward
   flow (direct with direct, chain with chain). Per pixel the smaller error wins, the direct flow
   on ties: the direct match where it holds, the chain where the direct match went wrong.
4. reliability = clamp(2 - e / tol, 0, 1), tol^2 = 0.01 (|f|^2 + |b(p + f)|^2) + 0.5 (the
   consistency test of Sundaram et al. 2010): 1 up to tol, 0 from 2 tol on. It is also 0 where
   p + f(p) leaves the image: that content left the view and its displacement is a guess.

Methods: "dis", OpenCV's DIS optical flow (Kroeger et al. 2016; fast, no weights), and "raft",
torchvision's RAFT from a local weight file (torchvision is imported only then).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from einops import rearrange

from .checks import check_choice, check_finite, check_number
from .flow import MAX_FRAMES, MotionField, check_field_size, resize_field
from .memory import FLOAT_BYTES, check_memory, field_bytes
from .warp import backward_warp
from .weights.files import read_state_dict

METHODS = ("dis", "raft")
RAFT_MIN_SIZE = 128  # pixels, each side: torchvision RAFT refuses smaller inputs
DIS_PRESETS = ("ultrafast", "fast", "medium")  # OpenCV's DISOPTICAL_FLOW_PRESET_* names
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as cv2.cvtColor(RGB2GRAY)
MAX_RAFT_ITERATIONS = 100
# Peak memory of the fusion in bytes per pixel and frame: the four chains of flows, their stacks, round trips and the
# result (measured 94-105 with DIS).
FUSE_BYTES = 128
# RAFT's all-pairs correlation at 1/8 resolution and its pyramid: 4 bytes per pair of cells, x 4/3 for the coarser
# levels, and room for the product that builds it (not measured here: torchvision is not installed on our machine).
RAFT_PAIR_BYTES = 8

# (first frame, second frame, initial guess or None) -> [2, H, W] float32 flow from the first frame
# to the second, on the CPU.
PairFlow = Callable[[int, int, "torch.Tensor | None"], torch.Tensor]
Progress = Callable[[int, int], None]


def sample_frames(video: torch.Tensor, frames: int, stride: int = 1, start: int = 0) -> torch.Tensor:
    """Frames start, start + stride, ... of a video: [T, ...] -> [frames, ...] (any frame layout)."""
    check_number(frames, "frames", low=1, high=MAX_FRAMES, integer=True)
    check_number(stride, "frame_stride", low=1, integer=True)
    check_number(start, "start_frame", low=0, integer=True)
    needed = start + (frames - 1) * stride + 1
    if video.shape[0] < needed:
        raise ValueError(
            f"video: {frames} frames with stride {stride} from frame {start} need {needed} frames, "
            f"the video has {video.shape[0]}; lower the frames, the stride or the start"
        )
    return video[start:needed:stride]


def resize_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``resize_motion`` to ``width`` x ``height``: the field, its reliability and the
    interpolation's temporaries, ~8 floats a pixel (measured 6.6)."""
    return field_bytes(frames, height, width, 8)


def fuse_bytes(frames: int, height: int, width: int) -> int:
    """About the peak memory of ``extract_motion`` on the CPU (see FUSE_BYTES)."""
    return FUSE_BYTES * frames * height * width


def resize_motion(field: MotionField, height: int, width: int) -> MotionField:
    """Resize a field and its reliability to (height, width), rescaling the vectors."""
    check_field_size(field.frames, height, width, "resized motion field")
    if (height, width) != (field.height, field.width):
        check_memory(resize_bytes(field.frames, height, width),
                     f"resized motion field ({field.frames} frames at {width}x{height})")
    reliability = field.reliability
    if reliability is not None and tuple(reliability.shape[-2:]) != (height, width):
        reliability = torch.nn.functional.interpolate(
            reliability[:, None].float(), size=(height, width), mode="bilinear", align_corners=False
        )[:, 0].clamp(0, 1)
    return MotionField(resize_field(field.flow, height, width), reliability)


def extract_motion(
    frames: torch.Tensor,
    method: str = "dis",
    *,
    preset: str = "fast",
    raft_weights: str | Path | None = None,
    raft_iterations: int = 12,
    progress: Progress | None = None,
) -> MotionField:
    """The motion of a clip from its frame 0, as a field with a reliability (see the module doc).

    ``frames``: [F, H, W, 3] float 0..1 RGB. ``method``: "dis" (``preset`` one of DIS_PRESETS) or
    "raft" (``raft_weights``: a torchvision raft_large / raft_small state dict, .pth or
    .safetensors; ``raft_iterations`` refinement steps). ``progress(done, total)`` is called after
    every flow computed (4 per frame after the first). Returns ``MotionField(flow [F, 2, H, W]
    float32 pixels with frame 0 zero, reliability [F, H, W] float32 0..1 with frame 0 one)``, on
    the device of ``frames``.
    """
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        shape = list(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames: expected [F, H, W, 3] RGB with F >= 1, got {shape}")
    check_choice(method, METHODS, "method")
    if method == "dis":
        check_choice(preset, DIS_PRESETS, "preset")
    if method == "raft" and (raft_weights is None or not Path(raft_weights).is_file()):
        raise ValueError(f"raft_weights: method 'raft' needs a local RAFT weight file, got {raft_weights!r}")
    check_number(raft_iterations, "raft_iterations", low=1, high=MAX_RAFT_ITERATIONS, integer=True)
    count, height, width, _ = frames.shape
    check_field_size(count, height, width, "video")
    check_finite(frames, "video")
    what = f"motion extraction ({count} frames at {width}x{height})"
    check_memory(fuse_bytes(count, height, width), what)
    if method == "raft":
        check_memory(raft_bytes(count, height, width), f"{what} with RAFT", frames.device)
    if count == 1:
        still = torch.zeros(1, 2, height, width, device=frames.device)
        return MotionField(still, torch.ones(1, height, width, device=frames.device))
    frames = frames.float()
    if method == "dis":
        pair_flow = _dis_pairs(frames, preset)
    else:
        pair_flow = _raft_pairs(frames, Path(raft_weights), raft_iterations)
    flow, reliability = _fuse(pair_flow, count, progress or (lambda done, total: None))
    return MotionField(
        torch.cat((flow.new_zeros(1, 2, height, width), flow)).to(frames.device),
        torch.cat((reliability.new_ones(1, height, width), reliability)).to(frames.device),
    )


def _raft_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """RAFT works on 1/8 resolution and its correlation pyramid needs 16 cells there: pad (edge pixels repeated) to
    multiples of 8 of at least 128 (F.pad's order: left, right, top, bottom)."""
    return 0, max(RAFT_MIN_SIZE, width + -width % 8) - width, 0, max(RAFT_MIN_SIZE, height + -height % 8) - height


def raft_bytes(frames: int, height: int, width: int) -> int:
    """About RAFT's peak memory on its device for ``frames`` frames of ``width`` x ``height``: the padded frames and
    one pair's correlation pyramid."""
    _, right, _, bottom = _raft_padding(height, width)
    padded_height, padded_width = height + bottom, width + right
    cells = (padded_height // 8) * (padded_width // 8)
    return frames * 3 * padded_height * padded_width * FLOAT_BYTES + RAFT_PAIR_BYTES * cells * cells


def _fuse(pair_flow: PairFlow, count: int, progress: Progress) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 1-4 of the module doc for frames 1..F-1: flow [F-1, 2, H, W], reliability [F-1, H, W].

    Frame by frame, 4 flows each: the chains need frame i-1's, the direct flows frame i's chain.
    """
    total = 4 * (count - 1)
    chain, chain_back, direct, direct_back = [], [], [], []
    for i in range(1, count):
        step, step_back = pair_flow(i - 1, i, None), pair_flow(i, i - 1, None)
        chain.append(_follow(chain[-1], step) if chain else step)
        chain_back.append(_follow(step_back, chain_back[-1]) if chain_back else step_back)
        direct.append(pair_flow(0, i, chain[-1]))
        direct_back.append(pair_flow(i, 0, chain_back[-1]))
        progress(4 * i, total)
    chain, chain_back, direct, direct_back = map(torch.stack, (chain, chain_back, direct, direct_back))

    direct_error, direct_returned = _round_trip(direct, direct_back)
    chain_error, chain_returned = _round_trip(chain, chain_back)
    use_chain = chain_error < direct_error
    flow = torch.where(use_chain[:, None], chain, direct)
    error = torch.minimum(chain_error, direct_error)
    returned = torch.where(use_chain[:, None], chain_returned, direct_returned)
    tolerance = (0.01 * (flow.square().sum(1) + returned.square().sum(1)) + 0.5).sqrt()
    reliability = (2 - error / tolerance).clamp(0, 1) * _lands_inside(flow)
    return flow, reliability


def _follow(first: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """Displacement of moving along ``first`` and then along ``then``: first(p) + then(p + first(p)).

    Both [2, H, W] pixels; ``then`` is sampled bilinearly, clamped at the border.
    """
    return first + backward_warp(then[None], first[None], padding_mode="border")[0]


def _round_trip(forward: torch.Tensor, backward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-backward error |f(p) + b(p + f(p))| [N, H, W] and b(p + f(p)) [N, 2, H, W]."""
    returned = backward_warp(backward, forward, padding_mode="border")
    gap = forward + returned
    return torch.hypot(gap[:, 0], gap[:, 1]), returned  # norm(dim=1) takes a slow reduction path


def _lands_inside(flow: torch.Tensor) -> torch.Tensor:
    """[N, 2, H, W] -> [N, H, W] float: 1 where p + f(p) lies inside the image, else 0."""
    height, width = flow.shape[-2:]
    x = torch.arange(width, device=flow.device) + flow[:, 0]
    y = torch.arange(height, device=flow.device)[:, None] + flow[:, 1]
    return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).float()


def _import_cv2():
    try:
        import cv2
    except ImportError as error:
        raise ImportError(
            "method 'dis' needs OpenCV: pip install opencv-python-headless (or opencv-python)"
        ) from error
    return cv2


def _dis_pairs(frames: torch.Tensor, preset: str) -> PairFlow:
    """OpenCV DIS flow between frames of [F, H, W, 3] 0..1, on 8-bit luma, computed on the CPU."""
    cv2 = _import_cv2()
    luma = frames @ frames.new_tensor(LUMA)
    gray = (luma * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    preset_id = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}")

    def pair_flow(first: int, second: int, initial: torch.Tensor | None) -> torch.Tensor:
        if initial is not None:
            initial = rearrange(initial, "two h w -> h w two").contiguous().numpy()
        # A fresh instance per pair: a reused one carries state between calls (results then depend
        # on what it computed before).
        flow = cv2.DISOpticalFlow_create(preset_id).calc(gray[first], gray[second], initial)
        return rearrange(torch.from_numpy(flow), "h w two -> two h w")

    return pair_flow


def _raft_pairs(frames: torch.Tensor, weights: Path, iterations: int) -> PairFlow:
    """torchvision RAFT between frames of [F, H, W, 3] 0..1, on their device."""
    model = _load_raft(weights).to(frames.device)
    height, width = frames.shape[1:3]
    padding = _raft_padding(height, width)  # the flow is cropped back
    images = torch.nn.functional.pad(rearrange(frames, "f h w c -> f c h w") * 2 - 1, padding, mode="replicate")

    @torch.inference_mode()
    def pair_flow(first: int, second: int, initial: torch.Tensor | None) -> torch.Tensor:
        predictions = model(images[first : first + 1], images[second : second + 1], num_flow_updates=iterations)
        return predictions[-1][0, :, :height, :width].float().cpu()

    return pair_flow


def _load_raft(weights: Path) -> torch.nn.Module:
    """torchvision's raft_large or raft_small, whichever matches the state dict in ``weights``."""
    try:
        from torchvision.models.optical_flow import raft_large, raft_small
    except (ImportError, RuntimeError) as error:
        raise ImportError(
            "method 'raft' needs torchvision built for your torch (pip install torchvision, the release paired "
            f"with torch {torch.__version__}); method 'dis' needs no extra package"
        ) from error
    state = read_state_dict(weights, slot="raft_weights")
    for build in (raft_large, raft_small):
        model = build(weights=None)
        expected = set(model.state_dict())
        if expected == set(state):
            model.load_state_dict(state, strict=True)
            return model.eval()
    unexpected = sorted(set(state) - expected)[:5]
    raise ValueError(
        f"raft_weights: {weights} is neither torchvision's raft_large nor raft_small (first keys raft_small "
        f"does not know: {unexpected})"
    )
