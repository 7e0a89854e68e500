"""The stage-1 networks: official key layout at full size (meta device), behaviour at the tiny size."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from einops import rearrange

from conftest import reference_path
from motion_i2v.weights.configs import bundled_config
from motion_i2v.weights.loader import build_model, official_state_dict
from motion_i2v.models import (
    TemporalAttention,
    TemporalAttnProcessor,
    TrajectoryControlNet,
    UNet3D,
    UNet3DConfig,
    set_temporal_processor,
)
from motion_i2v.models.motion_module import sinusoidal_positions

pytestmark = pytest.mark.usefixtures("single_thread")

MANIFESTS = {
    "flow_unet": "stage1_unet.diffusion_pytorch_model.bin.keys.tsv",
    "controlnet": "stage1_controlnet.controlnet.bin.keys.tsv",
    "flow_vae": "stage1_vae_flow.diffusion_pytorch_model.bin.keys.tsv",
}


def read_manifest(name: str) -> dict[str, tuple[int, ...]]:
    rows = reference_path("official_layout", name).read_text().splitlines()
    return {key: tuple(int(n) for n in shape.strip("()").split(",") if n.strip())
            for key, shape, _ in (row.split("\t") for row in rows)}


def shapes(state: dict) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state.items()}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_official_config_has_exactly_the_manifest_keys_and_shapes(kind):
    model = build_model(kind, "official", device="meta")
    ours, manifest = shapes(official_state_dict(model, kind)), read_manifest(MANIFESTS[kind])
    assert sorted(set(manifest) - set(ours)) == []  # missing
    assert sorted(set(ours) - set(manifest)) == []  # unexpected
    assert {k: v for k, v in ours.items() if manifest[k] != v} == {}


def test_stage2_config_matches_the_stage2_unet_manifest():
    """The same UNet class, 4 input channels and no stride embedding, is the stage-2 network."""
    config = dataclasses.replace(UNet3DConfig(), in_channels=4, stride_embedding=False)
    with torch.device("meta"):
        model = UNet3D(config)
    assert shapes(model.state_dict()) == read_manifest("stage2_unet3d.loaded_state_dict.keys.tsv")


def test_official_parameter_counts():
    counts = {kind: sum(v.numel() for k, v in build_model(kind, device="meta").state_dict().items()
                        if not k.endswith("pos_encoder.pe")) for kind in MANIFESTS}
    # OFFICIAL.md 5 / official_layout/README.md
    assert counts == {"flow_unet": 1_314_792_324, "controlnet": 566_679_872, "flow_vae": 83_651_558}


def test_config_round_trips_through_the_official_dictionary():
    for name in ("official", "tiny"):
        config = UNet3DConfig.from_official(bundled_config("flow_unet", name))
        assert UNet3DConfig.from_official(config.to_official()) == config


def test_config_accepts_the_sd15_2d_config_and_rejects_what_it_cannot_build():
    sd15 = {"in_channels": 8, "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, "mid_block_type": "UNetMidBlock2DCrossAttn"}
    assert UNet3DConfig.from_official(sd15) == UNet3DConfig()
    with pytest.raises(ValueError, match="use_linear_projection"):
        UNet3DConfig.from_official({"use_linear_projection": True})
    with pytest.raises(ValueError, match="unknown keys.*'in_chanels'"):
        UNet3DConfig.from_official({"in_chanels": 8})
    with pytest.raises(ValueError, match="mirror"):
        UNet3DConfig.from_official({"up_block_types": ["CrossAttnUpBlock3D"] * 4})


def test_up_block_motion_placement_follows_the_hard_coded_resolution():
    config = dataclasses.replace(UNet3DConfig.from_official(bundled_config("flow_unet", "tiny")),
                                 motion_module_resolutions=(1, 4))
    with torch.device("meta"):
        model = UNet3D(config)
    # down block i sits at resolution 2**i; up block i at 2**(3-i) whatever the depth
    assert [hasattr(b, "motion_modules") for b in model.down_blocks] == [True, False]
    assert [hasattr(b, "motion_modules") for b in model.up_blocks] == [False, True]


@pytest.fixture(scope="module")
def tiny():
    unet = build_model("flow_unet", "tiny")
    controlnet = build_model("controlnet", "tiny")
    generator = torch.Generator().manual_seed(0)
    for module in (unet, controlnet):  # zero-initialised layers would hide wiring mistakes
        for parameter in module.parameters():
            torch.nn.init.normal_(parameter, std=0.2, generator=generator)
    return unet, controlnet


def inputs(frames=3, height=4, width=6, batch=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, 8, frames, height, width, generator=generator)
    text = torch.randn(batch, 5, 32, generator=generator)
    stride = torch.arange(1, frames + 1)[None] * 8
    return sample, text, stride


@torch.no_grad()
def test_unet_output_shape_and_odd_latent_sizes(tiny):
    unet, _ = tiny
    for height, width in ((4, 6), (5, 7)):
        sample, text, stride = inputs(height=height, width=width, batch=2)
        assert unet(sample, 500, text, stride=stride).shape == (2, 4, 3, height, width)  # 8 in -> 4 out


@torch.no_grad()
def test_per_frame_timesteps_equal_the_shared_timestep_when_equal(tiny):
    unet, _ = tiny
    sample, text, stride = inputs()
    shared = unet(sample, torch.tensor(321), text, stride=stride)
    per_frame = unet(sample, torch.full((1, 3), 321), text, stride=stride)
    torch.testing.assert_close(per_frame, shared)
    # stage 2 gives frame 0 its own timestep: the output must change
    mixed = unet(sample, torch.tensor([[1, 321, 321]]), text, stride=stride)
    assert not torch.allclose(mixed, shared, atol=1e-4)


@torch.no_grad()
def test_stride_embedding_is_per_frame(tiny):
    unet, _ = tiny
    sample, text, stride = inputs()
    base = unet(sample, 500, text, stride=stride)
    changed = stride.clone()
    changed[0, 2] = 120
    assert not torch.allclose(unet(sample, 500, text, stride=changed), base, atol=1e-4)
    with pytest.raises(ValueError, match="stride"):
        unet(sample, 500, text)
    with pytest.raises(ValueError, match="sample: expected"):
        unet(sample[:, :4], 500, text, stride=stride)


@torch.no_grad()
def test_fresh_controlnet_adds_nothing(tiny):
    """Zero convolutions: an untrained ControlNet leaves the UNet output unchanged."""
    unet, _ = tiny
    fresh = TrajectoryControlNet(unet.config).eval()
    sample, text, stride = inputs()
    control = torch.randn(1, 5, 3, 4, 6, generator=torch.Generator().manual_seed(1))
    residuals = fresh(sample, 500, text, control, stride=stride)
    assert len(residuals.down) == 4  # conv_in + 1 layer + downsample in block 0, 1 layer in block 1
    assert all(r.abs().max() == 0 for r in (*residuals.down, residuals.mid))
    torch.testing.assert_close(unet(sample, 500, text, stride=stride, control=residuals),
                               unet(sample, 500, text, stride=stride))


@torch.no_grad()
def test_controlnet_scale_multiplies_the_residuals(tiny):
    _, controlnet = tiny
    sample, text, stride = inputs()
    control = torch.randn(1, 5, 3, 4, 6, generator=torch.Generator().manual_seed(2))
    full = controlnet(sample, 500, text, control, stride=stride, scale=1.0)
    half = controlnet(sample, 500, text, control, stride=stride, scale=0.5)
    torch.testing.assert_close(half.mid, full.mid * 0.5)
    with pytest.raises(ValueError, match="control: expected"):
        controlnet(sample, 500, text, control[:, :4], stride=stride)


def naive_temporal_attention(attn: TemporalAttention, hidden: torch.Tensor) -> torch.Tensor:
    """Softmax attention written out with einsum, per head."""
    hidden = hidden + sinusoidal_positions(32, hidden.shape[-1])[:, : hidden.shape[1]]
    q, k, v = (rearrange(p(hidden), "n f (h d) -> n h f d", h=attn.heads) for p in (attn.to_q, attn.to_k, attn.to_v))
    weights = torch.softmax(torch.einsum("nhqd,nhkd->nhqk", q, k) / q.shape[-1] ** 0.5, dim=-1)
    return attn.to_out(rearrange(torch.einsum("nhqk,nhkd->nhqd", weights, v), "n h f d -> n f (h d)"))


@torch.no_grad()
def test_default_temporal_processor_is_softmax_attention_over_frames(tiny):
    unet, _ = tiny
    attn = unet.down_blocks[0].motion_modules[0].temporal_transformer.transformer_blocks[0].attention_blocks[0]
    hidden = torch.randn(6, 3, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(TemporalAttnProcessor()(attn, hidden, None), naive_temporal_attention(attn, hidden))


@torch.no_grad()
def test_temporal_processors_are_swappable_and_see_size_and_context(tiny):
    unet, _ = tiny
    sample, text, stride = inputs()
    seen = []

    class Recording(TemporalAttnProcessor):
        def __call__(self, attn, hidden, call):
            seen.append((hidden.shape, call.frames, call.height, call.width, call.context))
            return super().__call__(attn, hidden, call)

    base = unet(sample, 500, text, stride=stride)
    # 2 down + 1 mid + 2 up blocks, layers 1/1/1/2/2 -> 7 modules x 2 attention blocks
    assert set_temporal_processor(unet, lambda name, attn: Recording()) == 14
    try:
        out = unet(sample, 500, text, stride=stride, temporal_context="field")
        assert len(seen) == 14
        assert (torch.Size([4 * 6, 3, 32]), 3, 4, 6, "field") in seen  # [(B H W), F, C] at full latent size
        assert (torch.Size([2 * 3, 3, 64]), 3, 2, 3, "field") in seen  # after one downsample
        torch.testing.assert_close(out, base)
        set_temporal_processor(unet, lambda name, attn: lambda a, h, call: torch.zeros_like(h))
        assert not torch.allclose(unet(sample, 500, text, stride=stride), base, atol=1e-4)
    finally:
        set_temporal_processor(unet, lambda name, attn: TemporalAttnProcessor())


@torch.no_grad()
def test_frames_are_independent_without_motion_modules(tiny):
    """Spatial layers never mix frames: with the temporal attentions muted, frame 0 ignores frame 2."""
    unet, _ = tiny
    sample, text, stride = inputs()
    set_temporal_processor(unet, lambda name, attn: lambda a, h, call: torch.zeros_like(h))
    try:
        base = unet(sample, 500, text, stride=stride)
        other = sample.clone()
        other[:, :, 2] += 1
        changed = unet(other, 500, text, stride=stride)
        torch.testing.assert_close(changed[:, :, :2], base[:, :, :2])
    finally:
        set_temporal_processor(unet, lambda name, attn: TemporalAttnProcessor())
