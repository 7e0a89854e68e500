"""The native stage-2 nodes' own logic, without ComfyUI: inputs checked before anything of ComfyUI is touched.

What needs ComfyUI (the MODEL, KSampler, patches) is tested in tests/host against the real hosts.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch

from motion_i2v.weights.configs import bundled_config
from motion_i2v.weights.kinds import animation_config

HEIGHT, WIDTH, FRAMES = 32, 48, 3


@pytest.fixture(scope="module")
def native(pack):
    return sys.modules["motion_i2v_pack.nodes.native"]


@pytest.fixture(scope="module")
def modules(native):
    """MOTION_I2V_MOTION_MODULES whose patcher holds only what the node reads before ComfyUI: the config."""
    config = animation_config(bundled_config("motion_modules", "comfy_tiny"))
    return native.MotionModules(SimpleNamespace(model=SimpleNamespace(config=config)), "motion_block.bin")


def field(pack, frames=FRAMES, height=HEIGHT, width=WIDTH):
    return sys.modules["motion_i2v_pack.motion_i2v.flow"].MotionField(torch.zeros(frames, 2, height, width))


def test_first_frame_latent_wins_over_the_image(native, tiny_checkpoint):
    _, vae = tiny_checkpoint
    latent = torch.randn(2, 4, HEIGHT // 8, WIDTH // 8)
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    assert torch.equal(native.first_frame_latent(image, vae, {"samples": latent}), latent[:1])
    encoded = native.first_frame_latent(image, vae, None)
    torch.testing.assert_close(encoded, vae.encode(image))
    with pytest.raises(ValueError, match="connect the first frame"):
        native.first_frame_latent(image, None, None)
    with pytest.raises(ValueError, match=r"first_frame: expected an SD LATENT \[B, 4, h, w\], got \[1, 16, 4, 6\]"):
        native.first_frame_latent(None, None, {"samples": torch.zeros(1, 16, 4, 6)})


def test_moving_region_holds_frame_0_and_the_unpainted_cells(native):
    moving = native.moving_region(None, FRAMES, 4, 6)
    assert moving.shape == (FRAMES, 1, 4, 6)  # [F, 1, h, w]
    assert moving[0].sum() == 0 and moving[1:].min() == 1
    brush = torch.zeros(HEIGHT, WIDTH)
    brush[:, : WIDTH // 2] = 1  # the left half may move
    moving = native.moving_region(native.Brush.from_mask(brush, HEIGHT, WIDTH), FRAMES, 4, 6)
    assert moving[0].sum() == 0
    assert moving[1:, :, :, :3].min() == 1 and moving[1:, :, :, 3:].max() == 0


def test_bad_inputs_are_refused_before_comfyui(pack, native, modules):
    apply = native.MotionI2VAnimateNative().apply
    first = {"samples": torch.zeros(1, 4, HEIGHT // 8, WIDTH // 8)}
    with pytest.raises(ValueError, match="motion_field: expected a MOTION_I2V_FIELD"):
        apply(None, modules, torch.zeros(FRAMES, 2, HEIGHT, WIDTH), "official", first_frame=first)
    with pytest.raises(ValueError, match="pairing: expected one of"):
        apply(None, modules, field(pack), "swapped", first_frame=first)
    with pytest.raises(ValueError, match="brush: the mask is 24x16 but the image is 48x32"):
        apply(None, modules, field(pack), "official", first_frame=first, brush=torch.ones(1, 16, 24))
    with pytest.raises(ValueError, match="renders 2 to 16"):
        apply(None, modules, field(pack, frames=17), "official", first_frame=first)
