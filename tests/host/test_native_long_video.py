"""Motion-I2V Long Video (native) in ComfyUI itself: each segment is Animate (native) + KSampler on the frame the
previous segment rendered at its seam; one progress bar over every step; Cancel between steps.

The VAE is a small stand-in with ComfyUI's VAE methods (encode an IMAGE, decode a LATENT): the loop is under test,
not the VAE. KSampler here is ``nodes.common_ksampler``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

comfy_sd = pytest.importorskip("comfy.sd", reason="ComfyUI is not importable here (see tests/host/conftest.py)")
import comfy.cli_args  # noqa: E402
import comfy.model_management  # noqa: E402
import comfy.utils  # noqa: E402
import nodes  # noqa: E402  (ComfyUI's nodes.py: COMFYUI_DIR is first on sys.path)

pytestmark = pytest.mark.usefixtures("single_thread")
FRAMES, SEED, STEPS = 46, 7, 2  # 46 frames: segments 0..15, 15..30, 30..45


class StandInVAE:
    """ComfyUI's VAE interface on fixed maps: 8x8 means of the pixels -> 4 channels, and back, nearest."""

    mix = torch.tensor([[1.0, 0.2, -0.3], [0.1, 0.9, 0.2], [-0.2, 0.3, 1.1], [0.5, 0.5, 0.5]])

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        means = F.avg_pool2d(pixels[..., :3].movedim(-1, 1) * 2 - 1, 8)
        return torch.einsum("bchw,lc->blhw", means, self.mix)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        rgb = torch.einsum("blhw,lc->bchw", latent.float(), torch.linalg.pinv(self.mix).T)
        return (F.interpolate(rgb, scale_factor=8, mode="nearest") / 2 + 0.5).clamp(0, 1).movedim(1, -1)


@pytest.fixture(scope="module")
def scene(pack, kit):
    field = kit.motion_field(pack, frames=FRAMES)
    image = torch.rand(1, kit.HEIGHT, kit.WIDTH, 3, generator=torch.Generator().manual_seed(9))
    return field, image, kit.conditioning(5), kit.conditioning(6)


def long_video(pack, base_model, motion_modules, scene, **options):
    field, image, positive, negative = scene
    (motion,) = pack.NODE_CLASS_MAPPINGS["MotionI2VLongMotionFromField"]().plan(field, options.pop("overlap", 0))
    settings = dict(seed=SEED, steps=STEPS, cfg=5.0, sampler_name="ddim", scheduler="ddim_uniform",
                    pairing="official") | options
    (frames,) = pack.NODE_CLASS_MAPPINGS["MotionI2VLongVideoNative"]().render(
        base_model, motion_modules, positive, negative, StandInVAE(), image, motion, **settings)
    return motion.plan, frames


def test_each_segment_is_animate_native_and_ksampler_from_the_seam(pack, base_model, motion_modules, scene):
    plan, frames = long_video(pack, base_model, motion_modules, scene)
    assert len(plan) == 3 and frames.shape == (FRAMES, *scene[1].shape[1:])
    field, image, positive, negative = scene
    rebase = pack.motion_i2v.segments.fields.rebase_field
    first, vae = image, StandInVAE()
    for segment in plan:
        # what a user would wire by hand for this segment: the re-based field, its first frame, the next seed
        model, latent = pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]().apply(
            base_model, motion_modules, rebase(field, segment).motion, "official", image=first, vae=vae)
        (out,) = nodes.common_ksampler(model, SEED + segment.index, STEPS, 5.0, "ddim", "ddim_uniform", positive,
                                       negative, latent)
        by_hand = vae.decode(out["samples"])
        own = slice(1 if segment.index else 0, None)  # the seam frame is the previous segment's
        torch.testing.assert_close(frames[segment.start:segment.end + 1][own], by_hand[own], rtol=0, atol=1e-5)
        first = frames[segment.end:segment.end + 1]


def test_one_progress_bar_over_every_step_with_previews_and_cancel(pack, base_model, motion_modules, scene,
                                                                    monkeypatch):
    updates = []

    def hook(value, total, preview, prompt_id=None, node_id=None):
        updates.append((value, total, preview))
        if len(updates) == 4:
            comfy.model_management.interrupt_current_processing(True)  # Cancel during segment 1's second step

    monkeypatch.setattr(comfy.cli_args.args, "preview_method", comfy.cli_args.LatentPreviewMethod.Latent2RGB)
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", hook)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            long_video(pack, base_model, motion_modules, scene, steps=3)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    # one bar: 3 segments x 3 steps, counted on; a preview with each; the Cancel pressed at step 4 stops step 5
    assert [(value, total) for value, total, _ in updates] == [(step, 9) for step in (1, 2, 3, 4)]
    assert all(preview is not None and preview[0] == "JPEG" for *_, preview in updates)


def test_an_overlap_and_the_brush_on_the_native_path(pack, kit, base_model, motion_modules, scene):
    brush = torch.zeros(1, kit.HEIGHT, kit.WIDTH)
    brush[:, :, : kit.WIDTH // 2] = 1  # the left half may move: latent columns 0-2 of 6 are held on the right
    plan, frames = long_video(pack, base_model, motion_modules, scene, overlap=2, brush=brush)
    assert len(plan) == 4 and frames.shape[0] == FRAMES
    held = StandInVAE().decode(StandInVAE().encode(scene[1]))[0, :, kit.WIDTH // 2:]
    # the held half shows the image (through the VAE) in every frame of every segment
    torch.testing.assert_close(frames[:, :, kit.WIDTH // 2:], held.expand(FRAMES, *held.shape), rtol=0, atol=1e-4)


def test_inputs_are_checked_before_sampling(pack, base_model, motion_modules, scene):
    field, image, positive, negative = scene
    with pytest.raises(ValueError, match=r"motion field: it is 48x32 but the image is 96x64"):
        long_video(pack, base_model, motion_modules, (field, torch.rand(1, 64, 96, 3), positive, negative))
    with pytest.raises(ValueError, match=r"pairing: expected one of"):
        long_video(pack, base_model, motion_modules, scene, pairing="both")
