"""Image, mask, animation and motion-field files: round trips and clear refusals."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from motion_i2v.flow import MotionField
from motion_i2v.media import (
    FIELD_FORMAT,
    load_field,
    load_image,
    load_mask,
    load_video,
    save_animation,
    save_field,
    save_image,
    save_mask,
)


def _frames(count=3, height=16, width=24):
    """Frames of flat colours, so lossy codecs keep them close."""
    levels = torch.linspace(0.1, 0.9, count).view(count, 1, 1, 1)
    return levels.expand(count, 3, height, width).clone()


def test_image_round_trip_is_exact_to_8_bits(tmp_path):
    image = torch.rand(3, 10, 14, generator=torch.Generator().manual_seed(0))
    save_image(image, str(tmp_path / "a.png"))
    loaded = load_image(str(tmp_path / "a.png"))
    assert loaded.shape == (1, 3, 10, 14) and loaded.dtype == torch.float32
    assert (loaded[0] - image).abs().max() <= 0.5 / 255 + 1e-6


def test_image_alpha_is_dropped_and_mask_is_luminance(tmp_path):
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert torch.equal(load_image(str(tmp_path / "rgba.png"))[0, :, 0, 0], torch.tensor([1.0, 0, 0]))
    mask = torch.zeros(5, 7)
    mask[1:3, 2:5] = 1
    save_mask(mask, str(tmp_path / "m.png"))
    assert torch.equal(load_mask(str(tmp_path / "m.png")), mask)


@pytest.mark.parametrize("extension", [".webp", ".gif"])
def test_animations_keep_every_frame_and_the_frame_rate(tmp_path, extension):
    path = str(tmp_path / f"clip{extension}")
    save_animation(_frames(), path, fps=5)
    with Image.open(path) as clip:
        assert clip.n_frames == 3 and clip.size == (24, 16)
        clip.seek(2)
        clip.load()  # WebP fills in the frame timing when the frame is decoded
        assert clip.info["duration"] == 200  # 1000 ms / 5 fps
        assert abs(np.asarray(clip.convert("RGB"))[8, 12, 0] - 0.9 * 255) <= 4


@pytest.mark.parametrize("extension", [".mp4", ".webm"])
def test_videos_read_back_with_every_frame_and_the_frame_rate(tmp_path, extension):
    path = str(tmp_path / f"clip{extension}")
    frames = _frames(4, 32, 48)
    save_animation(frames, path, fps=8)
    loaded, fps = load_video(path)
    assert loaded.shape == (4, 3, 32, 48) and loaded.dtype == torch.float32 and fps == pytest.approx(8)
    assert (loaded[:, :, 8:24, 8:40] - frames[:, :, 8:24, 8:40]).abs().max() < 8 / 255  # lossy, flat colours


def test_unreadable_videos_are_refused(tmp_path):
    (tmp_path / "junk.webm").write_text("no video")
    with pytest.raises(ValueError, match="video: OpenCV decoded no frame from"):
        load_video(str(tmp_path / "junk.webm"))
    with pytest.raises(FileNotFoundError, match="video: no such file"):
        load_video(str(tmp_path / "absent.mp4"))


def test_field_round_trip_with_reliability(tmp_path):
    generator = torch.Generator().manual_seed(1)
    flow = torch.randn(3, 2, 5, 6, generator=generator)
    flow[0] = 0
    field = MotionField(flow, torch.rand(3, 5, 6, generator=generator))
    save_field(field, str(tmp_path / "f.safetensors"))
    loaded = load_field(str(tmp_path / "f.safetensors"))
    assert torch.equal(loaded.flow, field.flow) and torch.equal(loaded.reliability, field.reliability)
    save_field(MotionField(flow), str(tmp_path / "g.safetensors"))
    assert load_field(str(tmp_path / "g.safetensors")).reliability is None


def test_wrong_field_files_are_refused(tmp_path):
    (tmp_path / "text.safetensors").write_text("not a tensor file")
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load_field(str(tmp_path / "text.safetensors"))
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="not a Motion-I2V motion field"):
        load_field(str(tmp_path / "model.safetensors"))
    metadata = {"format": FIELD_FORMAT, "version": "1", "frames": "2", "height": "4", "width": "4"}
    save_file({"flow": torch.zeros(2, 2, 4, 5)}, str(tmp_path / "lying.safetensors"), metadata=metadata)
    with pytest.raises(ValueError, match=r"declares frames, height, width = \[2, 4, 4\]"):
        load_field(str(tmp_path / "lying.safetensors"))
    save_file({"flow": torch.zeros(2, 2, 4, 4)}, str(tmp_path / "future.safetensors"), metadata={**metadata, "version": "9"})
    with pytest.raises(ValueError, match="format version '9'"):
        load_field(str(tmp_path / "future.safetensors"))
    with pytest.raises(FileNotFoundError, match="motion field: no such file"):
        load_field(str(tmp_path / "absent.safetensors"))


def test_hostile_field_files_are_refused_before_their_tensors_are_read(tmp_path):
    def write(name, flow, **tensors):
        frames, _, height, width = flow.shape if flow.ndim == 4 else (1, 2, 1, 1)
        metadata = {"format": FIELD_FORMAT, "version": "1", "frames": str(frames), "height": str(height),
                    "width": str(width)}
        save_file({"flow": flow, **tensors}, str(tmp_path / name), metadata=metadata)
        return str(tmp_path / name)

    # a million 1x1 frames (8 MB on disk) would take minutes downstream and a million preview images
    with pytest.raises(ValueError, match=r"frames: expected an integer in 1\.\.256, got 1000000"):
        load_field(write("long.safetensors", torch.zeros(1_000_000, 2, 1, 1)))
    with pytest.raises(ValueError, match=r"width: expected an integer in 1\.\.4096, got 5000"):
        load_field(write("wide.safetensors", torch.zeros(1, 2, 1, 5000)))
    with pytest.raises(ValueError, match=r"holds a flow of shape \[4, 3\], expected \[F, 2, H, W\]"):
        load_field(write("flat.safetensors", torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="motion field: contains NaN or infinite values"):
        load_field(write("nan.safetensors", torch.full((2, 2, 3, 3), float("nan"))))
    with pytest.raises(ValueError, match="reliability .* contains NaN or infinite values"):
        load_field(write("nan_reliability.safetensors", torch.zeros(2, 2, 3, 3),
                         reliability=torch.full((2, 3, 3), float("inf"))))


def test_bad_media_arguments_are_refused(tmp_path):
    extensions = r"\['.webp', '.gif', '.mp4', '.webm'\]"
    with pytest.raises(ValueError, match=f"animation file: the extension must be one of {extensions}"):
        save_animation(_frames(), str(tmp_path / "clip.avi"))
    for fps in (0, float("nan"), float("inf"), 5000):
        with pytest.raises(ValueError, match=r"fps: expected a finite number > 0 and <= 1000\.0"):
            save_animation(_frames(), str(tmp_path / "clip.gif"), fps=fps)
    (tmp_path / "folder.gif").mkdir()
    with pytest.raises(ValueError, match="folder.gif is a folder; give a file name"):
        save_animation(_frames(), str(tmp_path / "folder.gif"), fps=8)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot write into .*file"):
        save_animation(_frames(), str(tmp_path / "file" / "clip.gif"))
    with pytest.raises(ValueError, match=r"animation: expected frames \[F, 3, H, W\]"):
        save_animation(torch.zeros(2, 4, 4), str(tmp_path / "clip.gif"))
    (tmp_path / "junk.png").write_text("no image")
    with pytest.raises(ValueError, match="image: cannot read"):
        load_image(str(tmp_path / "junk.png"))
    with pytest.raises(FileNotFoundError, match="mask: no such file"):
        load_mask(str(tmp_path / "absent.png"))
