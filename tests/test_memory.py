"""motion_i2v.memory: what the machine has, the refusal's message, and the stage estimates against measured peaks."""

from __future__ import annotations

import pytest
import torch

from motion_i2v import memory

GIB = 2**30


def test_ram_available_reads_this_machine():
    with open("/proc/meminfo") as handle:
        total = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemTotal:"))
    assert 0 < memory.ram_available() <= total
    assert 0 < memory.available_memory("cpu", whole_device=True) <= total  # nothing is moved out of RAM


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_container_limit_caps_the_ram(tmp_path, version):
    folder = tmp_path if version == "v2" else tmp_path / "memory"
    folder.mkdir(exist_ok=True)
    names = {"v2": ("memory.max", "memory.current", "inactive_file"),
             "v1": ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")}[version]
    (folder / names[0]).write_text(f"{8 * GIB}\n")
    (folder / names[1]).write_text(f"{6 * GIB}\n")
    (folder / "memory.stat").write_text(f"anon 123\n{names[2]} {GIB}\n")
    assert memory.cgroup_available(str(tmp_path)) == 3 * GIB  # 8 - 6 + 1 of reclaimable cache
    (folder / names[0]).write_text("max\n" if version == "v2" else f"{2**63 - 4096}\n")  # no limit
    assert memory.cgroup_available(str(tmp_path)) is None
    assert memory.cgroup_available(str(tmp_path / "absent")) is None


def test_check_memory_names_the_request_the_estimate_and_what_is_available(monkeypatch):
    monkeypatch.setattr(memory, "ram_available", lambda: 10 * GIB)
    memory.check_memory(9 * GIB, "a request")  # within the 90 % a request may take
    with pytest.raises(memory.NotEnoughMemory, match=r"^warp preview \(256 frames at 4096x4096\): needs about 9\.1 "
                                                     r"GiB of RAM, but 10\.0 GiB is available; use fewer frames or a "
                                                     r"smaller size$"):
        memory.check_memory(int(9.1 * GIB), "warp preview (256 frames at 4096x4096)")
    assert issubclass(memory.NotEnoughMemory, ValueError)  # callers that report ValueErrors report it too
    monkeypatch.setattr(memory, "ram_available", lambda: None)
    memory.check_memory(2**62, "unknown machine")  # nothing to compare with: no refusal


def test_format_bytes_picks_a_readable_unit():
    assert [memory.format_bytes(n) for n in (2048, 3 * 2**20, 160 * GIB)] == ["2 KiB", "3 MiB", "160.0 GiB"]


# README Performance: peak resident memory of one real-size step (CFG x 16 frames at 512x320) on the CPU, the weights
# (stage 1: 1.88 B parameters, stage 2: 1.31 B) and ~0.4 GiB of Python and torch included.
MEASURED = [(1, torch.float32, 1.88e9, 10.8), (1, torch.bfloat16, 1.88e9, 5.7),
            (2, torch.float32, 1.31e9, 8.3), (2, torch.bfloat16, 1.31e9, 5.3)]


@pytest.mark.parametrize("stage, dtype, parameters, peak_gib", MEASURED)
def test_stage_estimates_cover_the_measured_peaks_within_5_percent(stage, dtype, parameters, peak_gib):
    weights = parameters * dtype.itemsize
    estimate = memory.stage_bytes(stage, frames=16, height=320, width=512, dtype=dtype, guided=True) + weights
    assert peak_gib <= estimate / GIB + 0.4 <= 1.05 * peak_gib


def test_stage_estimates_grow_with_the_request_and_include_the_vae():
    one = memory.stage_bytes(2, frames=16, height=320, width=512, dtype=torch.float16, guided=True)
    assert memory.stage_bytes(2, frames=16, height=640, width=1024, dtype=torch.float16, guided=True) == 4 * one
    assert memory.stage_bytes(2, frames=16, height=320, width=512, dtype=torch.float16, guided=False) == one // 2
    # two frames: the UNet sees one, and decoding that one frame at 512x320 takes more (4 KiB a pixel)
    assert memory.stage_bytes(1, frames=2, height=320, width=512, dtype=torch.float32, guided=True,
                              vae_frames=1) == 4096 * 320 * 512


def test_a_stage_that_cannot_fit_names_its_settings_and_the_weights(monkeypatch):
    monkeypatch.setattr(memory, "ram_available", lambda: 16 * GIB)
    with pytest.raises(memory.NotEnoughMemory, match=r"Motion-I2V stage 1 \(16 frames at 2048x2048, float32, CFG on\): "
                                                     r"needs about .* GiB \(weights 7\.0 GiB\) of RAM, but 16\.0 GiB is "
                                                     r"available; use fewer frames or a smaller size, or fp16/bf16"):
        memory.check_stage_memory(1, frames=16, height=2048, width=2048, dtype=torch.float32, guided=True,
                                  weights=int(1.88e9 * 4), device="cpu")
    memory.check_stage_memory(1, frames=16, height=320, width=512, dtype=torch.float32, guided=True,
                              weights=0, device="cpu")
