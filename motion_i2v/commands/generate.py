"""``python -m motion_i2v generate``: image (+ prompt, tracks, brush) -> video, both stages.

``--models DIR`` is the official release layout (``models/stage1/...``, ``models/stage2/...``; the
folder itself or its parent). Stage 1 predicts the motion field with the FlowGen UNet (and the
ControlNet when tracks are given), stage 2 renders the frames; the stage-1 models leave the device
before stage 2 loads. As the demo: the image is resized to 512x320, the base UNet is
``realistic_unet.ckpt`` (else the SD1.5 UNet), the stage-2 VAE RealisticVision's (else SD1.5's),
the prompts go through each stage's SD1.5 text encoder (needs ``transformers``).

More frames than one stage-2 pass renders (16) make a long video (``segments``): segments of 16 frames, each
started from the frame the previous one rendered at its seam, each running both stages, so both stay loaded; a
single segment drops stage 1 before stage 2 loads. ``--overlap`` cross-fades frames after each seam, ``--stride``
sets stage 1's time span.

``--tiny`` runs the same pipeline on make-tiny's random tiny models (written to a temporary folder
unless ``--models`` holds them) with random prompt embeddings: it checks the installation, and its
output is noise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import zlib
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import check_number
from ..devices import default_dtype, resolve_device, resolve_dtype
from ..flow import MAX_FRAMES, MAX_SIDE
from ..media import ANIMATION_EXTENSIONS, load_image, load_mask, save_animation, save_image
from ..memory import check_memory, check_stage_memory, field_bytes
from ..models import UNet3D, UNet3DConfig
from ..models.motion_augmented import PAIRINGS
from ..pipelines.animate import AnimationSettings, decode_frames, encode_first_frame
from ..pipelines.flow_gen import (
    FRAME_STRIDE,
    MAX_FLOW_UNIT,
    MAX_FRAME_STRIDE,
    NEGATIVE_PROMPT,
    VAE_CHUNK,
    FlowModel,
    FlowModelSpec,
    encode_reference,
    load_flow_model,
)
from ..sampling import SAMPLERS, SamplerSettings
from ..segments.plan import PASS_FRAMES, SegmentPlan, max_overlap
from ..segments.render import EngineRender, PredictedMotion, long_bytes, render_long
from ..tracks.brush import Brush
from ..tracks.parsing import parse_drawing
from ..tracks.raster import brush_mask
from ..tracks.sampling import sample_tracks
from ..tracks.value import Tracks
from ..visualize import field_strip
from ..weights.animator import load_animator_files
from ..weights.configs import config_for_file
from ..weights.kinds import KINDS, REALISTIC_UNET_FILE, REALISTIC_VAE_FILE, animation_config
from ..weights.loader import load_model
from ..weights.release import locate_files
from .make_tiny import write_tiny_models
from .preview import check_outputs, strip_path

HELP = "Image to video with both Motion-I2V stages (official release folder); --tiny runs on random tiny models."

STAGE1_TEXT = "models/stage1/StableDiffusion-FlowGen"
STAGE2_TEXT = "models/stage2/StableDiffusion"
TINY_SIZE, TINY_STEPS = (80, 128), 4  # (H, W) and steps small enough for a CPU demo in seconds
NOISE_WARNING = ("*** --tiny: random tiny models and random prompt embeddings. The video is NOISE: this run checks "
                 "the installation and the pipeline, not the model. ***")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="the first frame (PNG, JPEG, ...)")
    parser.add_argument("--prompt", default="", help="what the video shows")
    parser.add_argument("--negative", default=NEGATIVE_PROMPT, help="negative prompt (default: the demo's)")
    parser.add_argument("--tracks", help="trajectories: our versioned JSON or a KJNodes coordinate string")
    parser.add_argument("--brush", help="motion-brush mask image, white = may move (default: the brush in --tracks)")
    parser.add_argument("--models", type=Path, help="the official release folder (or make-tiny's, with --tiny)")
    parser.add_argument("--out", required=True, help=f"the video to write, one of {', '.join(ANIMATION_EXTENSIONS)}")
    parser.add_argument("--tiny", action="store_true", help="random tiny models: a weight-free smoke run (noise)")
    parser.add_argument("--frames", type=int, default=16,
                        help=f"frames, including the image (2..{MAX_FRAMES}, default 16); past {PASS_FRAMES}, rendered "
                             f"in segments of {PASS_FRAMES} that share their seam frame")
    parser.add_argument("--overlap", type=int, default=0,
                        help=f"frames after each seam that two segments render and cross-fade (0..{max_overlap(PASS_FRAMES)}, "
                             "default 0: the seam only)")
    parser.add_argument("--stride", type=int, default=FRAME_STRIDE,
                        help=f"stage 1's time span: source-video frames between frames (1..{MAX_FRAME_STRIDE}, default "
                             f"{FRAME_STRIDE}, as trained; smaller is slower motion)")
    parser.add_argument("--width", type=int, help="video width, a multiple of 8 (default 512; 128 with --tiny)")
    parser.add_argument("--height", type=int, help="video height, a multiple of 8 (default 320; 80 with --tiny)")
    parser.add_argument("--steps", type=int, help="denoising steps of each stage (default 25; 4 with --tiny)")
    parser.add_argument("--cfg", type=float, default=7.0, help="classifier-free guidance of each stage (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--sampler", default="ddim", choices=SAMPLERS, help="sampler of both stages (default ddim)")
    parser.add_argument("--pairing", default="official", choices=PAIRINGS,
                        help="stage-2 CFG reference pairing: official (what the weights saw) or per_sample")
    parser.add_argument("--flow-unit", type=int, default=64, help="half-side of each track's hint square, pixels")
    parser.add_argument("--dtype", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                        help="UNet precision: auto = bf16/fp16 on a GPU, fp32 on the CPU")
    parser.add_argument("--device", default="auto", help="cuda, mps, cpu, ... (default: the best available)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of OUT (default 8, as the demo)")


def _check_device(name: str) -> torch.device:
    """``--device``: auto, or a CPU, CUDA or MPS device this machine has."""
    expected = "expected auto, cpu, cuda, cuda:N or mps"
    try:
        device = resolve_device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: {expected}") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name!r}: MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {name!r}: {expected}")
    return device


def _check_arguments(args) -> tuple[int, int, SegmentPlan]:
    """Every argument and output, before any model or input is read; returns (height, width, the segment plan)
    and fills in ``args.steps``."""
    check_outputs(args.out, args.fps)
    for option, path in (("--image", args.image), ("--tracks", args.tracks), ("--brush", args.brush)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{option}: no such file: {path}")
    if args.models is None and not args.tiny:
        raise ValueError("--models: give the official release folder (or use --tiny for a weight-free smoke run)")
    if args.models is not None and not args.tiny and not args.models.is_dir():
        raise ValueError(f"--models: no such folder: {args.models}")
    try:
        plan = SegmentPlan(args.frames, PASS_FRAMES, args.overlap)
    except ValueError as error:  # its messages start with the names of --frames and --overlap
        raise ValueError(f"--{error}") from None
    height = args.height if args.height is not None else (TINY_SIZE[0] if args.tiny else 320)
    width = args.width if args.width is not None else (TINY_SIZE[1] if args.tiny else 512)
    if height % 8 or width % 8 or not (8 <= height <= MAX_SIDE and 8 <= width <= MAX_SIDE):
        raise ValueError(f"--width/--height: expected multiples of 8 in 8..{MAX_SIDE}, got {width}x{height}")
    if args.steps is None:
        args.steps = TINY_STEPS if args.tiny else 25
    AnimationSettings(steps=args.steps, cfg=args.cfg, sampler=args.sampler, pairing=args.pairing)
    check_number(args.flow_unit, "--flow-unit", low=1, high=MAX_FLOW_UNIT, integer=True)
    check_number(args.seed, "--seed", low=0, high=2**64 - 1, integer=True)
    check_number(args.stride, "--stride", low=1, high=MAX_FRAME_STRIDE, integer=True)
    return height, width, plan


def _check_memory(args, files: dict[str, Path], plan: SegmentPlan, height: int, width: int, device, dtype) -> None:
    """Both stages against the memory before stage 1 starts (stage 2 comes hours later with real weights), each with
    the other's weights when both stay loaded (more than one segment). The weights count as their files' size, what
    loading reads. Then the long video and its fields, kept in RAM."""
    stage1 = ["flow_unet", "flow_vae", "image_vae", *(["controlnet"] if args.tracks and "controlnet" in files else [])]
    stage2 = ["base", "motion_modules", "image_vae"]
    frames = plan[0].frames  # the longest segment
    for stage, kinds, other in ((1, stage1, stage2), (2, stage2, stage1)):
        held = kinds + (other if len(plan) > 1 else [])
        weights = sum(files[kind].stat().st_size for kind in set(held))
        check_stage_memory(stage, frames=frames, height=height, width=width, dtype=resolve_dtype(dtype),
                           guided=args.cfg > 1, weights=weights, device=device,
                           vae_frames=min(VAE_CHUNK, frames - 1) if stage == 1 else 1)
    # the video and its fields, and the fields again for the picture beside --out
    check_memory(long_bytes(plan, height, width) + field_bytes(plan.frames + len(plan), height, width),
                 f"--frames {args.frames} at {width}x{height}")


def _release_files(root: Path) -> tuple[dict[str, Path], Path]:
    """The weight files by kind (``"base"``: the stage-2 base UNet), and the release root they sit under."""
    found = locate_files(root)
    missing = [kind for kind in ("flow_unet", "flow_vae", "image_vae", "motion_modules") if kind not in found]
    if missing:
        raise ValueError(f"--models {root}: no {', '.join(missing)} file found (expected the official layout, e.g. "
                         f"{KINDS['motion_modules'].release[0]})")
    release = found["motion_modules"].parents[len(Path(KINDS["motion_modules"].release[0]).parts) - 1]
    base = next((path for path in (release / REALISTIC_UNET_FILE, found.get("sd_unet")) if path and path.is_file()), None)
    if base is None:
        raise ValueError(f"--models {root}: no stage-2 base UNet ({REALISTIC_UNET_FILE} or {KINDS['sd_unet'].release[-1]})")
    return found | {"base": base}, release


def _check_text_encoders(release: Path) -> None:
    """Both stages' SD1.5 tokenizer and text encoder folders exist and transformers can read them."""
    for folder in (STAGE1_TEXT, STAGE2_TEXT):
        for part in ("tokenizer", "text_encoder"):
            if not (release / folder / part).is_dir():
                raise ValueError(f"--models: the SD1.5 text encoder is missing: no folder {release / folder / part}")
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ValueError("the SD1.5 text encoder needs transformers: pip install transformers (ComfyUI and --tiny "
                         "do without)") from None


def _text_states(folder: Path, prompts: list[str], device: torch.device) -> torch.Tensor:
    """SD1.5 CLIP states [len(prompts), 77, 768] of a diffusers folder's tokenizer + text_encoder."""
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).to(device).eval()
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt")
    with torch.no_grad():
        return encoder(tokens.input_ids.to(device))[0].float().cpu()


def _tiny_text_states(prompts: list[str], width: int) -> torch.Tensor:
    """Random stand-in embeddings [len(prompts), 77, width], fixed per prompt text."""
    return torch.stack([torch.randn(77, width, generator=torch.Generator().manual_seed(zlib.crc32(p.encode())))
                        for p in prompts])


def _inputs(args, height: int, width: int):
    """The image resized to [1, 3, H, W] 0..1, the brush or None, and the tracks or None.

    Tracks and brush strokes are read on the source image (KJNodes coordinates are its pixels), then
    follow the resize, so the hint's flow unit stays in pixels of the video as in the demo.
    """
    source = load_image(args.image)
    source_height, source_width = source.shape[2:]
    image = F.interpolate(source, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    drawing = None
    if args.tracks is not None:
        drawing = parse_drawing(Path(args.tracks).read_text(encoding="utf-8"), source_width, source_height)
    brush = load_mask(args.brush) if args.brush is not None else None
    if brush is None and drawing is not None and drawing.strokes:
        brush = brush_mask(drawing)
    if brush is not None:
        brush = F.interpolate(brush[None, None], size=(height, width), mode="nearest")[0, 0]
        brush = Brush.from_mask(brush, height, width, name="--brush")
    tracks = sample_tracks(drawing, args.frames).rescaled(width, height) if drawing and drawing.tracks else None
    return image.clamp(0, 1), brush, tracks


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _summary(device: torch.device, started: float) -> str:
    """The run's time and (CUDA) peak memory."""
    summary = f"{time.perf_counter() - started:.1f} s"
    if device.type == "cuda":
        summary += f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
    return summary


def _stage2_vae(files, root, device):
    """RealisticVision's VAE (the demo's) when the release has it, else the SD1.5 VAE."""
    realistic = root / REALISTIC_VAE_FILE
    if realistic.is_file():
        return load_model("image_vae", realistic, "official", device=device)  # the VAE of a single-file checkpoint
    return load_model("image_vae", files["image_vae"], device=device)


class _Networks:
    """The CLI's networks, each loaded when its stage first runs. Every segment runs both stages, so a long video
    keeps both loaded; with one segment, stage 1 is dropped before stage 2 loads (the two never share the device)."""

    def __init__(self, args, files: dict[str, Path], root: Path, segments: int, device, dtype):
        self.args, self.files, self.root, self.segments, self.device, self.dtype = args, files, root, segments, device, dtype
        self.flow_config = UNet3DConfig.from_official(config_for_file("flow_unet", files["flow_unet"]).values)
        self.animation_config = animation_config(config_for_file("motion_modules", files["motion_modules"]).values)
        self.controlnet = files.get("controlnet") if args.tracks is not None else None
        self._flow, self._unet, self._flow_runs = None, None, 0

    def texts(self, stage: int, width: int) -> torch.Tensor:
        """[2, 77, width]: the prompt and the negative prompt through the stage's text encoder."""
        texts = [self.args.prompt, self.args.negative]
        if self.args.tiny:
            return _tiny_text_states(texts, width)
        return _text_states(self.root / (STAGE1_TEXT if stage == 1 else STAGE2_TEXT), texts, self.device)

    @cached_property
    def stage1_vae(self):
        return load_model("image_vae", self.files["image_vae"], device=self.device)

    @cached_property
    def stage2_vae(self):
        return _stage2_vae(self.files, self.root, self.device)

    def flow_model(self) -> FlowModel:
        if self._flow is None:
            self._flow = load_flow_model(self.files["flow_unet"], self.files["flow_vae"], self.controlnet,
                                         device=self.device, dtype=self.dtype)
        self._flow_runs += 1
        return self._flow

    def unet(self) -> UNet3D:
        if self._flow is not None and self._flow_runs == self.segments:  # stage 1 has run for the last time
            self._flow = None
            self.__dict__.pop("stage1_vae", None)
            _empty_cache(self.device)
        if self._unet is None:
            self._unet = load_animator_files(self.files["base"], self.files["motion_modules"], device=self.device,
                                             dtype=self.dtype)
        return self._unet


def _stages(args, networks: _Networks, tracks: Tracks | None) -> tuple[PredictedMotion, EngineRender]:
    """Stage 1 from the tracks and stage 2 in our engine, one segment at a time (``segments.render``)."""
    text = networks.texts(1, networks.flow_config.cross_attention_dim)
    motion = PredictedMotion(networks.flow_model, FlowModelSpec(networks.flow_config, networks.controlnet is not None),
                             lambda image, generator: encode_reference(networks.stage1_vae, image, generator),
                             text[:1], text[1:], tracks, args.flow_unit,
                             settings=SamplerSettings(args.steps, args.cfg, args.sampler), stride=args.stride)
    states = networks.texts(2, networks.animation_config.cross_attention_dim)
    settings = AnimationSettings(steps=args.steps, cfg=args.cfg, sampler=args.sampler, pairing=args.pairing)
    render = EngineRender(networks.unet, networks.animation_config,
                          lambda image, generator: encode_first_frame(networks.stage2_vae, image, generator),
                          lambda latents: decode_frames(networks.stage2_vae, latents), states[:1], states[1:], settings)
    return motion, render


def _progress(plan: SegmentPlan):
    """Step counter on stderr over both stages of every segment: one updating line on a terminal, the last step
    only otherwise."""
    live = sys.stderr.isatty()
    label = "both stages" if len(plan) == 1 else f"both stages, {len(plan)} segments"

    def report(step: int, total: int, *_) -> None:
        if live or step == total:
            print(f"\r{label}: step {step}/{total}", end="\n" if step == total else "", file=sys.stderr, flush=True)

    return report


def _tiny_models(args, scratch: contextlib.ExitStack) -> Path:
    """make-tiny's set with the stage-2 files, in ``--models`` or a temporary folder removed when ``scratch`` closes."""
    if args.models is None:
        root = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="motion_i2v_tiny_")))
    else:
        root = args.models
    if not (root.is_dir() and "motion_modules" in locate_files(root)):
        write_tiny_models(root, args.seed)
    return root


def run(args) -> int:
    height, width, plan = _check_arguments(args)
    device = _check_device(args.device)
    dtype = default_dtype(device) if args.dtype == "auto" else args.dtype
    if args.tiny:
        print(NOISE_WARNING, file=sys.stderr)
    with contextlib.ExitStack() as scratch:
        root = _tiny_models(args, scratch) if args.tiny else args.models
        files, root = _release_files(root)
        if not args.tiny:
            _check_text_encoders(root)
        _check_memory(args, files, plan, height, width, device, dtype)
        image, brush, tracks = _inputs(args, height, width)
        networks = _Networks(args, files, root, len(plan), device, dtype)
        motion, render = _stages(args, networks, tracks)
        started = time.perf_counter()
        video = render_long(plan, image, motion, render, brush=brush, seed=args.seed, callback=_progress(plan))
        del networks, motion, render
        summary = _summary(device, started)
    save_animation(video.frames, args.out, fps=args.fps)
    # each frame's motion from its segment's first frame
    save_image(field_strip(torch.cat([video.fields[0], *(field[1:] for field in video.fields[1:])])),
               strip_path(args.out))
    segments = "" if len(plan) == 1 else f", {len(plan)} segments"
    print(f"wrote {args.out} ({args.frames} frames{segments}, {width}x{height}) and {strip_path(args.out)}; "
          f"{summary}; on {device}")
    if args.tiny:
        print(NOISE_WARNING, file=sys.stderr)
    return 0
