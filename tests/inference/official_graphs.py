"""Small ONNX graphs with the input and output names, dtypes and shapes of MLPerf's official vision graphs.

Each computes almost nothing (a mean, a 1x1 convolution, constants scaled by it), so that a test can serve every
benchmark in every scenario in seconds, through the same harness, datasets, graph forms, post-processing, response
encodings and metrics as the real graphs. The names and shapes are the official files' (main.py's
SUPPORTED_PROFILES of mlcommons/inference vision/classification_and_detection; 3d-unet-kits19's ONNX SUT):

- resnet50_v1.onnx: `input_tensor:0` (N, 3, 224, 224) -> `ArgMax:0` int64 (N,), `softmax_tensor:0` (N, 1001)
- mobilenet_v1_1.0_224.onnx: `input:0` (N, 3, 224, 224) -> `MobilenetV1/Predictions/Reshape_1:0` (N, 1001)
- ssd_mobilenet_v1_coco_2018_01_28.onnx: `image_tensor:0` uint8 (N, 300, 300, 3) -> `num_detections:0` (N,),
  `detection_boxes:0` (N, 100, 4), `detection_scores:0` (N, 100), `detection_classes:0` (N, 100)
- resnet34-ssd1200.onnx: `image` (N, 3, 1200, 1200) -> `bboxes` (N, 200, 4), `labels` int64 (N, 200),
  `scores` (N, 200)
- resnext50_32x4d_fpn.onnx: `images` (1, 3, 800, 800) -> `boxes` (K, 4), `scores` (K,), `labels` int64 (K,)
- 3dunet_kits19_128x128x128.onnx: `input` (N, 1, 128, 128, 128) -> `output` (N, 3, 128, 128, 128); here with a
  smaller static patch (the predictor takes the graph's own).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPSET = 13
DETECTIONS = 3  # detections that score above every threshold; the rest of the fixed-size outputs score 0


def _save(nodes: list, name: str, inputs: list, outputs: list, initializers: list, path: Path) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _ones_per_image(input_name: str, nodes: list, *, cast: bool = False) -> str:
    """Nodes making "ones" (N,): 1 for each image of the batch, from the input (so the outputs are batch-major)."""
    from onnx import TensorProto, helper

    source = input_name
    if cast:
        nodes.append(helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT))
        source = "as_float"
    nodes += [helper.make_node("ReduceMean", [source], ["mean"], axes=[1, 2, 3], keepdims=0),
              helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
              helper.make_node("Add", ["nothing", "one"], ["ones"])]
    return "ones"


def _scaled(nodes: list, ones: str, table: str, out: str, rank: int) -> None:
    """`out` = `table` (1, ...) repeated for each image: ones reshaped to (N, 1, ...) times the table."""
    from onnx import helper

    nodes += [helper.make_node("Unsqueeze", [ones, f"axes_{rank}"], [f"{out}_ones"]),
              helper.make_node("Mul", [f"{out}_ones", table], [out])]


def _detections(count: int, classes: list[float], *, corner_order: str) -> dict[str, np.ndarray]:
    """Fixed detections: DETECTIONS good ones (score 0.9, 0.8, ...), the rest empty (score 0)."""
    boxes = np.zeros((1, count, 4), np.float32)
    scores = np.zeros((1, count), np.float32)
    labels = np.zeros((1, count), np.float32)
    for k in range(DETECTIONS):
        top, left = 0.1 + 0.2 * k, 0.15 + 0.2 * k
        box = [top, left, top + 0.25, left + 0.3] if corner_order == "yx" else [left, top, left + 0.3, top + 0.25]
        boxes[0, k], scores[0, k], labels[0, k] = box, 0.9 - 0.1 * k, classes[k % len(classes)]
    return {"table_boxes": boxes, "table_scores": scores, "table_labels": labels}


SHARED = {"zero": np.zeros(1, np.float32), "one": np.ones(1, np.float32), "axes_1": np.array([1], np.int64),
          "axes_2": np.array([1, 2], np.int64)}


def _constants(shared: tuple[str, ...] = (), **arrays: np.ndarray) -> list:
    """The initializers: `arrays`, and those of SHARED named in `shared`."""
    from onnx import numpy_helper

    return [numpy_helper.from_array(v, k) for k, v in {**{n: SHARED[n] for n in shared}, **arrays}.items()]


def resnet50(path: Path) -> Path:
    """MLPerf's resnet50_v1.onnx form: the ArgMax (background class 0 included) first, then the softmax."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["input_tensor:0"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["means"]),
             helper.make_node("MatMul", ["means", "weights"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
             helper.make_node("ArgMax", ["softmax_tensor:0"], ["ArgMax:0"], axis=1, keepdims=0)]
    weights = np.random.default_rng(0).standard_normal((3, 1001)).astype(np.float32)
    return _save(nodes, "resnet50_v1", [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT,
                                                                      ["N", 3, 224, 224])],
                 [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
                  helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", 1001])],
                 _constants(weights=weights), path)


def mobilenet(path: Path) -> Path:
    """mobilenet_v1_1.0_224.onnx's form: one (N, 1001) softmax."""
    from onnx import TensorProto, helper

    output = "MobilenetV1/Predictions/Reshape_1:0"
    nodes = [helper.make_node("GlobalAveragePool", ["input:0"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["means"]),
             helper.make_node("MatMul", ["means", "weights"], ["logits"]),
             helper.make_node("Softmax", ["logits"], [output], axis=1)]
    weights = np.random.default_rng(1).standard_normal((3, 1001)).astype(np.float32)
    return _save(nodes, "mobilenet_v1", [helper.make_tensor_value_info("input:0", TensorProto.FLOAT,
                                                                       ["N", 3, 224, 224])],
                 [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 1001])],
                 _constants(weights=weights), path)


def ssd_mobilenet(path: Path) -> Path:
    """The TensorFlow SSD-MobileNet graph's form: uint8 NHWC in, four outputs, COCO category ids as classes."""
    from onnx import TensorProto, helper

    nodes: list = []
    ones = _ones_per_image("image_tensor:0", nodes, cast=True)
    found = _detections(100, [1.0, 3.0, 18.0], corner_order="yx")
    nodes.append(helper.make_node("Mul", [ones, "count"], ["num_detections:0"]))
    _scaled(nodes, ones, "table_boxes", "detection_boxes:0", 2)
    _scaled(nodes, ones, "table_scores", "detection_scores:0", 1)
    _scaled(nodes, ones, "table_labels", "detection_classes:0", 1)
    value = helper.make_tensor_value_info
    return _save(nodes, "ssd_mobilenet_v1", [value("image_tensor:0", TensorProto.UINT8, ["N", 300, 300, 3])],
                 [value("num_detections:0", TensorProto.FLOAT, ["N"]),
                  value("detection_boxes:0", TensorProto.FLOAT, ["N", 100, 4]),
                  value("detection_scores:0", TensorProto.FLOAT, ["N", 100]),
                  value("detection_classes:0", TensorProto.FLOAT, ["N", 100])],
                 _constants(tuple(SHARED), count=np.array([float(DETECTIONS)], np.float32), **found), path)


def ssd_resnet34(path: Path) -> Path:
    """resnet34-ssd1200.onnx's form: boxes as [left, top, right, bottom], labels 1..80 (int64), scores best first."""
    from onnx import TensorProto, helper

    nodes: list = []
    ones = _ones_per_image("image", nodes)
    found = _detections(200, [1.0, 3.0, 17.0], corner_order="xy")
    _scaled(nodes, ones, "table_boxes", "bboxes", 2)
    _scaled(nodes, ones, "table_scores", "scores", 1)
    _scaled(nodes, ones, "table_labels", "labels_float", 1)
    nodes.append(helper.make_node("Cast", ["labels_float"], ["labels"], to=TensorProto.INT64))
    value = helper.make_tensor_value_info
    return _save(nodes, "ssd_resnet34", [value("image", TensorProto.FLOAT, ["N", 3, 1200, 1200])],
                 [value("bboxes", TensorProto.FLOAT, ["N", 200, 4]), value("labels", TensorProto.INT64, ["N", 200]),
                  value("scores", TensorProto.FLOAT, ["N", 200])],
                 _constants(tuple(SHARED), **found), path)


def retinanet(path: Path) -> Path:
    """resnext50_32x4d_fpn.onnx's form: one image in, unbatched detections out (pixels of the 800x800 input)."""
    from onnx import TensorProto, helper

    nodes: list = []
    ones = _ones_per_image("images", nodes)  # (1,): the graph takes one image
    found = _detections(300, [0.0, 5.0, 17.0], corner_order="xy")
    found = {"table_boxes": found["table_boxes"][0] * 800.0, "table_scores": found["table_scores"][0],
             "table_labels": found["table_labels"][0]}
    nodes += [helper.make_node("Mul", [ones, "table_boxes"], ["boxes"]),  # (1,) x (300, 4)
              helper.make_node("Mul", [ones, "table_scores"], ["scores"]),
              helper.make_node("Mul", [ones, "table_labels"], ["labels_float"]),
              helper.make_node("Cast", ["labels_float"], ["labels"], to=TensorProto.INT64)]
    value = helper.make_tensor_value_info
    return _save(nodes, "retinanet", [value("images", TensorProto.FLOAT, [1, 3, 800, 800])],
                 [value("boxes", TensorProto.FLOAT, [300, 4]), value("scores", TensorProto.FLOAT, [300]),
                  value("labels", TensorProto.INT64, [300])], _constants(("zero", "one"), **found), path)


def unet3d(path: Path, patch: int = 32) -> Path:
    """The 3D U-Net graph's form with a static cubic patch: a 1x1x1 convolution to 3 classes (kidney where the
    normalized intensity is high)."""
    from onnx import TensorProto, helper

    weights = np.array([-1.0, 0.5, 0.2], np.float32).reshape(3, 1, 1, 1, 1)
    nodes = [helper.make_node("Conv", ["input", "weights", "bias"], ["output"])]
    value = helper.make_tensor_value_info
    return _save(nodes, "unet3d", [value("input", TensorProto.FLOAT, ["N", 1, patch, patch, patch])],
                 [value("output", TensorProto.FLOAT, ["N", 3, patch, patch, patch])],
                 _constants(weights=weights, bias=np.array([0.0, 0.0, -0.5], np.float32)), path)
