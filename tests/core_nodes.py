"""The ComfyUI core nodes our workflows may use: their specs, and small stand-ins.

Each class below declares the node's ``INPUT_TYPES``, ``RETURN_TYPES`` and ``OUTPUT_NODE`` as ``GET
/object_info`` of ComfyUI 0.8.0, the oldest release we support, reports them (types, defaults, min/max, COMBO
choices, upload and control flags; tooltips left out), written from ``nodes.py``,
``comfy_extras/nodes_images.py``, ``nodes_video.py`` and ``nodes_mask.py`` of that release (its V3 nodes as
``/object_info`` shows them, e.g. ``multiline: False``, a COMBO as ``("COMBO", {"options": ...})``).
``tests/test_real_comfyui.py`` compares them with each real release's ``/object_info`` in what our workflows
rely on: inputs, widgets and options agree, every choice offered here is offered there, outputs here are the
server's first outputs (later releases append some: 0.33's SaveImage, PreviewImage and the animation savers
return their IMAGE, GetVideoComponents also a frame count and codec); display names may differ.

The bodies are stand-ins with the same behaviour on our tiny models: files go to and come from the
folders of a ``CoreFolders`` (videos decoded by OpenCV where ComfyUI uses PyAV); the model-backed nodes
(checkpoint loader, CLIP text encode, VAE encode and decode) run the tiny models of ``tests/tiny_sd.py``.
``core_node_classes(folders)`` returns them bound to one set of folders; ``core_specs(folders)`` their
``NodeSpec``s for the static checks.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageOps, ImageSequence

from motion_i2v.media import load_video
from tiny_sd import load_tiny_checkpoint
from workflow_tools import NodeSpec

MAX_RESOLUTION = 16384
WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}


@dataclass(frozen=True)
class CoreFolders:
    """ComfyUI's input/output/temp folders and the model folders the loaders list (name -> directory)."""

    input: Path
    output: Path
    temp: Path
    models: dict

    def files(self, folder: str) -> list[str]:
        """Relative file names under a model folder, sorted, as ``folder_paths.get_filename_list``."""
        root = Path(self.models.get(folder, "/nonexistent"))
        if not root.is_dir():
            return []
        return sorted(str(path.relative_to(root)).replace(os.sep, "/") for path in root.rglob("*") if path.is_file())

    def inputs(self, content_type: str) -> list[str]:
        """Files directly in the input folder whose MIME type is ``content_type``/... ("image", "video"), sorted,
        as ``folder_paths.filter_files_content_types`` filters them."""
        if not self.input.is_dir():
            return []
        return sorted(path.name for path in self.input.iterdir()
                      if path.is_file() and _content_type(path) == content_type)


def _content_type(path: Path) -> str:
    """"image", "video", ... from the MIME type of the file name; ComfyUI pins .webp to image (some systems lack it)."""
    if path.suffix == ".webp":
        return "image"
    return (mimetypes.guess_type(path.name, strict=False)[0] or "").split("/")[0]


def _save_path(folder: Path, prefix: str) -> tuple[Path, str, int, str]:
    """(directory, file stem, counter, subfolder) as ``folder_paths.get_save_image_path`` numbers files."""
    subfolder, stem = os.path.split(os.path.normpath(prefix))
    folder, directory = folder.resolve(), (folder / subfolder).resolve()
    if os.path.commonpath((folder, directory)) != str(folder):
        raise ValueError(f"filename_prefix {prefix!r} points outside the output folder")
    directory.mkdir(parents=True, exist_ok=True)
    counters = [int(name[len(stem) + 1:].split("_")[0]) for name in os.listdir(directory)
                if name.startswith(stem + "_") and name[len(stem) + 1:].split("_")[0].isdigit()]
    return directory, stem, max(counters, default=0) + 1, subfolder


def _to_pil(image: torch.Tensor) -> Image.Image:
    """One IMAGE frame [H, W, C] 0..1 -> an 8-bit PIL image."""
    return Image.fromarray(np.clip(255.0 * image.cpu().numpy(), 0, 255).astype(np.uint8))


class _Core:
    """Base of the stand-ins: ``folders`` is bound by ``core_node_classes``."""

    folders: CoreFolders | None = None


class LoadImage(_Core):
    DISPLAY_NAME = "Load Image"
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"

    @classmethod
    def INPUT_TYPES(cls):
        files = cls.folders.inputs("image") if cls.folders else []
        return {"required": {"image": (files, {"image_upload": True})}}

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        if not (cls.folders.input / image).is_file():
            return f"Invalid image file: {image}"
        return True

    def load_image(self, image):
        """Every frame of the same size as the first; MASK = 1 - alpha, or a 64x64 zero mask without alpha."""
        frames, masks = [], []
        with Image.open(self.folders.input / image) as picture:
            size = None
            for frame in ImageSequence.Iterator(picture):
                frame = ImageOps.exif_transpose(frame)
                rgb = frame.convert("RGB")
                size = size or rgb.size
                if rgb.size != size:
                    continue
                frames.append(torch.from_numpy(np.array(rgb).astype(np.float32) / 255.0)[None])
                if "A" in frame.getbands() or (frame.mode == "P" and "transparency" in frame.info):
                    alpha = np.array(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0
                    masks.append(1.0 - torch.from_numpy(alpha)[None])
                else:
                    masks.append(torch.zeros((1, 64, 64), dtype=torch.float32))
        return torch.cat(frames), torch.cat(masks)


class LoadImageMask(_Core):
    DISPLAY_NAME = "Load Image (as Mask)"
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    CHANNELS = ["alpha", "red", "green", "blue"]

    @classmethod
    def INPUT_TYPES(cls):
        # the images, as 0.33 lists them (0.8.0 lists every file): a choice here is offered by both
        files = cls.folders.inputs("image") if cls.folders else []
        return {"required": {"image": (files, {"image_upload": True}), "channel": (cls.CHANNELS,)}}

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        if not (cls.folders.input / image).is_file():
            return f"Invalid image file: {image}"
        return True

    def load_image(self, image, channel):
        """One channel as a MASK [1, H, W]; alpha is inverted (1 = masked) as in core."""
        with Image.open(self.folders.input / image) as picture:
            picture = ImageOps.exif_transpose(picture).convert("RGBA")
            values = np.array(picture.getchannel(channel[0].upper())).astype(np.float32) / 255.0
        mask = torch.from_numpy(values)
        return ((1.0 - mask if channel == "alpha" else mask)[None],)


@dataclass(frozen=True)
class VideoComponents:
    """comfy_api's VideoComponents: images [T, H, W, 3] float32 0..1, the frame rate, audio (None: no track)."""

    images: torch.Tensor
    frame_rate: Fraction
    audio: dict | None = None
    metadata: dict | None = None


class VideoFromFile:
    """The VIDEO of Load Video (comfy_api's VideoFromFile): a file, decoded only when its components are asked for."""

    def __init__(self, path: Path):
        self.path = path

    def get_components(self) -> VideoComponents:
        frames, fps = load_video(str(self.path))
        # a Fraction as PyAV's average_rate (30000/1001 for NTSC's 29.97)
        return VideoComponents(rearrange(frames, "f c h w -> f h w c"), Fraction(fps).limit_denominator(1001))


class LoadVideo(_Core):
    DISPLAY_NAME = "Load Video"
    CATEGORY = "image/video"
    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "load_video"

    @classmethod
    def INPUT_TYPES(cls):
        files = cls.folders.inputs("video") if cls.folders else []
        return {"required": {"file": ("COMBO", {"multiselect": False, "options": files, "video_upload": True})}}

    @classmethod
    def VALIDATE_INPUTS(cls, file):
        if not (cls.folders.input / file).is_file():
            return f"Invalid video file: {file}"
        return True

    def load_video(self, file):
        return (VideoFromFile(self.folders.input / file),)


class GetVideoComponents(_Core):
    DISPLAY_NAME = "Get Video Components"
    CATEGORY = "image/video"
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("images", "audio", "fps")
    FUNCTION = "get_components"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO",)}}

    def get_components(self, video):
        components = video.get_components()
        return components.images, components.audio, float(components.frame_rate)


class MaskToImage(_Core):
    DISPLAY_NAME = "Convert Mask to Image"
    CATEGORY = "mask"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}}

    def mask_to_image(self, mask):
        """[B, H, W] (or [H, W]) -> grey [B, H, W, 3]."""
        return (rearrange(mask.reshape(-1, *mask.shape[-2:]), "b h w -> b h w 1").expand(-1, -1, -1, 3),)


class ImageScale(_Core):
    DISPLAY_NAME = "Upscale Image"
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    CROP_METHODS = ["disabled", "center"]

    @classmethod
    def INPUT_TYPES(cls):
        size = {"min": 0, "max": MAX_RESOLUTION, "step": 1}
        return {"required": {"image": ("IMAGE",), "upscale_method": (cls.UPSCALE_METHODS,),
                             "width": ("INT", {"default": 512, **size}), "height": ("INT", {"default": 512, **size}),
                             "crop": (cls.CROP_METHODS,)}}

    def upscale(self, image, upscale_method, width, height, crop):
        """Resize [B, H, W, C]; 0 for one side keeps the aspect ratio; "center" crops to it first."""
        if width == 0 and height == 0:
            return (image,)
        _, old_height, old_width, _ = image.shape
        width = width or max(1, round(old_width * height / old_height))
        height = height or max(1, round(old_height * width / old_width))
        samples = image.movedim(-1, 1)
        if crop == "center":
            old_aspect, new_aspect = old_width / old_height, width / height
            x = round((old_width - old_width * new_aspect / old_aspect) / 2) if old_aspect > new_aspect else 0
            y = round((old_height - old_height * old_aspect / new_aspect) / 2) if old_aspect < new_aspect else 0
            samples = samples[:, :, y:old_height - y, x:old_width - x]
        if upscale_method == "lanczos":
            frames = [torch.from_numpy(np.array(_to_pil(frame.movedim(0, -1)).resize((width, height), Image.LANCZOS))
                                       .astype(np.float32) / 255.0).movedim(-1, 0) for frame in samples]
            return (torch.stack(frames).movedim(1, -1),)
        mode = {"nearest-exact": "nearest-exact", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic"}
        resized = torch.nn.functional.interpolate(samples, size=(height, width), mode=mode[upscale_method])
        return (resized.movedim(1, -1),)


class SaveImage(_Core):
    DISPLAY_NAME = "Save Image"
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    FOLDER_TYPE = "output"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def _folder(self) -> Path:
        return self.folders.output if self.FOLDER_TYPE == "output" else self.folders.temp

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        directory, stem, counter, subfolder = _save_path(self._folder(), filename_prefix)
        results = []
        for index, image in enumerate(images):
            name = f"{stem.replace('%batch_num%', str(index))}_{counter + index:05}_.png"
            _to_pil(image).save(directory / name, compress_level=1)
            results.append({"filename": name, "subfolder": subfolder, "type": self.FOLDER_TYPE})
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    DISPLAY_NAME = "Preview Image"
    FOLDER_TYPE = "temp"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def save_images(self, images, filename_prefix="ComfyUI_temp", prompt=None, extra_pnginfo=None):
        return super().save_images(images, filename_prefix, prompt, extra_pnginfo)


class _AnimationSaver(_Core):
    """SaveAnimatedWEBP and SaveAnimatedPNG: one animated file of every frame, numbered like SaveImage."""

    CATEGORY = "image/animation"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    @staticmethod
    def inputs(**extra) -> dict:
        return {"required": {"images": ("IMAGE",),
                             "filename_prefix": ("STRING", {"default": "ComfyUI", "multiline": False}),
                             "fps": ("FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}), **extra},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def save(self, images, filename_prefix: str, fps: float, suffix: str, **options) -> dict:
        directory, stem, counter, subfolder = _save_path(self.folders.output, filename_prefix)
        name = f"{stem}_{counter:05}_.{suffix}"
        frames = [_to_pil(image) for image in images]
        frames[0].save(directory / name, save_all=True, duration=int(1000.0 / fps), append_images=frames[1:],
                       **options)
        return {"filename": name, "subfolder": subfolder, "type": "output"}


class SaveAnimatedWEBP(_AnimationSaver):
    DISPLAY_NAME = "SaveAnimatedWEBP"

    @classmethod
    def INPUT_TYPES(cls):
        return cls.inputs(lossless=("BOOLEAN", {"default": True}),
                          quality=("INT", {"default": 80, "min": 0, "max": 100}), method=(list(WEBP_METHODS),))

    def save_images(self, images, filename_prefix, fps, lossless, quality, method, prompt=None, extra_pnginfo=None):
        saved = self.save(images, filename_prefix, fps, "webp", lossless=lossless, quality=quality,
                          method=WEBP_METHODS[method])
        return {"ui": {"images": [saved], **({"animated": (True,)} if len(images) > 1 else {})}}


class SaveAnimatedPNG(_AnimationSaver):
    DISPLAY_NAME = "SaveAnimatedPNG"

    @classmethod
    def INPUT_TYPES(cls):
        return cls.inputs(compress_level=("INT", {"default": 4, "min": 0, "max": 9}))

    def save_images(self, images, fps, compress_level, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        saved = self.save(images, filename_prefix, fps, "png", compress_level=compress_level)
        return {"ui": {"images": [saved], "animated": (True,)}}


class StandInModel:
    """CheckpointLoaderSimple's MODEL here: the tiny checkpoint has no UNet, so any use fails loudly."""

    def __init__(self, checkpoint: str):
        self._checkpoint = checkpoint

    def __getattr__(self, name):
        raise AttributeError(f"the test stand-in MODEL of {self._checkpoint} has no {name!r}: the tiny checkpoint "
                             f"carries only a CLIP and a VAE (tests/tiny_sd.py)")


class CheckpointLoaderSimple(_Core):
    DISPLAY_NAME = "Load Checkpoint"
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (cls.folders.files("checkpoints") if cls.folders else [],)}}

    def load_checkpoint(self, ckpt_name):
        clip, vae = load_tiny_checkpoint(Path(self.folders.models["checkpoints"]) / ckpt_name)
        return StandInModel(ckpt_name), clip, vae


class CLIPTextEncode(_Core):
    DISPLAY_NAME = "CLIP Text Encode (Prompt)"
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True, "dynamicPrompts": True}), "clip": ("CLIP",)}}

    def encode(self, clip, text):
        if clip is None:
            raise RuntimeError("ERROR: clip input is invalid: None")
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text)),)


class VAEEncode(_Core):
    DISPLAY_NAME = "VAE Encode"
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def encode(self, vae, pixels):
        return ({"samples": vae.encode(pixels)},)


class VAEDecode(_Core):
    DISPLAY_NAME = "VAE Decode"
    CATEGORY = "latent"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",)}}

    def decode(self, vae, samples):
        images = vae.decode(samples["samples"])
        return (images.reshape(-1, *images.shape[-3:]) if images.ndim == 5 else images,)


CORE_CLASSES = (LoadImage, LoadImageMask, LoadVideo, GetVideoComponents, MaskToImage, ImageScale, SaveImage,
                PreviewImage, SaveAnimatedWEBP, SaveAnimatedPNG, CheckpointLoaderSimple, CLIPTextEncode, VAEEncode,
                VAEDecode)


def core_node_classes(folders: CoreFolders) -> dict[str, type]:
    """node type -> stand-in class bound to ``folders`` (a subclass, so bindings never leak)."""
    return {cls.__name__: type(cls.__name__, (cls,), {"folders": folders}) for cls in CORE_CLASSES}


def core_specs(folders: CoreFolders | None = None) -> dict[str, NodeSpec]:
    """The specs of the core nodes; without folders the file COMBOs are empty."""
    classes = core_node_classes(folders) if folders else {cls.__name__: cls for cls in CORE_CLASSES}
    return {name: NodeSpec.from_class(name, cls) for name, cls in classes.items()}
