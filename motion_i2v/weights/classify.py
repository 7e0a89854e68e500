"""What a weight file holds, told from its keys and shapes alone (a safetensors header is enough).

One classifier serves ``convert`` (which kind to re-save a file as) and every loader's errors (what
the wrong file in a slot is). It names the files users mix up: SDXL, SD2 and inpainting checkpoints,
SD1.5 UNets in LDM or diffusers names, VAEs, AnimateDiff motion modules of other versions and
layouts, CLIP encoders, RAFT, and each Motion-I2V file.
"""

from __future__ import annotations

from dataclasses import dataclass

from .files import Shapes
from .sd15 import LDM_UNET_PREFIX, LDM_VAE_PREFIX

MOTION_KEY = ".motion_modules."
CONTROLNET_PREFIX = "controlnet."
SD2_TEXT_WIDTH = 1024
MOTION_POSITIONS = 32  # AnimateDiff v2's temporal position table (v1: 24)


@dataclass(frozen=True)
class Checkpoint:
    """A weight file's contents.

    ``description`` completes "the file is ...". ``kinds``: the kinds it loads as, what it is
    first (an animation UNet also gives an SD1.5 UNet and motion modules); empty for none of ours.
    ``layout``: "official" (the kind's own key names), "ldm" (a single-file SD checkpoint, several
    models under prefixes) or "ldm_bare" (an LDM UNet without prefix, as a ComfyUI MODEL holds it).
    """

    description: str
    kinds: tuple[str, ...] = ()
    layout: str = "official"

    @property
    def kind(self) -> str | None:
        return self.kinds[0] if self.kinds else None


UNKNOWN = Checkpoint("not a file Motion-I2V knows")
FLOW_UNET = Checkpoint("the Motion-I2V flow UNet (stage 1)", ("flow_unet",))
CONTROLNET = Checkpoint("the Motion-I2V trajectory ControlNet (controlnet.bin)", ("controlnet",))
MOTION_MODULES = Checkpoint("motion modules in the AnimateDiff-v2 layout (motion_block.bin, mm_sd_v15_v2.ckpt)",
                            ("motion_modules",))


def classify(shapes: Shapes) -> Checkpoint:
    """Which file ``shapes`` (key -> shape) come from; ``UNKNOWN`` when nothing matches."""
    keys = set(shapes)

    def has(prefix: str) -> bool:
        return any(key.startswith(prefix) for key in keys)

    if has("conditioner.") or has("add_embedding.") or any("label_emb." in key for key in keys):
        return Checkpoint("an SDXL checkpoint")
    if has(CONTROLNET_PREFIX) or has("controlnet_down_blocks."):
        return CONTROLNET
    if has("text_model.") or has("vision_model."):
        return Checkpoint("a CLIP model (a text encoder, or the safety checker)")
    if has("feature_encoder.") and has("update_block."):
        return Checkpoint("torchvision RAFT optical-flow weights")
    return _unet(shapes, has) or _vae(shapes, has) or (_motion_modules(shapes) if any(
        MOTION_KEY in key for key in keys) else UNKNOWN)


def _dim(shapes: Shapes, key: str, axis: int) -> int | None:
    shape = shapes.get(key, ())
    return shape[axis] if len(shape) > axis else None


def _unet(shapes: Shapes, has) -> Checkpoint | None:
    if has(LDM_UNET_PREFIX):
        layout, conv_in = "ldm", LDM_UNET_PREFIX + "input_blocks.0.0.weight"
    elif has("input_blocks.0.0."):
        layout, conv_in = "ldm_bare", "input_blocks.0.0.weight"
    elif "conv_in.weight" in shapes and has("down_blocks."):
        layout, conv_in = "official", "conv_in.weight"
    else:
        return None
    if any(shape[-1:] == (SD2_TEXT_WIDTH,) for key, shape in shapes.items() if key.endswith("attn2.to_k.weight")):
        return Checkpoint(f"an SD2.x checkpoint (text width {SD2_TEXT_WIDTH})")
    if layout == "official" and has("stride_embedding."):
        return FLOW_UNET
    channels = _dim(shapes, conv_in, 1)
    if channels not in (None, 4):
        return Checkpoint(f"an SD UNet with {channels} input channels (an inpainting or instruct model)")
    if layout == "ldm":
        kinds = ("sd_unet", "image_vae") if has(LDM_VAE_PREFIX) else ("sd_unet",)
        return Checkpoint("an SD1.5 checkpoint (LDM single-file layout)", kinds, layout)
    if layout == "ldm_bare":
        return Checkpoint("an SD1.5 UNet in LDM names (as a ComfyUI MODEL holds it)", ("sd_unet",), layout)
    if any(MOTION_KEY in key for key in shapes):
        return Checkpoint("a stage-2 animation UNet (an SD1.5 UNet with motion modules)",
                          ("animation_unet", "sd_unet", "motion_modules"))
    return Checkpoint("an SD1.5 UNet (diffusers layout, e.g. the release's StableDiffusion/unet or realistic_unet.ckpt)",
                      ("sd_unet",))


def _vae(shapes: Shapes, has) -> Checkpoint | None:
    prefix = LDM_VAE_PREFIX if has(LDM_VAE_PREFIX) else ""
    if prefix + "encoder.conv_in.weight" not in shapes or not has(prefix + "decoder."):
        return None
    layout = "ldm" if prefix else "official"
    channels = _dim(shapes, prefix + "encoder.conv_in.weight", 1)
    if channels == 2:
        return Checkpoint("the Motion-I2V 2-channel flow VAE (vae_flow)", ("flow_vae",), layout)
    if channels in (None, 3):
        return Checkpoint("an SD image VAE", ("image_vae",), layout)
    return Checkpoint(f"a VAE of {channels}-channel images")


def _motion_modules(shapes: Shapes) -> Checkpoint:
    motion = [key for key in shapes if MOTION_KEY in key]
    if not any(".temporal_transformer." in key for key in motion):
        return Checkpoint(f"motion modules in diffusers' MotionAdapter layout ({min(motion)}); Motion-I2V reads the "
                          f"original AnimateDiff-v2 layout")
    positions = {shape[1] for key, shape in shapes.items() if key.endswith(".pos_encoder.pe") and len(shape) > 1}
    if positions and positions != {MOTION_POSITIONS}:
        return Checkpoint(f"motion modules that encode {sorted(positions)} positions (AnimateDiff v1 has 24; "
                          f"Motion-I2V needs the v2 layout with {MOTION_POSITIONS})")
    if not any(key.startswith("mid_block.") for key in motion):
        return Checkpoint("motion modules with no mid-block motion module (an AnimateDiff v1/v3 file; Motion-I2V "
                          "needs the v2 layout)")
    return MOTION_MODULES
