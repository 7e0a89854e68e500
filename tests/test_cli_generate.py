"""``python -m motion_i2v generate``: the weight-free --tiny run of both stages, and its argument errors."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from PIL import Image

from motion_i2v.__main__ import main
from motion_i2v.commands.generate import NOISE_WARNING

EXAMPLES = "example_inputs"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One --tiny run of both stages (4 frames, 64x40, 2 steps) into a fresh folder; its stderr is kept."""
    folder = tmp_path_factory.mktemp("generate")
    out, errors = folder / "video.webp", io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(["generate", "--tiny", "--image", f"{EXAMPLES}/image.png", "--tracks", f"{EXAMPLES}/tracks_kj.txt",
                     "--brush", f"{EXAMPLES}/brush.png", "--prompt", "a windy day", "--models", str(folder / "tiny"),
                     "--out", str(out), "--frames", "4", "--width", "64", "--height", "40", "--steps", "2"])
    return code, out, folder, errors.getvalue()


def test_tiny_run_writes_the_video_and_says_it_is_noise(tiny_run):
    code, out, folder, errors = tiny_run
    assert code == 0, errors
    assert NOISE_WARNING in errors
    with Image.open(out) as video:
        assert video.size == (64, 40) and video.n_frames == 4
        first = np.asarray(video.convert("RGB"))
        video.seek(3)
        assert not np.array_equal(first, np.asarray(video.convert("RGB")))
    assert (folder / "video_flow.png").is_file()
    assert (folder / "tiny" / "models" / "stage2" / "Motion_Module" / "motion_block.bin").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--out", "video.txt", "--tiny"], "the extension must be one of"),
    (["--out", "video.webp"], "--models: give the official release folder"),
    (["--out", "video.webp", "--tiny", "--frames", "17"], "--frames: expected 2..16, got 17"),
    (["--out", "video.webp", "--tiny", "--width", "100"], "expected multiples of 8, got 100x80"),
    (["--out", "video.webp", "--tiny", "--sampler", "euler_ancestral", "--pairing", "per_sample", "--steps", "0"],
     "steps: expected 1..499, got 0"),
])
def test_bad_arguments_fail_before_any_model(arguments, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image.png").write_bytes(b"")
    assert main(["generate", "--image", "image.png", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("motion_i2v_tiny_*"))


def test_release_folder_without_stage2_is_named(tmp_path, capsys):
    (tmp_path / "image.png").write_bytes(b"")
    assert main(["generate", "--image", str(tmp_path / "image.png"), "--models", str(tmp_path),
                 "--out", str(tmp_path / "video.webp")]) == 2
    assert "no flow_unet, flow_vae, image_vae, motion_modules file found" in capsys.readouterr().err


def test_real_run_needs_the_text_encoders_before_loading(tiny_run, tmp_path, capsys):
    folder = tiny_run[2]
    assert main(["generate", "--image", f"{EXAMPLES}/image.png", "--models", str(folder / "tiny"),
                 "--out", str(tmp_path / "video.webp")]) == 2
    error = capsys.readouterr().err
    assert "the SD1.5 text encoder is missing" in error and "stage1" in error
    assert not (tmp_path / "video.webp").exists()
