"""What several nodes declare alike: the pack's socket types and the sampler and precision widgets.

Socket types are global across packs, so ours carry the pack's prefix. ``LEGACY_TYPES`` maps the names workflows
saved before the rename to today's: ComfyUI's server checks links against the node classes, not the saved names,
so such workflows run as they are, and the frontend extension (web/js/socket_types.js, kept equal by a test) renames
the saved names when a workflow loads, so new links fit the old nodes too.
"""

from __future__ import annotations

from ..motion_i2v.devices import DTYPES
from ..motion_i2v.pipelines.flow_gen import DEFAULT_GUIDANCE, DEFAULT_STEPS
from ..motion_i2v.sampling import MAX_GUIDANCE, MAX_SEED, MAX_STEPS, SAMPLERS

FLOW_MODEL = "MOTION_I2V_FLOW_MODEL"
CONTROL = "MOTION_I2V_CONTROL"
ANIMATOR = "MOTION_I2V_ANIMATOR"
MOTION_MODULES = "MOTION_I2V_MOTION_MODULES"
FIELD = "MOTION_I2V_FIELD"
TRACKS = "TRACKS"  # ComfyUI core's (Wan-Move), with the canvas size added
LEGACY_TYPES = {"MI2V_FLOW_MODEL": FLOW_MODEL, "MI2V_CONTROL": CONTROL, "MOTION_FIELD": FIELD}

DTYPE_CHOICES = ("auto", *DTYPES)


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
