"""Warping images and features along motion fields.

Forward splatting moves every source pixel to where the field sends it (the official stage-2
"softsplat" in "avg" mode); backward warping samples the source where the field points from.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from einops import rearrange

from .checks import CheckCancel, cancel_point

SPLAT_EPS = 1e-7  # the official kernel's denominator guard
# Values (channels x pixels) splatted in one channel step: bounds the scratch canvas and the sparse path's products.
CHUNK_ELEMENTS = 2**20
# Bilinear contributions (values x corners) built and scattered in one step: about 1 MB, within L2.
CONTRIBUTIONS_PER_STEP = 2**18
# From this many channels on, one sparse matrix per frame beats a scatter per channel (CPU and CUDA;
# other backends lack sparse CSR products and always scatter).
SPARSE_MIN_CHANNELS = 32
SPARSE_DEVICES = ("cpu", "cuda")


def _pixel_grid(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (ys, xs), each [H, W] float32."""
    return torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )


def _splat_targets(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where one frame's pixels land on the padded canvas: ``top_left`` [H*W], ``weight`` [2, 2, H*W].

    ``flow``: [2, H, W] float32 pixels. The canvas is the image with a margin of 1 pixel before
    and 2 after along each axis, [(H+3) * (W+3)] flattened; corners outside the image land in the
    margin, which ``_crop`` drops, so no masks are needed. Corner (dy, dx) of source pixel p lands
    on ``top_left[p] + dy * (W+3) + dx`` with weight ``weight[dy, dx, p]``; ``top_left`` stays
    below (H+2) * (W+3) - 1. A non-finite displacement goes to the margin whole.
    """
    _, height, width = flow.shape
    canvas_width = width + 3
    position = flow.to(torch.float32, copy=True)  # x then y
    position[0] += torch.arange(width, device=flow.device, dtype=torch.float32)
    position[1] += torch.arange(height, device=flow.device, dtype=torch.float32)[:, None]
    position.nan_to_num_(nan=-1.0, posinf=-1.0, neginf=-1.0)
    # Clamping to [-1, size] keeps in-image weights exact and sends the rest to the margin.
    upper = torch.tensor([width, height], device=flow.device, dtype=torch.float32)[:, None, None]
    torch.minimum(position.clamp_min_(-1), upper, out=position)
    low = position.floor()
    # [side (low, high), axis (x, y), H*W], filled in place: no stacking pass.
    sides = position.new_empty(2, 2, height * width)
    torch.sub(position.flatten(1), low.flatten(1), out=sides[1])
    torch.sub(1, sides[1], out=sides[0])
    weight = sides[:, 1, None] * sides[None, :, 0]  # y side dy times x side dx
    # int32 arithmetic and one widening at the end: several times cheaper than int64 throughout.
    low = low.int()
    top_left = torch.add(low[0], low[1], alpha=canvas_width).flatten()
    top_left += canvas_width + 1
    return top_left.long(), weight


def _crop(canvas: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[..., (H+3) * (W+3)] canvas -> [..., H, W] view of the image inside the margin."""
    return rearrange(canvas, "... (h w) -> ... h w", w=width + 3)[..., 1 : height + 1, 1 : width + 1]


def _scatter_corners(canvas: torch.Tensor, top_left: torch.Tensor, by_corner: torch.Tensor, width: int):
    """Add ``by_corner`` [..., 2, 2, H*W] (corner dy, dx) into ``canvas`` [..., (H+3) * (W+3)] in place.

    One scatter per corner, into the canvas shifted by that corner's offset, all through the one
    [H*W] ``top_left`` index: cheaper than building and reading a [4 * H*W] int64 index.
    """
    canvas_width = width + 3
    span = canvas.shape[-1] - canvas_width - 1  # above every top_left (see _splat_targets)
    index = top_left.expand(*canvas.shape[:-1], -1)
    for dy in range(2):
        for dx in range(2):
            offset = dy * canvas_width + dx
            canvas[..., offset : offset + span].scatter_add_(-1, index, by_corner[..., dy, dx, :])
    return canvas


def _splat_matrix(top_left: torch.Tensor, weight: torch.Tensor, width: int, canvas_size: int) -> torch.Tensor:
    """The splat as a sparse CSR matrix [canvas, H*W]: target-by-source bilinear weights."""
    pixels = len(top_left)
    offsets = torch.tensor([0, 1, width + 3, width + 4], device=top_left.device)  # corners (dy, dx) row-major
    index = (top_left + offsets[:, None]).flatten()
    # Sorting the entries by target gives the CSR rows; int32 keys take torch's radix sort.
    order = torch.argsort(index.int(), stable=True)
    row_starts = F.pad(torch.bincount(index, minlength=canvas_size).cumsum(0), (1, 0)).int()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            row_starts, (order % pixels).int(), weight.flatten()[order], size=(canvas_size, pixels),
            check_invariants=False,
        )


def _splat_channels(
    values: torch.Tensor, top_left: torch.Tensor, weight: torch.Tensor, matrix, width: int, canvas: torch.Tensor
):
    """Splat [C, H*W] float32 values -> canvas [C, (H+3)*(W+3)] float32.

    Through ``matrix`` (from ``_splat_matrix``) when given, else with one scatter per corner into
    ``canvas``, scratch of that shape that is overwritten and returned.
    """
    if matrix is not None:
        return rearrange(matrix @ rearrange(values, "c p -> p c").contiguous(), "s c -> c s")
    canvas.zero_()
    # A pixel range at a time, so the contributions are still in cache when the scatters read them.
    pixels_per_step = max(1, CONTRIBUTIONS_PER_STEP // (4 * len(values)))
    for start in range(0, values.shape[-1], pixels_per_step):
        step = slice(start, start + pixels_per_step)
        _scatter_corners(canvas, top_left[step], values[:, None, None, step] * weight[..., step], width)
    return canvas


def forward_splat(source: torch.Tensor, flow: torch.Tensor, mode: str = "avg", *,
                  check_cancel: CheckCancel | None = None) -> torch.Tensor:
    """Forward-splat ``source`` along ``flow`` with bilinear weights (official softsplat).

    ``source``: [N, C, H, W]; ``flow``: [N, 2, H, W] pixels, channel 0 = dx. Each source pixel
    (x, y) lands on the 4 integer neighbours of (x + dx, y + dy); neighbours outside the image and
    non-finite displacements are dropped. ``mode="sum"`` returns the accumulated ``w * source``;
    ``mode="avg"`` divides by the accumulated weight plus 1e-7, so holes are 0.
    Accumulation runs in float32, a frame at a time, in steps of ~``CHUNK_ELEMENTS`` values and
    ~``CONTRIBUTIONS_PER_STEP`` bilinear contributions; the result has
    the dtype and memory format of ``source``. An inference op: it fills its result in place, so
    it does not support autograd. ``check_cancel`` is called before every frame.
    """
    if mode not in ("avg", "sum"):
        raise ValueError(f"forward_splat: mode must be 'avg' or 'sum', got {mode!r}")
    if source.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"forward_splat: expected source [N, C, H, W] and flow [N, 2, H, W], "
            f"got {list(source.shape)} and {list(flow.shape)}"
        )
    if source.shape[0] != flow.shape[0] or source.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"forward_splat: source {list(source.shape)} and flow {list(flow.shape)} differ in N, H, or W"
        )
    _, channels, height, width = source.shape
    step_channels = min(channels, max(1, CHUNK_ELEMENTS // (height * width)))
    by_matrix = channels >= SPARSE_MIN_CHANNELS and source.device.type in SPARSE_DEVICES
    out = torch.empty_like(source)
    # Canvases shared by every frame (fresh pages cost more than zeroing used ones): the weight sum,
    # after the scatter path's channels of one step.
    canvas_rows = 1 if by_matrix else step_channels + 1
    canvas = source.new_empty(canvas_rows, (height + 3) * (width + 3), dtype=torch.float32)
    for frame in range(source.shape[0]):
        cancel_point(check_cancel)
        _splat_frame(source[frame], flow[frame], out[frame], mode, step_channels, by_matrix, canvas)
    return out


def _splat_frame(
    source: torch.Tensor,
    flow: torch.Tensor,
    out: torch.Tensor,
    mode: str,
    step_channels: int,
    by_matrix: bool,
    canvas: torch.Tensor,
) -> None:
    """``forward_splat`` of one frame: source [C, H, W], flow [2, H, W] -> fills out [C, H, W].

    ``canvas``: scratch [rows, (H+3) * (W+3)] float32, the last row for the weight sum, the others
    (``step_channels`` of them) for the scatter path.
    """
    channels, height, width = source.shape
    top_left, weight = _splat_targets(flow.float())
    matrix = _splat_matrix(top_left, weight, width, canvas.shape[-1]) if by_matrix else None
    scatter_rows = canvas[:-1]  # none on the matrix path
    if mode == "avg":
        weight_sum = _scatter_corners(canvas[-1].zero_(), top_left, weight, width)
        denominator = _crop(weight_sum, height, width).add_(SPLAT_EPS)
    for start in range(0, channels, step_channels):
        chunk = slice(start, start + step_channels)
        values = rearrange(source[chunk].float(), "c h w -> c (h w)")
        scratch = scatter_rows[: len(values)]
        splat = _crop(_splat_channels(values, top_left, weight, matrix, width, scratch), height, width)
        if mode == "avg":
            torch.div(splat, denominator, out=out[chunk])
        else:
            out[chunk].copy_(splat)


def backward_warp(source: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``source`` at (x + dx, y + dy) for every output pixel (bilinear, pixel centres).

    ``source``: [N, C, H, W]; ``flow``: [N, 2, H, W] pixels, read as "where each output pixel
    comes from". ``padding_mode`` as in ``torch.nn.functional.grid_sample``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or source.shape[0] != flow.shape[0] or source.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"backward_warp: expected source [N, C, H, W] and flow [N, 2, H, W] of the same N, H, W, "
            f"got {list(source.shape)} and {list(flow.shape)}"
        )
    _, _, height, width = source.shape
    ys, xs = _pixel_grid(height, width, flow.device)
    # grid_sample's align_corners=True maps -1 and 1 to the first and last pixel centres.
    grid_x = (xs + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    grid_y = (ys + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=True)
