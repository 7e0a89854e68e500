"""Sub-commands of ``python -m motion_i2v``."""
