"""The `3d-unet` model: declared as the official graph (input "input", output "output", 128^3 patches, 3 classes);
its state dict has the reference checkpoint's keys and shapes (pytorch_checkpoint_SUT.py's `Unet3D`); the published
checkpoint's wrapping loads strictly; the forward takes small patches; it exports to ONNX and runs there alike."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.unet3d import state_dict_from, unet3d

torch = pytest.importorskip("torch")

# Keys and shapes of the reference's Unet3D (filters 32, 64, 128, 256, 320): a sample of each kind of block.
REFERENCE_SHAPES = {
    "input_block.conv1.0.weight": (32, 1, 3, 3, 3),
    "input_block.conv1.1.weight": (32,),
    "input_block.conv1.1.bias": (32,),
    "input_block.conv2.0.weight": (32, 32, 3, 3, 3),
    "downsample.0.conv1.0.weight": (64, 32, 3, 3, 3),
    "downsample.3.conv2.0.weight": (320, 320, 3, 3, 3),
    "bottleneck.conv1.0.weight": (320, 320, 3, 3, 3),
    "bottleneck.conv2.1.bias": (320,),
    "upsample.0.upsample_conv.0.weight": (320, 320, 2, 2, 2),  # ConvTranspose3d: (in, out, k, k, k)
    "upsample.0.upsample_conv.0.bias": (320,),
    "upsample.0.conv1.0.weight": (320, 640, 3, 3, 3),
    "upsample.1.upsample_conv.0.weight": (320, 256, 2, 2, 2),
    "upsample.4.upsample_conv.0.weight": (64, 32, 2, 2, 2),
    "upsample.4.conv1.0.weight": (32, 64, 3, 3, 3),
    "upsample.4.conv2.1.weight": (32,),
    "output.conv.0.weight": (3, 32, 1, 1, 1),
    "output.conv.0.bias": (3,),
}
# input block 6 + 4 downsampling blocks x 6 + bottleneck 6 + 5 upsampling blocks x 8 + output 2
REFERENCE_TENSORS = 78


@pytest.fixture(scope="module")
def net() -> object:
    torch.manual_seed(0)
    return unet3d().eval()


def test_declared_as_the_official_graph() -> None:
    model = MODELS.get("3d-unet")
    assert model.input_shape == (1, 128, 128, 128) and model.classes == 3
    assert (model.input_name, model.output_names, model.layout) == ("input", ("output",), "NCDHW")
    assert model.reference == "podium.models.unet3d:unet3d"


def test_state_dict_has_the_reference_keys_and_shapes(net: object) -> None:
    state = net.state_dict()  # type: ignore[attr-defined]
    assert len(state) == REFERENCE_TENSORS
    assert {k: tuple(state[k].shape) for k in REFERENCE_SHAPES} == REFERENCE_SHAPES
    # 3x3x3 convolutions before an instance norm have no bias; instance norms keep no running statistics
    assert "input_block.conv1.0.bias" not in state and not any("running" in k for k in state)


def test_forward_on_a_small_patch(net: object) -> None:
    x = torch.randn(1, 1, 32, 64, 64)
    with torch.no_grad():
        y = net(x)  # type: ignore[operator]
    assert tuple(y.shape) == (1, 3, 32, 64, 64) and y.dtype == torch.float32


def test_reference_checkpoint_loads_strictly(net: object) -> None:
    state = net.state_dict()  # type: ignore[attr-defined]
    published = {"best_model_state_dict": state, "best_optimizer_state_dict": {"state": {}}, "seed": 1,
                 "last_model_state_dict": {"module.x": torch.zeros(1)}, "mean_dice": 0.86}
    fresh = unet3d()
    fresh.load_state_dict(state_dict_from(published), strict=True)
    assert torch.equal(fresh.state_dict()["output.conv.0.weight"], state["output.conv.0.weight"])


def test_parallel_prefix_and_bare_output_layer_load(net: object) -> None:
    state = net.state_dict()  # type: ignore[attr-defined]
    later = {("output.conv.weight" if k == "output.conv.0.weight" else
              "output.conv.bias" if k == "output.conv.0.bias" else k): v for k, v in state.items()}
    wrapped = {"state_dict": {f"module.{k}": v for k, v in later.items()}}
    unet3d().load_state_dict(state_dict_from(wrapped), strict=True)


def test_checkpoint_without_state_dict_is_refused() -> None:
    with pytest.raises(ConfigError, match="holds no state dict"):
        state_dict_from({"best_model_state_dict": {}})
    with pytest.raises(ConfigError, match="holds no state dict"):
        state_dict_from([1, 2])


def test_onnx_export_runs_alike(net: object, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    x = torch.randn(1, 1, 32, 64, 64)
    path = tmp_path / "unet3d.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on instance norm's shape checks
        torch.onnx.export(net, (x,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    with torch.no_grad():
        expected = net(x).numpy()  # type: ignore[operator]
    got = session.run(["output"], {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_narrow_filters_give_a_small_network_of_the_same_shape() -> None:
    small = unet3d(filters=(4, 8, 8, 16, 16)).eval()
    reference_keys = set(REFERENCE_SHAPES)
    assert len(small.state_dict()) == REFERENCE_TENSORS and reference_keys <= set(small.state_dict())
    with torch.no_grad():
        assert tuple(small(torch.zeros(1, 1, 64, 64, 32)).shape) == (1, 3, 64, 64, 32)
