"""The core-node stand-ins behave like ComfyUI's nodes on the tiny models (tests/core_nodes.py, tiny_sd.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from core_nodes import CoreFolders, core_node_classes
from PIL import Image
from tiny_sd import text_width, write_tiny_checkpoint

from motion_i2v.media import save_animation

VIDEO_LEVELS = (0.2, 0.5, 0.8)  # one flat grey per frame: the lossy codec keeps them within a few levels


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("core")
    folders = CoreFolders(input=root / "input", output=root / "output", temp=root / "temp",
                          models={"checkpoints": root / "checkpoints"})
    for folder in (folders.input, folders.output, folders.temp, folders.models["checkpoints"]):
        folder.mkdir()
    rgba = np.zeros((6, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(folders.input / "alpha.png")
    frames = [Image.new("RGB", (5, 3), (value, 0, 0)) for value in (0, 128, 255)]
    frames[0].save(folders.input / "clip.gif", save_all=True, append_images=frames[1:], duration=100)
    grey = torch.tensor(VIDEO_LEVELS).view(-1, 1, 1, 1).expand(-1, 3, 16, 24)
    save_animation(grey, str(folders.input / "clip.webm"), fps=12)
    (folders.input / "notes.txt").write_text("neither an image nor a video")
    write_tiny_checkpoint(folders.models["checkpoints"], "tiny.safetensors")
    return folders, {name: cls() for name, cls in core_node_classes(folders).items()}


def test_load_image_masks_are_one_minus_alpha_or_a_64px_blank(nodes):
    folders, node = nodes
    image, mask = node["LoadImage"].load_image("alpha.png")
    assert image.shape == (1, 6, 4, 3) and mask.shape == (1, 6, 4)
    assert mask[0, 0, 0] == 1 and mask.sum() == 1  # only the transparent pixel is masked
    image, mask = node["LoadImage"].load_image("clip.gif")
    assert image.shape == (3, 3, 5, 3) and mask.shape == (3, 64, 64) and not mask.any()
    assert torch.allclose(image[:, 0, 0, 0], torch.tensor([0, 128, 255]) / 255, atol=2 / 255)
    assert node["LoadImage"].INPUT_TYPES()["required"]["image"][0] == ["alpha.png", "clip.gif"]
    assert node["LoadImage"].VALIDATE_INPUTS("missing.png") == "Invalid image file: missing.png"


def test_load_video_lists_videos_and_get_video_components_decodes_them(nodes):
    folders, node = nodes
    assert node["LoadVideo"].INPUT_TYPES()["required"]["file"] == (
        "COMBO", {"multiselect": False, "options": ["clip.webm"], "video_upload": True})
    assert node["LoadVideo"].VALIDATE_INPUTS("missing.mp4") == "Invalid video file: missing.mp4"
    video, = node["LoadVideo"].load_video("clip.webm")
    images, audio, fps = node["GetVideoComponents"].get_components(video)
    assert images.shape == (3, 16, 24, 3) and images.dtype == torch.float32 and audio is None
    assert fps == 12.0 and isinstance(fps, float)
    assert torch.allclose(images[:, 8, 12], torch.tensor(VIDEO_LEVELS)[:, None].expand(3, 3), atol=8 / 255)


def test_mask_to_image_repeats_the_mask_in_three_channels():
    node = core_node_classes(CoreFolders(Path("."), Path("."), Path("."), {}))["MaskToImage"]()
    mask = torch.rand(2, 3, 4)
    image, = node.mask_to_image(mask)
    assert image.shape == (2, 3, 4, 3) and all(torch.equal(image[..., channel], mask) for channel in range(3))
    assert node.mask_to_image(mask[0])[0].shape == (1, 3, 4, 3)


def test_image_scale_keeps_the_aspect_and_crops_the_centre(nodes):
    _, node = nodes
    image = torch.arange(4 * 8, dtype=torch.float32).reshape(1, 4, 8, 1).expand(1, 4, 8, 3) / 32
    assert node["ImageScale"].upscale(image, "nearest-exact", 4, 0, "disabled")[0].shape == (1, 2, 4, 3)  # 8x4 -> 4x2
    cropped = node["ImageScale"].upscale(image, "nearest-exact", 4, 4, "center")[0]
    assert torch.equal(cropped, image[:, :, 2:6])  # a 4x4 crop from the middle, no resampling needed


def test_save_animated_webp_numbers_files_and_reports_them(nodes):
    folders, node = nodes
    frames = torch.rand(3, 8, 8, 3)
    first = node["SaveAnimatedWEBP"].save_images(frames, "run/clip", 8.0, True, 80, "fastest")["ui"]
    second = node["SaveAnimatedWEBP"].save_images(frames[:1], "run/clip", 8.0, True, 80, "fastest")["ui"]
    assert first == {"images": [{"filename": "clip_00001_.webp", "subfolder": "run", "type": "output"}],
                     "animated": (True,)}
    assert second == {"images": [{"filename": "clip_00002_.webp", "subfolder": "run", "type": "output"}]}
    with Image.open(folders.output / "run" / "clip_00001_.webp") as picture:
        assert picture.n_frames == 3
    with pytest.raises(ValueError, match="outside the output folder"):
        node["SaveImage"].save_images(frames, "../escape")


def test_tiny_checkpoint_gives_comfyui_shaped_conditioning_and_latents(nodes):
    _, node = nodes
    model, clip, vae = node["CheckpointLoaderSimple"].load_checkpoint("tiny.safetensors")
    with pytest.raises(AttributeError, match="has no 'model'"):
        model.model
    with torch.inference_mode():
        (cond, extra), = node["CLIPTextEncode"].encode(clip, "a boat")[0]
        (other, _), = node["CLIPTextEncode"].encode(clip, "a bird")[0]
        long, = node["CLIPTextEncode"].encode(clip, "x" * 80)[0]  # 80 bytes: two 77-token windows
        latent = node["VAEEncode"].encode(vae, torch.rand(2, 36, 24, 3))[0]
        decoded = node["VAEDecode"].decode(vae, latent)[0]
    assert cond.shape == (1, 77, text_width()) and extra["pooled_output"].shape == (1, text_width())
    assert not torch.equal(cond, other) and long[0].shape == (1, 154, text_width())
    assert latent["samples"].shape == (2, 4, 4, 3)  # 36x24 cropped to 32x24, / 8
    assert decoded.shape == (2, 32, 24, 3) and 0 <= decoded.min() and decoded.max() <= 1
