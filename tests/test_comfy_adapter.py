"""nodes/comfy.py's Progress against stand-ins for the ComfyUI modules it uses (comfy.utils' ProgressBar,
comfy.model_management's interrupt check, comfy.cli_args' preview settings); tests/test_real_comfyui.py
checks the same in a real server."""

from __future__ import annotations

import enum
import sys
from types import SimpleNamespace

import pytest
from PIL import Image


class LatentPreviewMethod(enum.Enum):  # the members comfy.cli_args has
    NoPreviews = "none"
    Auto = "auto"


class Interrupted(Exception):
    pass


class FakeComfyUI:
    def __init__(self, preview_method: LatentPreviewMethod):
        self.bars, self.cancelled = [], False
        self.cli_args = SimpleNamespace(args=SimpleNamespace(preview_method=preview_method, preview_size=256),
                                        LatentPreviewMethod=LatentPreviewMethod)
        self.utils = SimpleNamespace(ProgressBar=self._bar)
        self.model_management = SimpleNamespace(throw_exception_if_processing_interrupted=self._check)

    def _bar(self, total):
        bar = SimpleNamespace(total=total, updates=[])
        bar.update_absolute = lambda value, total=None, preview=None: bar.updates.append((value, total, preview))
        self.bars.append(bar)
        return bar

    def _check(self):
        if self.cancelled:
            raise Interrupted


@pytest.fixture
def adapter(pack):
    return sys.modules["motion_i2v_pack.nodes.comfy"]


def _inside(adapter, monkeypatch, preview_method) -> FakeComfyUI:
    comfy = FakeComfyUI(preview_method)
    for name, module in (("_ca", comfy.cli_args), ("_cu", comfy.utils), ("_mm", comfy.model_management)):
        monkeypatch.setattr(adapter, name, module)
    return comfy


def test_previews_follow_the_preview_method(adapter, monkeypatch):
    picture = Image.new("RGB", (8, 4))
    drawn = []

    def preview():
        drawn.append(1)
        return picture

    comfy = _inside(adapter, monkeypatch, LatentPreviewMethod.NoPreviews)
    progress = adapter.Progress(3)
    progress(1, 3, preview)
    comfy.cli_args.args.preview_method = LatentPreviewMethod.Auto  # as the frontend's setting does per prompt
    progress(2, 3, preview)
    progress(3)
    assert comfy.bars[0].total == 3
    assert comfy.bars[0].updates == [(1, 3, None), (2, 3, ("JPEG", picture, 256)), (3, 3, None)]
    assert len(drawn) == 1, "a preview was drawn that nobody shows"


def test_cancel_stops_before_the_step_is_reported(adapter, monkeypatch):
    comfy = _inside(adapter, monkeypatch, LatentPreviewMethod.Auto)
    progress = adapter.Progress(5)
    progress(1)
    comfy.cancelled = True
    with pytest.raises(Interrupted):
        progress(2, preview=lambda: pytest.fail("drew a preview after Cancel"))
    assert comfy.bars[0].updates == [(1, 5, None)]


def test_outside_comfyui_progress_draws_nothing(adapter):
    assert not adapter.in_comfyui()
    adapter.Progress(2)(1, 2, lambda: pytest.fail("drew a preview outside ComfyUI"))
