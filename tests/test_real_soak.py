"""Soak test: the tiny full workflow (workflows/i2v_full.json: trajectories, Predict Motion Field, the
Motion-Guided Sampler, a saved animation) run again and again in the real servers of tests/real_server.py.

    python -m pytest -q -p no:cacheprovider -rP tests/test_real_soak.py

(``-rP`` prints the figures each test measured.) It checks what a user who keeps a server running sees: memory
that stays put over many runs, a full queue that finishes in order, Cancel in either stage leaving nothing behind,
a seed that gives the same files every time, and a broken weight file that fails clearly and, once replaced,
does not stay broken. ComfyUI answers a prompt it has run from its cache, so a run that must execute every node
follows ``POST /free {"free_memory": true}``, which empties that cache (the history's ``execution_cached`` message
then lists no node). Files compare as the user gets them, through ``/view``, whole: the saved animation and the
previews embed the prompt, which is the same prompt each time.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest
from real_server import ROOT, STEPS, is_progress, runnable
from workflow_tools import to_api

WORKFLOW = ROOT / "workflows" / "i2v_full.json"
STAGES = {"stage 1": "MotionI2VPredictMotionField", "stage 2": "MotionI2VMotionGuidedSampler"}
RUNS, WARM_UP, QUEUED = 10, 2, 20
# A run's garbage waits for the server's next collection (at most every 10 s), so RSS read just after a run swings by
# tens of MiB; 128 MiB over the runs after the warm-up is above that swing and below keeping a copy of the tiny
# motion_i2v models (about 20 MiB) from every run.
RSS_GROWTH_MIB = 128
CANCEL_STEPS = 4  # Cancel comes after the first step's progress: three steps still to go
fresh_seeds = itertools.count(10_000)  # none of them used by another module's prompts


def _prompt(server_specs, seed: int, steps: dict[str, int] | None = None) -> tuple[dict, dict]:
    """The workflow and its prompt as the tests run it, both stages seeded with ``seed``; ``steps`` per stage
    (default: real_server's STEPS)."""
    workflow = json.loads(WORKFLOW.read_text())
    prompt = runnable(to_api(workflow, server_specs))
    for stage, class_type in STAGES.items():
        [node] = [node for node in prompt.values() if node["class_type"] == class_type]
        node["inputs"].update(seed=seed, steps=(steps or {}).get(stage, STEPS))
    return workflow, prompt


def _node_id(prompt: dict, stage: str) -> str:
    [node_id] = [node_id for node_id, node in prompt.items() if node["class_type"] == STAGES[stage]]
    return node_id


def _messages(entry: dict, kind: str) -> list[dict]:
    return [message for name, message in entry["status"]["messages"] if name == kind]


def _succeeded(entry: dict) -> dict:
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"], entry["status"]
    return entry


def _files(server, entry: dict) -> list[bytes]:
    """Every file the prompt's output nodes wrote (the animation, the previews), as /view serves them."""
    return [server.get("/view?" + urllib.parse.urlencode({key: image[key] for key in ("filename", "subfolder", "type")}),
                       raw=True)
            for node_id in sorted(entry["outputs"]) for image in entry["outputs"][node_id].get("images", [])]


def _empty_cache(server) -> None:
    """Empty ComfyUI's cache of node outputs (and unload the models), as the frontend's "Free model and node
    cache" does: the next prompt runs every node, its loaders reading the files again."""
    assert server.post("/free", {"free_memory": True})[0] == 200
    # the worker empties the cache when /free wakes it; a prompt queued before it woke would still hit the cache
    time.sleep(0.5)


def _run_cold(server, workflow: dict, prompt: dict) -> dict:
    """Run the prompt with ComfyUI's cache emptied first, so that every node executes; its history entry."""
    _empty_cache(server)
    entry = _succeeded(server.run(prompt, workflow))
    [cached] = _messages(entry, "execution_cached")
    assert cached["nodes"] == [], f"/free left nodes in the cache: {cached['nodes']}"
    return entry


def _rss_mib(server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)[1]) / 1024


def _figures(label: str, values: list[float], unit: str, digits: int = 0) -> None:
    print(f"{label} ({unit}): {' '.join(f'{value:.{digits}f}' for value in values)}")


def _load() -> str:
    """The machine's load, beside every time printed: on a shared machine the times follow it."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def test_fresh_seeds_keep_memory_flat(server, server_specs):
    rss, seconds, outputs = [], [], []
    for _ in range(RUNS):
        workflow, prompt = _prompt(server_specs, next(fresh_seeds))
        started = time.monotonic()
        outputs.append(_files(server, _succeeded(server.run(prompt, workflow))))
        seconds.append(time.monotonic() - started)
        rss.append(_rss_mib(server))
    _figures("server RSS after each run", rss, "MiB")
    _figures(f"time per run, {_load()}", seconds, "s", 1)
    assert len({b"".join(files) for files in outputs}) == RUNS, "two seeds gave the same files"
    growth = max(rss[WARM_UP:]) - max(rss[:WARM_UP])
    assert growth < RSS_GROWTH_MIB, f"RSS grew by {growth:.0f} MiB after the warm-up"


def test_a_full_queue_finishes_in_order(server, server_specs):
    started = time.monotonic()
    queued = []
    for _ in range(QUEUED):
        workflow, prompt = _prompt(server_specs, next(fresh_seeds))
        queued.append(server.queue(prompt, workflow))
    entries = [_succeeded(server.history(prompt_id)) for prompt_id in queued]
    elapsed = time.monotonic() - started
    spans = [(_messages(entry, "execution_start")[0]["timestamp"], _messages(entry, "execution_success")[0]["timestamp"])
             for entry in entries]
    print(f"{QUEUED} prompts queued at once finished in {elapsed:.1f} s, {_load()}")
    overlapping = [(index, before, after) for index, (before, after) in enumerate(zip(spans, spans[1:]))
                   if after[0] < before[1]]
    assert not overlapping, f"prompts started before the one queued ahead of them ended: {overlapping}"


@pytest.mark.parametrize("stage", STAGES)
def test_cancel_then_the_same_prompt_gives_the_same_files(stage, server, server_specs, events):
    workflow, prompt = _prompt(server_specs, next(fresh_seeds), {stage: CANCEL_STEPS})
    node_id = _node_id(prompt, stage)
    prompt_id = server.queue(prompt, workflow, events.client_id)
    _, seen = events.wait_for(lambda message: is_progress(message, prompt_id, node_id) or (
        message["type"] in ("execution_success", "execution_error") and message["data"]["prompt_id"] == prompt_id))
    assert seen["type"] == "progress", f"the prompt ended before {stage} reported a step: {seen}"
    assert server.post("/interrupt", {"prompt_id": prompt_id})[0] == 200
    entry = server.history(prompt_id)
    interrupted = _messages(entry, "execution_interrupted")
    assert [message["node_id"] for message in interrupted] == [node_id], entry["status"]
    again = _files(server, _succeeded(server.run(prompt, workflow)))
    uninterrupted = _files(server, _run_cold(server, workflow, prompt))
    assert again and again == uninterrupted


def test_the_same_seed_gives_the_same_files(server, server_specs):
    workflow, prompt = _prompt(server_specs, next(fresh_seeds))
    first = _files(server, _succeeded(server.run(prompt, workflow)))
    # the second time every model is read again too
    second = _files(server, _run_cold(server, workflow, prompt))
    assert first and first == second


def test_a_truncated_weight_file_fails_clearly_then_the_good_one_runs(server, server_models, server_specs, tmp_path):
    workflow, prompt = _prompt(server_specs, next(fresh_seeds))
    [loader_id] = [node_id for node_id, node in prompt.items() if node["class_type"] == "MotionI2VLoadFlowModel"]
    name = prompt[loader_id]["inputs"]["unet"]
    weights, kept = server_models / "motion_i2v" / name, tmp_path / "kept.bin"
    # the good file moves aside whole (a process that maps it keeps it), a truncated copy takes its name
    shutil.copyfile(weights, tmp_path / "truncated.bin")
    os.truncate(tmp_path / "truncated.bin", weights.stat().st_size // 2)
    os.replace(weights, kept)
    try:
        os.replace(tmp_path / "truncated.bin", weights)
        _empty_cache(server)
        entry = server.run(prompt, workflow)
    finally:
        os.replace(kept, weights)
    assert entry["status"]["status_str"] == "error", entry["status"]
    [error] = _messages(entry, "execution_error")
    print(f"the error: {error['exception_type']}: {error['exception_message']}")
    assert error["node_id"] == loader_id and name in error["exception_message"]
    assert "truncated" in error["exception_message"]
    entry = _succeeded(server.run(prompt, workflow))
    [cached] = _messages(entry, "execution_cached")
    assert loader_id not in cached["nodes"]
