"""``python -m motion_i2v preview``: outputs written, motion visible, clear refusals (through ``__main__.main``,
which imports only the command asked for)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from motion_i2v.__main__ import main
from motion_i2v.media import load_image, save_image, save_mask

EXAMPLES = Path(__file__).resolve().parents[1] / "example_inputs"
W, H = 64, 40


@pytest.fixture
def inputs(tmp_path):
    """A small textured image, tracks moving a point at (20, 20) 10 px right, a brush PNG."""
    generator = torch.Generator().manual_seed(0)
    save_image(torch.rand(3, H, W, generator=generator), str(tmp_path / "image.png"))
    tracks = {"version": 1, "width": W, "height": H, "tracks": [{"points": [[20, 20], [30, 20]]}]}
    (tmp_path / "tracks.json").write_text(json.dumps(tracks))
    brush = torch.zeros(H, W)
    brush[10:30, 10:30] = 1
    save_mask(brush, str(tmp_path / "brush.png"))
    return tmp_path


def test_preview_writes_the_animation_and_the_flow_strip(inputs, capsys):
    out = inputs / "clip.webp"
    code = main([
        "preview", "--image", str(inputs / "image.png"), "--tracks", str(inputs / "tracks.json"),
        "--out", str(out), "--frames", "5", "--brush", str(inputs / "brush.png"), "--fps", "4",
    ])
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as clip:
        assert clip.n_frames == 5 and clip.size == (W, H)
    with Image.open(inputs / "clip_flow.png") as strip:
        assert strip.size == (4 * (W + 4) + H, H)  # 4 frames, white gaps, an H x H legend
        colors = np.asarray(strip.convert("RGB"))
    # The last strip frame shows the tracked point moving +x: red-ish at (20, 20), white outside the brush.
    last = colors[:, 3 * (W + 4) : 3 * (W + 4) + W]
    assert last[20, 20, 0] > 200 and last[20, 20, 1] < 150
    assert (last[35, 50] == 255).all()
    assert "wrote" in capsys.readouterr().out


def test_camera_only_preview_pans_the_image_into_a_new_folder(inputs, capsys):
    out = inputs / "not" / "yet" / "pan.gif"
    code = main(["preview", "--image", str(inputs / "image.png"), "--out", str(out), "--frames", "3",
                 "--camera", "pan_x:4", "--camera", "zoom_in:1.0"])
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as clip:
        clip.seek(2)
        last = np.asarray(clip.convert("RGB")).astype(float)
    image = np.asarray(Image.open(inputs / "image.png").convert("RGB")).astype(float)
    # GIF quantises colours, so compare loosely: the last frame matches the image shifted by 4.
    assert np.abs(last[:, 4:] - image[:, :-4]).mean() < 12 < np.abs(last - image).mean()


def test_example_inputs_parse_and_run(tmp_path, capsys):
    out = tmp_path / "example.mp4"
    pytest.importorskip("cv2")
    image = load_image(str(EXAMPLES / "image.png"))
    assert image.shape == (1, 3, 320, 512)
    code = main(["preview", "--image", str(EXAMPLES / "image.png"), "--tracks", str(EXAMPLES / "tracks.json"),
                 "--out", str(out), "--frames", "16", "--camera", "zoom_in:1.1"])
    assert code == 0, capsys.readouterr().err
    assert out.stat().st_size > 0 and (tmp_path / "example_flow.png").exists()


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--out", "{tmp}/clip.avi", "--camera", "pan_x"], "the extension must be one of"),
        (["--out", "{tmp}/clip.gif"], "nothing moves"),
        (["--out", "{tmp}/clip.gif", "--tracks", "{tmp}/absent.json"], "--tracks: no such file"),
        (["--out", "{tmp}/clip.gif", "--camera", "dolly:3"], "the preset must be one of"),
        (["--out", "{tmp}/clip.gif", "--camera", "zoom_in:big"], "must be a number"),
        (["--out", "{tmp}/clip.gif", "--camera", "pan_x", "--frames", "0"], "--frames: expected an integer in 1..256, got 0"),
        # used to die in the allocator
        (["--out", "{tmp}/clip.gif", "--camera", "pan_x", "--frames", "100000"], "got 100000"),
        (["--out", "{tmp}/clip.gif", "--camera", "pan_x", "--fps", "nan"], "fps: expected a finite number > 0"),
        (["--out", "{tmp}/clip.gif", "--camera", "zoom_in:0"], "needs a scale factor > 0"),
        (["--out", "{tmp}/clip.gif", "--camera", "pan_x:inf"], "amount: expected a finite number"),
        (["--out", "{tmp}/clip.gif", "--tracks", "{tmp}/tracks.json", "--radius", "nan"], "--radius: expected"),
        (["--out", "{tmp}/image.png/clip.gif", "--camera", "pan_x"], "cannot write into"),
    ],
)
def test_bad_arguments_fail_with_a_message(inputs, capsys, arguments, message):
    arguments = [part.format(tmp=inputs) for part in arguments]
    assert main(["preview", "--image", str(inputs / "image.png"), *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.startswith("python -m motion_i2v preview: error: ") and error.count("\n") == 1  # one line
    assert not (inputs / "clip.gif").exists()


def test_mismatched_brush_and_bad_tracks_are_reported(inputs, capsys):
    save_mask(torch.ones(H + 1, W), str(inputs / "big.png"))
    common = ["preview", "--image", str(inputs / "image.png"), "--out", str(inputs / "c.gif")]
    assert main([*common, "--tracks", str(inputs / "tracks.json"), "--brush", str(inputs / "big.png")]) == 2
    assert "--brush: the mask is 64x41 but the image is 64x40" in capsys.readouterr().err
    (inputs / "bad.json").write_text('{"version": 1, "tracks": [}')
    assert main([*common, "--tracks", str(inputs / "bad.json")]) == 2
    assert "trajectories" in capsys.readouterr().err


def test_a_preview_larger_than_the_memory_is_refused_before_any_field(inputs, capsys, monkeypatch):
    from motion_i2v import memory

    monkeypatch.setattr(memory, "ram_available", lambda: 2**20)
    out = inputs / "clip.gif"
    assert main(["preview", "--image", str(inputs / "image.png"), "--camera", "pan_x", "--frames", "200",
                 "--out", str(out)]) == 2
    # 24 fields of 200 x 2 x 40 x 64 float32
    assert "error: preview (--frames 200 at 64x40): needs about 94 MiB of RAM, but 1 MiB is available" in \
        capsys.readouterr().err
    assert not out.exists()
