"""Stage-2 motion modules for a host's own LDM UNet (ComfyUI's ``input_blocks`` / ``middle_block`` / ``output_blocks``).

The animation UNet of ``models.UNet3D`` is an SD1.5 UNet with an AnimateDiff-v2 motion module after
every (resnet, cross-attention) pair of the down and up blocks and between the mid block's
attention and its second resnet. An LDM UNet (the original Stable Diffusion code, which ComfyUI
runs) holds the same layers in flat sequences:

    input_blocks[0]                  conv_in
    input_blocks[1 + i (L+1) + j]    down level i, layer j (j < L): [resnet, attention?]   <- motion module appended
    input_blocks[1 + i (L+1) + L]    down level i's downsampler (not on the last level)
    middle_block                     [resnet, attention, resnet]                            <- before the last resnet
    output_blocks[i (L+1) + j]       up level i, layer j (j <= L): [resnet, attention?, upsampler?]
                                                                   <- before the upsampler, else appended

(L = layers per level, up level 0 the deepest.) ``motion_sites`` lists where each motion module of a
``UNet3DConfig`` goes; ``LdmMotionModules`` holds them under the official key names
(``down_blocks.i.motion_modules.j....``, what ``motion_block.bin`` and ``mm_sd_v15_v2.ckpt`` hold),
built with the host's layer ``operations``; ``load_ldm_motion_modules`` loads a motion-module file
into it strictly. Nothing here knows the host: it takes an LDM UNet config dictionary and returns
torch modules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

# What this module needs from the weight modules, in one place.
from .models import UNet3DConfig
from .models.motion_augmented import install_motion_augmentation
from .models.motion_module import MotionModule
from .weights.animator import check_animator_files
from .weights.configs import config_for_file
from .weights.files import read_state_dict
from .weights.kinds import KINDS, animation_config
from .weights.loader import check_state_dict

INPUT_BLOCKS, MIDDLE_BLOCK, OUTPUT_BLOCKS = "input_blocks", "middle_block", "output_blocks"


@dataclass(frozen=True)
class MotionSite:
    """Where one motion module sits in an LDM UNet.

    ``name``: its official key prefix (``down_blocks.1.motion_modules.0``). ``blocks``: the LDM list
    (``input_blocks``, ``middle_block``, ``output_blocks``) and ``index`` the block in it (0 for the
    middle block, which is one block). ``before_last``: inserted before the block's last layer (an
    upsampler, or the mid block's second resnet) rather than appended. ``channels``: its width.
    """

    name: str
    blocks: str
    index: int
    before_last: bool
    channels: int


def motion_sites(config: UNet3DConfig) -> list[MotionSite]:
    """Every motion module of ``config``, in UNet order (down, mid, up)."""
    levels, layers = len(config.block_out_channels), config.layers_per_block
    sites = []
    for level, channels in enumerate(config.block_out_channels):
        if config.down_motion(level):
            sites += [MotionSite(f"down_blocks.{level}.motion_modules.{j}", INPUT_BLOCKS, 1 + level * (layers + 1) + j,
                                 False, channels) for j in range(layers)]
    if config.motion_module_mid_block:
        sites.append(MotionSite("mid_block.motion_modules.0", MIDDLE_BLOCK, 0, True, config.block_out_channels[-1]))
    for level, channels in enumerate(reversed(config.block_out_channels)):
        if config.up_motion(level):
            sites += [MotionSite(f"up_blocks.{level}.motion_modules.{j}", OUTPUT_BLOCKS, level * (layers + 1) + j,
                                 j == layers and level < levels - 1, channels) for j in range(layers + 1)]
    return sites


def _per_level(value, levels: int, name: str) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * levels
    if len(values) != levels:
        raise ValueError(f"UNet config: {name} has {len(values)} entries for {levels} levels")
    return values


def config_from_ldm(unet: dict, motion: UNet3DConfig) -> UNet3DConfig:
    """The animation-UNet config of an LDM UNet config dictionary (ComfyUI's ``unet_config``: ``model_channels``,
    ``channel_mult``, ``num_res_blocks``, ``transformer_depth``, ``num_heads`` or ``num_head_channels``,
    ``context_dim``), with the motion-module settings of ``motion``."""
    levels = len(unet["channel_mult"])
    channels = [unet["model_channels"] * mult for mult in unet["channel_mult"]]
    layers = set(_per_level(unet["num_res_blocks"], levels, "num_res_blocks"))
    if len(layers) != 1:
        raise ValueError(f"UNet config: every level needs the same number of res blocks, got {unet['num_res_blocks']}")
    layers = layers.pop()
    # ComfyUI's detection lists the transformer depth per res block (levels x layers), hand-written configs per level
    depth = list(unet.get("transformer_depth", [1] * levels))
    if len(depth) == levels * layers:
        depth = [depth[level * layers:(level + 1) * layers] for level in range(levels)]
    else:
        depth = [[d] * layers for d in _per_level(depth, levels, "transformer_depth")]
    if any(len({d > 0 for d in level}) != 1 for level in depth):
        raise ValueError(f"UNet config: every res block of a level needs cross-attention or none, got "
                         f"transformer_depth {unet['transformer_depth']}")
    if unet.get("num_head_channels", -1) not in (-1, None):
        heads = [width // unet["num_head_channels"] for width in channels]
    else:
        heads = [unet["num_heads"]] * levels
    return replace(motion, block_out_channels=tuple(channels), layers_per_block=layers,
                   cross_attention_blocks=tuple(level[0] > 0 for level in depth), attention_heads=tuple(heads),
                   cross_attention_dim=unet["context_dim"], in_channels=unet.get("in_channels", 4),
                   out_channels=unet.get("out_channels", 4))


class _Level(nn.Module):
    """One UNet block reduced to its ``motion_modules`` (absent when it has none)."""

    def __init__(self, modules: list[MotionModule]):
        super().__init__()
        if modules:
            self.motion_modules = nn.ModuleList(modules)


class LdmMotionModules(nn.Module):
    """The motion modules of ``config`` under the official key names, built with ``operations``
    (``torch.nn`` or a host's equivalent with ``Linear``, ``LayerNorm`` and ``GroupNorm``), with the
    motion-augmented attention of stage 2 (plain AnimateDiff attention for a call without a field)."""

    def __init__(self, config: UNet3DConfig, operations=nn):
        super().__init__()
        self.config = config
        self.sites = motion_sites(config)
        built = {site.name: MotionModule(site.channels, config.motion_heads, config.motion_layers,
                                         config.motion_attention_blocks, config.motion_max_len, operations)
                 for site in self.sites}

        def level(prefix: str) -> _Level:
            return _Level([module for name, module in built.items() if name.startswith(prefix + ".")])

        levels = len(config.block_out_channels)
        self.down_blocks = nn.ModuleList(level(f"down_blocks.{i}") for i in range(levels))
        self.mid_block = level("mid_block")
        self.up_blocks = nn.ModuleList(level(f"up_blocks.{i}") for i in range(levels))
        install_motion_augmentation(self)

    def placed(self) -> list[tuple[MotionSite, MotionModule]]:
        """Each site with its module."""
        return [(site, self.get_submodule(site.name)) for site in self.sites]


def load_ldm_motion_modules(path, *, operations=nn, device="cpu", dtype=torch.float32) -> LdmMotionModules:
    """A motion-module file (``motion_block.bin``, ``mm_sd_v15_v2.ckpt`` or a re-save) as ``LdmMotionModules``.

    The config is the file's (``weights.configs.config_for_file``: metadata, a ``config.json`` beside it, or the
    official one); the layout is refused by its keys before the file is read in full, and loading is strict.
    """
    check_animator_files(path)
    config = config_for_file("motion_modules", path)
    with torch.device("meta"):
        model = LdmMotionModules(animation_config(config.values), operations)
    weights = KINDS["motion_modules"].normalize(read_state_dict(path, slot="motion_modules"))
    state = check_state_dict("motion_modules", weights, model, source=str(path), built_from=config.source)
    model.load_state_dict(state, strict=True, assign=True)
    return nn.Module.to(model, device=device, dtype=dtype).eval()
