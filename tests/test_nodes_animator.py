"""The stage-2 nodes, called as ComfyUI calls them, on tiny files in the release layout and a tiny SD checkpoint."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from comfy_harness import ValidationError, call_node
from safetensors.torch import save_file

from ldm_layouts import to_ldm_unet
from motion_i2v.commands.make_tiny import randomize
from motion_i2v.weights.configs import bundled_config
from motion_i2v.weights.files import save_state_dict
from motion_i2v.weights.kinds import KINDS
from motion_i2v.weights.loader import build_model, official_state_dict
from motion_i2v.weights.sd15 import LDM_UNET_PREFIX

HEIGHT, WIDTH, FRAMES = 32, 48, 4
BASE_FROM_MODEL = "(MODEL input)"
MOTION, SD_UNET = KINDS["motion_modules"].release[0], KINDS["sd_unet"].release[-1]  # the plain SD1.5 UNet
SINGLE_FILE = "tiny_sd15_unet.safetensors"
FLOW_UNET = KINDS["flow_unet"].release[0]
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_checkpoint):
    """The pack's model folder: tiny stage-2 release files (config.json beside motion_block.bin), the same
    base as an LDM single-file checkpoint, an SDXL-looking file; plus the tiny CLIP and VAE of a checkpoint."""
    root = tmp_path_factory.mktemp("motion_i2v")
    generator = torch.Generator().manual_seed(0)
    weights = {kind: official_state_dict(randomize(build_model(kind, "tiny"), generator), kind)
               for kind in ("sd_unet", "motion_modules")}
    save_state_dict(weights["sd_unet"], root / SD_UNET)
    save_state_dict(weights["motion_modules"], root / MOTION)
    (root / MOTION).with_name("config.json").write_text(json.dumps(bundled_config("motion_modules", "tiny")))
    ldm = to_ldm_unet(weights["sd_unet"], 1, [True, False])
    save_file({LDM_UNET_PREFIX + key: value for key, value in ldm.items()}, root / SINGLE_FILE)
    save_file({"conditioner.embedders.0.weight": torch.zeros(1)}, root / "sdxl.safetensors")
    flow_unet = save_state_dict(official_state_dict(build_model("flow_unet", "tiny"), "flow_unet"), root / FLOW_UNET)
    flow_unet.with_name("config.json").write_text(json.dumps(bundled_config("flow_unet", "tiny")))
    (root / "broken.ckpt").write_bytes(b"PK\x03\x04 cut short")
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTION_I2V_MODELS", str(root))
    yield weights, *tiny_checkpoint
    patch.undo()


@pytest.fixture(scope="module")
def nodes(pack, models):
    return pack.NODE_CLASS_MAPPINGS["MotionI2VLoadAnimator"], pack.NODE_CLASS_MAPPINGS["MotionI2VMotionGuidedSampler"]


def loaded_weights(animator) -> dict:
    return official_state_dict(animator.model, "animation_unet")


def assert_stacked(animator, weights):
    loaded = loaded_weights(animator)
    for part in weights.values():
        for key, value in part.items():
            assert torch.equal(loaded[key], value), key


def test_release_files_are_preselected(nodes):
    required = nodes[0].INPUT_TYPES()["required"]
    assert required["base_model"][1]["default"] == f"motion_i2v/{SD_UNET}"
    assert required["motion_module"][1]["default"] == MOTION


@pytest.mark.parametrize("base", [f"motion_i2v/{SD_UNET}", f"checkpoints/{SINGLE_FILE}"])
def test_loads_the_base_from_a_release_file_or_a_single_file_checkpoint(nodes, models, base):
    (animator,) = call_node(nodes[0], base_model=base, motion_module=MOTION, dtype="fp32")
    assert animator.config.block_out_channels == (32, 64) and animator.config.in_channels == 4
    assert_stacked(animator, models[0])


class FakePatcher:
    """What the loader reads of a ModelPatcher: its key patches (one adds 1 to conv_in's bias, as a LoRA would)
    and the patch containers (``model_options`` and friends) it audits."""

    def __init__(self, weights: dict, **attributes):
        self.weights, self.model_options, self.object_patches = weights, {"transformer_options": {}}, {}
        self.__dict__.update(attributes)

    def get_key_patches(self, filter_prefix=None):
        patches = {"diffusion_model.input_blocks.0.0.bias": [(1.0, ("add", 1.0), 1.0)]}
        return {f"diffusion_model.{key}": [(value, lambda weight, **kwargs: weight), *patches.get(f"diffusion_model.{key}", [])]
                for key, value in self.weights.items()}


def add_patches(patches, weight, key):
    """Stands in for comfy.lora.calculate_weight (which ComfyUI's host tests use for real)."""
    return weight + sum(patch[1][1] for patch in patches)


def test_model_input_wins_and_its_patches_are_applied(pack, nodes, models, monkeypatch):
    monkeypatch.setattr(pack.nodes.comfy, "calculate_weight", add_patches)
    weights = models[0]
    bare = to_ldm_unet(weights["sd_unet"], 1, [True, False])
    (animator,) = call_node(nodes[0], base_model=f"checkpoints/{SINGLE_FILE}", motion_module=MOTION, dtype="fp32",
                            model=FakePatcher(bare))
    loaded = loaded_weights(animator)
    torch.testing.assert_close(loaded["conv_in.bias"], weights["sd_unet"]["conv_in.bias"] + 1)
    assert torch.equal(loaded["conv_out.weight"], weights["sd_unet"]["conv_out.weight"])


def test_model_patches_it_cannot_apply_are_refused_or_named(pack, nodes, models, monkeypatch, caplog):
    monkeypatch.setattr(pack.nodes.comfy, "calculate_weight", add_patches)
    bare = to_ldm_unet(models[0]["sd_unet"], 1, [True, False])
    load = dict(base_model=f"checkpoints/{SINGLE_FILE}", motion_module=MOTION, dtype="fp32")
    with pytest.raises(ValueError, match="model_sampling patch"):
        call_node(nodes[0], **load, model=FakePatcher(bare, object_patches={"model_sampling": object()}))
    v_model = FakePatcher(bare, model=type("BaseModel", (), {"model_type": type("T", (), {"name": "V_PREDICTION"})}))
    with pytest.raises(ValueError, match="predicts v_prediction"):
        call_node(nodes[0], **load, model=v_model)
    freeu = FakePatcher(bare, model_options={"transformer_options": {"patches": {"output_block_patch": [len]}}},
                        wrappers={"outer_sample": {"ADE": [len]}})
    with caplog.at_level("WARNING"):
        call_node(nodes[0], **load, model=freeu)
    (warning,) = [record.message for record in caplog.records if "Load Animator" in record.message]
    assert "transformer patch output_block_patch" in warning and "wrapper outer_sample" in warning
    assert "Motion-I2V Animate (native)" in warning


def test_loader_errors_name_the_input(nodes, models):
    with pytest.raises(ValueError, match="needs a MODEL connected"):
        call_node(nodes[0], base_model=BASE_FROM_MODEL, motion_module=MOTION, dtype="fp32")
    with pytest.raises(ValueError, match="sdxl.safetensors is an SDXL checkpoint"):
        call_node(nodes[0], base_model="checkpoints/sdxl.safetensors", motion_module=MOTION, dtype="fp32")
    with pytest.raises(ValueError, match=r"motion_modules: .*tiny_sd15_unet\.safetensors is an SD1\.5 checkpoint"):
        call_node(nodes[0], base_model=f"checkpoints/{SINGLE_FILE}", motion_module=SINGLE_FILE, dtype="fp32")
    # The flow UNet's motion modules have the stage-2 layout, and a config.json with 8 input channels lies beside it.
    flow_unet = r"motion_modules: .*unet/diffusion_pytorch_model\.bin is the Motion-I2V flow UNet \(stage 1\)"
    with pytest.raises(ValueError, match=flow_unet):
        call_node(nodes[0], base_model=f"motion_i2v/{SD_UNET}", motion_module=FLOW_UNET, dtype="fp32")
    with pytest.raises(ValueError, match=flow_unet):
        call_node(nodes[0], base_model=BASE_FROM_MODEL, motion_module=FLOW_UNET, dtype="fp32",
                  model=FakePatcher(to_ldm_unet(models[0]["sd_unet"], 1, [True, False])))
    with pytest.raises(ValueError, match=r"sd_unet: .*broken\.ckpt: not a readable checkpoint"):
        call_node(nodes[0], base_model="motion_i2v/broken.ckpt", motion_module=MOTION, dtype="fp32")
    with pytest.raises(ValidationError, match="not in"):
        call_node(nodes[0], base_model="checkpoints/absent.safetensors", motion_module=MOTION, dtype="fp32")


@pytest.fixture(scope="module")
def sampler_inputs(pack, nodes, models):
    _, clip, vae = models
    (animator,) = call_node(nodes[0], base_model=f"motion_i2v/{SD_UNET}", motion_module=MOTION, dtype="fp32")
    field_type = sys.modules["motion_i2v_pack.motion_i2v.flow"].MotionField
    flow = torch.zeros(FRAMES, 2, HEIGHT, WIDTH)
    flow[1:, 0] = 4.0
    image = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(1))
    encode = lambda text: clip.encode_from_tokens_scheduled(clip.tokenize(text))  # noqa: E731
    return dict(animator=animator, positive=encode("a river"), negative=encode("blur"), vae=vae, image=image,
                motion_field=field_type(flow), seed=3, steps=2, cfg=7.0, sampler="ddim", pairing="official")


def test_sampler_renders_a_decodable_video_latent(nodes, models, sampler_inputs):
    vae = models[2]
    (latent,) = call_node(nodes[1], **sampler_inputs)
    samples = latent["samples"]
    assert samples.shape == (FRAMES, 4, HEIGHT // 8, WIDTH // 8)  # frames as a batch, 8x smaller
    torch.testing.assert_close(samples[0], vae.encode(sampler_inputs["image"])[0], atol=1e-6, rtol=1e-6)
    (again,) = call_node(nodes[1], **sampler_inputs)
    assert torch.equal(again["samples"], samples)
    frames = vae.decode(samples)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    brush = torch.zeros(1, HEIGHT, WIDTH)
    brush[:, :, :16] = 1
    (brushed,) = call_node(nodes[1], **sampler_inputs, brush=brush)
    assert not torch.equal(brushed["samples"], samples)


def test_sampler_refuses_mismatched_inputs(nodes, sampler_inputs):
    field_type = type(sampler_inputs["motion_field"])
    cases = [
        (dict(motion_field=field_type(torch.zeros(FRAMES, 2, 16, 16))), "motion field: it is 16x16 but the first frame is 48x32"),
        (dict(image=torch.rand(1, 30, WIDTH, 3)), "multiples of 8"),
        (dict(positive=sampler_inputs["positive"] * 2), "expected the CONDITIONING of one"),
        (dict(negative=[[torch.zeros(1, 77, 1024), {}]]), r"negative: expected SD1.5 text states \[1, T, 32\]"),
        (dict(brush=torch.ones(1, 8, 8)), "brush: the mask is 8x8 but the image is 48x32"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            call_node(nodes[1], **{**sampler_inputs, **change})


def test_preview_grid_tiles_the_frames(pack):
    module = sys.modules["motion_i2v_pack.nodes.animator"]
    picture = module.preview_grid(lambda latent: latent[:3].clamp(0, 1), torch.rand(6, 4, 5, 7))
    assert picture.size == (4 * 7, 2 * 5)  # 6 frames in rows of 4: 2 rows


class WatchedVAE:
    """The checkpoint's VAE, recording what it is asked to encode."""

    def __init__(self, vae):
        self.vae, self.encoded = vae, []

    def encode(self, pixels):
        self.encoded.append(tuple(pixels.shape))
        return self.vae.encode(pixels)


@pytest.mark.parametrize("cfg", [float("nan"), float("inf"), -1.0, 31.0])
def test_sampler_refuses_a_cfg_that_is_not_finite_before_any_work(nodes, sampler_inputs, cfg):
    # NaN passes ComfyUI's min/max check (as in this harness) and used to give black frames 1..F-1 and "success";
    # the others reach the node where nothing validates (another executor, a direct call)
    vae = WatchedVAE(sampler_inputs["vae"])
    with pytest.raises(ValueError, match=r"cfg: expected a finite number in 0\.\.30\.0, got"):
        nodes[1]().sample(**{**sampler_inputs, "cfg": cfg, "vae": vae})
    assert not vae.encoded
    if cfg != cfg:
        with pytest.raises(ValueError, match="cfg: expected a finite number"):
            call_node(nodes[1], **{**sampler_inputs, "cfg": cfg, "vae": vae})


def test_sampler_gives_the_vae_rgb_and_refuses_nan_pixels(nodes, sampler_inputs):
    vae = WatchedVAE(sampler_inputs["vae"])
    grey = sampler_inputs["image"][..., :1]
    (latent,) = call_node(nodes[1], **{**sampler_inputs, "image": grey, "vae": vae})
    assert vae.encoded == [(1, HEIGHT, WIDTH, 3)]  # a 1-channel image used to reach the VAE as it was
    broken = sampler_inputs["image"].clone()
    broken[0, 3, 4, 1] = float("nan")
    with pytest.raises(ValueError, match="image: contains NaN or infinite values"):
        call_node(nodes[1], **{**sampler_inputs, "image": broken, "vae": vae})
    assert len(vae.encoded) == 1


def test_sampler_refuses_a_video_larger_than_the_memory_before_loading(nodes, sampler_inputs, monkeypatch):
    memory = sys.modules["motion_i2v_pack.motion_i2v.memory"]
    monkeypatch.setattr(memory, "ram_available", lambda: 2**20)
    vae = WatchedVAE(sampler_inputs["vae"])
    # 40 KiB x 6x4 latent pixels x 4 frames x 2 (CFG) = 7.5 MiB of activations; the weights are already in RAM
    with pytest.raises(memory.NotEnoughMemory, match=r"Motion-I2V stage 2 \(4 frames at 48x32, float32, CFG on\): "
                                                     r"needs about 8 MiB \(weights 0 KiB\) of RAM, but 1 MiB"):
        call_node(nodes[1], **{**sampler_inputs, "vae": vae})
    assert not vae.encoded


def test_sampler_refuses_a_seed_torch_cannot_take_before_any_work(nodes, sampler_inputs):
    vae = WatchedVAE(sampler_inputs["vae"])
    for seed in (-1, 2**64, 1.5):  # API prompts skip the widget's range
        with pytest.raises(ValueError, match=r"seed: expected an integer in 0\.\.18446744073709551615"):
            nodes[1]().sample(**{**sampler_inputs, "seed": seed, "vae": vae})
    assert not vae.encoded
