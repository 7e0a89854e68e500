"""Weight files: every kind of network we load, how each is recognised, configured, converted and loaded.

Modules, each one concept (nothing is registered at import time):

- ``files``: reading tensors, shapes and metadata of safetensors and torch pickles; writing re-saves.
- ``kinds``: the table of kinds (both stages, the image VAE, the SD1.5 base): build, key names, release paths.
- ``classify``: what a file holds, from its keys and shapes (for ``convert`` and for error messages).
- ``sd15``: SD1.5 LDM single-file key names -> diffusers names (UNet and VAE).
- ``configs``: bundled configs, and the config that goes with a weight file.
- ``loader``: strict loading: recognise, check key for key, materialise.
- ``animator``: the stage-2 animation UNet stacked from an SD1.5 base and motion modules.
- ``release``: finding files by their place in the release layout.
"""
