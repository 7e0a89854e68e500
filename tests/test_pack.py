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


def test_one_socket_type_style_and_the_old_names_renamed_alike_in_the_frontend(pack):
    import re
    import sys

    spec = sys.modules["motion_i2v_pack.nodes.spec"]
    ours = {spec.FLOW_MODEL, spec.CONTROL, spec.ANIMATOR, spec.FIELD, spec.MOTION_MODULES}
    declared = set()
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        inputs = [entry[0] for section in cls.INPUT_TYPES().values() for entry in section.values()]
        declared |= {kind for kind in [*inputs, *cls.RETURN_TYPES] if isinstance(kind, str) and kind.isupper()}
    custom = declared - {"IMAGE", "MASK", "LATENT", "VAE", "MODEL", "CONDITIONING", "INT", "FLOAT", "STRING",
                         "BOOLEAN", spec.TRACKS}
    assert custom == ours and all(kind.startswith("MOTION_I2V_") for kind in custom)
    assert not set(spec.LEGACY_TYPES) & declared and set(spec.LEGACY_TYPES.values()) <= ours
    script = (ROOT / "web" / "js" / "socket_types.js").read_text()
    table = re.search(r"LEGACY_TYPES = \{(.*?)\};", script, re.S).group(1)
    assert dict(re.findall(r'(\w+): "(\w+)"', table)) == spec.LEGACY_TYPES
