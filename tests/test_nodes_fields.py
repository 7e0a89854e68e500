"""Motion-field nodes as ComfyUI calls them: camera, edit, visualise, warp preview, save and load."""

import shutil
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from comfy_harness import ValidationError, call_node, check_node_class
from safetensors.torch import save_file

NODE_IDS = (
    "MotionI2VCameraMotion",
    "MotionI2VEditMotionField",
    "MotionI2VVisualizeMotionField",
    "MotionI2VWarpPreview",
    "MotionI2VSaveMotionField",
    "MotionI2VLoadMotionField",
)
F, H, W = 4, 16, 24


@pytest.fixture
def nodes(pack):
    return {node_id: pack.NODE_CLASS_MAPPINGS[node_id] for node_id in NODE_IDS}


@pytest.fixture
def field_type(pack):
    return sys.modules[f"{pack.__name__}.motion_i2v.flow"].MotionField


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTION_I2V_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("MOTION_I2V_INPUT", str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    return tmp_path


def _pan(field_type, dx=3.0, frames=F):
    flow = torch.zeros(frames, 2, H, W)
    flow[:, 0] = dx * torch.arange(frames, dtype=torch.float32).view(frames, 1, 1) / (frames - 1)
    return field_type(flow)


def _camera(nodes, **inputs):
    defaults = dict(preset="pan_x", amount=6.0, easing="linear", frames=F, width=W, height=H, center_x=0.5, center_y=0.5)
    return call_node(nodes["MotionI2VCameraMotion"], **{**defaults, **inputs})[0]


def test_every_node_meets_the_contract(nodes):
    for cls in nodes.values():
        check_node_class(cls)
    assert nodes["MotionI2VSaveMotionField"].OUTPUT_NODE is True


def test_camera_builds_the_preset_at_the_widget_size(nodes):
    field = _camera(nodes, preset="zoom_in", amount=2.0, width=W, height=H, center_x=0.0, center_y=0.0)
    assert field.flow.shape == (F, 2, H, W)
    assert torch.allclose(field.flow[-1, :, 3, 5], torch.tensor([5.0, 3.0]))  # (2 - 1) * ((5, 3) - (0, 0))


def test_camera_takes_the_image_size_and_composes_after_a_field(nodes, field_type):
    image = torch.rand(1, H, W, 3)
    assert _camera(nodes, image=image, width=64, height=64).flow.shape == (F, 2, H, W)
    scene = _pan(field_type, dx=3.0, frames=6)
    total = _camera(nodes, motion_field=scene, frames=99, amount=-1.0)
    assert total.flow.shape == (6, 2, H, W)  # frames and size from the field
    assert torch.allclose(total.flow[-1, 0], torch.full((H, W), 2.0))  # 3 + (-1)
    with pytest.raises(ValueError, match="image: the image is 32x16 but the motion field is 24x16"):
        _camera(nodes, motion_field=scene, image=torch.rand(1, H, 32, 3))
    with pytest.raises(ValueError, match="scale factor > 0"):
        _camera(nodes, preset="zoom_out", amount=0.0)


def _edit(nodes, field, operation, **inputs):
    defaults = dict(factor=1.0, frames=F)
    return call_node(nodes["MotionI2VEditMotionField"], motion_field=field, operation=operation, **{**defaults, **inputs})[0]


def test_edit_operations(nodes, field_type):
    pan = _pan(field_type)
    assert torch.allclose(_edit(nodes, pan, "scale", factor=2.0).flow, 2 * pan.flow)
    assert torch.allclose(_edit(nodes, pan, "negate").flow, -pan.flow)
    assert _edit(nodes, pan, "resample", frames=7).flow.shape == (7, 2, H, W)
    assert torch.allclose(_edit(nodes, pan, "add", other=pan).flow, 2 * pan.flow)
    assert torch.allclose(_edit(nodes, pan, "blend", factor=0.5, other=_pan(field_type, dx=5.0)).flow[-1, 0], torch.full((H, W), 4.0))
    assert torch.allclose(_edit(nodes, pan, "compose", other=pan).flow, 2 * pan.flow, atol=1e-5)
    looped = _edit(nodes, pan, "ping_pong").flow
    assert looped.shape == pan.flow.shape and looped[0].abs().max() == 0


def test_edit_masks_one_or_per_frame_and_keeps_reliability_only_in_place(nodes, field_type):
    pan = field_type(_pan(field_type).flow, torch.ones(F, H, W))
    mask = torch.zeros(1, H, W)
    mask[:, :, : W // 2] = 1
    masked = _edit(nodes, pan, "mask", mask=mask)
    assert masked.flow[-1, 0, 0, 0] == 3 and masked.flow[-1, 0, 0, -1] == 0
    assert masked.reliability is not None
    per_frame = torch.linspace(0, 1, F).view(F, 1, 1).expand(F, H, W)
    assert torch.allclose(_edit(nodes, pan, "mask", mask=per_frame).flow[-1, 0], torch.full((H, W), 3.0))
    assert _edit(nodes, pan, "reverse").reliability is None


@pytest.mark.parametrize(
    "operation,inputs,message",
    [
        ("blend", {}, "needs the second motion field"),
        ("mask", {}, "needs a mask"),
        ("mask", {"mask": torch.ones(1, H, W + 1)}, "the mask is 25x16 but the image is 24x16"),
        ("mask", {"mask": torch.ones(3, H, W)}, "one per frame"),
        ("smooth", {"factor": -1.0}, "smoothing sigma"),
    ],
)
def test_edit_refuses_missing_or_mismatched_inputs(nodes, field_type, operation, inputs, message):
    with pytest.raises(ValueError, match=message):
        _edit(nodes, _pan(field_type), operation, **inputs)


def test_add_refuses_fields_of_another_shape(nodes, field_type):
    with pytest.raises(ValueError, match="add: the motion fields differ in shape"):
        _edit(nodes, _pan(field_type), "add", other=_pan(field_type, frames=5))


def test_visualize_outputs_colours_arrows_and_legend(nodes, field_type):
    visualize = nodes["MotionI2VVisualizeMotionField"]
    inputs = dict(motion_field=_pan(field_type), max_magnitude=0.0, arrow_spacing=8, arrow_scale=1.0, legend_size=32)
    colors, arrows, legend = call_node(visualize, **inputs)
    assert colors.shape == arrows.shape == (F, H, W, 3) and legend.shape == (1, 32, 32, 3)
    assert torch.allclose(colors[-1, 0, 0], torch.tensor([1.0, 0, 0]))  # +x at the largest length = red
    assert torch.equal(colors[0], torch.ones(H, W, 3))  # frame 0 still = white
    on_image = call_node(visualize, **inputs, image=torch.full((1, H, W, 3), 0.25))[1]
    # Arrows are drawn on 8-bit pictures: a still frame is the image to within 1/255.
    assert torch.allclose(on_image[0], torch.full((H, W, 3), 0.25), atol=1 / 255)
    assert (on_image[-1] - on_image[0]).abs().max() > 0.2
    with pytest.raises(ValueError, match="image: the image is 8x8 but the motion field is 24x16"):
        call_node(visualize, **inputs, image=torch.zeros(1, 8, 8, 3))


def test_warp_preview_moves_the_image(nodes, field_type):
    preview = nodes["MotionI2VWarpPreview"]
    image = torch.rand(2, H, W, 3, generator=torch.Generator().manual_seed(0))
    (frames,) = call_node(preview, image=image, motion_field=_pan(field_type, dx=3.0))
    assert frames.shape == (F, H, W, 3)
    assert torch.allclose(frames[0], image[0], atol=1e-6)  # the first image of the batch
    assert torch.allclose(frames[-1, :, 3:], image[0, :, :-3], atol=1e-6)
    with pytest.raises(ValueError, match="image: the image is 20x16 but the motion field is 24x16"):
        call_node(preview, image=torch.rand(1, H, 20, 3), motion_field=_pan(field_type))


def test_save_numbers_files_and_load_reads_them_back(nodes, field_type, folders):
    save, load = nodes["MotionI2VSaveMotionField"], nodes["MotionI2VLoadMotionField"]
    field = _pan(field_type)
    first = call_node(save, motion_field=field, filename_prefix="fields/pan")
    second = call_node(save, motion_field=field, filename_prefix="fields/pan")
    assert first[0] is field
    assert first.ui == {"motion_fields": [{"filename": "pan_00001_.safetensors", "subfolder": "fields", "type": "output"}]}
    assert second.ui["motion_fields"][0]["filename"] == "pan_00002_.safetensors"
    shutil.copytree(folders / "output" / "fields", folders / "input" / "saved")
    assert load.INPUT_TYPES()["required"]["field_file"][0] == ["saved/pan_00001_.safetensors", "saved/pan_00002_.safetensors"]
    (loaded,) = call_node(load, field_file="saved/pan_00002_.safetensors")
    assert torch.equal(loaded.flow, field.flow)
    assert load.IS_CHANGED("saved/pan_00002_.safetensors")


def test_save_and_load_refuse_bad_paths_and_foreign_files(nodes, field_type, folders):
    save, load = nodes["MotionI2VSaveMotionField"], nodes["MotionI2VLoadMotionField"]
    with pytest.raises(ValueError, match="leads outside the output folder"):
        call_node(save, motion_field=_pan(field_type), filename_prefix="../escape/pan")
    save_file({"weight": torch.zeros(3)}, str(folders / "input" / "model.safetensors"))
    with pytest.raises(ValueError, match="not a Motion-I2V motion field"):
        call_node(load, field_file="model.safetensors")
    assert "is not in the input folder" in load.VALIDATE_INPUTS("gone.safetensors")
    assert "leads outside the input folder" in load.VALIDATE_INPUTS("../x.safetensors")
    with pytest.raises(ValidationError):
        call_node(load, field_file="gone.safetensors")


class Cancelled(Exception):
    pass


@pytest.fixture
def cancel_after(pack, monkeypatch):
    """ComfyUI's interrupt check as the adapter reaches it: lets ``calls`` checks pass, then raises (Cancel)."""
    adapter = sys.modules[f"{pack.__name__}.nodes.comfy"]
    made = []

    def arm(calls: int):
        made.clear()

        def check():
            made.append(1)
            if len(made) > calls:
                raise Cancelled

        monkeypatch.setattr(adapter, "_mm", SimpleNamespace(throw_exception_if_processing_interrupted=check,
                                                            intermediate_device=lambda: torch.device("cpu")))
        return made

    return arm


def test_visualize_refuses_a_nan_arrow_scale_at_once(nodes, field_type):
    # NaN passes ComfyUI's min/max check; PIL then spent ~3 s per arrow (hours at 512x320x16) and ignored Cancel
    started = time.perf_counter()
    with pytest.raises(ValueError, match="arrow scale: expected a finite number > 0"):
        call_node(nodes["MotionI2VVisualizeMotionField"], motion_field=_pan(field_type), max_magnitude=0.0,
                  arrow_spacing=4, arrow_scale=float("nan"), legend_size=16)
    assert time.perf_counter() - started < 1
    with pytest.raises(ValueError, match="max_magnitude: expected a finite number > 0"):
        call_node(nodes["MotionI2VVisualizeMotionField"], motion_field=_pan(field_type), max_magnitude=float("nan"),
                  arrow_spacing=4, arrow_scale=1.0, legend_size=16)


def test_visualize_and_warp_preview_stop_when_cancelled(nodes, field_type, cancel_after):
    made = cancel_after(3)
    with pytest.raises(Cancelled):
        call_node(nodes["MotionI2VVisualizeMotionField"], motion_field=_pan(field_type, frames=8), max_magnitude=0.0,
                  arrow_spacing=4, arrow_scale=1.0, legend_size=16)
    assert len(made) == 4  # the colours (one group), then the first rows of arrows: not all 8 x 4 rows
    made = cancel_after(0)
    with pytest.raises(Cancelled):
        call_node(nodes["MotionI2VWarpPreview"], image=torch.rand(1, H, W, 3), motion_field=_pan(field_type))
    assert len(made) == 1


def test_camera_limits_and_memory(nodes, pack, monkeypatch):
    required = nodes["MotionI2VCameraMotion"].INPUT_TYPES()["required"]
    assert (required["frames"][1]["max"], required["width"][1]["max"], required["height"][1]["max"]) == (256, 4096, 4096)
    with pytest.raises(ValidationError, match="width=8192 bigger than max 4096"):
        _camera(nodes, width=8192)
    with pytest.raises(ValueError, match=r"camera motion frames: expected an integer in 1\.\.256, got 1024"):
        nodes["MotionI2VCameraMotion"]().build("pan_x", 1.0, "linear", 1024, W, H, 0.5, 0.5)
    memory = sys.modules[f"{pack.__name__}.motion_i2v.memory"]
    monkeypatch.setattr(memory, "ram_available", lambda: 8 * 2**30)
    # 5 x 256 x 2 x 4096 x 2048 x 4 bytes: the widgets' maxima no longer ask for 8-512 GiB unchecked
    with pytest.raises(memory.NotEnoughMemory, match=r"camera motion \(256 frames at 2048x4096\): needs about 80\.0 "
                                                     r"GiB of RAM, but 8\.0 GiB is available"):
        _camera(nodes, frames=256, width=2048, height=4096)
    with pytest.raises(ValueError, match=r"camera centre x: expected a finite number, got nan"):
        _camera(nodes, preset="rotate", center_x=float("nan"))


def test_edit_refuses_operations_that_are_not_in_the_list(nodes, field_type):
    for operation in (3, "Scale", None):
        with pytest.raises(ValueError, match=r"operation: expected one of \['scale', "):
            nodes["MotionI2VEditMotionField"]().apply(_pan(field_type), operation, 1.0, F)


@pytest.mark.parametrize("prefix, message", [
    ("motion\0field", "filename_prefix: expected a file name"),
    ("x" * 300, "is 300 bytes long; file systems allow 200 here"),
    ("folder/" + "é" * 150 + "/field", "is 300 bytes long"),
    (7, "filename_prefix: expected a file name, optionally with folders, got 7"),
])
def test_save_refuses_prefixes_no_file_system_takes(nodes, field_type, folders, prefix, message):
    with pytest.raises(ValueError, match=message):
        nodes["MotionI2VSaveMotionField"]().save(_pan(field_type), prefix)
    assert not (folders / "output").exists() or not any((folders / "output").rglob("*.safetensors"))


def test_load_refuses_a_field_file_that_is_not_a_string(nodes, folders):
    load = nodes["MotionI2VLoadMotionField"]
    # ComfyUI skips its list check for inputs VALIDATE_INPUTS takes; this used to be "'int' object has no attribute"
    assert load.VALIDATE_INPUTS(5) == "field_file: expected the name of a .safetensors file in the input folder, got 5"
    with pytest.raises(ValueError, match="got 5"):
        load().load(5)


def test_images_with_nan_or_one_channel(nodes, field_type):
    image = torch.rand(1, H, W, 3)
    image[0, 2, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="image: contains NaN or infinite values"):
        call_node(nodes["MotionI2VWarpPreview"], image=image, motion_field=_pan(field_type))
    (frames,) = call_node(nodes["MotionI2VWarpPreview"], image=torch.rand(1, H, W, 1), motion_field=_pan(field_type))
    assert frames.shape == (F, H, W, 3)
