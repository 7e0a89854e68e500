"""``python -m motion_i2v generate``: the weight-free --tiny run of both stages, and its argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from motion_i2v.__main__ import main
from motion_i2v.commands.generate import NOISE_WARNING

EXAMPLES = "examples"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generate")
    out = folder / "video.webp"
    code = main(["generate", "--tiny", "--image", f"{EXAMPLES}/image.png", "--tracks", f"{EXAMPLES}/tracks_kj.txt",
                 "--brush", f"{EXAMPLES}/brush.png", "--prompt", "a windy day", "--models", str(folder / "tiny"),
                 "--out", str(out), "--frames", "4", "--width", "64", "--height", "40", "--steps", "2"])
    return code, out, folder


def test_tiny_run_writes_the_video_and_the_field_strip(tiny_run, capsys):
    code, out, folder = tiny_run
    assert code == 0
    with Image.open(out) as video:
        assert video.size == (64, 40) and video.n_frames == 4
    assert (folder / "video_flow.png").is_file()
    assert (folder / "tiny" / "models" / "stage2" / "Motion_Module" / "motion_block.bin").is_file()


def test_tiny_run_is_reproducible_and_says_it_is_noise(tiny_run, tmp_path, capsys):
    _, out, folder = tiny_run
    again = tmp_path / "again.webp"
    assert main(["generate", "--tiny", "--image", f"{EXAMPLES}/image.png", "--tracks", f"{EXAMPLES}/tracks_kj.txt",
                 "--brush", f"{EXAMPLES}/brush.png", "--prompt", "a windy day", "--models", str(folder / "tiny"),
                 "--out", str(again), "--frames", "4", "--width", "64", "--height", "40", "--steps", "2"]) == 0
    assert NOISE_WARNING in capsys.readouterr().err
    with Image.open(out) as first, Image.open(again) as second:
        for index in range(4):
            first.seek(index)
            second.seek(index)
            assert np.array_equal(np.asarray(first.convert("RGB")), np.asarray(second.convert("RGB")))


@pytest.mark.parametrize("arguments, message", [
    (["--out", "video.txt", "--tiny"], "the extension must be one of"),
    (["--out", "video.webp"], "--models: give the official release folder"),
    (["--out", "video.webp", "--tiny", "--frames", "17"], "--frames: expected 2..16, got 17"),
    (["--out", "video.webp", "--tiny", "--width", "100"], "expected multiples of 8, got 100x80"),
    (["--out", "video.webp", "--tiny", "--sampler", "euler_ancestral", "--pairing", "per_sample", "--steps", "0"],
     "steps: expected at least 1"),
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
    _, _, folder = tiny_run
    assert main(["generate", "--image", f"{EXAMPLES}/image.png", "--models", str(folder / "tiny"),
                 "--out", str(tmp_path / "video.webp")]) == 2
    error = capsys.readouterr().err
    assert "the SD1.5 text encoder is missing" in error and "stage1" in error
    assert not (tmp_path / "video.webp").exists()
