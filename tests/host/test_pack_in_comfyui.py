"""The pack loaded in-process by a real ComfyUI's own loader, in that release's Python."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import comfy.model_patcher
import folder_paths
import nodes as comfy_nodes  # ComfyUI's nodes.py: the host folder comes first on sys.path

ROOT = Path(__file__).resolve().parents[2]


def test_comfy_modules_come_from_the_host(comfyui_dir, comfyui_version):
    for module in (comfy.model_patcher, folder_paths, comfy_nodes):
        assert Path(module.__file__).resolve().is_relative_to(comfyui_dir), module
    assert callable(comfy.model_patcher.ModelPatcher)
    assert comfyui_version >= (0, 8, 0)


def test_comfyui_loads_the_pack_and_its_nodes_see_comfyui():
    assert asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))
    module = sys.modules[str(ROOT).replace(".", "_x_")]
    assert set(module.NODE_CLASS_MAPPINGS) <= set(comfy_nodes.NODE_CLASS_MAPPINGS)
    assert all(comfy_nodes.NODE_CLASS_MAPPINGS[name] is cls for name, cls in module.NODE_CLASS_MAPPINGS.items())
    assert module.NODE_CLASS_MAPPINGS and all(name.startswith("MotionI2V") for name in module.NODE_CLASS_MAPPINGS)
    assert Path(comfy_nodes.EXTENSION_WEB_DIRS[comfy_nodes.get_module_name(str(ROOT))]) == ROOT / "web"
    adapter = sys.modules[f"{module.__name__}.nodes.comfy"]
    assert adapter.in_comfyui()
    # the pack's model folder is ComfyUI's models/motion_i2v, under --base-directory
    assert Path(folder_paths.get_folder_paths("motion_i2v")[0]) == Path(folder_paths.models_dir) / "motion_i2v"
