"""Stage-2 denoising step: time at the tiny config, and (``--real``) peak memory at full size; the native path.

``python benchmarks/stage2.py [--real] [--device cpu|cuda]`` prints one line per case:
``case  ref_ms  ours_ms  ratio  peak_GiB  device``.

One step = one call of the stage-2 denoiser: CFG batch 2 x 16 frames at 320x512 (40x64 latents),
frame 0 clean at t = 1, text cross-attention. "ours" runs the motion-augmented temporal attention
(every motion module splats frame 0's features along a field and attends over 31 tokens); the
reference is the same UNet with plain AnimateDiff temporal attention (no field), so the ratio is the
price of the motion guidance. ``--real`` builds the official-size animation UNet (random weights;
minutes on a CPU) and runs one guided step in float32 and bfloat16, each in its own process so that
peaks do not mix: ref = fp32, ours = bf16. peak_GiB: CUDA peak allocated memory, or on the CPU the
process's peak resident set (imports included).

Native path (Motion-I2V Animate (native): the motion modules inside ComfyUI's own UNet), when ComfyUI
imports: run with a ComfyUI Python and ``COMFYUI_DIR`` set (else these rows say why they are skipped).
One step = ``BaseModel.apply_model`` on the CFG batch, as ComfyUI's samplers call it. Two rows per size:
``native/engine`` (ref = our engine's step, UNet3D on the same weights) and ``native/plain`` (ref = the
same ComfyUI UNet with plain AnimateDiff attention in its motion modules). Tiny = the ComfyUI-detectable
SD1.5 UNet of tests/comfyui_tiny_sd15.py (320 and 640 channels) with the comfy_tiny motion modules, 16
frames at 96x64 (its 320-channel layers make 512x320 slow on a CPU); ``--real`` = SD1.5 + the official
motion modules at 512x320, fp32, in a fresh process.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from motion_i2v.weights.loader import build_model  # noqa: E402
from motion_i2v.models.motion_augmented import MotionGuidance  # noqa: E402
from motion_i2v.pipelines.animate import AnimationDenoiser  # noqa: E402
from stage1 import REAL_LATENT, line, peak_gib, reset_peak, time_ms  # noqa: E402

FRAMES, LATENT_HEIGHT, LATENT_WIDTH, TOKENS = 16, 40, 64, 77


def step(unet, device, dtype, guided: bool, generator: torch.Generator):
    """A stage-2 denoiser on random inputs and a smooth random field; returns ``() -> eps``."""
    width = unet.config.cross_attention_dim
    x = torch.randn(1, 4, FRAMES, LATENT_HEIGHT, LATENT_WIDTH, generator=generator).to(device)
    reference = torch.randn(1, 4, LATENT_HEIGHT, LATENT_WIDTH, generator=generator).to(device)
    text, negative = (torch.randn(1, TOKENS, width, generator=generator).to(device, dtype) for _ in range(2))
    coarse = torch.randn(FRAMES, 2, 5, 8, generator=generator) * 16  # pixels, smooth at image size
    flow = torch.nn.functional.interpolate(coarse, size=(LATENT_HEIGHT * 8, LATENT_WIDTH * 8), mode="bilinear")
    flow[0] = 0
    guidance = MotionGuidance(flow.to(device)) if guided else None
    denoiser = AnimationDenoiser(unet, reference, text, negative, guidance, cfg=7.0)
    return lambda: denoiser(x, 961)


@torch.inference_mode()
def tiny_cases(device: torch.device) -> list[str]:
    generator = torch.Generator().manual_seed(0)
    unet = build_model("animation_unet", "tiny", device=device)
    ref_ms = time_ms(step(unet, device, torch.float32, False, generator))
    guided = step(unet, device, torch.float32, True, generator)
    reset_peak(device)
    return [line("tiny_stage2_step", ref_ms, time_ms(guided), peak_gib(device), device)]


def _real_step(dtype_name: str, device_name: str, queue) -> None:
    """One full-size guided step in a fresh process; puts (milliseconds, peak GiB) on ``queue``."""
    device, dtype = torch.device(device_name), getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        unet = build_model("animation_unet", "official", device="meta").to_empty(device=device)
        for tensor in unet.state_dict().values():  # random weights, cheaper than the real initialisers
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
        guided = step(unet.to(dtype), device, dtype, True, generator)
        reset_peak(device)
        start = time.perf_counter()
        guided()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        queue.put(((time.perf_counter() - start) * 1e3, peak_gib(device)))


def real_cases(device: torch.device) -> list[str]:
    """fp32 then bf16, each in a fresh process; the bf16 row's reference is the fp32 time."""
    context, rows, fp32_ms = multiprocessing.get_context("spawn"), [], None
    for dtype_name, short in (("float32", "fp32"), ("bfloat16", "bf16")):
        queue = context.Queue()
        worker = context.Process(target=_real_step, args=(dtype_name, str(device), queue))
        worker.start()
        milliseconds, peak = queue.get()
        worker.join()
        rows.append(line(f"real_stage2_{short}", fp32_ms, milliseconds, peak, device))
        fp32_ms = fp32_ms or milliseconds
    return rows


# ComfyUI's unet_config of SD1.5 (what its detection gives for the official UNet), for the --real native case
SD15_UNET = {
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
NATIVE_TINY_LATENT = (8, 12)


def comfyui_pack():
    """(the pack as ComfyUI imports it, or None, why not). Needs ComfyUI's modules: COMFYUI_DIR and its Python."""
    comfyui = os.environ.get("COMFYUI_DIR")
    if not comfyui:
        return None, "set COMFYUI_DIR and run with a ComfyUI Python"
    sys.path.insert(0, comfyui)
    root = Path(__file__).resolve().parents[1]
    try:
        import comfy.cli_args

        comfy.cli_args.args.cpu = not torch.cuda.is_available()
        import comfy.sd  # noqa: F401
    except Exception as error:  # any import failure: this is not a ComfyUI Python
        return None, f"ComfyUI does not import here: {type(error).__name__}: {error}"
    sys.path.insert(0, str(root.parent))
    return importlib.import_module(root.name), ""


def part(pack, name: str):
    """A module of the pack (``part(pack, "motion_i2v.native")``), imported as ComfyUI imports the pack's modules."""
    return importlib.import_module(f"{pack.__name__}.{name}")


def random_weights(module: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
    return module


def native_model(pack, unet_config: dict, motion_config: dict, flow: torch.Tensor, generator: torch.Generator):
    """(ComfyUI MODEL with Motion-I2V inside, its motion modules, UNet3D on the same weights), random weights."""
    import comfy.model_detection
    import comfy.model_management
    import comfy.model_patcher
    import comfy.ops
    from comfy.model_base import BaseModel

    config = comfy.model_detection.model_config_from_unet_config(dict(unet_config))
    base: BaseModel = random_weights(config.get_model({}), generator)
    model = comfy.model_patcher.ModelPatcher(base, load_device=comfy.model_management.get_torch_device(),
                                             offload_device=comfy.model_management.unet_offload_device())
    animation_config = part(pack, "motion_i2v.weights.kinds").animation_config
    holder = part(pack, "motion_i2v.native").LdmMotionModules(animation_config(motion_config), comfy.ops.manual_cast)
    random_weights(holder, generator)
    motion = comfy.model_patcher.ModelPatcher(holder, load_device=model.load_device,
                                              offload_device=model.offload_device)
    reference = torch.randn(1, 4, flow.shape[-2] // 8, flow.shape[-1] // 8, generator=generator)
    native = part(pack, "nodes.comfy_native")
    patch = native.MotionPatch(motion, flow, "official", reference, base.process_latent_in(reference),
                               torch.ones(flow.shape[0], 1, *reference.shape[2:]),
                               native.motion_i2v_sampling(base.model_sampling))
    unet3d = part(pack, "motion_i2v.weights.animator").load_animator(base.diffusion_model.state_dict(), holder.state_dict(), motion_config,
                                  device=model.load_device)
    return patch.apply(model), holder, unet3d


def native_step(model, x: torch.Tensor, texts: torch.Tensor, sigma: float):
    """``() -> denoised`` for the CFG batch [negative, positive] of ``x`` [F, 4, h, w], as calc_cond_batch calls it."""
    import comfy.model_management
    import comfy.patcher_extension

    comfy.model_management.load_models_gpu([model])
    options = comfy.patcher_extension.copy_nested_dicts(model.model_options["transformer_options"])
    options["wrappers"] = comfy.patcher_extension.copy_nested_dicts(model.wrappers)
    options["cond_or_uncond"] = [1, 0]
    frames = x.shape[0]
    batch = torch.cat([x, x]).to(model.load_device)
    context = torch.cat([text.expand(frames, -1, -1) for text in texts]).to(model.load_device)
    sigmas = torch.full((len(batch),), sigma, device=model.load_device)
    return lambda: model.model.apply_model(batch, sigmas, c_crossattn=context, transformer_options=options)


def native_rows(pack, name: str, unet_config: dict, motion_config: dict, latent: tuple[int, int],
                device: torch.device) -> list[str]:
    """``name``_native/engine and ``name``_native/plain for one size."""
    motion_module = part(pack, "motion_i2v.models.motion_module")
    augmented = part(pack, "motion_i2v.models.motion_augmented")
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randn(FRAMES, 2, 5, 8, generator=generator) * 16
    flow = torch.nn.functional.interpolate(coarse, size=(latent[0] * 8, latent[1] * 8), mode="bilinear")
    flow[0] = 0
    with torch.inference_mode():
        model, holder, unet3d = native_model(pack, unet_config, motion_config, flow, generator)
        x = torch.randn(FRAMES, 4, *latent, generator=generator)
        texts = torch.randn(2, 1, TOKENS, 768, generator=generator)
        sigma = float(model.get_model_object("model_sampling").sigmas[961])
        native = native_step(model, x, texts, sigma)
        native_ms = time_ms(native)
        engine_denoiser = part(pack, "motion_i2v.pipelines.animate").AnimationDenoiser(
            unet3d, x[:1].to(device) * 0.18215, texts[1].to(device), texts[0].to(device),
            augmented.MotionGuidance(flow.to(device)), cfg=7.0)
        engine_x = x.transpose(0, 1)[None].to(device)
        engine_ms = time_ms(lambda: engine_denoiser(engine_x, 961))
        motion_module.set_temporal_processor(holder, lambda _, attention: motion_module.TemporalAttnProcessor())
        plain_ms = time_ms(native)
        augmented.install_motion_augmentation(holder)
        reset_peak(device)
        native()
        peak = peak_gib(device)
    return [line(f"{name}_native/engine", engine_ms, native_ms, peak, device),
            line(f"{name}_native/plain", plain_ms, native_ms, peak, device)]


def _real_native(device_name: str, queue) -> None:
    pack, why = comfyui_pack()
    if pack is None:
        queue.put([f"real_native: skipped ({why})"])
        return
    config = part(pack, "motion_i2v.weights.configs").bundled_config("motion_modules")
    queue.put(native_rows(pack, "real", SD15_UNET, config, REAL_LATENT, torch.device(device_name)))


def native_cases(device: torch.device, real: bool) -> list[str]:
    pack, why = comfyui_pack()
    if pack is None:
        return [f"native: skipped ({why})"]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from comfyui_tiny_sd15 import UNET as TINY_UNET  # the tiny SD1.5 UNet the host tests and CI use

    motion_config = part(pack, "motion_i2v.weights.configs").bundled_config("motion_modules", "comfy_tiny")
    rows = native_rows(pack, "tiny", TINY_UNET, motion_config, NATIVE_TINY_LATENT, device)
    if real:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        worker = context.Process(target=_real_native, args=(str(device), queue))
        worker.start()
        rows += queue.get()
        worker.join()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="also one full-size step in fp32 and bf16 (minutes on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    cases = [tiny_cases] + ([real_cases] if args.real else []) + [lambda device: native_cases(device, args.real)]
    print(f"{'case':20s} {'ref_ms':>10s} {'ours_ms':>10s} {'ratio':>6s} {'peak_GiB':>9s}  device")
    for rows in (case(torch.device(args.device)) for case in cases):
        print("\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
