"""`podium infer resnet50|mobilenet` end to end on small ONNX graphs carrying the official graphs' input and output
names and shapes: MLPerf's `resnet50_v1.onnx` (input `input_tensor:0`; outputs `ArgMax:0` (N,) int64 then
`softmax_tensor:0` (N, 1001), with a background class 0), a 1000-class logits graph, a 1001-class logits graph,
and `mobilenet_v1_1.0_224.onnx` (input `input:0`, NCHW after the reference's tf2onnx `--inputs-as-nchw`; output
`MobilenetV1/Predictions/Reshape_1:0` (N, 1001) softmax). Images in the official `val_map.txt` layout are each
dominated by one colour channel, and a graph answers a class per channel (global average pool, then a matrix
product), so the planted labels are what the whole chain must give: decoding, BGR->RGB, preprocessing, the graph
form's output and background offset, the float32 class-id encoding and the top-1 metric.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from podium.cli import main

cv2 = pytest.importorskip("cv2")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CLASS_OF_CHANNEL = (281, 417, 9)  # R, G, B -> an ImageNet class id (0-based, as val_map.txt counts)
COUNT = 8


def write_val(root: Path) -> Path:
    """COUNT images of varied sizes, each mostly red, green or blue, and val_map.txt with their planted class."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True)
    lines = []
    for i in range(COUNT):
        channel = i % 3
        height, width = (int(v) for v in rng.integers(150, 400, size=2))
        rgb = rng.integers(0, 40, size=(height, width, 3))
        rgb[..., channel] = rng.integers(200, 256, size=(height, width))
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        cv2.imwrite(str(root / name), rgb[..., ::-1].astype(np.uint8))  # OpenCV writes BGR
        lines.append(f"{name} {CLASS_OF_CHANNEL[channel]}\n")
    (root / "val_map.txt").write_text("".join(lines))
    return root


def channel_classifier(path: Path, input_name: str, classes: int, offset: int, *, argmax: str | None = None,
                       softmax: str | None = None, logits: str | None = None) -> Path:
    """An NCHW graph: the per-channel means (GlobalAveragePool) times a (3, classes) matrix whose column
    CLASS_OF_CHANNEL[c] + offset is channel c. It answers, in this order, those of `argmax` (an ArgMax over the
    softmax, int64 (N,), as the official `ArgMax:0`), `softmax` and `logits` (N, classes) that are named."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((3, classes), np.float32)
    for channel, cls in enumerate(CLASS_OF_CHANNEL):
        weights[channel, cls + offset] = 1.0
    nodes = [helper.make_node("GlobalAveragePool", [input_name], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["means"]),
             helper.make_node("MatMul", ["means", "weights"], [logits or "scores"]),
             helper.make_node("Softmax", [logits or "scores"], [softmax or "probabilities"], axis=1),
             helper.make_node("ArgMax", [softmax or "probabilities"], [argmax or "class_id"], axis=1, keepdims=0)]
    outputs = [helper.make_tensor_value_info(argmax, TensorProto.INT64, ["N"])] if argmax else []
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", classes])
                for name in (softmax, logits) if name]
    graph = helper.make_graph(nodes, "channel_classifier",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, 224, 224])],
                              outputs, initializer=[numpy_helper.from_array(weights, "weights")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def infer(benchmark: str, model: Path, val: Path, out: Path, *extra: str) -> tuple[int, str]:
    """`podium infer` in accuracy mode on the COUNT images; (exit code, the accuracy.txt line)."""
    code = main(["infer", benchmark, "--model", str(model), "--dataset-path", str(val), "--scenario", "Offline",
                 "--mode", "accuracy", "--short", "--count", str(COUNT), "--out", str(out), *extra])
    lines = [p.read_text().strip() for p in out.rglob("accuracy.txt")]
    assert len(lines) == 1, (code, lines)
    return code, lines[0]


GRAPHS = {  # name: (benchmark, input name, classes, offset, named outputs)
    "resnet50_v1.onnx": ("resnet50", "input_tensor:0", 1001, 1,
                         {"argmax": "ArgMax:0", "softmax": "softmax_tensor:0"}),
    "resnet50-logits-1000.onnx": ("resnet50", "input_tensor:0", 1000, 0, {"logits": "output"}),
    "resnet50-logits-1001.onnx": ("resnet50", "image", 1001, 1, {"logits": "logits"}),
    "mobilenet_v1_1.0_224.onnx": ("mobilenet", "input:0", 1001, 1,
                                  {"softmax": "MobilenetV1/Predictions/Reshape_1:0"}),
    "mobilenet-logits-1000.onnx": ("mobilenet", "input", 1000, 0, {"logits": "logits"}),
}


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_official_graph_forms_score_the_planted_labels(graph: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    benchmark, input_name, classes, offset, outputs = GRAPHS[graph]
    model = channel_classifier(tmp_path / graph, input_name, classes, offset, **outputs)
    code, line = infer(benchmark, model, write_val(tmp_path / "val"), tmp_path / "out", "--reference-accuracy", "1")
    assert line == f"accuracy=100.000%, good={COUNT}, total={COUNT}", line
    assert code == 0
    # the accuracy log read as the official accuracy-imagenet.py reads it by default: one float32 class id
    (log,) = (tmp_path / "out").rglob("mlperf_log_accuracy.json")
    labels = [int(line.split()[1]) for line in (tmp_path / "val" / "val_map.txt").read_text().splitlines()]
    found = {e["qsl_idx"]: int(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0])
             for e in json.loads(log.read_text())}
    assert found == dict(enumerate(labels))


def test_a_graph_without_the_background_offset_scores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """A 1001-class graph whose classes are not shifted by the background class is read as one (ids - 1): every
    answer is one off, so the chain above cannot pass by accident."""
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    model = channel_classifier(tmp_path / "g.onnx", "input_tensor:0", 1001, 0, argmax="ArgMax:0",
                               softmax="softmax_tensor:0")
    code, line = infer("resnet50", model, write_val(tmp_path / "val"), tmp_path / "out", "--reference-accuracy",
                       "1")
    assert re.fullmatch(rf"accuracy=0\.000%, good=0, total={COUNT}", line), line
    assert code == 1
