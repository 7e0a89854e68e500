"""What several nodes declare alike: the pack's socket types, the model and prompt inputs, the sampler and precision
widgets.

Socket types are global across packs, so ours carry the pack's prefix. ``LEGACY_TYPES`` maps the names workflows
saved before the rename to today's: ComfyUI's server checks links against the node classes, not the saved names,
so such workflows run as they are, and the frontend extension (web/js/socket_types.js, kept equal by a test) renames
the saved names when a workflow loads, so new links fit the old nodes too.
"""

from __future__ import annotations

from ..motion_i2v.devices import DTYPES
from ..motion_i2v.models.motion_augmented import PAIRINGS
from ..motion_i2v.pipelines.flow_gen import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    FRAME_STRIDE,
    MAX_FRAME_STRIDE,
    TRAINED_MAX_OFFSET,
)
from ..motion_i2v.sampling import MAX_GUIDANCE, MAX_SEED, MAX_STEPS, SAMPLERS
from .comfy import ksampler_choices

FLOW_MODEL = "MOTION_I2V_FLOW_MODEL"
CONTROL = "MOTION_I2V_CONTROL"
ANIMATOR = "MOTION_I2V_ANIMATOR"
MOTION_MODULES = "MOTION_I2V_MOTION_MODULES"
FIELD = "MOTION_I2V_FIELD"
LONG_MOTION = "MOTION_I2V_LONG_MOTION"
TRACKS = "TRACKS"  # ComfyUI core's (Wan-Move), with the canvas size added
LEGACY_TYPES = {"MI2V_FLOW_MODEL": FLOW_MODEL, "MI2V_CONTROL": CONTROL, "MOTION_FIELD": FIELD}

DTYPE_CHOICES = ("auto", *DTYPES)
OFFICIAL_KSAMPLER = ("ddim", "ddim_uniform")  # KSampler's sampler and scheduler that run the official DDIM


FLOW_MODEL_INPUT = (FLOW_MODEL, {"tooltip": "From Motion-I2V Load Flow Model."})
ANIMATOR_INPUT = (ANIMATOR, {"tooltip": "From Motion-I2V Load Animator."})


def prompt_inputs() -> dict[str, tuple]:
    """The positive and negative prompts of the nodes that sample with our engine (either stage)."""
    return {
        "positive": ("CONDITIONING", {"tooltip": "The prompt, from CLIP Text Encode with the SD1.5 CLIP."}),
        "negative": ("CONDITIONING", {"tooltip": "The negative prompt, from CLIP Text Encode."}),
    }


def sampler_widgets(result: str) -> dict[str, tuple]:
    """The seed, steps, cfg and sampler widgets both sampling nodes declare; ``result`` names what they make.

    cfg starts at 0, as core KSampler's does, so every value a workflow ever saved stays valid; as officially,
    guidance runs only above 1, and 1 or less uses the prompt alone.
    """
    return {
        "seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True,
                         "tooltip": f"Seed of the initial noise (drawn on the CPU: the same {result} on any device)."}),
        "steps": ("INT", {"default": DEFAULT_STEPS, "min": 1, "max": MAX_STEPS,
                          "tooltip": "Denoising steps (official 25)."}),
        "cfg": ("FLOAT", {"default": DEFAULT_GUIDANCE, "min": 0.0, "max": MAX_GUIDANCE, "step": 0.1, "round": 0.01,
                          "tooltip": "Classifier-free guidance on the prompt (official 7); 1 or less uses the prompt "
                                     "alone, without the negative pass."}),
        "sampler": (list(SAMPLERS), {"default": "ddim", "tooltip": (
            "ddim is the official sampler (eta 0); the others are diffusers schedulers with the same noise "
            "schedule. The motion brush works with every one.")}),
    }


def dtype_widget(networks: str) -> tuple:
    """The precision widget of both loaders; ``networks`` names what it applies to."""
    return (list(DTYPE_CHOICES), {"default": "auto", "tooltip": (
        f"Weight precision of {networks}: auto = bf16 on GPUs that have it, else fp16; fp32 on the CPU. The "
        "release is fp32.")})


def stride_widget() -> tuple:
    """Stage 1's time span, on Predict Motion Field and Predict Long Motion."""
    return ("INT", {"default": FRAME_STRIDE, "min": 1, "max": MAX_FRAME_STRIDE, "tooltip": (
        f"Time span of the field: source-video frames between two predicted frames (official {FRAME_STRIDE}, "
        f"the only one the motion modules were trained at; frame k asks for the motion k x stride frames ahead, "
        f"and training saw 1..{TRAINED_MAX_OFFSET}). Smaller gives slower, subtler motion; larger asks for "
        f"faster motion, past what training saw when 15 x stride > {TRAINED_MAX_OFFSET}, so less reliably.")})


def ksampler_widgets() -> dict[str, tuple]:
    """KSampler's sampler_name and scheduler, for the native nodes that sample themselves, with the official pair
    first chosen."""
    samplers, schedulers = ksampler_choices(OFFICIAL_KSAMPLER)
    return {
        "sampler_name": (samplers, {"default": OFFICIAL_KSAMPLER[0], "tooltip": (
            "ComfyUI's sampler, as on KSampler; ddim with ddim_uniform is the official DDIM.")}),
        "scheduler": (schedulers, {"default": OFFICIAL_KSAMPLER[1], "tooltip": "ComfyUI's scheduler, as on KSampler."}),
    }


def pairing_widget() -> tuple:
    """The CFG pairing of stage 2, on every node that renders it."""
    return (list(PAIRINGS), {"default": "official", "tooltip": (
        "Which CFG half's first-frame features are warped: 'official' as the released weights were trained (the "
        "halves alternate per frame); 'per_sample' the corrected pairing (not what the weights saw).")})
