"""ComfyUI-Motion-I2V: Motion-I2V (Shi et al., SIGGRAPH 2024) as ComfyUI nodes."""

from .nodes import node_classes
from .nodes.comfy import register_model_folder

register_model_folder()

_CLASSES = node_classes()
NODE_CLASS_MAPPINGS = {cls.NODE_ID: cls for cls in _CLASSES}
NODE_DISPLAY_NAME_MAPPINGS = {cls.NODE_ID: cls.DISPLAY_NAME for cls in _CLASSES}
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
