"""Motion-field nodes: camera moves, edits, colour coding and arrows, the warped preview."""

from __future__ import annotations

import torch

from ..motion_i2v import edit
from ..motion_i2v.camera import DEFAULT_AMOUNTS, MAX_AMOUNT, PRESETS, add, camera_field, compose
from ..motion_i2v.checks import check_choice
from ..motion_i2v.easing import EASINGS
from ..motion_i2v.flow import MAX_FRAMES, MAX_SIDE, MotionField
from ..motion_i2v.preview import warp_preview
from ..motion_i2v.visualize import draw_arrows, flow_to_color, legend
from .comfy import check_interrupted
from .convert import field_to_comfy, image_from_engine, image_to_engine, mask_to_engine
from .spec import FIELD

FIELD_TOOLTIP = "Motion field [F, 2, H, W] in pixels (frame 0 still), e.g. from Motion-I2V Tracks to Motion Field."


def _image_size(image: torch.Tensor, name: str) -> tuple[int, int]:
    """(H, W) of a ComfyUI IMAGE, checked."""
    return tuple(image_to_engine(image, name).shape[-2:])


def _check_size(height: int, width: int, field: MotionField, name: str) -> None:
    if (height, width) != (field.height, field.width):
        raise ValueError(
            f"{name}: the {name} is {width}x{height} but the motion field is {field.width}x{field.height}; "
            "resize one of them first"
        )


class MotionI2VCameraMotion:
    NODE_ID = "MotionI2VCameraMotion"
    DISPLAY_NAME = "Motion-I2V Camera Motion"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "build"
    RETURN_TYPES = (FIELD,)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("The camera move as a motion field [F, 2, H, W] in pixels, composed after the input field if one is connected.",)
    DESCRIPTION = (
        "A camera move as a motion field: pan, zoom or rotation, eased over the frames.\n\n"
        "amount is the state at the last frame: pan_x / pan_y move the content that many pixels (+ = right / "
        "down, i.e. the camera pans the other way); zoom_in / zoom_out grow / shrink the content by that factor "
        "(> 0, e.g. 1.25); rotate turns it by that many degrees, + = counter-clockwise. Zoom and rotation turn "
        "about the centre point.\n"
        "Connect a motion field (e.g. tracks) to move the camera over an already moving scene: the camera then "
        "moves every point after the scene's own motion. Chain several camera nodes to combine moves. "
        f"Typical amounts: {DEFAULT_AMOUNTS}."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "preset": (list(PRESETS), {"default": "zoom_in", "tooltip": "The camera move."}),
                "amount": ("FLOAT", {
                    "default": DEFAULT_AMOUNTS["zoom_in"], "min": -MAX_AMOUNT, "max": MAX_AMOUNT, "step": 0.01,
                    "tooltip": "At the last frame: pixels for pan_x/pan_y, a scale factor > 0 for zoom_in/zoom_out, "
                               "degrees (+ = counter-clockwise) for rotate.",
                }),
                "easing": (list(EASINGS), {"default": "linear", "tooltip": "How the move is spread over the frames."}),
                "frames": ("INT", {
                    "default": 16, "min": 1, "max": MAX_FRAMES,
                    "tooltip": "Number of frames; ignored when a motion field is connected (its count is used).",
                }),
                "width": ("INT", {
                    "default": 512, "min": 8, "max": MAX_SIDE, "step": 8,
                    "tooltip": "Field width in pixels, used when neither an image nor a motion field is connected.",
                }),
                "height": ("INT", {
                    "default": 320, "min": 8, "max": MAX_SIDE, "step": 8,
                    "tooltip": "Field height in pixels, used when neither an image nor a motion field is connected.",
                }),
                "center_x": ("FLOAT", {
                    "default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                    "tooltip": "Horizontal position of the zoom/rotation centre, 0 = left edge, 1 = right edge.",
                }),
                "center_y": ("FLOAT", {
                    "default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                    "tooltip": "Vertical position of the zoom/rotation centre, 0 = top edge, 1 = bottom edge.",
                }),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "Takes the field size from this image instead of width/height."}),
                "motion_field": (FIELD, {
                    "tooltip": "The scene's own motion; the camera move is composed after it (size and frame count "
                               "come from it).",
                }),
            },
        }

    def build(self, preset, amount, easing, frames, width, height, center_x, center_y, image=None, motion_field=None):
        scene, reliability = None, None
        if image is not None:
            height, width = _image_size(image, "image")
        if motion_field is not None:
            if image is not None:
                _check_size(height, width, motion_field, "image")
            frames, height, width = motion_field.frames, motion_field.height, motion_field.width
            scene, reliability = motion_field.flow.cpu(), motion_field.reliability
        center = (center_x * (width - 1), center_y * (height - 1))
        flow = camera_field(preset, frames, height, width, amount, easing=easing, center=center, scene=scene)
        return (field_to_comfy(flow, reliability),)


# What each edit does, for the DESCRIPTION; the keys are the operation combo.
EDIT_OPERATIONS = {
    "scale": "multiply every displacement by factor",
    "negate": "the same timing, the opposite direction",
    "reverse": "the path played backwards from the reference image (ease-in becomes ease-out)",
    "ping_pong": "forward then back as a seamless loop, keeping the frame count",
    "smooth": "Gaussian smoothing over time, factor = sigma in frames",
    "mask": "multiply by the mask (1 = keep the motion, 0 = hold still); one mask or one per frame",
    "blend": "(1 - factor) * this + factor * other",
    "add": "this + other",
    "compose": "move along this, then along other from where this arrived",
    "resample": "change the frame count to frames, interpolating over time",
}
_NEEDS_OTHER = ("blend", "add", "compose")
# Operations that keep each frame's pixels in place, so a reliability map still applies.
_KEEPS_RELIABILITY = ("scale", "negate", "mask", "smooth")


def _edit_mask(mask: torch.Tensor, field: MotionField) -> torch.Tensor:
    """MASK [H, W] or [B, H, W] -> [H, W] (one mask) or [F, H, W] (one per frame)."""
    if mask.ndim == 3 and mask.shape[0] == field.frames and field.frames > 1:
        if tuple(mask.shape[1:]) != (field.height, field.width):
            raise ValueError(
                f"mask: the masks are {mask.shape[2]}x{mask.shape[1]} but the motion field is "
                f"{field.width}x{field.height}; resize them first"
            )
        return mask.float().clamp(0, 1).cpu()
    if mask.ndim == 3 and mask.shape[0] != 1:
        raise ValueError(f"mask: expected 1 mask or one per frame ({field.frames}), got a batch of {mask.shape[0]}")
    return mask_to_engine(mask, field.height, field.width, "mask").cpu()


class MotionI2VEditMotionField:
    NODE_ID = "MotionI2VEditMotionField"
    DISPLAY_NAME = "Motion-I2V Edit Motion Field"
    CATEGORY = "Motion-I2V/Motion"
    FUNCTION = "apply"
    RETURN_TYPES = (FIELD,)
    RETURN_NAMES = ("motion_field",)
    OUTPUT_TOOLTIPS = ("The edited motion field [F, 2, H, W] in pixels, frame 0 still.",)
    DESCRIPTION = f"Edit a motion field ({', '.join(EDIT_OPERATIONS)}); frame 0 stays still.\n" + "\n".join(
        f"- {name}: {what}" for name, what in EDIT_OPERATIONS.items()
    ) + f"\n{', '.join(_NEEDS_OTHER)} need the other field (same size and frame count); mask needs the mask."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_field": (FIELD, {"tooltip": FIELD_TOOLTIP}),
                "operation": (list(EDIT_OPERATIONS), {"default": "scale", "tooltip": "The edit (see the node description)."}),
                "factor": ("FLOAT", {
                    "default": 1.0, "min": -100.0, "max": 100.0, "step": 0.05,
                    "tooltip": "scale: the multiplier; smooth: sigma in frames (>= 0); blend: the other field's "
                               "weight (0 = this only, 1 = other only). Unused by the other operations.",
                }),
                "frames": ("INT", {
                    "default": 16, "min": 1, "max": MAX_FRAMES,
                    "tooltip": "resample: the new frame count. Unused by the other operations.",
                }),
            },
            "optional": {
                "mask": ("MASK", {
                    "tooltip": "mask: 1 = keep the motion, 0 = hold still; one mask or one per frame, of the "
                               "field's size.",
                }),
                "other": (FIELD, {"tooltip": "blend / add / compose: the second field (same shape)."}),
            },
        }

    def apply(self, motion_field, operation, factor, frames, mask=None, other=None):
        check_choice(operation, EDIT_OPERATIONS, "operation")
        if operation in _NEEDS_OTHER and other is None:
            raise ValueError(f"operation {operation!r} needs the second motion field: connect the 'other' input")
        if operation == "mask" and mask is None:
            raise ValueError("operation 'mask' needs a mask: connect the 'mask' input")
        flow = motion_field.flow.cpu()
        second = None if other is None else other.flow.cpu()
        edits = {
            "scale": lambda: edit.scale(flow, factor),
            "negate": lambda: edit.negate(flow),
            "reverse": lambda: edit.reverse(flow),
            "ping_pong": lambda: edit.ping_pong(flow, motion_field.frames),
            "smooth": lambda: edit.smooth_time(flow, factor),
            "mask": lambda: edit.multiply_mask(flow, _edit_mask(mask, motion_field)),
            "blend": lambda: edit.blend(flow, second, factor),
            "add": lambda: add(flow, second),
            "compose": lambda: compose(flow, second),
            "resample": lambda: edit.resample(flow, frames),
        }
        reliability = motion_field.reliability if operation in _KEEPS_RELIABILITY else None
        return (field_to_comfy(edits[operation](), reliability),)


class MotionI2VVisualizeMotionField:
    NODE_ID = "MotionI2VVisualizeMotionField"
    DISPLAY_NAME = "Motion-I2V Visualize Motion Field"
    CATEGORY = "Motion-I2V/Preview"
    FUNCTION = "visualize"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE")
    RETURN_NAMES = ("colors", "arrows", "legend")
    OUTPUT_TOOLTIPS = (
        "One colour-coded frame per field frame: hue = direction, saturation = length, white = still.",
        "Arrows of the motion on a grid, over the image (or over the colour frames when no image is connected).",
        "The colour wheel: the colour of a displacement pointing from the centre to each point, the rim being "
        "the largest length.",
    )
    DESCRIPTION = (
        "See a motion field. Colours follow the Middlebury optical-flow convention (Baker et al.): right = red, "
        "down = yellow, left = cyan, up = violet, stronger colour = longer motion, white = still; all frames "
        "share one scale. Arrows show each grid point's displacement at that frame."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_field": (FIELD, {"tooltip": FIELD_TOOLTIP}),
                "max_magnitude": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 8192.0, "step": 1.0,
                    "tooltip": "Displacement length (pixels) shown at full colour; 0 = the field's largest.",
                }),
                "arrow_spacing": ("INT", {
                    "default": 32, "min": 4, "max": 1024, "tooltip": "Pixels between arrows on the grid.",
                }),
                "arrow_scale": ("FLOAT", {
                    "default": 1.0, "min": 0.05, "max": 20.0, "step": 0.05,
                    "tooltip": "Arrow length per pixel of displacement (1 = true length).",
                }),
                "legend_size": ("INT", {"default": 256, "min": 16, "max": 2048, "tooltip": "Side of the legend image."}),
            },
            "optional": {
                "image": ("IMAGE", {
                    "tooltip": "Background for the arrows: one image, or one per frame, of the field's size.",
                }),
            },
        }

    def visualize(self, motion_field, max_magnitude, arrow_spacing, arrow_scale, legend_size, image=None):
        flow = motion_field.flow.cpu()
        colors = flow_to_color(flow, max_magnitude or None, check_cancel=check_interrupted)
        background = colors
        if image is not None:
            background = image_to_engine(image, "image").cpu()
            _check_size(*background.shape[-2:], motion_field, "image")
            if background.shape[0] not in (1, motion_field.frames):
                raise ValueError(
                    f"image: expected 1 image or one per frame ({motion_field.frames}), got a batch of {background.shape[0]}"
                )
        arrows = draw_arrows(background, flow, arrow_spacing, arrow_scale, check_cancel=check_interrupted)
        return image_from_engine(colors), image_from_engine(arrows), image_from_engine(legend(legend_size)[None])


class MotionI2VWarpPreview:
    NODE_ID = "MotionI2VWarpPreview"
    DISPLAY_NAME = "Motion-I2V Warp Preview"
    CATEGORY = "Motion-I2V/Preview"
    FUNCTION = "preview"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("The image moved along the field, one frame per field frame (frame 0 = the image).",)
    DESCRIPTION = (
        "A model-free preview of a motion field: the image's pixels are pushed along the field (forward "
        "splatting, as Motion-I2V's second stage warps its features). Content moving unlike the camera-like "
        "part of the motion is drawn in front, and the holes it leaves show what lay behind it; borders a pan "
        "uncovers are mirrored. Feed the frames to Save Animated WEBP or Preview Image."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The reference image (the first of a batch), of the field's size."}),
                "motion_field": (FIELD, {"tooltip": FIELD_TOOLTIP}),
            },
        }

    def preview(self, image, motion_field):
        reference = image_to_engine(image, "image")[:1].cpu()
        _check_size(*reference.shape[-2:], motion_field, "image")
        frames = warp_preview(reference, motion_field.flow.cpu(), check_cancel=check_interrupted)
        return (image_from_engine(frames),)


NODES = [MotionI2VCameraMotion, MotionI2VEditMotionField, MotionI2VVisualizeMotionField, MotionI2VWarpPreview]
