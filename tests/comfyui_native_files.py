"""Write the files the native workflows load beyond the tiny model set, for the tiny checkpoint's UNet.

Run with ComfyUI's Python from a ComfyUI folder (the parts are built with ComfyUI's own classes by
tests/host/native_kit.py, as the in-process native tests build theirs):

    cd $COMFYUI_DIR && $PYTHON /path/to/tests/comfyui_native_files.py MODELS [--loras NAME]... \\
        [--controlnet NAME]... [--motion-modules PATH]

Under MODELS (ComfyUI's models folder layout): a random LoRA at ``loras/NAME`` and a random ControlNet at
``controlnet/NAME`` for the UNet of ``tests/comfyui_tiny_sd15.py``'s checkpoint, and random motion modules of
``motion_i2v/configs/comfy_tiny`` (which fit that UNet; the tiny set's fit its own, smaller UNet) at
``motion_i2v/PATH``, with their config.json beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--loras", action="append", default=[], help="a LoRA's file name under loras/")
    parser.add_argument("--controlnet", action="append", default=[], help="a ControlNet's file name under controlnet/")
    parser.add_argument("--motion-modules", help="the motion modules' path under motion_i2v/")
    args = parser.parse_args(argv)
    sys.path[:0] = [os.getcwd(), str(TESTS), str(TESTS.parent)]
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # as `main.py --cpu`: build on the CPU whatever the machine
    from host import native_kit

    for name in args.loras:
        (args.models / "loras").mkdir(parents=True, exist_ok=True)
        native_kit.write_lora(args.models / "loras", native_kit.sd15_model(native_kit.unet_state()), name)
    for name in args.controlnet:
        (args.models / "controlnet").mkdir(parents=True, exist_ok=True)
        native_kit.write_controlnet(args.models / "controlnet", name)
    if args.motion_modules:
        path = args.models / "motion_i2v" / args.motion_modules
        path.parent.mkdir(parents=True, exist_ok=True)
        native_kit.write_motion_modules(path.parent, native_kit.motion_state(), path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
