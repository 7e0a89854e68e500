"""``python -m motion_i2v generate``: the weight-free --tiny run of both stages, and its argument errors."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

from motion_i2v.__main__ import main
from motion_i2v.commands.generate import NOISE_WARNING

EXAMPLES = "example_inputs"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One --tiny run of both stages (4 frames, 64x40, 2 steps) into a fresh folder, its tiny models in a temporary
    folder under ``temp``; its stderr is kept."""
    folder = tmp_path_factory.mktemp("generate")
    out, errors = folder / "video.webp", io.StringIO()
    (folder / "temp").mkdir()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(errors):
        patch.setattr(tempfile, "tempdir", str(folder / "temp"))
        code = main(["generate", "--tiny", "--image", f"{EXAMPLES}/image.png", "--tracks", f"{EXAMPLES}/tracks_kj.txt",
                     "--brush", f"{EXAMPLES}/brush.png", "--prompt", "a windy day",
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
    assert not list((folder / "temp").iterdir()), "the tiny models' temporary folder (17 MB) was left behind"


@pytest.mark.parametrize("arguments, message", [
    (["--out", "video.txt", "--tiny"], "the extension must be one of"),
    (["--out", "video.webp"], "--models: give the official release folder"),
    (["--out", "video.webp", "--tiny", "--frames", "17"], "--frames: expected 2..16, got 17"),
    (["--out", "video.webp", "--tiny", "--width", "100"], "expected multiples of 8 in 8..4096, got 100x80"),
    (["--out", "video.webp", "--tiny", "--width", "8192"], "expected multiples of 8 in 8..4096, got 8192x80"),
    # checked only after both stages ran (hours with real weights)
    (["--out", "video.webp", "--tiny", "--fps", "0"], "fps: expected a finite number > 0"),
    (["--out", "video.webp", "--tiny", "--fps", "nan"], "fps: expected a finite number > 0"),
    (["--out", "image.png/video.webp", "--tiny"], "--out: cannot write into"),
    (["--out", "video.webp", "--tiny", "--flow-unit", "0"], "--flow-unit: expected an integer in 1..1024, got 0"),
    (["--out", "video.webp", "--tiny", "--flow-unit", "-5"], "--flow-unit: expected an integer in 1..1024, got -5"),
    (["--out", "video.webp", "--tiny", "--cfg", "nan"], "cfg: expected a finite number in 0..30.0, got nan"),
    (["--out", "video.webp", "--tiny", "--seed", "-1"], "--seed: expected an integer in 0..18446744073709551615"),
    (["--out", "video.webp", "--tiny", "--device", "bogus"], "--device 'bogus': expected auto, cpu, cuda"),
    (["--out", "video.webp", "--tiny", "--device", "cuda:7"], "--device 'cuda:7': this machine has"),
    (["--out", "video.webp", "--models", "absent"], "--models: no such folder: absent"),
    (["--out", "video.webp", "--tiny", "--sampler", "euler_ancestral", "--pairing", "per_sample", "--steps", "0"],
     "steps: expected an integer in 1..499, got 0"),
])
def test_bad_arguments_fail_before_any_model(arguments, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "image.png").write_bytes(b"")
    assert main(["generate", "--image", "image.png", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m motion_i2v generate: error: ") and error.count("\n") == 1, error
    assert message in error
    assert not list(tmp_path.glob("motion_i2v_tiny_*"))


def test_a_run_that_cannot_fit_is_refused_before_stage_1_and_cleans_up(tmp_path, capsys, monkeypatch):
    from motion_i2v import memory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(memory, "ram_available", lambda: 2**20)
    assert main(["generate", "--tiny", "--image", f"{EXAMPLES}/image.png", "--out", str(tmp_path / "video.webp"),
                 "--frames", "4", "--width", "64", "--height", "40", "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert "error: Motion-I2V stage 1 (4 frames at 64x40, float32, CFG on): needs about" in error
    assert not list(tmp_path.iterdir())  # the tiny models were written, then removed with the failure


@pytest.mark.parametrize("arguments, message", [
    (["convert", "absent.bin", "out.safetensors"], "absent.bin does not exist"),
    (["convert", "{image}", "out.txt"], "DST: expected a .safetensors file"),
    (["make-tiny", "{image}"], "DIR: cannot write into"),  # a file where the folder should go
    (["make-tiny", "models", "--text-width", "0"], "--text-width: expected an integer in 1..4096, got 0"),
])
def test_every_command_reports_user_errors_in_one_line(arguments, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "image.png"
    image.write_bytes(b"")
    assert main([part.format(image=image) for part in arguments]) == 2
    error = capsys.readouterr().err
    # convert reports its own errors ("convert: ..."), the others through __main__
    prefix = "convert: " if arguments[0] == "convert" else f"python -m motion_i2v {arguments[0]}: error: "
    assert error.startswith(prefix) and error.count("\n") == 1, error
    assert message in error
    assert not (tmp_path / "models").exists()


def test_the_module_prints_one_line_and_no_traceback():
    result = subprocess.run([sys.executable, "-m", "motion_i2v", "generate", "--image", f"{EXAMPLES}/image.png",
                             "--out", "video.webp", "--tiny", "--device", "bogus"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["python -m motion_i2v generate: error: --device 'bogus': expected auto, cpu, "
                                          "cuda, cuda:N or mps"]


def test_release_folder_without_stage2_is_named(tmp_path, capsys):
    (tmp_path / "image.png").write_bytes(b"")
    assert main(["generate", "--image", str(tmp_path / "image.png"), "--models", str(tmp_path),
                 "--out", str(tmp_path / "video.webp")]) == 2
    assert "no flow_unet, flow_vae, image_vae, motion_modules file found" in capsys.readouterr().err


def test_real_run_needs_the_text_encoders_before_loading(tiny_models, tmp_path, capsys):
    assert main(["generate", "--image", f"{EXAMPLES}/image.png", "--models", str(tiny_models.root),
                 "--out", str(tmp_path / "video.webp")]) == 2
    error = capsys.readouterr().err
    assert "the SD1.5 text encoder is missing" in error and "stage1" in error
    assert not (tmp_path / "video.webp").exists()
