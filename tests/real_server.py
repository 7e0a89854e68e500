"""A real ComfyUI server per release, for the tests that talk to one (tests/test_real_comfyui.py and the tests
beside it): the ``server`` fixture (one process per release for the whole session, with the tiny models, the
example inputs at an eighth of their size and this repository in ``custom_nodes``), its ``/object_info`` as
``server_specs``, and ``events``, the server's websocket for one client.

tests/conftest.py imports the fixtures, so any test module can ask for them; without a host they skip, saying how
to get one (tests/conftest.py's ``comfyui_host``).
"""

from __future__ import annotations

import base64
import hashlib
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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from comfyui_hosts import Host, find_hosts

if TYPE_CHECKING:
    from workflow_tools import NodeSpec

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
PACK_DIR_NAME = "ComfyUI-Motion-I2V"
STEPS, INPUT_DIVISOR = 2, 8  # as tests/test_workflows.py: examples at 1/8 size, every `steps` at most 2
CLIP_L_WIDTH = 768  # ComfyUI builds SD1.5's text encoder at full size whatever the checkpoint
STARTUP_SECONDS = 300
RUN_SECONDS = 600
MODEL_SUFFIXES = (".safetensors", ".sft", ".bin", ".ckpt", ".pt", ".pth")
# The core loaders of the native workflows (their first widget names the file) and their model folders, and where
# the motion modules that fit the tiny checkpoint's UNet go under motion_i2v/
NATIVE_LOADERS = {"LoraLoader": "loras", "ControlNetLoader": "controlnet"}
NATIVE_MOTION_MODULES = "comfy_tiny/models/stage2/Motion_Module/motion_block.bin"


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
    from core_nodes import core_specs
    from workflow_tools import saved_values

    from motion_i2v.commands.make_tiny import write_tiny_models

    root = tmp_path_factory.mktemp("comfyui_models")
    write_tiny_models(root / "motion_i2v", text_width=CLIP_L_WIDTH)
    (root / "checkpoints").mkdir()
    workflows = [json.loads(path.read_text()) for path in WORKFLOWS]
    loader = core_specs()["CheckpointLoaderSimple"]
    names = sorted({name for workflow in workflows for name in saved_values(workflow, loader, "ckpt_name")})
    oldest = find_hosts()[0]
    host = {"cwd": oldest.folder, "check": True, "env": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}}
    if names:
        checkpoint = root / "checkpoints" / names[0]
        subprocess.run([oldest.python, str(ROOT / "tests" / "comfyui_tiny_sd15.py"), str(checkpoint)], **host)
        for name in names[1:]:
            (root / "checkpoints" / name).symlink_to(checkpoint)
    native = sorted({f"--{folder}={node['widgets_values'][0]}" for workflow in workflows for node in workflow["nodes"]
                     for node_type, folder in NATIVE_LOADERS.items() if node["type"] == node_type})
    if any(node["type"] == "MotionI2VLoadMotionModules" for workflow in workflows for node in workflow["nodes"]):
        native.append(f"--motion-modules={NATIVE_MOTION_MODULES}")
    if native:
        subprocess.run([oldest.python, str(ROOT / "tests" / "comfyui_native_files.py"), str(root), *native], **host)
    return root


def runnable(prompt: dict) -> dict:
    """The prompt as the tests run it: every ``steps`` at most STEPS, and Load Motion Modules reading the motion
    modules that fit the tiny checkpoint's UNet (the tiny set's, at the same name, fit the tiny animation UNet)."""
    from workflow_tools import quick_settings

    quick = quick_settings(prompt, STEPS)
    for node in quick.values():
        if node["class_type"] == "MotionI2VLoadMotionModules":
            node["inputs"] = {**node["inputs"], "motion_module": NATIVE_MOTION_MODULES}
    return quick


@pytest.fixture(scope="session")
def server(comfyui_host, server_models, tmp_path_factory):
    """One server per release for the whole session (tests/conftest.py's ``comfyui_host`` picks the release)."""
    from workflow_tools import write_small_inputs

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
    from workflow_tools import NodeSpec

    return {name: NodeSpec.from_object_info(info) for name, info in object_info.items()}


def is_progress(message: dict, prompt_id: str, node_id: str) -> bool:
    """Whether a websocket message is a ``progress`` of ``node_id`` in prompt ``prompt_id``."""
    data = message["data"]
    return message["type"] == "progress" and (data["prompt_id"], data["node"]) == (prompt_id, node_id)


@pytest.fixture
def events(server):
    listener = Events(server)
    yield listener
    listener.close()
