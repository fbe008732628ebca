"""Object detection on OpenImages: RetinaNet (ResNeXt50-32x4d FPN, 264 classes, 800x800).

As the reference serves it (vision/classification_and_detection/python/main.py, profiles `retinanet-pytorch` and
`retinanet-onnxruntime`, datasets `openimages-800-retinanet[-onnx]`; openimages.py
`PostProcessOpenImagesRetinanet(use_inv_map=False, score_threshold=0.05, height=800, width=800)`):
- the graph does its own post-processing (top-k per level, NMS, 300 detections per image) and answers `boxes`
  (x1, y1, x2, y2 in pixels of the 800x800 input), `scores` and `labels` (0..263, the category ids of
  openimages-mlperf.json, used as they are: no label map);
- each detection, in the graph's order, until the first score under 0.05, becomes a float32 row
  [qsl_idx, ymin / 800, xmin / 800, ymax / 800, xmax / 800, score, label], which tools/accuracy-openimages.py
  scales by the original image's height and width and scores with pycocotools.
The official ONNX graph (`resnext50_32x4d_fpn.onnx`) takes one image and answers unbatched outputs ((N, 4), (N,),
(N,)); Podium's definition (`podium.models.retinanet`) answers them batch-major and padded ((B, 300, 4), ...,
padding scored 0). The post-processor reads both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import POSTPROCESSORS, TASKS, GraphForm, Postprocessor, Task

SCORE_THRESHOLD = 0.05
INPUT_HEIGHT = INPUT_WIDTH = 800  # the reference divides by the model's input size, not the image's
OUTPUTS = ("boxes", "labels", "scores")  # main.py's profile order, which the reference post-processor indexes
ROW = 7  # qsl_idx, ymin, xmin, ymax, xmax, score, class


def _batch_major(outputs: Sequence[np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (B, D, 4), labels (B, D), scores (B, D)) from a batched graph, or from the official one-image graph
    (boxes (N, 4)) as a batch of one."""
    boxes, labels, scores = (np.asarray(o) for o in outputs)
    if boxes.ndim == 2:
        if count != 1:
            raise SUTError(f"retinanet: the graph answered one image's detections (boxes {boxes.shape}) for a batch "
                           f"of {count}; a graph answering unbatched outputs must be served with batch size 1")
        boxes, labels, scores = boxes[None], labels[None], scores[None]
    if boxes.shape[:2] != scores.shape or labels.shape != scores.shape or boxes.shape[0] != count:
        raise SUTError(f"retinanet: outputs of {count} images expected, got boxes {boxes.shape}, labels "
                       f"{labels.shape}, scores {scores.shape}")
    return boxes, labels, scores


def retinanet_rows(outputs: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
    """Graph outputs (boxes, labels, scores) -> per image, float32 (n, 7) rows [qsl_idx, ymin, xmin, ymax, xmax,
    score, class], boxes divided by the 800x800 input size; an image's rows stop at its first score under 0.05
    (the reference's `break`: the graph answers scores in descending order)."""
    boxes, labels, scores = _batch_major(outputs, len(indices))
    rows = np.empty((*scores.shape, ROW), dtype=np.float32)
    rows[..., 0] = np.asarray(indices, dtype=np.float32)[:, None]
    rows[..., 1:5] = boxes[..., [1, 0, 3, 2]] / np.array([INPUT_HEIGHT, INPUT_WIDTH] * 2, dtype=np.float32)
    rows[..., 5] = scores
    rows[..., 6] = labels
    kept = np.logical_and.accumulate(scores >= SCORE_THRESHOLD, axis=1).sum(axis=1)
    return [rows[i, :n] for i, n in enumerate(kept.tolist())]


@POSTPROCESSORS.register("retinanet-rows")
def _retinanet_rows() -> Postprocessor:
    return retinanet_rows


@TASKS.register("retinanet")
def _retinanet() -> Task:
    return Task("retinanet", dataset="openimages-800", encoding=ResponseEncoding("float32", (-1, ROW)),
                metric="coco-map", model="retinanet",
                forms=(GraphForm("mlperf-onnx", "retinanet-rows", outputs=OUTPUTS),))
