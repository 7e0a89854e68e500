"""Motion-I2V networks on diffusers building blocks, with the official checkpoints' key names."""

from .config import UNet3DConfig
from .controlnet import TrajectoryControlNet
from .motion_module import TemporalAttention, TemporalAttnProcessor, TemporalCall, set_temporal_processor
from .unet3d import ControlResiduals, UNet3D

__all__ = [
    "ControlResiduals",
    "TemporalAttention",
    "TemporalAttnProcessor",
    "TemporalCall",
    "TrajectoryControlNet",
    "UNet3D",
    "UNet3DConfig",
    "set_temporal_processor",
]
