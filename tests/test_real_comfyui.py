"""The pack inside real ComfyUI servers, one per release, every workflow queued through /prompt.

The releases are those tests/comfyui_hosts.py finds: the ``.hosts/`` that ``python .ci/hosts.py`` prepares for
every ``../shared/comfyui*`` (CI: 0.8.0, the oldest we support, and 0.33.0), or your own ComfyUI:

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/comfyui/venv/bin/python \\
        python -m pytest -q tests/test_real_comfyui.py

Without a host every test here is skipped, saying how to get one. Every test runs once per release, against
one server per release for the session. The models are written once, in a temporary folder that each server
finds through its ``extra_model_paths.yaml`` (where users often keep theirs): the tiny motion_i2v models (as
``python -m motion_i2v make-tiny --text-width 768``, since ComfyUI's CLIP-L gives 768-wide text states) and a
random SD1.5 checkpoint that ComfyUI's CheckpointLoaderSimple detects (``tests/comfyui_tiny_sd15.py``: a
one-level 320-wide UNet with full-size CLIP-L and VAE, since ComfyUI builds those two at full size whatever
the weights; about 0.5 GB, under every checkpoint name the workflows use), and what the native workflows load
beyond those (``tests/comfyui_native_files.py``: a LoRA, a ControlNet and motion modules for that UNet, which
their runs take in place of the tiny set's). Each server's own temporary folder
is its ``--base-directory`` (so nothing is written into the ComfyUI folder, read-only in CI), with the example
inputs at an eighth of their size and a symlink to this repository in ``custom_nodes``. The workflows run with
every ``steps`` lowered to 2. Each server is ``main.py --cpu`` on a free port of 127.0.0.1 (all traffic stays
there); each workflow is converted to the API format with the server's own ``/object_info``, queued, waited
for on ``/history``, and its saved files are checked through ``/view``.

The checks hold for every release where the releases differ in what users do not see: core nodes may gain
outputs and choices (tests/core_nodes.py describes 0.8.0), frontends save a widgetless node's values as
``[]`` or not at all and may send inputs a node does not declare, which the server ignores.

Progress, Cancel and latent previews are watched on the server's websocket (``/ws``, read by a minimal
standard-library client): Predict Motion Field and the Motion-Guided Sampler must report one ``progress`` per
denoising step (0.33 forwards at most one per 100 ms unless it carries a preview), stop at the next step when
``/interrupt`` comes (the history then ends in ``execution_interrupted``), and the sampler must send a preview of
every frame each step when the prompt asks for live previews (the frontend's "Live preview method",
``extra_data.preview_method``) and none when it asks for none.

When Debian's chromium and tests/browser's playwright-core are present (``.ci/browser`` installs them), the
workflows are also loaded into the server's real frontend, the version the release pins
(``tests/frontend_roundtrip.mjs``, shown the example inputs at full size as a user would be): saving them again
must give the same nodes, widget values and links (the files are exactly what the frontend saves), and the
frontend's own ``graphToPrompt`` must give the prompt ``tests/workflow_tools.py`` computes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from io import BytesIO
from pathlib import Path

import pytest
from conftest import HOSTS, browser
from core_nodes import CORE_CLASSES, CoreFolders, core_specs
from comfyui_hosts import Host
from PIL import Image
from workflow_tools import (
    NodeSpec,
    check_workflow,
    pack_specs,
    quick_settings,
    saved_values,
    to_api,
    write_small_inputs,
)

from motion_i2v.sampling import MAX_STEPS

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
PACK_DIR_NAME = "ComfyUI-Motion-I2V"
STEPS, INPUT_DIVISOR = 2, 8  # as tests/test_workflows.py: examples at 1/8 size, every `steps` at most 2
CLIP_L_WIDTH = 768  # ComfyUI builds SD1.5's text encoder at full size whatever the checkpoint
STARTUP_SECONDS = 300
RUN_SECONDS = 600
# Options that change what the server accepts or what the frontend saves; tooltips and the like are free.
MODEL_SUFFIXES = (".safetensors", ".sft", ".bin", ".ckpt", ".pt", ".pth")
# The core loaders of the native workflows (their first widget names the file) and their model folders, and where
# the motion modules that fit the tiny checkpoint's UNet go under motion_i2v/
NATIVE_LOADERS = {"LoraLoader": "loras", "ControlNetLoader": "controlnet"}
NATIVE_MOTION_MODULES = "comfy_tiny/models/stage2/Motion_Module/motion_block.bin"
COMPARED_OPTIONS = ("default", "min", "max", "step", "multiline", "dynamicPrompts", "image_upload", "video_upload",
                    "control_after_generate", "forceInput")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A ComfyUI process on 127.0.0.1 and the few HTTP calls the tests need."""

    def __init__(self, host: Host, root: Path, models: Path):
        self.host, self.root, self.models, self.port = host, root, models, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "comfyui.log"
        # everything ComfyUI writes goes under root: its own folder stays as shipped (read-only in CI)
        command = [host.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                   "--disable-auto-launch", "--disable-api-nodes", "--database-url", "sqlite:///:memory:",
                   "--base-directory", str(root), "--extra-model-paths-config", str(root / "extra_model_paths.yaml")]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=host.folder, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, raw: bool = False):
        with urllib.request.urlopen(self.base + path, timeout=60) as response:
            body = response.read()
        return body if raw else json.loads(body)

    def post(self, path: str, payload: dict) -> tuple[int, dict]:
        request = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")  # /interrupt answers an empty 200
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise RuntimeError(f"ComfyUI did not answer within {STARTUP_SECONDS} s:\n{self.log_text()[-4000:]}")

    def queue(self, prompt: dict, workflow: dict, client_id: str | None = None, **extra_data) -> str:
        """Queue a prompt (for ``client_id``'s websocket; ``extra_data`` as the frontend adds it, e.g.
        ``preview_method``) and return its prompt id."""
        status, answer = self.post("/prompt", {"prompt": prompt, "client_id": client_id or uuid.uuid4().hex,
                                               "extra_data": {"extra_pnginfo": {"workflow": workflow}, **extra_data}})
        assert status == 200 and not answer.get("node_errors"), f"/prompt refused it ({status}): {answer}"
        return answer["prompt_id"]

    def run(self, prompt: dict, workflow: dict, client_id: str | None = None, **extra_data) -> dict:
        """Queue a prompt and wait for its /history entry."""
        return self.history(self.queue(prompt, workflow, client_id, **extra_data))

    def history(self, prompt_id: str) -> dict:
        """The /history entry of a queued prompt, once it has finished."""
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if history:
                return history[prompt_id]
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI died while running:\n{self.log_text()[-4000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"no /history entry after {RUN_SECONDS} s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Events:
    """The server's websocket for one client id, recorded on a thread as messages arrive: ``messages`` holds
    (arrival time, the JSON message or the bytes of a binary one). Only the little of RFC 6455 a listener
    needs: the opening handshake, then the server's frames, which are never masked; ComfyUI sends every
    message in one frame and never pings (aiohttp without a heartbeat), and the client sends nothing."""

    ACCEPT_SALT = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
    TEXT, CLOSE = 1, 8  # opcodes; every other message is binary

    def __init__(self, server: Server):
        self.client_id = uuid.uuid4().hex
        self.messages: list[tuple[float, dict | bytes]] = []
        self.closed_because = "the connection ended"
        self.connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.connection.sendall((f"GET /ws?clientId={self.client_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                 f"Sec-WebSocket-Key: {key}\r\n\r\n").encode())
        self.stream = self.connection.makefile("rb")
        headers = []
        while (line := self.stream.readline().strip()):
            headers.append(line.decode().lower())
        accept = base64.b64encode(hashlib.sha1((key + self.ACCEPT_SALT).encode()).digest()).decode().lower()
        assert headers[0].split()[1] == "101" and f"sec-websocket-accept: {accept}" in headers, headers
        self.connection.settimeout(None)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_for(lambda message: message.get("type") == "status")  # the server has registered this client

    def _read(self) -> None:
        while len(header := self.stream.read(2)) == 2:
            final, opcode, size = header[0] & 0x80, header[0] & 0x0F, header[1] & 0x7F
            if not final or header[1] & 0x80:
                self.closed_because = f"a fragmented or masked frame, which this client does not read: {header!r}"
                return
            if size >= 126:
                size = int.from_bytes(self.stream.read(2 if size == 126 else 8), "big")
            payload = self.stream.read(size)
            if opcode == self.CLOSE:
                self.closed_because = "the server closed it"
                return
            self.messages.append((time.monotonic(), json.loads(payload) if opcode == self.TEXT else payload))

    def wait_for(self, predicate, seconds: float = RUN_SECONDS) -> tuple[float, dict]:
        """The first JSON message for which ``predicate`` holds, with its arrival time, waiting up to ``seconds``."""
        deadline, seen = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            reading = self.reader.is_alive()
            arrived = self.messages[seen:]
            seen += len(arrived)
            for arrival, message in arrived:
                if isinstance(message, dict) and predicate(message):
                    return arrival, message
            if not reading:
                raise RuntimeError(f"the websocket stopped: {self.closed_because}")
            time.sleep(0.02)
        raise TimeoutError(f"no such message within {seconds} s; got {self.messages[-5:]}")

    def during(self, prompt_id: str, node_id: str) -> list[dict | bytes]:
        """The messages sent while ``node_id`` ran (from its ``executing`` message to the next one)."""
        inside, found = False, []
        for _, message in list(self.messages):
            if isinstance(message, dict) and message["type"] == "executing":
                if message["data"].get("prompt_id") == prompt_id:
                    inside = message["data"]["node"] == node_id
            elif inside:
                found.append(message)
        return found

    def close(self) -> None:
        self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.reader.join(timeout=10)


@pytest.fixture(scope="session")
def server_models(tmp_path_factory) -> Path:
    """The models every server reads, written once, in ComfyUI's folder layout: the tiny motion_i2v set, the random
    SD1.5 checkpoint under every name the workflows load, and what the native workflows load beyond those
    (tests/comfyui_native_files.py). The ComfyUI-built files come from the oldest release's classes; every release
    loads them when the workflows run."""
    from motion_i2v.commands.make_tiny import write_tiny_models

    root = tmp_path_factory.mktemp("comfyui_models")
    write_tiny_models(root / "motion_i2v", text_width=CLIP_L_WIDTH)
    (root / "checkpoints").mkdir()
    workflows = [json.loads(path.read_text()) for path in WORKFLOWS]
    loader = core_specs()["CheckpointLoaderSimple"]
    names = sorted({name for workflow in workflows for name in saved_values(workflow, loader, "ckpt_name")})
    host = {"cwd": HOSTS[0].folder, "check": True, "env": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}}
    if names:
        checkpoint = root / "checkpoints" / names[0]
        subprocess.run([HOSTS[0].python, str(ROOT / "tests" / "comfyui_tiny_sd15.py"), str(checkpoint)], **host)
        for name in names[1:]:
            (root / "checkpoints" / name).symlink_to(checkpoint)
    native = sorted({f"--{folder}={node['widgets_values'][0]}" for workflow in workflows for node in workflow["nodes"]
                     for node_type, folder in NATIVE_LOADERS.items() if node["type"] == node_type})
    if any(node["type"] == "MotionI2VLoadMotionModules" for workflow in workflows for node in workflow["nodes"]):
        native.append(f"--motion-modules={NATIVE_MOTION_MODULES}")
    if native:
        subprocess.run([HOSTS[0].python, str(ROOT / "tests" / "comfyui_native_files.py"), str(root), *native], **host)
    return root


def _runnable(prompt: dict) -> dict:
    """The prompt as the tests run it: every ``steps`` at most STEPS, and Load Motion Modules reading the motion
    modules that fit the tiny checkpoint's UNet (the tiny set's, at the same name, fit the tiny animation UNet)."""
    quick = quick_settings(prompt, STEPS)
    for node in quick.values():
        if node["class_type"] == "MotionI2VLoadMotionModules":
            node["inputs"] = {**node["inputs"], "motion_module": NATIVE_MOTION_MODULES}
    return quick


@pytest.fixture(scope="session")
def server(comfyui_host, server_models, tmp_path_factory):
    """One server per release for the whole session (tests/conftest.py's ``comfyui_host`` picks the release)."""
    root = tmp_path_factory.mktemp(f"real_{comfyui_host.id}")
    for name in ("input", "output", "temp", "user", "custom_nodes"):
        (root / name).mkdir(parents=True)
    (root / "custom_nodes" / PACK_DIR_NAME).symlink_to(ROOT, target_is_directory=True)
    write_small_inputs(ROOT / "example_inputs", root / "input", INPUT_DIVISOR)
    # the models in another folder, where users often keep theirs, named in extra_model_paths.yaml
    (root / "extra_model_paths.yaml").write_text(
        f"motion_i2v_test:\n    base_path: {server_models}\n" + "".join(
            f"    {folder}: {folder}\n" for folder in ("checkpoints", "motion_i2v", *NATIVE_LOADERS.values())))
    running = Server(comfyui_host, root, server_models)
    try:
        running.wait_until_up()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def object_info(server) -> dict:
    return server.get("/object_info")


@pytest.fixture(scope="session")
def server_specs(object_info) -> dict[str, NodeSpec]:
    return {name: NodeSpec.from_object_info(info) for name, info in object_info.items()}


def test_pack_loads_without_errors(server, object_info, pack):
    log = server.log_text()
    # only our pack's lines: a ComfyUI without an optional package (torchaudio) fails some of its own modules
    failures = [line for line in log.splitlines()
                if PACK_DIR_NAME in line and ("IMPORT FAILED" in line or "Cannot import" in line)]
    assert not failures, log[-4000:]
    assert "Unable to parse pyproject.toml" not in log, "ComfyUI could not read our pyproject.toml"
    missing = set(pack.NODE_CLASS_MAPPINGS) - set(object_info)
    assert not missing, f"nodes missing from /object_info: {sorted(missing)}"
    for node_id, display_name in pack.NODE_DISPLAY_NAME_MAPPINGS.items():
        assert object_info[node_id]["display_name"] == display_name


def _is_file(value) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_SUFFIXES)


# Inputs whose choices are the host's own lists (KSampler's samplers and schedulers): outside ComfyUI the pack offers
# only the official pair, so they are compared by test_pack_specs_match_the_server, not here.
HOST_LISTS = {("MotionI2VLongVideoNative", "sampler_name"), ("MotionI2VLongVideoNative", "scheduler")}


def _comparable(spec: NodeSpec, files: bool) -> dict:
    """What must agree between two specs; without ``files``, model-file choices (which depend on the
    folders each process sees) are left out, as are the host's own lists."""
    def choices(inp):
        if (spec.node_type, inp.name) in HOST_LISTS and not files:
            return ()
        return inp.choices if files else tuple(choice for choice in inp.choices if not _is_file(choice))

    def options(inp):
        return {key: None if key == "default" and not files and _is_file(inp.options.get(key)) else
                inp.options.get(key) for key in COMPARED_OPTIONS}

    return {
        "inputs": [(inp.name, inp.kind, inp.optional, choices(inp), options(inp)) for inp in spec.inputs],
        "outputs": spec.outputs, "output_node": spec.output_node, "output_is_list": spec.output_is_list,
        "display_name": spec.display_name,
    }


def _as_core_node(mine: dict, theirs: dict) -> dict:
    """The server's side cut to what tests/core_nodes.py must match for every release: a release may append
    outputs (0.33's SaveImage returns its IMAGE, GetVideoComponents a frame count and codec), offer more COMBO
    choices and rename a node for display; our workflows use only the outputs and choices ours declare."""
    kept = {**theirs, "outputs": theirs["outputs"][:len(mine["outputs"])],
            "output_is_list": theirs["output_is_list"][:len(mine["output_is_list"])],
            "display_name": mine["display_name"], "inputs": []}
    for index, (name, kind, optional, choices, options) in enumerate(theirs["inputs"]):
        ours = mine["inputs"][index][3] if index < len(mine["inputs"]) else choices
        kept["inputs"].append((name, kind, optional, tuple(choice for choice in choices if choice in ours), options))
    return kept


def _differences(ours: dict[str, NodeSpec], server_specs: dict[str, NodeSpec], files: bool = True,
                 core: bool = False) -> list[str]:
    """Where our specs and the server's disagree; with ``core``, only in what the core nodes must match."""
    found = []
    for name, spec in ours.items():
        mine, theirs = _comparable(spec, files), _comparable(server_specs[name], files)
        if core:
            theirs = _as_core_node(mine, theirs)
        for key in ("outputs", "output_node", "output_is_list", "display_name"):
            if mine[key] != theirs[key]:
                found.append(f"{name}.{key}: ours {mine[key]}, server {theirs[key]}")
        if len(mine["inputs"]) != len(theirs["inputs"]):
            names = [[entry[0] for entry in side["inputs"]] for side in (mine, theirs)]
            found.append(f"{name} inputs: ours {names[0]}, server {names[1]}")
        found += [f"{name}.{a[0]}: ours {a[1:]}, server {b[1:]}"
                  for a, b in zip(mine["inputs"], theirs["inputs"]) if a != b]
    return found


def test_core_node_specs_match_the_server(server, server_specs):
    root = server.root
    folders = CoreFolders(input=root / "input", output=root / "output", temp=root / "temp",
                          models={"checkpoints": server.models / "checkpoints"})
    assert {cls.__name__ for cls in CORE_CLASSES} <= set(server_specs)
    differences = _differences(core_specs(folders), server_specs, core=True)
    assert not differences, "tests/core_nodes.py differs from ComfyUI:\n" + "\n".join(differences)


def test_pack_specs_match_the_server(pack, server_specs):
    ours = pack_specs(pack)
    differences = _differences(ours, server_specs, files=False)
    assert not differences, "\n".join(differences)
    for node_type, name in HOST_LISTS:  # the server's own list, holding the official choice we offer outside it
        mine, theirs = (next(inp for inp in specs[node_type].inputs if inp.name == name) for specs in (ours, server_specs))
        assert set(mine.choices) <= set(theirs.choices) and len(theirs.choices) > 1, (node_type, name)


def test_template_browser_lists_and_serves_every_workflow(server):
    assert sorted(server.get("/api/workflow_templates")[PACK_DIR_NAME]) == sorted(path.stem for path in WORKFLOWS)
    for path in WORKFLOWS:
        served = server.get(f"/api/workflow_templates/{PACK_DIR_NAME}/{urllib.parse.quote(path.name)}", raw=True)
        assert json.loads(served) == json.loads(path.read_text()), path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_runs_in_comfyui(path, server, server_specs):
    workflow = json.loads(path.read_text())
    problems = check_workflow(workflow, server_specs)
    assert not problems, "\n".join(problems)
    prompt = _runnable(to_api(workflow, server_specs))
    entry = server.run(prompt, workflow)
    status = entry["status"]
    errors = [f"{m['node_type']} {m['node_id']}: {m['exception_type']}: {m['exception_message']}\n"
              + "".join(m["traceback"][-3:]) for kind, m in status["messages"] if kind == "execution_error"]
    assert status["status_str"] == "success" and status["completed"], "\n".join(errors)
    outputs = {node_id for node_id, node in prompt.items() if server_specs[node["class_type"]].output_node}
    assert outputs <= set(entry["outputs"]), f"output nodes without results: {sorted(outputs - set(entry['outputs']))}"
    saved = [image for ui in entry["outputs"].values() for image in ui.get("images", [])]
    assert saved, "the workflow saved nothing"
    for image in saved:
        query = urllib.parse.urlencode({key: image[key] for key in ("filename", "subfolder", "type")})
        with Image.open(BytesIO(server.get(f"/view?{query}", raw=True))) as picture:
            assert picture.size[0] > 0 and picture.size[1] > 0, image


@pytest.fixture(scope="session")
def frontend(server) -> dict:
    """What the server's own frontend makes of the workflows: {"version": the frontend's, "workflows": {file:
    {"saved": ..., "prompt": ...}}}, or a skip saying what is missing."""
    node, chromium = browser()
    # the page sees the example inputs at full size, as a user of the workflows does (the server runs them at an
    # eighth): the trajectory editor redraws the tracks onto an image of another size, changing the saved value
    done = subprocess.run([node, str(ROOT / "tests" / "frontend_roundtrip.mjs"), "--base", server.base,
                           "--chromium", chromium, "--inputs", str(ROOT / "example_inputs"), *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_the_server_is_the_release_under_test(comfyui_host, server):
    system = server.get("/system_stats")["system"]
    assert system["comfyui_version"] == comfyui_host.version
    assert system["required_frontend_version"] == comfyui_host.pinned("comfyui-frontend-package")


def test_the_frontend_is_the_one_the_release_pins(comfyui_host, frontend):
    # what a user of this release gets (.ci/hosts.py installs it for each release)
    pinned = comfyui_host.pinned("comfyui-frontend-package")
    assert frontend["version"] == pinned, f"the server serves frontend {frontend['version']}; ComfyUI pins {pinned}"


def _graph_view(workflow: dict) -> tuple:
    # values compare as Python values: JavaScript writes 7.0 as 7, which reads back as the same number; a node
    # without widgets saves [] (frontend 1.35) or nothing (1.49)
    nodes = sorted(((node["id"], node["type"], node.get("mode", 0),
                     [] if node.get("widgets_values") is None else node["widgets_values"])
                    for node in workflow["nodes"]), key=lambda entry: entry[0])
    links = sorted(tuple(link) if isinstance(link, list) else (link["id"], link["origin_id"], link["origin_slot"],
                                                               link["target_id"], link["target_slot"], link["type"])
                   for link in workflow["links"])
    return nodes, links


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_frontend_saves_and_queues_the_workflow_as_we_do(path, frontend, server_specs):
    workflow = json.loads(path.read_text())
    seen = frontend["workflows"][str(path)]
    (saved_nodes, saved_links), (nodes, links) = _graph_view(seen["saved"]), _graph_view(workflow)
    changed = [f"node {a[0]} {a[1]}: the frontend saves mode {a[2]}, {a[3]}; the file has mode {b[2]}, {b[3]}"
               for a, b in zip(saved_nodes, nodes) if a != b]
    assert not changed and len(saved_nodes) == len(nodes), "\n".join(changed)
    assert saved_links == links, "the frontend saves other links"
    assert _declared(seen["prompt"], server_specs) == to_api(workflow, server_specs)


def _declared(prompt: dict, specs: dict[str, NodeSpec]) -> dict:
    """The prompt without inputs its nodes do not declare, which the server ignores: frontend 1.49 sends the
    value of LoadVideo's preview widget as a ``video-preview`` input."""
    return {node_id: {**node, "inputs": {name: value for name, value in node["inputs"].items()
                                         if specs[node["class_type"]].input(name) is not None}}
            for node_id, node in prompt.items()}


# Progress, Cancel and previews, watched on the server's websocket. Each prompt gets a seed no other prompt used:
# ComfyUI would otherwise answer an identical one from its cache without running the node.
SAMPLING_NODES = {"i2v_motion_field": "MotionI2VPredictMotionField", "i2v_camera": "MotionI2VMotionGuidedSampler"}
PROGRESS_STEPS = 3
CANCEL_STEPS = MAX_STEPS  # the widgets' maximum: long enough on the tiny models that a Cancel that waits shows
PREVIEW_IMAGE, JPEG = 1, 1  # protocol.py's BinaryEventTypes.PREVIEW_IMAGE; send_image's type number for JPEG
PREVIEW_COLUMNS = 4  # nodes/animator.py tiles the predicted frames 4 a row
fresh_seeds = itertools.count(1)


@pytest.fixture
def events(server):
    listener = Events(server)
    yield listener
    listener.close()


def _sampling_prompt(name: str, server_specs, steps: int) -> tuple[dict, dict, str]:
    """Workflow ``name`` (UI format), its prompt with ``steps`` and a fresh seed on its sampling node, and that
    node's id."""
    workflow = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    prompt = to_api(workflow, server_specs)
    [node_id] = [node_id for node_id, node in prompt.items() if node["class_type"] == SAMPLING_NODES[name]]
    prompt[node_id]["inputs"].update(steps=steps, seed=next(fresh_seeds))
    return workflow, prompt, node_id


def _is_progress(message: dict, prompt_id: str, node_id: str) -> bool:
    data = message["data"]
    return message["type"] == "progress" and (data["prompt_id"], data["node"]) == (prompt_id, node_id)


def _ended(message: dict, prompt_id: str) -> bool:
    return (message["type"] in ("execution_success", "execution_error", "execution_interrupted")
            and message["data"].get("prompt_id") == prompt_id)


def _finished(events: Events, prompt_id: str) -> None:
    """Wait for the websocket's end of the prompt, so that every message it sent has arrived."""
    events.wait_for(lambda message: message["type"] == "executing" and message["data"]["node"] is None
                    and message["data"].get("prompt_id") == prompt_id)


def _run_watched(server, events, workflow, prompt, node_id, preview_method: str):
    """Run the prompt for ``events``' client; the node's messages (JSON, or bytes for binary ones) while it ran."""
    prompt_id = server.queue(prompt, workflow, events.client_id, preview_method=preview_method)
    entry = server.history(prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]
    _finished(events, prompt_id)
    return prompt_id, events.during(prompt_id, node_id)


@pytest.mark.parametrize("name", SAMPLING_NODES)
def test_progress_reports_every_denoising_step(name, server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt(name, server_specs, PROGRESS_STEPS)
    prompt_id, during = _run_watched(server, events, workflow, prompt, node_id, preview_method="none")
    progress = [(message["data"]["value"], message["data"]["max"]) for message in during
                if isinstance(message, dict) and _is_progress(message, prompt_id, node_id)]
    steps = [(step, PROGRESS_STEPS) for step in range(1, PROGRESS_STEPS + 1)]
    # 0.8.0 forwards every step; 0.33 the first and the last, and between them at most one update per 100 ms
    # unless it carries a preview (the preview test sees every step there)
    assert progress == steps or (progress[0] == steps[0] and progress[-1] == steps[-1]
                                 and set(progress) <= set(steps) and progress == sorted(set(progress))), progress
    assert not [message for message in during if isinstance(message, bytes)], "previews while previews are off"


def test_motion_guided_sampler_sends_a_latent_preview_every_step(server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt("i2v_camera", server_specs, PROGRESS_STEPS)
    _, during = _run_watched(server, events, workflow, prompt, node_id, preview_method="auto")
    previews = [message for message in during if isinstance(message, bytes)]
    assert len(previews) == PROGRESS_STEPS
    frames = next(node["inputs"]["frames"] for node in prompt.values() if node["class_type"] == "MotionI2VCameraMotion")
    with Image.open(server.root / "input" / "image.png") as image:
        width, height = image.size
    rows = -(-frames // PREVIEW_COLUMNS)
    for preview in previews:
        assert (int.from_bytes(preview[:4], "big"), int.from_bytes(preview[4:8], "big")) == (PREVIEW_IMAGE, JPEG)
        with Image.open(BytesIO(preview[8:])) as picture:
            # every frame of the video in the grid, scaled by ComfyUI to --preview-size (512) on its longer side
            assert picture.format == "JPEG" and max(picture.size) == 512, picture.size
            assert picture.size[0] / picture.size[1] == pytest.approx(PREVIEW_COLUMNS * width / (rows * height),
                                                                      rel=0.02)


@pytest.mark.parametrize("name", SAMPLING_NODES)
def test_cancel_stops_sampling_between_steps(name, server, server_specs, events):
    workflow, prompt, node_id = _sampling_prompt(name, server_specs, CANCEL_STEPS)
    prompt_id = server.queue(prompt, workflow, events.client_id, preview_method="none")
    _, started = events.wait_for(lambda message: (_is_progress(message, prompt_id, node_id)
                                                  and message["data"]["value"] >= 3) or _ended(message, prompt_id))
    assert started["type"] == "progress", f"the prompt ended before its third step: {started}"
    status, _ = server.post("/interrupt", {"prompt_id": prompt_id})
    posted = time.monotonic()
    assert status == 200
    steps_when_posted = [message["data"]["value"] for _, message in list(events.messages)
                         if isinstance(message, dict) and _is_progress(message, prompt_id, node_id)][-1]
    entry = server.history(prompt_id)
    _finished(events, prompt_id)
    stopped = time.monotonic()

    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert entry["status"]["status_str"] == "error" and "execution_interrupted" in kinds, entry["status"]
    assert "execution_error" not in kinds and "execution_success" not in kinds, entry["status"]
    [interrupted] = [message for kind, message in entry["status"]["messages"] if kind == "execution_interrupted"]
    assert interrupted["node_id"] == node_id
    steps = [(arrival, message["data"]["value"]) for arrival, message in events.messages
             if isinstance(message, dict) and _is_progress(message, prompt_id, node_id)]
    # the step under way when Cancel came may finish (and one report may be on its way); no other one. Where the
    # release skips reports (at most one per 100 ms from 0.33), the step under way is known only that closely.
    values = [value for _, value in steps]
    known_within = max((after - before for before, after in zip(values, values[1:])), default=1)
    assert steps[-1][1] <= steps_when_posted + 1 + known_within, (
        f"{steps[-1][1]} steps done, {steps_when_posted} when cancelled (reported every {known_within} steps or less)")
    step_seconds = (steps[-1][0] - steps[0][0]) / max(1, steps[-1][1] - steps[0][1])
    remaining_seconds = (CANCEL_STEPS - steps_when_posted) * step_seconds
    assert stopped - posted < 0.1 * remaining_seconds, (
        f"{stopped - posted:.2f} s from Cancel to the end; the remaining steps take {remaining_seconds:.1f} s")
