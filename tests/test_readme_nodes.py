"""The README's node reference is the generated one, so it cannot drift from the node classes."""

import re
import tomllib
from pathlib import Path

from workflow_tools import README_BEGIN, README_END, node_reference, pack_specs, readme_section

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate it with `python tests/workflow_tools.py node-reference` and paste it between the markers"


def test_readme_node_reference_matches_the_code(pack):
    section = readme_section((ROOT / "README.md").read_text())
    assert section is not None, f"README.md has no {README_BEGIN} ... {README_END} section: {REGENERATE}"
    generated = node_reference(list(pack_specs(pack).values()))
    assert section == generated, f"README.md's node reference is stale: {REGENERATE}"


def test_node_reference_lists_every_node_with_its_sockets(pack):
    table = node_reference(list(pack_specs(pack).values()))
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(pack.NODE_CLASS_MAPPINGS)
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        row = next(line for line in rows if f"| `{node_id}` |" in line)
        for section in ("required", "optional"):
            for name in cls.INPUT_TYPES().get(section, {}):
                assert f"`{name}` " in row, f"{node_id}: input {name} missing from its row"
        for name, kind in zip(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES), cls.RETURN_TYPES):
            assert f"`{name}` {kind}" in row, f"{node_id}: output {name} missing from its row"


def test_pyproject_mirrors_requirements_and_names_the_pack():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert project["project"]["dependencies"] == requirements
    assert (project["project"]["name"], project["project"]["license"]) == ("comfyui-motion-i2v", {"text": "Apache-2.0"})
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["project"]["version"])
    assert project["tool"]["comfy"]["DisplayName"] == "Motion-I2V"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
