"""The inflated-UNet configuration, and its translation from the official config dictionaries.

The official flow UNet is built from a diffusers-0.11 ``unet/config.json`` merged with the
``unet_additional_kwargs`` of ``configs/configs_flowgen/inference/inference.yaml``; its ControlNet
copies that config (``ControlNetModel.from_unet``). ``UNet3DConfig.from_official`` reads either
dictionary; keys it does not know are an error, and so are values the official code accepts but
the released models never use (linear projections, class embeddings, ...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

_CROSS_DOWN, _PLAIN_DOWN = "CrossAttnDownBlock3D", "DownBlock3D"
_CROSS_UP, _PLAIN_UP = "CrossAttnUpBlock3D", "UpBlock3D"
_MID = "UNetMidBlock3DCrossAttn"
_TEMPORAL_SELF = "Temporal_Self"

# Official keys that carry no information for inference, with the values we accept for them.
_NEUTRAL = {
    "center_input_sample": (False,),
    "only_cross_attention": (False,),
    "dual_cross_attention": (False,),
    "use_linear_projection": (False,),
    "class_embed_type": (None,),
    "num_class_embeds": (None,),
    "resnet_time_scale_shift": ("default",),
    "act_fn": ("silu", "swish"),
    "use_inflated_groupnorm": (True,),
    "use_motion_module": (True,),
    "motion_module_type": ("Vanilla",),
    "unet_use_cross_frame_attention": (False, None),
    "unet_use_temporal_attention": (False, None),
    "projection_class_embeddings_input_dim": (None,),
    "controlnet_conditioning_channel_order": ("rgb",),
    "global_pool_conditions": (False,),
}
# Keys that are read elsewhere or describe nothing we build (upcast_attention only changes the
# precision of eager fp16 attention; scaled_dot_product_attention accumulates in fp32 anyway).
_IGNORED = {"_class_name", "_diffusers_version", "_name_or_path", "sample_size", "upcast_attention",
            "conditioning_embedding_out_channels"}
_MOTION_KEYS = {"num_attention_heads", "num_transformer_block", "attention_block_types",
                "temporal_position_encoding", "temporal_position_encoding_max_len", "temporal_attention_dim_div"}


@dataclass(frozen=True)
class UNet3DConfig:
    """An SD1.5-style UNet inflated over frames, with AnimateDiff-v2 motion modules.

    Defaults are the official stage-1 flow UNet (8 input channels = image latent then noisy flow
    latent, a per-frame stride embedding). Stage 2 uses ``in_channels=4, stride_embedding=False``.
    ``attention_heads`` is the number of spatial attention heads per down block (the official
    config calls it ``attention_head_dim``; diffusers 0.11 passed it as the head count).
    """

    in_channels: int = 8
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    cross_attention_blocks: tuple[bool, ...] = (True, True, True, False)
    layers_per_block: int = 2
    attention_heads: tuple[int, ...] = (8, 8, 8, 8)
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    downsample_padding: int = 1
    mid_block_scale_factor: float = 1.0
    stride_embedding: bool = True
    motion_module_resolutions: tuple[int, ...] = (1, 2, 4, 8)
    motion_module_mid_block: bool = True
    motion_module_decoder_only: bool = False
    motion_heads: int = 8
    motion_layers: int = 1
    motion_attention_blocks: int = 2
    motion_max_len: int = 32

    def __post_init__(self) -> None:
        blocks = len(self.block_out_channels)
        for name in ("cross_attention_blocks", "attention_heads"):
            if len(getattr(self, name)) != blocks:
                raise ValueError(f"UNet config: {name} has {len(getattr(self, name))} entries, "
                                 f"block_out_channels has {blocks}")
        for channels, heads in zip(self.block_out_channels, self.attention_heads):
            if channels % heads or channels % self.motion_heads or channels % self.norm_num_groups:
                raise ValueError(f"UNet config: {channels} channels do not split into {heads} attention heads, "
                                 f"{self.motion_heads} motion heads and {self.norm_num_groups} norm groups")

    @property
    def time_embed_dim(self) -> int:
        return self.block_out_channels[0] * 4

    def down_motion(self, index: int) -> bool:
        """Whether down block ``index`` has motion modules (resolution 2**index, as upstream)."""
        return 2**index in self.motion_module_resolutions and not self.motion_module_decoder_only

    def up_motion(self, index: int) -> bool:
        """Whether up block ``index`` has motion modules.

        Upstream hard-codes the resolution of up block i as 2**(3-i), whatever the number of blocks
        (a quirk the fixtures record), so this is not the mirror of ``down_motion``.
        """
        return 2 ** (3 - index) in self.motion_module_resolutions

    @classmethod
    def from_official(cls, config: dict) -> UNet3DConfig:
        """Read an official ``UNet3DConditionModel`` / ``ControlNetModel`` config dictionary.

        Keys absent from ``config`` take the official stage-1 values; 2D block names (a diffusers
        SD1.5 ``config.json``, as the official ``from_config_2d`` reads) count as their 3D twins.
        """
        values = dict(config)
        motion = dict(values.pop("motion_module_kwargs", None) or {})
        unknown = set(values) - set(_NEUTRAL) - _IGNORED - _OFFICIAL_FIELDS.keys() - {
            "down_block_types", "up_block_types", "mid_block_type", "attention_head_dim", "stride_embedding"}
        unknown |= {f"motion_module_kwargs.{k}" for k in set(motion) - _MOTION_KEYS}
        if unknown:
            raise ValueError(f"UNet config: unknown keys {sorted(unknown)}")
        for key, accepted in _NEUTRAL.items():
            if key in values and values[key] not in accepted:
                raise ValueError(f"UNet config: {key}={values[key]!r} is not supported (expected one of {accepted})")
        kwargs = {name: _tuple(values[key]) for key, name in _OFFICIAL_FIELDS.items() if key in values}
        default_down = (_CROSS_DOWN,) * 3 + (_PLAIN_DOWN,)
        down = [name.replace("2D", "3D") for name in values.get("down_block_types", default_down)]
        if any(name not in (_CROSS_DOWN, _PLAIN_DOWN) for name in down):
            raise ValueError(f"UNet config: down_block_types {down} must be {_CROSS_DOWN} or {_PLAIN_DOWN}")
        cross = tuple(name == _CROSS_DOWN for name in down)
        up = [name.replace("2D", "3D") for name in values.get("up_block_types", [])] or None
        expected_up = [_CROSS_UP if c else _PLAIN_UP for c in reversed(cross)]
        if up is not None and up != expected_up:
            raise ValueError(f"UNet config: up_block_types {up} must mirror the down blocks: {expected_up}")
        if values.get("mid_block_type", _MID).replace("2D", "3D") != _MID:
            raise ValueError(f"UNet config: mid_block_type {values['mid_block_type']!r} is not {_MID}")
        heads = values.get("attention_head_dim", 8)
        kwargs["attention_heads"] = tuple(heads) if isinstance(heads, (list, tuple)) else (heads,) * len(down)
        kwargs["cross_attention_blocks"] = cross
        if "stride_embedding" in values:
            kwargs["stride_embedding"] = bool(values["stride_embedding"])
        if motion:
            if any(kind != _TEMPORAL_SELF for kind in motion.get("attention_block_types", ())):
                raise ValueError(f"UNet config: motion attention_block_types {motion['attention_block_types']} "
                                 f"must all be {_TEMPORAL_SELF!r}")
            if not motion.get("temporal_position_encoding", True) or motion.get("temporal_attention_dim_div", 1) != 1:
                raise ValueError("UNet config: motion modules need temporal_position_encoding=true and "
                                 "temporal_attention_dim_div=1")
            kwargs["motion_heads"] = motion.get("num_attention_heads", 8)
            kwargs["motion_layers"] = motion.get("num_transformer_block", 1)
            kwargs["motion_attention_blocks"] = len(motion.get("attention_block_types", (_TEMPORAL_SELF,) * 2))
            kwargs["motion_max_len"] = motion.get("temporal_position_encoding_max_len", 32)
        return cls(**kwargs)

    def to_official(self) -> dict:
        """The official config dictionary (what ``unet/config.json`` plus the inference YAML hold)."""
        values = asdict(self)
        out = {key: list(values[name]) if isinstance(values[name], tuple) else values[name]
               for key, name in _OFFICIAL_FIELDS.items()}
        out["down_block_types"] = [_CROSS_DOWN if c else _PLAIN_DOWN for c in self.cross_attention_blocks]
        out["up_block_types"] = [_CROSS_UP if c else _PLAIN_UP for c in reversed(self.cross_attention_blocks)]
        out["mid_block_type"] = _MID
        out["attention_head_dim"] = list(self.attention_heads)
        out["stride_embedding"] = self.stride_embedding
        out["use_inflated_groupnorm"] = True
        out["use_motion_module"] = True
        out["motion_module_type"] = "Vanilla"
        out["motion_module_kwargs"] = {
            "num_attention_heads": self.motion_heads,
            "num_transformer_block": self.motion_layers,
            "attention_block_types": [_TEMPORAL_SELF] * self.motion_attention_blocks,
            "temporal_position_encoding": True,
            "temporal_position_encoding_max_len": self.motion_max_len,
            "temporal_attention_dim_div": 1,
        }
        return out


# official key -> UNet3DConfig field, for the fields that translate one to one
_OFFICIAL_FIELDS = {
    "in_channels": "in_channels",
    "out_channels": "out_channels",
    "block_out_channels": "block_out_channels",
    "layers_per_block": "layers_per_block",
    "cross_attention_dim": "cross_attention_dim",
    "norm_num_groups": "norm_num_groups",
    "norm_eps": "norm_eps",
    "flip_sin_to_cos": "flip_sin_to_cos",
    "freq_shift": "freq_shift",
    "downsample_padding": "downsample_padding",
    "mid_block_scale_factor": "mid_block_scale_factor",
    "motion_module_resolutions": "motion_module_resolutions",
    "motion_module_mid_block": "motion_module_mid_block",
    "motion_module_decoder_only": "motion_module_decoder_only",
}


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value
