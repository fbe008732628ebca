"""Box operations the detection models share (SSD, RetinaNet, Mask R-CNN), in numpy: IoU and non-maximum
suppression, with the semantics of torchvision's `box_iou`, `nms` and `batched_nms` (torchvision does not install
beside this torch).

Boxes are (x1, y1, x2, y2) corners, x2 >= x1 and y2 >= y1, and a box's area is (x2 - x1) * (y2 - y1), with no
"+ 1" pixel convention. Suppression is greedy in descending score: a box is dropped when its IoU with a kept box
is strictly greater than the threshold, as torchvision and ONNX's NonMaxSuppression do.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.floating]
Indices = npt.NDArray[np.int64]


def box_area(boxes: Floats) -> Floats:
    """(N,) areas of (N, 4) boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: Floats, b: Floats) -> Floats:
    """(len(a), len(b)) intersection over union of every pair; 0 where both boxes are empty."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)  # type: ignore[no-any-return]


def nms(boxes: Floats, scores: Floats, iou_threshold: float) -> Indices:
    """Indices of the boxes kept, in descending score (ties: the lower index first).

    Greedy, one vector operation per kept box: the best remaining box is kept and every remaining box that
    overlaps it by more than `iou_threshold` is dropped at once.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    areas = box_area(boxes)
    kept: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        kept.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        wh = np.clip(bottom_right - top_left, 0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)


def batched_nms(boxes: Floats, scores: Floats, labels: npt.NDArray[np.integer], iou_threshold: float) -> Indices:
    """`nms` within each label: boxes of different labels never suppress each other. All labels are done in one
    pass by moving each label's boxes to a region of its own, as torchvision's batched_nms does (offset by label x
    the coordinates' span + 1, which also keeps boxes with negative coordinates apart)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.asarray(labels, dtype=np.float64) * (boxes.max() - boxes.min() + 1.0)
    return nms(boxes + offsets[:, None], scores, iou_threshold)
