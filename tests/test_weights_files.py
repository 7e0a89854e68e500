"""Reading and writing weight files: both formats, safe unpickling, errors that name the slot and the file."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from motion_i2v.weights.files import read_metadata, read_shapes, read_state_dict, save_state_dict


def test_shapes_come_from_the_header_or_the_pickle(tmp_path):
    weights = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4)}
    save_file(weights, tmp_path / "w.safetensors")
    torch.save({"state_dict": weights}, tmp_path / "w.ckpt")  # a Lightning-style wrapper is unwrapped
    assert read_shapes(tmp_path / "w.safetensors", slot="test") == {"a": (2, 3), "b": (4,)}
    assert read_shapes(tmp_path / "w.ckpt", slot="test") == {"a": (2, 3), "b": (4,)}
    assert torch.equal(read_state_dict(tmp_path / "w.ckpt", slot="test")["a"], weights["a"])


def test_metadata_round_trip(tmp_path):
    path = save_state_dict({"a": torch.zeros(1)}, tmp_path / "w.safetensors", {"motion_i2v_kind": "flow_vae"})
    assert read_metadata(path, slot="test") == {"motion_i2v_kind": "flow_vae"}
    assert read_metadata(save_state_dict({"a": torch.zeros(1)}, tmp_path / "w.bin"), slot="test") == {}


def test_truncated_and_garbage_files_name_the_slot_and_the_file(tmp_path):
    good = save_state_dict({"a": torch.zeros(4096)}, tmp_path / "good.bin")
    for name, content in (("truncated.bin", good.read_bytes()[:4096]), ("noise.safetensors", b"\x00" * 64),
                          ("text.bin", b"not a checkpoint")):
        (tmp_path / name).write_bytes(content)
        for read in (read_state_dict, read_shapes):
            with pytest.raises(ValueError, match=rf"flow_vae: .*{name}: not a readable checkpoint"):
                read(tmp_path / name, slot="flow_vae")
    with pytest.raises(ValueError, match=r"sd_unet: .*noise\.safetensors: not a readable"):
        read_metadata(tmp_path / "noise.safetensors", slot="sd_unet")
    with pytest.raises(FileNotFoundError, match=r"motion_modules: weight file .*absent\.bin does not exist"):
        read_state_dict(tmp_path / "absent.bin", slot="motion_modules")


class Payload:
    """Anything but tensors: weights_only=True must refuse to unpickle it."""


def test_pickles_are_read_with_weights_only(tmp_path):
    path = tmp_path / "evil.bin"
    torch.save({"weight": Payload()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_state_dict(path, slot="test")
    with open(tmp_path / "plain.bin", "wb") as handle:
        pickle.dump({"weight": [1, 2]}, handle, protocol=2)
    with pytest.raises(ValueError, match=r"test: .*plain\.bin: (not a readable|expected a dictionary of tensors)"):
        read_state_dict(tmp_path / "plain.bin", slot="test")
