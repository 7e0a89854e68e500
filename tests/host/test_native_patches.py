"""Patches users put on a MODEL, on both stage-2 paths, with ComfyUI's own nodes and loaders.

Native path: LoRA (before or after Motion-I2V Animate (native)), FreeU_V2, Perturbed-Attention Guidance and a
core ControlNet with per-frame control images change the video; a v-prediction model_sampling patch is honoured
before the node and refused after it; schedules it cannot rebuild and non-SD1.5 UNets are refused.
Reference path: Load Animator applies weight patches with comfy.lora.calculate_weight (no deprecation line),
refuses v-prediction and names the patches it drops.
"""

from __future__ import annotations

import logging

import pytest
import torch

comfy_sd = pytest.importorskip("comfy.sd", reason="ComfyUI is not importable here (see tests/host/conftest.py)")
import comfy.controlnet  # noqa: E402
import comfy.model_management  # noqa: E402
import comfy.model_sampling  # noqa: E402
import comfy.supported_models  # noqa: E402
import comfy.utils  # noqa: E402
import folder_paths  # noqa: E402
import nodes  # noqa: E402
from comfy_extras.nodes_freelunch import FreeU_V2  # noqa: E402
from comfy_extras.nodes_model_advanced import ModelSamplingDiscrete  # noqa: E402
from comfy_extras.nodes_pag import PerturbedAttentionGuidance  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")
LORA = "tiny_sd15_lora.safetensors"
MOTION_FILE = "models/stage2/Motion_Module/motion_block.bin"


def v3(node_output):
    """The first output of a V3 node (FreeU_V2 and PAG are V3 nodes in both hosts)."""
    return node_output.result[0]


@pytest.fixture(scope="module")
def lora_file(kit, base_model, tmp_path_factory):
    """A random LoRA on the UNet's first level, in ComfyUI's loras folder."""
    folder = tmp_path_factory.mktemp("loras")
    lora = comfy.utils.load_torch_file(str(kit.write_lora(folder, base_model, LORA)))
    assert len(lora) >= 3 * 6, "the LoRA should patch several layers"
    folder_paths.add_model_folder_path("loras", str(folder))
    return LORA


@pytest.fixture(scope="module")
def scene(pack, kit):
    return kit.motion_field(pack), kit.first_frame(), kit.conditioning(5), kit.conditioning(6)


def animate(pack, model, motion_modules, scene, pairing="official"):
    field, first, *_ = scene
    return pack.NODE_CLASS_MAPPINGS["MotionI2VAnimateNative"]().apply(model, motion_modules, field, pairing,
                                                                       first_frame=first)


def render(model, latent, scene, positive=None, negative=None, steps=2):
    _, _, default_positive, default_negative = scene
    (out,) = nodes.common_ksampler(model, 3, steps, 4.0, "euler", "normal", positive or default_positive,
                                   negative or default_negative, latent)
    return out["samples"]


def with_lora(model, strength):
    (patched,) = nodes.LoraLoaderModelOnly().load_lora_model_only(model, LORA, strength)
    return patched


@pytest.fixture(scope="module")
def plain(pack, base_model, motion_modules, scene):
    model, latent = animate(pack, base_model, motion_modules, scene)
    return render(model, latent, scene), latent


def changed(video, plain_video):
    return float((video[1:] - plain_video[1:]).abs().max())


def test_lora_strength_0_is_no_lora_and_1_changes_the_video(pack, base_model, motion_modules, scene, plain,
                                                            lora_file):
    reference, latent = plain
    off = render(animate(pack, with_lora(base_model, 0.0), motion_modules, scene)[0], latent, scene)
    assert torch.equal(off, reference)
    on = render(animate(pack, with_lora(base_model, 1.0), motion_modules, scene)[0], latent, scene)
    assert changed(on, reference) > 1e-2


def test_a_lora_after_the_node_patches_the_same_layers(pack, base_model, motion_modules, scene, plain, lora_file):
    """ComfyUI patches weights with the motion modules taken out, so LoRA keys keep their block indices."""
    _, latent = plain
    before = render(animate(pack, with_lora(base_model, 1.0), motion_modules, scene)[0], latent, scene)
    after = render(with_lora(animate(pack, base_model, motion_modules, scene)[0], 1.0), latent, scene)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)


def test_freeu_v2_and_pag_change_the_video(pack, base_model, motion_modules, scene, plain):
    reference, latent = plain
    model = animate(pack, base_model, motion_modules, scene)[0]
    freeu = v3(FreeU_V2.execute(model, 1.3, 1.4, 0.9, 0.2))  # the tiny UNet's 640-channel blocks are scaled
    assert changed(render(freeu, latent, scene), reference) > 1e-2
    pag = v3(PerturbedAttentionGuidance.execute(model, 3.0))
    assert changed(render(pag, latent, scene), reference) > 1e-2


def test_core_controlnet_with_per_frame_control_images(pack, kit, base_model, motion_modules, scene, plain,
                                                       tmp_path):
    reference, latent = plain
    model = animate(pack, base_model, motion_modules, scene)[0]
    control = comfy.controlnet.load_controlnet(str(kit.write_controlnet(tmp_path)))
    images = torch.rand(kit.FRAMES, kit.HEIGHT, kit.WIDTH, 3, generator=torch.Generator().manual_seed(9))
    _, _, positive, negative = scene

    def controlled(frames):
        return nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, frames, 1.0, 0.0, 1.0)

    video = render(model, latent, scene, *controlled(images))
    assert changed(video, reference) > 1e-2
    # one control image per frame: giving every frame the first image renders another video
    same = render(model, latent, scene, *controlled(images[:1].expand(kit.FRAMES, -1, -1, -1)))
    assert changed(video, same) > 1e-3


def test_v_prediction_before_the_node_is_honoured(pack, base_model, motion_modules, scene, plain):
    reference, latent = plain
    (v_model,) = ModelSamplingDiscrete().patch(base_model, "v_prediction", False)
    model = animate(pack, v_model, motion_modules, scene)[0]
    sampling = model.get_model_object("model_sampling")
    assert isinstance(sampling, comfy.model_sampling.V_PREDICTION)
    eps_sampling = animate(pack, base_model, motion_modules, scene)[0].get_model_object("model_sampling")
    torch.testing.assert_close(sampling.sigmas, eps_sampling.sigmas, rtol=0, atol=0)  # the linear-beta schedule
    video = render(model, latent, scene)
    assert torch.isfinite(video).all() and changed(video, reference) > 1e-2


def test_zero_terminal_snr_is_kept(pack, base_model, motion_modules, scene):
    (zsnr,) = ModelSamplingDiscrete().patch(base_model, "eps", True)
    sampling = animate(pack, zsnr, motion_modules, scene)[0].get_model_object("model_sampling")
    alphas = pack.motion_i2v.sampling.linear_alphas_cumprod().double()
    expected = comfy.model_sampling.rescale_zero_terminal_snr_sigmas(((1 - alphas) / alphas) ** 0.5)
    torch.testing.assert_close(sampling.sigmas, expected.float())


def test_schedules_it_cannot_rebuild_are_refused(pack, base_model, motion_modules, scene):
    (lcm,) = ModelSamplingDiscrete().patch(base_model, "lcm", False)
    with pytest.raises(ValueError, match="cannot keep this one"):
        animate(pack, lcm, motion_modules, scene)


def test_a_model_sampling_patch_after_the_node_is_refused_when_sampling(pack, base_model, motion_modules, scene,
                                                                       plain):
    _, latent = plain
    (replaced,) = ModelSamplingDiscrete().patch(animate(pack, base_model, motion_modules, scene)[0], "v_prediction",
                                                False)
    with pytest.raises(ValueError, match="was replaced after Motion-I2V Animate"):
        render(replaced, latent, scene)


def test_a_latent_of_another_size_is_refused(pack, base_model, motion_modules, scene, plain):
    _, latent = plain
    model = animate(pack, base_model, motion_modules, scene)[0]
    with pytest.raises(ValueError, match="renders 3 frames"):
        render(model, {"samples": latent["samples"][:2]}, scene)


def test_a_second_motion_i2v_patch_is_refused(pack, base_model, motion_modules, scene):
    model = animate(pack, base_model, motion_modules, scene)[0]
    with pytest.raises(ValueError, match="already has Motion-I2V's motion modules"):
        animate(pack, model, motion_modules, scene)


def test_non_sd15_unets_are_refused(pack, motion_modules):
    sdxl = comfy.supported_models.SDXL({"model_channels": 320, "channel_mult": [1, 2, 4], "num_res_blocks": [2, 2, 2],
                                        "transformer_depth": [0, 0, 2, 2, 10, 10], "context_dim": 2048,
                                        "num_head_channels": 64, "adm_in_channels": 2816})
    model = type("Model", (), {"model": type("Base", (), {"model_config": sdxl})()})()
    with pytest.raises(ValueError, match="a SDXL model; these motion modules fit"):
        pack.nodes.comfy_native.check_fits(model, motion_modules.patcher.model)


def test_load_animator_applies_loras_with_the_current_function(pack, weights, base_model, motion_folder, lora_file,
                                                              caplog):
    lora_model = with_lora(base_model, 1.0)
    with caplog.at_level(logging.WARNING):
        (animator,) = pack.NODE_CLASS_MAPPINGS["MotionI2VLoadAnimator"]().load("(MODEL input)", MOTION_FILE, "fp32",
                                                                               model=lora_model)
    assert not [record for record in caplog.records if "deprecated" in record.message]
    comfy.model_management.load_models_gpu([lora_model])  # ComfyUI's own patching, for the expected weights
    sd_unet = pack.motion_i2v.weights.kinds.KINDS["sd_unet"]
    expected = sd_unet.normalize(dict(lora_model.model.diffusion_model.state_dict()))
    loaded = pack.motion_i2v.weights.loader.official_state_dict(animator.model.model.module, "animation_unet")
    unpatched = sd_unet.normalize(weights[0])
    patched_keys = [key for key in expected if not torch.equal(expected[key], unpatched[key])]
    assert len(patched_keys) >= 6
    for key in expected:
        torch.testing.assert_close(loaded[key], expected[key], rtol=1e-6, atol=1e-6)


def test_load_animator_refuses_v_prediction_and_names_dropped_patches(pack, base_model, motion_folder, caplog):
    load = pack.NODE_CLASS_MAPPINGS["MotionI2VLoadAnimator"]().load
    (v_model,) = ModelSamplingDiscrete().patch(base_model, "v_prediction", False)
    with pytest.raises(ValueError, match="model_sampling patch"):
        load("(MODEL input)", MOTION_FILE, "fp32", model=v_model)
    freeu = v3(FreeU_V2.execute(base_model, 1.3, 1.4, 0.9, 0.2))
    pag = v3(PerturbedAttentionGuidance.execute(freeu, 3.0))
    with caplog.at_level(logging.WARNING):
        load("(MODEL input)", MOTION_FILE, "fp32", model=pag)
    (warning,) = [record.message for record in caplog.records if "Load Animator" in record.message]
    assert "output_block_patch" in warning and "sampler_post_cfg_function" in warning  # FreeU's, PAG's
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load("(MODEL input)", MOTION_FILE, "fp32", model=base_model)
    assert not [record for record in caplog.records if "Load Animator" in record.message]
