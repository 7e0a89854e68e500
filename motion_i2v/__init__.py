"""Motion-I2V engine: motion fields, trajectories, models and pipelines in plain torch.

Nothing in this package imports ComfyUI; the node adapters in ``nodes/`` do that.
Tensor layouts are written with the letters B (batch), C (channels), F (frames), H, W.
"""

__version__ = "0.1.0"
