"""``python -m motion_i2v generate``: image (+ prompt, tracks, brush) -> video, both stages.

``--models DIR`` is the official release layout (``models/stage1/...``, ``models/stage2/...``; the
folder itself or its parent). Stage 1 predicts the motion field with the FlowGen UNet (and the
ControlNet when tracks are given), stage 2 renders the frames; the stage-1 models leave the device
before stage 2 loads. As the demo: the image is resized to 512x320, the base UNet is
``realistic_unet.ckpt`` (else the SD1.5 UNet), the stage-2 VAE RealisticVision's (else SD1.5's),
the prompts go through each stage's SD1.5 text encoder (needs ``transformers``).

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
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import check_number
from ..devices import default_dtype, resolve_device, resolve_dtype
from ..flow import MAX_SIDE, MotionField
from ..media import ANIMATION_EXTENSIONS, load_image, load_mask, save_animation, save_image
from ..memory import check_stage_memory
from ..models.motion_augmented import PAIRINGS
from ..pipelines.animate import AnimationRequest, AnimationSettings, animate, decode_frames, encode_first_frame
from ..pipelines.flow_gen import (
    MAX_FLOW_UNIT,
    NEGATIVE_PROMPT,
    VAE_CHUNK,
    FlowRequest,
    TrajectoryControl,
    encode_reference,
    load_flow_model,
    predict_motion_field,
)
from ..sampling import SAMPLERS, SamplerSettings
from ..tracks.brush import Brush
from ..tracks.parsing import parse_drawing
from ..tracks.raster import brush_mask
from ..tracks.sampling import sample_tracks
from ..visualize import field_strip
from ..weights.animator import load_animator_files
from ..weights.kinds import KINDS, REALISTIC_UNET_FILE, REALISTIC_VAE_FILE
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
    parser.add_argument("--frames", type=int, default=16, help="frames, including the image (2..16, default 16)")
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


def _check_arguments(args) -> tuple[int, int]:
    """Every argument and output, before any model or input is read; returns (height, width) and fills in
    ``args.steps``."""
    check_outputs(args.out, args.fps)
    for option, path in (("--image", args.image), ("--tracks", args.tracks), ("--brush", args.brush)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{option}: no such file: {path}")
    if args.models is None and not args.tiny:
        raise ValueError("--models: give the official release folder (or use --tiny for a weight-free smoke run)")
    if args.models is not None and not args.tiny and not args.models.is_dir():
        raise ValueError(f"--models: no such folder: {args.models}")
    if not 2 <= args.frames <= 16:
        raise ValueError(f"--frames: expected 2..16, got {args.frames}")
    height = args.height if args.height is not None else (TINY_SIZE[0] if args.tiny else 320)
    width = args.width if args.width is not None else (TINY_SIZE[1] if args.tiny else 512)
    if height % 8 or width % 8 or not (8 <= height <= MAX_SIDE and 8 <= width <= MAX_SIDE):
        raise ValueError(f"--width/--height: expected multiples of 8 in 8..{MAX_SIDE}, got {width}x{height}")
    if args.steps is None:
        args.steps = TINY_STEPS if args.tiny else 25
    AnimationSettings(steps=args.steps, cfg=args.cfg, sampler=args.sampler, pairing=args.pairing)
    check_number(args.flow_unit, "--flow-unit", low=1, high=MAX_FLOW_UNIT, integer=True)
    check_number(args.seed, "--seed", low=0, high=2**64 - 1, integer=True)
    return height, width


def _check_memory(args, files: dict[str, Path], height: int, width: int, device, dtype) -> None:
    """Both stages against the memory before stage 1 starts (stage 2 comes hours later with real weights). The
    weights count as their files' size, what loading reads."""
    stage1 = ["flow_unet", "flow_vae", "image_vae", *(["controlnet"] if args.tracks and "controlnet" in files else [])]
    for stage, kinds in ((1, stage1), (2, ["base", "motion_modules", "image_vae"])):
        weights = sum(files[kind].stat().st_size for kind in kinds)
        check_stage_memory(stage, frames=args.frames, height=height, width=width, dtype=resolve_dtype(dtype),
                           guided=args.cfg > 1, weights=weights, device=device,
                           vae_frames=min(VAE_CHUNK, args.frames - 1) if stage == 1 else 1)


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


def _release(device: torch.device, started: float) -> str:
    """Free the device's cache after a stage; returns its time and (CUDA) peak memory, for the summary."""
    summary = f"{time.perf_counter() - started:.1f} s"
    if device.type == "cuda":
        summary += f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return summary


def _predict_field(args, files, root, image, brush, tracks, device, dtype) -> MotionField:
    """Stage 1: the field, [F, 2, H, W] pixels."""
    control = TrajectoryControl(tracks, args.flow_unit, 1.0, brush) if tracks is not None else None
    controlnet = files.get("controlnet") if control is not None else None
    model = load_flow_model(files["flow_unet"], files["flow_vae"], controlnet, device=device, dtype=dtype)
    vae = load_model("image_vae", files["image_vae"], device=device)
    width_text = model.unet.config.cross_attention_dim
    texts = [args.prompt, args.negative]
    states = (_tiny_text_states(texts, width_text) if args.tiny else _text_states(root / STAGE1_TEXT, texts, device))
    request = FlowRequest(model.spec, *image.shape[2:], states[:1], states[1:], frames=args.frames,
                          settings=SamplerSettings(args.steps, args.cfg, args.sampler), seed=args.seed,
                          control=control, brush=brush)
    latent = encode_reference(vae, image, torch.Generator().manual_seed(args.seed))
    return MotionField(predict_motion_field(model, latent, request, callback=_progress("stage 1")))


def _stage2_vae(files, root, device):
    """RealisticVision's VAE (the demo's) when the release has it, else the SD1.5 VAE."""
    realistic = root / REALISTIC_VAE_FILE
    if realistic.is_file():
        return load_model("image_vae", realistic, "official", device=device)  # the VAE of a single-file checkpoint
    return load_model("image_vae", files["image_vae"], device=device)


def _render(args, files, root, image, brush, field: MotionField, device, dtype) -> torch.Tensor:
    """Stage 2: [F, 3, H, W] frames 0..1."""
    unet = load_animator_files(files["base"], files["motion_modules"], device=device, dtype=dtype)
    vae = _stage2_vae(files, root, device)
    texts = [args.prompt, args.negative]
    width_text = unet.config.cross_attention_dim
    states = (_tiny_text_states(texts, width_text) if args.tiny else _text_states(root / STAGE2_TEXT, texts, device))
    settings = AnimationSettings(steps=args.steps, cfg=args.cfg, sampler=args.sampler, pairing=args.pairing)
    request = AnimationRequest(unet.config, *image.shape[2:], field, states[:1], states[1:], settings, brush)
    generator = torch.Generator().manual_seed(args.seed)
    reference = encode_first_frame(vae, image, generator)
    latents = animate(unet, reference, request, generator=generator, callback=_progress("stage 2"))
    del unet
    return decode_frames(vae, latents)


def _progress(stage: str):
    """Step counter on stderr: one updating line on a terminal, the last step only otherwise."""
    live = sys.stderr.isatty()

    def report(step: int, total: int, *_) -> None:
        if live or step == total:
            print(f"\r{stage}: step {step}/{total}", end="\n" if step == total else "", file=sys.stderr, flush=True)

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
    height, width = _check_arguments(args)
    device = _check_device(args.device)
    dtype = default_dtype(device) if args.dtype == "auto" else args.dtype
    if args.tiny:
        print(NOISE_WARNING, file=sys.stderr)
    with contextlib.ExitStack() as scratch:
        root = _tiny_models(args, scratch) if args.tiny else args.models
        files, root = _release_files(root)
        if not args.tiny:
            _check_text_encoders(root)
        _check_memory(args, files, height, width, device, dtype)
        image, brush, tracks = _inputs(args, height, width)
        started = time.perf_counter()
        field = _predict_field(args, files, root, image, brush, tracks, device, dtype)
        stage1, started = _release(device, started), time.perf_counter()
        frames = _render(args, files, root, image, brush, field, device, dtype)
        stage2 = _release(device, started)
    save_animation(frames, args.out, fps=args.fps)
    save_image(field_strip(field.flow), strip_path(args.out))
    print(f"wrote {args.out} ({args.frames} frames, {width}x{height}) and {strip_path(args.out)}; stage 1: {stage1}; "
          f"stage 2: {stage2}; on {device}")
    if args.tiny:
        print(NOISE_WARNING, file=sys.stderr)
    return 0
