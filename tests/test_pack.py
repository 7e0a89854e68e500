"""The pack as ComfyUI sees it: registration, ids, the node contract, the engine boundary."""

import ast
from pathlib import Path

from comfy_harness import check_node_class

ROOT = Path(__file__).resolve().parents[1]
COMFY_MODULES = {"comfy", "folder_paths", "server", "nodes", "comfy_api", "comfy_extras", "execution"}


def test_pack_registers_nodes(pack):
    assert pack.WEB_DIRECTORY == "./web"
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert node_id == cls.NODE_ID
        check_node_class(cls)


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_engine_never_imports_comfyui():
    for path in (ROOT / "motion_i2v").rglob("*.py"):
        offending = COMFY_MODULES & set(_imported_modules(path))
        assert not offending, f"{path.relative_to(ROOT)} imports {offending}"


def test_only_the_adapters_import_comfyui():
    # nodes/comfy.py falls back without ComfyUI; nodes/comfy_native.py is imported only when a native node runs
    for path in (ROOT / "nodes").rglob("*.py"):
        if path.name.startswith("comfy"):
            continue
        offending = COMFY_MODULES & set(_imported_modules(path))
        assert not offending, f"{path.relative_to(ROOT)} imports {offending}: go through the adapters (nodes/comfy*.py)"
