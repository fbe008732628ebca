"""Image classification: digits (Podium's own), ResNet-50 v1.5 and MobileNet v1 on ImageNet.

The references answer one class id per image, written as a float32 (vision/classification_and_detection
main.py; tools/accuracy-imagenet.py reads float32 by default), so responses here are float32 class ids too. The
official graphs are declared as published (reference/inference_suite.md; main.py's SUPPORTED_PROFILES):
- ResNet-50 `resnet50_v1.onnx` (from TensorFlow): input `input_tensor:0`, outputs `ArgMax:0` (the class id,
  background class 0 included) then `softmax_tensor:0` (N, 1001); the reference reads `ArgMax:0` and subtracts one.
- MobileNet `mobilenet_v1_1.0_224.onnx` (converted with its input as NCHW, as the ResNet-50 one): input `input:0`,
  output `MobilenetV1/Predictions/Reshape_1:0` (N, 1001 softmax); the reference takes its argmax, minus one.
  MobileNet was a benchmark of its own in v0.5 (target 98 % of 71.68 %), which `podium infer mobilenet` runs
  by default; from v0.7 on the checker counts it as an alias of ResNet-50 (an open-division alternative), which
  `--round v0.7` or later runs, under that round's resnet50 rules.
- A graph answering logits: 1001 columns (background first) or 1000, told apart by the output's width; this is
  also what Podium's PyTorch definitions answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import AS_THE_MODEL, POSTPROCESSORS, TASKS, GraphForm, Postprocessor, Task

IMAGENET_CLASSES = 1000


def argmax(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> np.ndarray:
    """Class scores (N, classes) -> predicted class ids, int64 (N,)."""
    return np.asarray(outputs[0]).argmax(axis=1).astype(np.int64)


def argmax_minus_one(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> np.ndarray:
    """As `argmax`, for graphs with a background class 0 (1001-class ImageNet graphs; the reference's
    PostProcessArgMax(offset=-1))."""
    return argmax(outputs) - 1


def class_id_minus_one(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> np.ndarray:
    """A graph that answers the class id itself (an ArgMax node), background class 0 included: id - 1 (the
    reference's PostProcessCommon(offset=-1))."""
    return np.asarray(outputs[0]).astype(np.int64) - 1


@POSTPROCESSORS.register("argmax")
def _argmax() -> Postprocessor:
    return argmax


@POSTPROCESSORS.register("argmax-1")
def _argmax_minus_one() -> Postprocessor:
    return argmax_minus_one


@POSTPROCESSORS.register("class-id-1")
def _class_id_minus_one() -> Postprocessor:
    return class_id_minus_one


# One float32 class id per image, as the reference writes it.
CLASS_ID = ResponseEncoding("float32", ())
LOGITS_1001 = GraphForm("logits-1001", "argmax-1", classes=IMAGENET_CLASSES + 1)
LOGITS_1000 = GraphForm("logits-1000", "argmax", classes=IMAGENET_CLASSES)


@TASKS.register("digits")
def _digits() -> Task:
    return Task("digits", dataset="digits", encoding=ResponseEncoding("int64", ()), metric="top1",
                forms=(GraphForm("logits", "argmax"),), model="digits", needs_dataset_path=False)


@TASKS.register("resnet50")
def _resnet50() -> Task:
    return Task("resnet50", dataset="imagenet", encoding=CLASS_ID, metric="top1", model="resnet50",
                dataset_options={"layout": AS_THE_MODEL},
                forms=(GraphForm("mlperf-onnx-argmax", "class-id-1", outputs=("ArgMax:0",)), LOGITS_1001,
                       LOGITS_1000))


@TASKS.register("mobilenet")
def _mobilenet() -> Task:
    return Task("mobilenet", dataset="imagenet-mobilenet", encoding=CLASS_ID, metric="top1", model="mobilenet",
                dataset_options={"layout": AS_THE_MODEL},
                forms=(GraphForm("mlperf-onnx", "argmax-1", outputs=("MobilenetV1/Predictions/Reshape_1:0",)),
                       LOGITS_1001, LOGITS_1000))
