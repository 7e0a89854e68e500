"""Parity runner: ``python tests/parity.py FIXTURE.json...``.

For each fixture of ``../shared/reference/parity`` it runs our implementation of the call the JSON
describes on the fixture's inputs, compares every ``outputs.*`` tensor with the JSON's suggested
tolerance and prints ``NAME max_abs_err=... PASS|FAIL``. Exits 1 on any failure, or on a fixture
it has no runner for (saying so).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from motion_i2v.warp import forward_splat  # noqa: E402
from parity_stage1 import RUNNERS as STAGE1_RUNNERS  # noqa: E402
from parity_stage2 import run_fx4_stage2_unet3d  # noqa: E402

Tensors = dict[str, torch.Tensor]


def run_fx5_softsplat(spec: dict, tensors: Tensors, folder: Path) -> Tensors:
    source, flow = tensors["inputs.tenIn"], tensors["inputs.tenFlow"]
    return {
        "avg": forward_splat(source, flow, mode="avg"),
        "sum": forward_splat(source, flow, mode="sum"),
        "weight_sum": forward_splat(torch.ones_like(source[:, :1]), flow, mode="sum"),
        "avg_nonfinite": forward_splat(source, tensors["inputs.tenFlow_nonfinite"], mode="avg"),
    }


RUNNERS: dict[str, Callable[[dict, Tensors, Path], Tensors]] = {
    "fx5_softsplat": run_fx5_softsplat,
    **STAGE1_RUNNERS,
    "fx4_stage2_unet3d": run_fx4_stage2_unet3d,
}


def check_fixture(json_path: Path) -> list[tuple[str, float, bool]]:
    """Run one fixture; returns (output name, max abs error, passed) per expected output."""
    name = json_path.name.removesuffix(".json")
    if name not in RUNNERS:
        raise KeyError(f"{name}: no runner for this fixture yet (known: {', '.join(sorted(RUNNERS))})")
    spec = json.loads(json_path.read_text())
    tensors = load_file(str(json_path.with_suffix(".safetensors")))
    tolerance = spec.get("suggested_tolerance", {"atol": 1e-5, "rtol": 1e-5})
    with torch.no_grad():
        produced = RUNNERS[name](spec, tensors, json_path.parent)
    results = []
    for key in sorted(k for k in tensors if k.startswith("outputs.")):
        output = key.removeprefix("outputs.")
        expected = tensors[key]
        actual = produced.get(output)
        if actual is None or actual.shape != expected.shape:
            shape = None if actual is None else list(actual.shape)
            print(f"{name}.{output} missing or wrong shape ({shape} vs {list(expected.shape)}) FAIL")
            results.append((output, float("inf"), False))
            continue
        actual = actual.to(expected.dtype)
        error = (actual - expected).abs().max().item() if expected.numel() else 0.0
        passed = torch.allclose(actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"])
        results.append((output, error, passed))
    return results


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    failed = False
    for raw in paths:
        path = Path(raw)
        name = path.name.removesuffix(".json")
        try:
            results = check_fixture(path)
        except KeyError as error:
            print(f"{name} CANNOT RUN: {error.args[0]}")
            failed = True
            continue
        for output, error, passed in results:
            print(f"{name}.{output} max_abs_err={error:.3e} {'PASS' if passed else 'FAIL'}")
            failed |= not passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
