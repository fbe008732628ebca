"""Object detection on COCO: SSD-MobileNet (300x300) and SSD-ResNet34 (1200x1200), MLPerf's "ssd-small" and
"ssd-large".

Responses are the reference's detection rows (vision/classification_and_detection/python/coco.py): float32
[qsl index, ymin, xmin, ymax, xmax, score, class], boxes normalized, any number of rows per image, so that the
official tools/accuracy-coco.py reads Podium's accuracy log. The official graphs (main.py SUPPORTED_PROFILES):
- SSD-MobileNet `ssd_mobilenet_v1_coco_2018_01_28.onnx` (profile ssd-mobilenet-onnxruntime, dataset coco-300):
  outputs `num_detections:0`, `detection_boxes:0` [ymin, xmin, ymax, xmax], `detection_scores:0`,
  `detection_classes:0` (COCO category ids); the reference (PostProcessCoco) keeps the first num_detections rows
  and writes the class as it is, and the accuracy script runs without --use-inv-map: metric `coco-map`.
- SSD-ResNet34 `resnet34-ssd1200.onnx` (profile ssd-resnet34-onnxruntime, dataset coco-1200-onnx): outputs
  `bboxes` [left, top, right, bottom], `labels` (1..80), `scores`, best first; the reference
  (PostProcessCocoOnnx) writes rows until the first score under 0.5 and swaps the box to [top, left, bottom,
  right]; MLPerf runs the accuracy script with --use-inv-map (tools/ci-run.sh, README): metric `coco-map-inv`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import POSTPROCESSORS, TASKS, GraphForm, Postprocessor, Task

DETECTION_ROWS = ResponseEncoding("float32", (-1, 7))
MOBILENET_OUTPUTS = ("num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0")
RESNET34_OUTPUTS = ("bboxes", "labels", "scores")
RESNET34_MIN_SCORE = 0.5  # PostProcessCocoOnnx stops at the first score under this


def rows(indices: Sequence[int], boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
         counts: np.ndarray) -> list[np.ndarray]:
    """Per image, its first `counts[i]` detections as float32 rows [index, ymin, xmin, ymax, xmax, score,
    class]; `boxes` (N, D, 4) already [ymin, xmin, ymax, xmax]."""
    n, d = scores.shape
    table = np.empty((n, d, 7), dtype=np.float32)
    table[..., 0] = np.asarray(indices, dtype=np.float32)[:, None]
    table[..., 1:5] = boxes
    table[..., 5] = scores
    table[..., 6] = classes
    return [table[i, :int(c)] for i, c in enumerate(counts)]


def mobilenet_rows(outputs: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
    """SSD-MobileNet's four outputs -> each image's first num_detections rows (the reference's PostProcessCoco)."""
    count, boxes, scores, classes = (np.asarray(o) for o in outputs)
    counts = np.clip(count.reshape(-1).astype(np.int64), 0, scores.shape[1])  # int(): truncation, as the reference
    return rows(indices, boxes, scores, classes, counts)


def resnet34_rows(outputs: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
    """SSD-ResNet34's bboxes, labels, scores -> each image's rows before the first score under 0.5, boxes from
    [left, top, right, bottom] to [top, left, bottom, right] (the reference's PostProcessCocoOnnx)."""
    boxes, labels, scores = (np.asarray(o) for o in outputs)
    boxes = boxes.reshape(scores.shape[0], -1, 4)
    low = scores < RESNET34_MIN_SCORE
    counts = np.where(low.any(axis=1), low.argmax(axis=1), scores.shape[1])
    return rows(indices, boxes[..., [1, 0, 3, 2]], scores, labels, counts)


@POSTPROCESSORS.register("ssd-mobilenet-rows")
def _mobilenet_rows() -> Postprocessor:
    return mobilenet_rows


@POSTPROCESSORS.register("ssd-resnet34-rows")
def _resnet34_rows() -> Postprocessor:
    return resnet34_rows


@TASKS.register("ssd-mobilenet")
def _ssd_mobilenet() -> Task:
    return Task("ssd-mobilenet", dataset="coco-300", encoding=DETECTION_ROWS, metric="coco-map",
                model="ssd-mobilenet",
                forms=(GraphForm("mlperf-onnx", "ssd-mobilenet-rows", outputs=MOBILENET_OUTPUTS),))


@TASKS.register("ssd-resnet34")
def _ssd_resnet34() -> Task:
    return Task("ssd-resnet34", dataset="coco-1200", encoding=DETECTION_ROWS, metric="coco-map-inv",
                model="ssd-resnet34",
                forms=(GraphForm("mlperf-onnx", "ssd-resnet34-rows", outputs=RESNET34_OUTPUTS),))
