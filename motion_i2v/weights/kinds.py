"""The table of every kind of network we load: how each is built, named in its file, found and configured.

Stage 1: ``flow_unet`` (8 input channels, per-frame stride embedding), ``controlnet`` (the trajectory
ControlNet; its file prefixes every key with ``controlnet.``), ``flow_vae`` (2 channels, diffusers-0.11
attention names). Stage 2: ``sd_unet`` (the SD1.5 base UNet: diffusers names, or LDM names converted),
``motion_modules`` (``motion_block.bin``, AnimateDiff's ``mm_sd_v15_v2.ckpt``: the UNet's names,
motion modules only) and ``animation_unet`` (both stacked, with the motion-augmented temporal
attention; no file of its own in the release). ``image_vae``: the SD1.5 VAE (any layout).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from torch import nn

from ..models import TrajectoryControlNet, UNet3D, UNet3DConfig
from ..models.motion_augmented import install_motion_augmentation
from ..models.vae import build_vae, to_modern_keys, to_official_keys
from .classify import CONTROLNET_PREFIX, MOTION_KEY, classify
from .files import Weights, shapes_of
from .sd15 import LDM_UNET_PREFIX, unet_from_ldm, vae_to_diffusers

STAGE1 = "models/stage1/StableDiffusion-FlowGen"
STAGE2 = "models/stage2"
REALISTIC_UNET_FILE = f"{STAGE2}/DreamBooth_LoRA/realistic_unet.ckpt"  # the demo's base UNet (fp16)
REALISTIC_VAE_FILE = f"{STAGE2}/DreamBooth_LoRA/realisticVisionV51_v20Novae.safetensors"  # the demo's stage-2 VAE


@dataclass(frozen=True)
class Kind:
    """One kind of network.

    ``from_model`` / ``to_model``: our module's state-dict names <-> the official file's.
    ``normalize``: a state dict in any layout this kind reads -> the official names (may raise ValueError).
    ``release``: where the official release keeps files of this kind (relative to its top folder), the
    preferred first (the demo's base UNet before the plain SD1.5 one; the release's own file last).
    ``config_fits``: whether a diffusers/official config dictionary describes this kind.
    ``companions``: config.json files, relative to the weight file's folder, that describe it when
    none lies beside it (the release keeps the flow VAE's in ``vae/``, and upstream builds the
    ControlNet from the UNet's).
    """

    name: str
    title: str
    build: Callable[[dict], nn.Module]
    from_model: Callable[[Weights], Weights]
    to_model: Callable[[Weights], Weights]
    normalize: Callable[[Weights], Weights]
    release: tuple[str, ...]
    config_fits: Callable[[dict], bool]
    companions: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Configs


def _of_class(values: dict, classes: tuple[str, ...], fields: tuple[str, ...]) -> bool:
    """A diffusers config names its class; configs without one are told by fields only one family has."""
    if "_class_name" in values:
        return values["_class_name"] in classes
    return any(field in values for field in fields)


def _unet_config(in_channels: int) -> Callable[[dict], bool]:
    def fits(values: dict) -> bool:
        return (_of_class(values, ("UNet2DConditionModel", "UNet3DConditionModel", "ControlNetModel"),
                          ("cross_attention_dim", "motion_module_kwargs"))
                and values.get("in_channels", in_channels) == in_channels)

    return fits


def _vae_config(in_channels: int) -> Callable[[dict], bool]:
    def fits(values: dict) -> bool:
        return (_of_class(values, ("AutoencoderKL",), ("latent_channels",))
                and values.get("in_channels", 3) == in_channels)

    return fits


# ---------------------------------------------------------------------------------------------
# Builders


def animation_config(config: dict) -> UNet3DConfig:
    """The stage-2 UNet config of an official config dict (which has no stride-embedding switch)."""
    parsed = replace(UNet3DConfig.from_official(config), stride_embedding=False)
    if parsed.in_channels != 4:
        raise ValueError(f"animation UNet config: in_channels must be 4 (latent frames only), got {parsed.in_channels}")
    return parsed


def _build_animation_unet(config: dict) -> UNet3D:
    unet = UNet3D(animation_config(config))
    install_motion_augmentation(unet)
    return unet


class _Holder(nn.Module):
    """One UNet block reduced to its ``motion_modules`` (absent when the block has none)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        if hasattr(block, "motion_modules"):
            self.motion_modules = block.motion_modules


class MotionModules(nn.Module):
    """The motion modules of an inflated UNet under the UNet's key names (``down_blocks.i.motion_modules.j...``).

    Built around a UNet, it shares that UNet's modules, so loading it loads them.
    """

    def __init__(self, unet: UNet3D):
        super().__init__()
        self.down_blocks = nn.ModuleList(_Holder(block) for block in unet.down_blocks)
        self.mid_block = _Holder(unet.mid_block)
        self.up_blocks = nn.ModuleList(_Holder(block) for block in unet.up_blocks)


def _build_sd_unet(config: dict) -> UNet3D:
    """The animation UNet with no motion modules: the SD1.5 UNet's keys and shapes exactly."""
    return UNet3D(replace(animation_config(config), motion_module_resolutions=(), motion_module_mid_block=False))


# ---------------------------------------------------------------------------------------------
# Key names


def _same(weights: Weights) -> Weights:
    return dict(weights)


def _add_controlnet_prefix(weights: Weights) -> Weights:
    return {CONTROLNET_PREFIX + key: value for key, value in weights.items()}


def _strip_controlnet_prefix(weights: Weights) -> Weights:
    return {key.removeprefix(CONTROLNET_PREFIX): value for key, value in weights.items()}


def _controlnet_weights(weights: Weights) -> Weights:
    """Prefixed (the release) or prefix-less (a standalone ControlNet) -> the release's names."""
    return _add_controlnet_prefix(_strip_controlnet_prefix(weights))


def _vae_weights(weights: Weights) -> Weights:
    return to_official_keys(vae_to_diffusers(weights))


def _sd_unet_weights(weights: Weights) -> Weights:
    """An SD1.5 UNet in any layout (an animation UNet's motion modules dropped) -> diffusers names."""
    layout = classify(shapes_of(weights)).layout
    if layout == "official":
        return {key: value for key, value in weights.items() if MOTION_KEY not in key}
    return unet_from_ldm(weights, LDM_UNET_PREFIX if layout == "ldm" else "")


def _motion_weights(weights: Weights) -> Weights:
    return {key: value for key, value in weights.items() if MOTION_KEY in key}


KINDS = {
    kind.name: kind
    for kind in (
        Kind("flow_unet", "the flow UNet (stage 1)", lambda c: UNet3D(UNet3DConfig.from_official(c)),
             _same, _same, _same, (f"{STAGE1}/unet/diffusion_pytorch_model.bin",), _unet_config(8)),
        Kind("controlnet", "the trajectory ControlNet (stage 1)",
             lambda c: TrajectoryControlNet(UNet3DConfig.from_official(c)),
             _add_controlnet_prefix, _strip_controlnet_prefix, _controlnet_weights,
             (f"{STAGE1}/controlnet/controlnet.bin",), _unet_config(8), ("../unet/config.json",)),
        Kind("flow_vae", "the 2-channel flow VAE (stage 1)", build_vae, to_official_keys, to_modern_keys,
             _vae_weights, (f"{STAGE1}/vae_flow/diffusion_pytorch_model.bin",), _vae_config(2), ("../vae/config.json",)),
        Kind("image_vae", "an SD1.5 image VAE", build_vae, to_official_keys, to_modern_keys, _vae_weights,
             (f"{STAGE2}/StableDiffusion/vae/diffusion_pytorch_model.bin",), _vae_config(3)),
        Kind("sd_unet", "an SD1.5 base UNet (a single-file SD1.5 checkpoint or fine-tune, or the release's)",
             _build_sd_unet, _same, _same, _sd_unet_weights,
             (REALISTIC_UNET_FILE, f"{STAGE2}/StableDiffusion/unet/diffusion_pytorch_model.bin"), _unet_config(4),
             ("../StableDiffusion/unet/config.json",)),
        Kind("motion_modules", "stage-2 motion modules (motion_block.bin, or AnimateDiff's mm_sd_v15_v2.ckpt)",
             lambda c: MotionModules(UNet3D(animation_config(c))), _same, _same, _motion_weights,
             (f"{STAGE2}/Motion_Module/motion_block.bin",), _unet_config(4)),
        Kind("animation_unet", "the stage-2 animation UNet (an SD1.5 UNet with motion modules)",
             _build_animation_unet, _same, _same, _same, (), _unet_config(4)),
    )
}


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {name!r}")
    return KINDS[name]


def expected(kind: Kind) -> str:
    """What a slot of ``kind`` takes, for error messages."""
    where = f": {' or '.join(kind.release)}, or a safetensors re-save" if kind.release else ""
    return f"{kind.title}{where}"
