"""Video nodes: a source video's motion as a motion field, for zero-shot video-to-video."""

from __future__ import annotations

import torch
from einops import rearrange

from ..motion_i2v.checks import check_choice, check_number
from ..motion_i2v.flow import MAX_FRAMES, MAX_SIDE
from ..motion_i2v.memory import check_memory, field_bytes
from ..motion_i2v.v2v import DIS_PRESETS, extract_motion, resize_motion, sample_frames
from ..motion_i2v.visualize import flow_to_color
from .comfy import Progress, check_interrupted, intermediate_device, model_files, model_path, torch_device
from .convert import image_from_engine, image_to_engine
from .spec import FIELD

NO_MODEL = "none"
# Combo choice -> extract_motion's method arguments; the combo lists exactly these keys.
METHOD_CHOICES = {f"dis_{preset}": {"method": "dis", "preset": preset} for preset in DIS_PRESETS}
METHOD_CHOICES["raft"] = {"method": "raft"}


class MotionI2VExtractMotion:
    NODE_ID = "MotionI2VExtractMotion"
    DISPLAY_NAME = "Motion-I2V Extract Motion From Video"
    CATEGORY = "Motion-I2V/Video"
    FUNCTION = "extract"
    RETURN_TYPES = (FIELD, "MASK", "IMAGE", "IMAGE")
    RETURN_NAMES = ("motion_field", "reliability", "preview", "frames")
    OUTPUT_TOOLTIPS = (
        "The video's motion from its first sampled frame to every sampled frame, [F, 2, H, W] pixels, with "
        "its reliability attached.",
        "Per frame and pixel, how far the motion can be trusted: 1 = forward and backward flows agree, 0 = they "
        "do not, or the content left the view.",
        "The motion colour-coded (right = red, down = yellow, left = cyan, up = violet, white = still).",
        "The sampled frames at the field's size: edit the first one and animate it along the motion field.",
    )
    DESCRIPTION = (
        "Zero-shot video-to-video: takes every frame_stride-th frame of a video (from Load Video + Get Video "
        "Components, or any image-batch loader), starting at start_frame, and measures how each pixel of the first "
        "one moves to each later one. Feed the motion field and an edited first frame to the animation stage.\n\n"
        "dis_*: OpenCV's DIS optical flow (no weights; medium is the most accurate, ultrafast the quickest). "
        "raft: torchvision's RAFT from a weight file in models/motion_i2v (needs torchvision installed). "
        "Consecutive flows are chained and direct flows from the first frame refined from the chain; per pixel "
        "the one with the smaller forward-backward error is kept, and that error gives the reliability."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "video": ("IMAGE", {"tooltip": "The source video as an image batch [T, H, W, C], frame 0 first."}),
                "frames": ("INT", {
                    "default": 16, "min": 1, "max": MAX_FRAMES,
                    "tooltip": "Frames to take (Motion-I2V animates 16); the video needs "
                               "start_frame + (frames - 1) * frame_stride + 1 frames.",
                }),
                "frame_stride": ("INT", {
                    "default": 1, "min": 1, "max": 1024,
                    "tooltip": "Take every n-th frame: 2 halves the frame rate and doubles the motion per frame.",
                }),
                "start_frame": ("INT", {"default": 0, "min": 0, "max": 100000, "tooltip": "The first frame to take."}),
                "method": (list(METHOD_CHOICES), {
                    "default": "dis_fast",
                    "tooltip": "Optical flow: OpenCV DIS at a preset (no weights; fast is ~0.2 px off on a textured "
                               "zoom, medium ~0.1 px at 3x the time), or RAFT from raft_model.",
                }),
                "raft_model": ([NO_MODEL, *model_files()], {
                    "default": NO_MODEL,
                    "tooltip": "torchvision raft_large / raft_small weights (.pth or .safetensors) in "
                               "models/motion_i2v; used by method raft only.",
                }),
                "width": ("INT", {
                    "default": 0, "min": 0, "max": MAX_SIDE, "step": 8,
                    "tooltip": "Resize the field (vectors rescaled) and frames to this width; 0 = the video's width.",
                }),
                "height": ("INT", {
                    "default": 0, "min": 0, "max": MAX_SIDE, "step": 8,
                    "tooltip": "Resize the field (vectors rescaled) and frames to this height; 0 = the video's height.",
                }),
            },
        }

    def extract(self, video, frames, frame_stride, start_frame, method, raft_model, width, height):
        check_choice(method, METHOD_CHOICES, "method")
        check_number(width, "width", low=0, high=MAX_SIDE, integer=True)
        check_number(height, "height", low=0, high=MAX_SIDE, integer=True)
        raft_weights = None
        if method == "raft":
            if raft_model == NO_MODEL:
                raise ValueError("raft_model: method raft needs a RAFT weight file; pick one or use a dis_* method")
            raft_weights = model_path(raft_model)
        clip = sample_frames(image_to_engine(video, "video"), frames, frame_stride, start_frame)
        out_height, out_width = height or clip.shape[2], width or clip.shape[3]
        # The outputs: the field and its reliability, the colour coding and the frames, each also as an IMAGE.
        check_memory(field_bytes(frames, out_height, out_width, 3) * 6,
                     f"extracted motion ({frames} frames at {out_width}x{out_height})")
        device = torch_device() if method == "raft" else torch.device("cpu")
        field = extract_motion(
            rearrange(clip, "f c h w -> f h w c").to(device),
            **METHOD_CHOICES[method],
            raft_weights=raft_weights,
            progress=Progress(4 * (frames - 1)),
        )
        field = resize_motion(field, out_height, out_width)
        if clip.shape[2:] != (out_height, out_width):
            clip = torch.nn.functional.interpolate(clip, size=(out_height, out_width), mode="bilinear", antialias=True)
        field = field.to(intermediate_device())
        return (
            field,
            field.reliability,
            image_from_engine(flow_to_color(field.flow, check_cancel=check_interrupted)),
            image_from_engine(clip),
        )


NODES = [MotionI2VExtractMotion]
