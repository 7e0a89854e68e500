"""Finding weight files by their place in the release layout, from any folder of it; re-saves first."""

from __future__ import annotations

import pytest

from motion_i2v.weights.files import save_state_dict
from motion_i2v.weights.kinds import REALISTIC_UNET_FILE
from motion_i2v.weights.release import locate_files, release_names

STAGE1 = "models/stage1/StableDiffusion-FlowGen"


def test_files_are_found_from_any_folder_of_the_layout(tiny_models):
    root = tiny_models.root
    for start in (root, root / "models", root / STAGE1):
        assert locate_files(start) == tiny_models.files
    with pytest.raises(FileNotFoundError, match="does not exist"):
        locate_files(root / "absent")


def test_a_resave_wins_over_the_pickle(tmp_path, tiny_models):
    pickle = tmp_path / STAGE1 / "vae_flow/diffusion_pytorch_model.bin"
    save_state_dict({}, pickle)
    assert locate_files(tmp_path) == {"flow_vae": pickle}
    resave = save_state_dict({}, pickle.with_suffix(".safetensors"))
    assert locate_files(tmp_path / STAGE1) == {"flow_vae": resave}


def test_release_names_list_resaves_first():
    assert release_names("sd_unet") == (  # the demo's base first
        REALISTIC_UNET_FILE.replace(".ckpt", ".safetensors"), REALISTIC_UNET_FILE,
        "models/stage2/StableDiffusion/unet/diffusion_pytorch_model.safetensors",
        "models/stage2/StableDiffusion/unet/diffusion_pytorch_model.bin")
    assert release_names("animation_unet") == ()  # no file of its own in the release
