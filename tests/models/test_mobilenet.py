"""`mobilenet`: MobileNet v1 1.0 224 computing what the TensorFlow reference graph computes (checked against ONNX
Runtime running the same weights with TensorFlow's SAME padding), loading the TensorFlow checkpoint's variables."""

from __future__ import annotations

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.mobilenet import mobilenet_v1, state_dict_from_tf

torch = pytest.importorskip("torch")

# (stride, output channels) of the 13 depthwise-separable blocks of MobileNet v1 1.0 (the paper's Table 1)
BLOCKS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5 + [(2, 1024), (1, 1024)]


def tf_variables() -> list[tuple[str, tuple[int, ...], int]]:
    """The TensorFlow-slim checkpoint's variables (name, HWIO shape), with each convolution's stride."""
    def bn(scope: str, channels: int) -> list[tuple[str, tuple[int, ...], int]]:
        return [(f"MobilenetV1/{scope}/BatchNorm/{v}", (channels,), 0)
                for v in ("beta", "gamma", "moving_mean", "moving_variance")]

    out = [("MobilenetV1/Conv2d_0/weights", (3, 3, 3, 32), 2), *bn("Conv2d_0", 32)]
    cin = 32
    for i, (stride, cout) in enumerate(BLOCKS, 1):
        out += [(f"MobilenetV1/Conv2d_{i}_depthwise/depthwise_weights", (3, 3, cin, 1), stride),
                *bn(f"Conv2d_{i}_depthwise", cin),
                (f"MobilenetV1/Conv2d_{i}_pointwise/weights", (1, 1, cin, cout), 1), *bn(f"Conv2d_{i}_pointwise", cout)]
        cin = cout
    return out + [("MobilenetV1/Logits/Conv2d_1c_1x1/weights", (1, 1, 1024, 1001), 1),
                  ("MobilenetV1/Logits/Conv2d_1c_1x1/biases", (1001,), 0)]


def random_checkpoint(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    variables = {}
    for name, shape, _ in tf_variables():
        fan_in = int(np.prod(shape[:2])) * (1 if "depthwise" in name else shape[2]) if len(shape) == 4 else 1
        value = rng.normal(0, np.sqrt(2 / fan_in), size=shape)
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2, size=shape)
        elif name.endswith(("gamma", "beta", "moving_mean")):
            value = rng.uniform(0.5, 1.5, size=shape) if name.endswith("gamma") else rng.normal(0, 0.1, shape)
        variables[name] = value.astype(np.float32)
    return variables


def test_registered_with_the_official_names() -> None:
    spec = MODELS.get("mobilenet")
    assert (spec.input_shape, spec.classes, spec.layout) == ((3, 224, 224), 1001, "NCHW")
    assert spec.input_name == "input:0" and spec.output_names == ("MobilenetV1/Predictions/Reshape_1:0",)
    assert len(tf_variables()) == 137
    params = sum(int(np.prod(shape)) for name, shape, _ in tf_variables() if "moving" not in name)
    # Keras' 1000-class MobileNet has 4,231,976 trainable parameters; one more class adds 1024 weights and a bias
    assert params == sum(p.numel() for p in mobilenet_v1().parameters()) == 4_231_976 + 1025


def test_checkpoint_variables_map_one_to_one() -> None:
    variables = random_checkpoint()
    model = mobilenet_v1()
    model.load_state_dict(state_dict_from_tf(variables, model), strict=True)
    dw = variables["MobilenetV1/Conv2d_3_depthwise/depthwise_weights"]  # (3, 3, 128, 1)
    np.testing.assert_array_equal(model.Conv2d_3_depthwise.conv.weight[5, 0].detach().numpy(), dw[:, :, 5, 0])
    pw = variables["MobilenetV1/Conv2d_3_pointwise/weights"]  # (1, 1, 128, 128)
    np.testing.assert_array_equal(model.Conv2d_3_pointwise.conv.weight[7, :, 0, 0].detach().numpy(), pw[0, 0, :, 7])
    np.testing.assert_array_equal(model.Conv2d_13_pointwise.bn.running_var.numpy(),
                                  variables["MobilenetV1/Conv2d_13_pointwise/BatchNorm/moving_variance"])
    del variables["MobilenetV1/Conv2d_7_pointwise/BatchNorm/gamma"]
    with pytest.raises(ConfigError, match="no variable 'MobilenetV1/Conv2d_7_pointwise/BatchNorm/gamma'"):
        state_dict_from_tf(variables, model)


def tf_graph_in_onnx(variables: dict[str, np.ndarray]) -> bytes:
    """The TensorFlow graph's computation written in ONNX, NHWC input as TensorFlow takes it: convolutions with
    SAME_UPPER padding (TensorFlow's SAME), batch norm with epsilon 0.001, ReLU6, average pool, 1x1 conv, softmax."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], [helper.make_node("Transpose", ["input:0"], ["x0"], perm=[0, 3, 1, 2])]
    x = "x0"
    for name, shape, stride in tf_variables():
        if len(shape) != 4:
            continue
        scope = name.rsplit("/", 1)[0]
        depthwise = name.endswith("depthwise_weights")
        kernel = variables[name].transpose(2, 3, 0, 1) if depthwise else variables[name].transpose(3, 2, 0, 1)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(kernel), scope + "/k"))
        conv_inputs = [x, scope + "/k"]
        if "Logits" in scope:
            inits.append(numpy_helper.from_array(variables[scope + "/biases"], scope + "/b"))
            nodes.append(helper.make_node("Conv", [*conv_inputs, scope + "/b"], ["logits"]))
            break
        nodes.append(helper.make_node("Conv", conv_inputs, [scope + "/c"], auto_pad="SAME_UPPER",
                                      strides=[stride, stride], group=shape[2] if depthwise else 1))
        bn = [f"{scope}/BatchNorm/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
        inits += [numpy_helper.from_array(variables[v], v) for v in bn]
        nodes.append(helper.make_node("BatchNormalization", [scope + "/c", *bn], [scope + "/n"], epsilon=1e-3))
        nodes.append(helper.make_node("Clip", [scope + "/n", "zero", "six"], [scope + "/r"]))
        x = scope + "/r"
        if scope.endswith("Conv2d_13_pointwise"):
            nodes.append(helper.make_node("AveragePool", [x], ["pooled"], kernel_shape=[7, 7]))
            x = "pooled"
    inits += [numpy_helper.from_array(np.float32(0), "zero"), numpy_helper.from_array(np.float32(6), "six")]
    nodes += [helper.make_node("Flatten", ["logits"], ["flat"]),
              helper.make_node("Softmax", ["flat"], ["MobilenetV1/Predictions/Reshape_1:0"], axis=1)]
    graph = helper.make_graph(nodes, "mobilenet_v1_tf", [helper.make_tensor_value_info(
        "input:0", TensorProto.FLOAT, [None, 224, 224, 3])], [helper.make_tensor_value_info(
            "MobilenetV1/Predictions/Reshape_1:0", TensorProto.FLOAT, [None, 1001])], initializer=inits)
    return bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


def test_computes_what_the_tensorflow_graph_computes() -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    variables = random_checkpoint(seed=1)
    model = mobilenet_v1().eval()
    model.load_state_dict(state_dict_from_tf(variables, model), strict=True)
    x = np.random.default_rng(2).uniform(-1, 1, size=(2, 224, 224, 3)).astype(np.float32)
    session = ort.InferenceSession(tf_graph_in_onnx(variables), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"input:0": x})
    with torch.no_grad():
        got = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    assert got.shape == (2, 1001)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)
    # log-probabilities: the network is deep and random, so compare them, not the tiny probabilities
    np.testing.assert_allclose(np.log(got + 1e-30), np.log(expected + 1e-30), atol=2e-3)
    assert (got.argmax(1) == expected.argmax(1)).all()
