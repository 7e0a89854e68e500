"""Stage-1 nodes: load the flow model, turn tracks into trajectory control, predict the motion field."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..motion_i2v.memory import check_stage_memory, module_bytes
from ..motion_i2v.models import UNet3DConfig
from ..motion_i2v.pipelines.flow_gen import (
    DEFAULT_FRAMES,
    FRAME_STRIDE,
    VAE_CHUNK,
    FlowModel,
    FlowModelSpec,
    FlowRequest,
    TrajectoryControl,
    load_flow_model,
    predict_motion_field,
)
from ..motion_i2v.sampling import SamplerSettings
from ..motion_i2v.tracks.value import Tracks
from ..motion_i2v.visualize import flow_to_color
from ..motion_i2v.weights.release import release_names
from .comfy import (
    Progress,
    load_on_device,
    model_files,
    model_path,
    network_dtype,
    offload_device,
    torch_device,
    unwrap,
    wrap_model,
)
from .convert import (
    brush_to_engine,
    conditioning_states,
    encode_image,
    field_to_comfy,
    image_from_engine,
    image_to_engine,
)
from .spec import (
    CONTROL,
    FIELD,
    FLOW_MODEL,
    FLOW_MODEL_INPUT,
    TRACKS,
    dtype_widget,
    prompt_inputs,
    sampler_widgets,
    stride_widget,
)

CATEGORY = "Motion-I2V/Stage 1"
NO_CONTROLNET = "none"
SLOT_KINDS = {"unet": "flow_unet", "flow_vae": "flow_vae", "controlnet": "controlnet"}  # input -> weights kind


@dataclass(frozen=True)
class FlowModelHandle:
    """MOTION_I2V_FLOW_MODEL: the stage-1 networks as handed to ComfyUI's memory management.

    ``unet``, ``flow_vae``, ``controlnet``: ModelPatchers inside ComfyUI, else the modules.
    ``config``: the UNet's, to check inputs before anything moves to the device.
    """

    unet: object
    flow_vae: object
    controlnet: object | None
    config: UNet3DConfig

    @property
    def spec(self) -> FlowModelSpec:
        return FlowModelSpec(self.config, self.controlnet is not None)

    def load(self) -> FlowModel:
        controlnet = load_on_device(self.controlnet) if self.controlnet is not None else None
        return FlowModel(load_on_device(self.unet), load_on_device(self.flow_vae), controlnet)

    def modules(self) -> list[torch.nn.Module]:
        """The networks where they are now (nothing moves): UNet, flow VAE and the ControlNet if loaded."""
        return [unwrap(handle) for handle in (self.unet, self.flow_vae, self.controlnet) if handle is not None]


def _default(files: list[str], slot: str) -> dict:
    """The file at the slot's place in the release (its convert re-save first), as the widget's default."""
    found = next((name for ending in release_names(SLOT_KINDS[slot]) for name in files if name.endswith(ending)), None)
    return {"default": found} if found else {}


class MotionI2VLoadFlowModel:
    NODE_ID = "MotionI2VLoadFlowModel"
    DISPLAY_NAME = "Motion-I2V Load Flow Model"
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (FLOW_MODEL,)
    RETURN_NAMES = ("flow_model",)
    OUTPUT_TOOLTIPS = ("The stage-1 motion-field generator: flow UNet, flow VAE and (optionally) the trajectory "
                       "ControlNet.",)
    DESCRIPTION = (
        "Loads Motion-I2V's stage-1 weights from models/motion_i2v (extra_model_paths.yaml works), as released "
        "(models/stage1/StableDiffusion-FlowGen/{unet/diffusion_pytorch_model.bin, vae_flow/"
        "diffusion_pytorch_model.bin, controlnet/controlnet.bin}) or as safetensors re-saves from "
        "'python -m motion_i2v convert'. Every file is checked key by key before any is loaded; a wrong or "
        "damaged file is named in the error. The flow VAE always runs in float32. ComfyUI keeps the loaded "
        "models between runs while the inputs stay the same."
    )

    @classmethod
    def INPUT_TYPES(cls):
        files = model_files()
        return {
            "required": {
                "unet": (files, {**_default(files, "unet"), "tooltip": "The flow UNet: .../unet/"
                                 "diffusion_pytorch_model.bin (5.3 GB) or its safetensors re-save."}),
                "flow_vae": (files, {**_default(files, "flow_vae"), "tooltip": "The 2-channel flow VAE: .../vae_flow/"
                                     "diffusion_pytorch_model.bin (not the SD VAE in .../vae/)."}),
                "controlnet": ([NO_CONTROLNET, *files], {**_default(files, "controlnet"), "tooltip":
                               "The trajectory ControlNet (.../controlnet/controlnet.bin); 'none' predicts from "
                               "the image and text only."}),
                "dtype": dtype_widget("the UNet and ControlNet (the flow VAE stays fp32)"),
            }
        }

    def load(self, unet, flow_vae, controlnet, dtype):
        paths = [model_path(unet), model_path(flow_vae)]
        controlnet_path = None if controlnet == NO_CONTROLNET else model_path(controlnet)
        model = load_flow_model(*paths, controlnet_path, device=offload_device(), dtype=network_dtype(dtype))
        controlnet_handle = wrap_model(model.controlnet) if model.controlnet is not None else None
        return (FlowModelHandle(wrap_model(model.unet), wrap_model(model.flow_vae), controlnet_handle,
                                model.unet.config),)


class MotionI2VTrajectoryControl:
    NODE_ID = "MotionI2VTrajectoryControl"
    DISPLAY_NAME = "Motion-I2V Trajectory Control"
    CATEGORY = CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = (CONTROL,)
    RETURN_NAMES = ("control",)
    OUTPUT_TOOLTIPS = ("Trajectory control for Predict Motion Field: the tracks, the hint's square size, the "
                       "ControlNet strength and the brush.",)
    DESCRIPTION = (
        "Trajectory control as in the official demo: every track writes its displacement from frame 0 into a "
        "square of half-side 'flow_unit' around its start point, which the ControlNet reads as a sparse motion "
        "hint. With a motion brush, unpainted pixels become an explicit 'no motion' hint (and Predict Motion "
        "Field zeroes the flow there). Nothing is resampled: the tracks must be on the image's canvas with "
        "Predict Motion Field's frame count (Motion-I2V Trajectories with the image connected and the same "
        "frames), or Predict Motion Field refuses them, naming both."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "tracks": (TRACKS, {"tooltip": "Point tracks with their canvas size, e.g. from Motion-I2V "
                                    "Trajectories (which also places core and KJNodes tracks on the image)."}),
                "flow_unit": ("INT", {"default": 64, "min": 1, "max": 1024, "tooltip": "Half the side of each "
                              "track's hint square, in pixels of the tracks' image (the demo's 'Flow Unit', 64 at "
                              "512x320)."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": "ControlNet "
                             "conditioning scale (official 1.0; 0 ignores the tracks)."}),
            },
            "optional": {
                "brush": ("MASK", {"tooltip": "Motion brush at the tracks' image size: 1 = may move. Unpainted "
                                   "pixels are hinted still. Leave empty (or all ones) to let everything move."}),
            },
        }

    def build(self, tracks, flow_unit, strength, brush=None):
        trajectories = Tracks.from_tracks(tracks)
        held = None if brush is None else brush_to_engine(brush, trajectories.height, trajectories.width,
                                                          "the tracks' canvas")
        return (TrajectoryControl(trajectories, flow_unit, strength, held),)


class MotionI2VPredictMotionField:
    NODE_ID = "MotionI2VPredictMotionField"
    DISPLAY_NAME = "Motion-I2V Predict Motion Field"
    CATEGORY = CATEGORY
    FUNCTION = "predict"
    RETURN_TYPES = (FIELD, "IMAGE")
    RETURN_NAMES = ("motion_field", "preview")
    OUTPUT_TOOLTIPS = (
        "The predicted motion field [F, 2, H, W] in pixels: the displacement of every pixel of the image to each "
        "frame, frame 0 still.",
        "The field colour-coded frame by frame (hue = direction, saturation = distance; white = still).",
    )
    DESCRIPTION = (
        "Motion-I2V stage 1: predicts how every pixel of the image moves over the frames, from the prompt and "
        "optionally drawn trajectories and a motion brush. Official settings: DDIM, 25 steps, CFG 7, 16 frames "
        "at 512x320 (the size the model was trained at; other multiples of 8 work, multiples of 64 are best).\n"
        "Use the SD1.5 checkpoint's CLIP for the prompts and its VAE for the image. Differences from the "
        "official code: ComfyUI's VAE gives the posterior mode where the official pipeline draws a sample "
        "(the image is still fed in [0, 1] as officially), and the run is seeded."
    )

    @classmethod
    def INPUT_TYPES(cls):
        widgets = sampler_widgets("field")
        return {
            "required": {
                "flow_model": FLOW_MODEL_INPUT,
                "vae": ("VAE", {"tooltip": "The SD1.5 VAE (the official stage 1 uses SD1.5's) to encode the image."}),
                "image": ("IMAGE", {"tooltip": "The image to animate (the first of a batch); width and height must "
                                    "be multiples of 8."}),
                **prompt_inputs(),
                "frames": ("INT", {"default": DEFAULT_FRAMES, "min": 2, "max": 16, "tooltip": "Frames of the field "
                           "including the still frame 0 (the model makes 16). A connected control must have as many "
                           "(the frames of Motion-I2V Trajectories)."}),
                **{name: widgets[name] for name in ("steps", "cfg", "seed", "sampler")},
            },
            "optional": {
                "stride": stride_widget(),  # optional: prompts saved before it still validate
                "control": (CONTROL, {"tooltip": "Trajectory control, from Motion-I2V Trajectory Control (needs the "
                            "ControlNet in the flow model); its tracks must be on this image with these frames."}),
                "brush": ("MASK", {"tooltip": "Motion brush at the image size: 1 = may move; the field is zeroed "
                          "elsewhere. Without it, the control's brush applies."}),
            },
        }

    def predict(self, flow_model, vae, image, positive, negative, frames, steps, cfg, seed, sampler,
                stride=FRAME_STRIDE, control=None, brush=None):
        # Every input is checked, once, before the image is encoded or the models move to the device.
        pixels = image_to_engine(image, "image")[:1]
        height, width = pixels.shape[-2:]
        request = FlowRequest(
            flow_model.spec, height, width, conditioning_states(positive, "positive"),
            conditioning_states(negative, "negative"), frames=frames, settings=SamplerSettings(steps, cfg, sampler),
            seed=seed, control=control, brush=None if brush is None else brush_to_engine(brush, height, width),
            stride=stride,
        )
        modules, device = flow_model.modules(), torch_device()
        check_stage_memory(1, frames=frames, height=height, width=width, dtype=next(modules[0].parameters()).dtype,
                           guided=request.settings.guided, device=device, vae_frames=min(VAE_CHUNK, frames - 1),
                           weights=0 if device.type == "cpu" else sum(map(module_bytes, modules)))
        latent = encode_image(vae, pixels, signed=False)
        flow = predict_motion_field(flow_model.load(), latent, request, callback=Progress(steps))
        return field_to_comfy(flow), image_from_engine(flow_to_color(flow))


NODES = [MotionI2VLoadFlowModel, MotionI2VTrajectoryControl, MotionI2VPredictMotionField]
