"""Saving motion fields to ComfyUI's output folder and loading them from its input folder."""

from __future__ import annotations

import os
import re

from ..motion_i2v.media import load_field, save_field
from .comfy import input_dir, intermediate_device, output_dir
from .spec import FIELD

FIELD_EXTENSION = ".safetensors"
# Bytes (UTF-8) per folder or file name of a prefix: file systems allow 255 per name, and the counter and extension
# take 19 of them.
MAX_NAME_BYTES = 200


def _inside(path: str, root: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), root]) == root


def next_save_path(prefix: str, root: str) -> tuple[str, str, str]:
    """The next free ``<prefix>_<counter:05>_.safetensors`` under ``root``, numbered like core SaveImage.

    ``prefix`` may contain sub-folders ("motion_i2v/field"). Returns (absolute path, sub-folder,
    file name); the folder is created. A prefix leading outside ``root`` raises a ValueError.
    """
    if not isinstance(prefix, str) or "\0" in prefix:
        raise ValueError(f"filename_prefix: expected a file name, optionally with folders, got {prefix!r}")
    subfolder, name = os.path.split(os.path.normpath(prefix.strip()))
    if not name or name in (".", ".."):
        raise ValueError(f"filename_prefix: expected a file name, optionally with folders, got {prefix!r}")
    longest = max(subfolder.split(os.sep) + [name], key=lambda part: len(part.encode()))
    if len(longest.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"filename_prefix: the name {longest[:40]!r}... is {len(longest.encode())} bytes long; "
                         f"file systems allow {MAX_NAME_BYTES} here")
    folder = os.path.join(root, subfolder)
    if not _inside(folder, root):
        raise ValueError(f"filename_prefix: {prefix!r} leads outside the output folder, which is not allowed")
    os.makedirs(folder, exist_ok=True)
    numbered = re.compile(re.escape(name) + r"_(\d+)_" + re.escape(FIELD_EXTENSION) + "$")
    taken = [int(match.group(1)) for match in map(numbered.match, os.listdir(folder)) if match]
    filename = f"{name}_{max(taken, default=0) + 1:05}_{FIELD_EXTENSION}"
    return os.path.join(folder, filename), subfolder.replace(os.sep, "/"), filename


def field_files(root: str) -> list[str]:
    """Relative paths ("/"-separated) of the .safetensors files under ``root``, sorted."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            if name.lower().endswith(FIELD_EXTENSION):
                found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    return sorted(found)


def _input_path(name: str) -> str:
    root = input_dir()
    path = os.path.join(root, name)
    if not _inside(path, root):
        raise ValueError(f"motion field {name!r} leads outside the input folder, which is not allowed")
    return path


class MotionI2VSaveMotionField:
    NODE_ID = "MotionI2VSaveMotionField"
    DISPLAY_NAME = "Motion-I2V Save Motion Field"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = (FIELD,)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("The same motion field, passed through so the graph can go on.",)
    DESCRIPTION = (
        "Save a motion field to ComfyUI's output folder as <prefix>_00001_.safetensors, numbered like Save Image "
        "(tensor \"flow\" [F, 2, H, W] pixels, and \"reliability\" when present, with format metadata). Copy the "
        "file into the input folder to load it with Motion-I2V Load Motion Field."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_field": (FIELD, {"tooltip": "The motion field to save."}),
                "filename_prefix": ("STRING", {
                    "default": "motion_i2v/motion_field",
                    "tooltip": "File name start, may include sub-folders of the output folder; a counter and "
                               ".safetensors are appended.",
                }),
            },
        }

    def save(self, motion_field, filename_prefix):
        path, subfolder, filename = next_save_path(filename_prefix, output_dir())
        save_field(motion_field, path)
        entry = {"filename": filename, "subfolder": subfolder, "type": "output"}
        return {"ui": {"motion_fields": [entry]}, "result": (motion_field,)}


class MotionI2VLoadMotionField:
    NODE_ID = "MotionI2VLoadMotionField"
    DISPLAY_NAME = "Motion-I2V Load Motion Field"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "load"
    RETURN_TYPES = (FIELD,)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("The motion field stored in the file ([F, 2, H, W] pixels, frame 0 still).",)
    DESCRIPTION = (
        "Load a motion field saved by Motion-I2V Save Motion Field (or the preview CLI) from ComfyUI's input "
        "folder. Other .safetensors files (e.g. model weights) are refused with a message saying why."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "field_file": (field_files(input_dir()), {
                    "tooltip": "A .safetensors motion field in the input folder (sub-folders included).",
                }),
            },
        }

    @classmethod
    def IS_CHANGED(cls, field_file):
        stat = os.stat(_input_path(field_file))
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    @classmethod
    def VALIDATE_INPUTS(cls, field_file):
        if not isinstance(field_file, str) or "\0" in field_file:
            return f"field_file: expected the name of a {FIELD_EXTENSION} file in the input folder, got {field_file!r}"
        if not field_file.lower().endswith(FIELD_EXTENSION):
            return f"field_file: expected a {FIELD_EXTENSION} file, got {field_file!r}"
        try:
            path = _input_path(field_file)
        except ValueError as error:
            return str(error)
        if not os.path.isfile(path):
            return f"field_file: {field_file!r} is not in the input folder {input_dir()}"
        return True

    def load(self, field_file):
        problem = self.VALIDATE_INPUTS(field_file)  # again: the API and other executors may skip validation
        if problem is not True:
            raise ValueError(problem)
        return (load_field(_input_path(field_file)).to(intermediate_device()),)


NODES = [MotionI2VSaveMotionField, MotionI2VLoadMotionField]
