"""What MLPerf's two single-stage detectors train with: anchor matching, box coding, their losses, and SSD's
training augmentation, written from the references' definitions (mlcommons/training single_stage_detector).

- RetinaNet (ssd/model/retinanet.py, utils.py `Matcher`, `BoxCoder`, focal_loss.py): an anchor is foreground when
  its best IoU with a ground-truth box is >= 0.5, ignored in [0.4, 0.5), background below 0.4; every box also
  keeps the anchors it overlaps most (ties included: `allow_low_quality_matches`). Boxes are coded (dx, dy, dw, dh)
  with weights 1. Loss per image: sigmoid focal loss (alpha 0.25, gamma 2) summed over the non-ignored anchors
  and every class, plus the L1 loss of the foreground codes, each over max(1, foreground anchors); the mean over
  the images of the batch.
- SSD (v1.x ssd/utils.py `Encoder`, `DefaultBoxes`, `SSDCropping`, `SSDTransformer`; base_model.py `Loss`): a
  default box takes the label of the box it overlaps most when that IoU exceeds 0.5, and every box takes its best
  default box; codes are (dcx / 0.1, dcy / 0.1, log(dw) / 0.2, log(dh) / 0.2) relative to the default box. Loss
  per image: smooth L1 of the matched codes plus the cross-entropy of the matched default boxes and of the three
  times as many hardest unmatched ones, over the matches (0 for an image without); the mean over the batch.

Matching and coding run in numpy in the training feed's worker processes (one image at a time, as the
references' data pipelines do); the losses are torch. torch is imported on first use of a loss.
"""

from __future__ import annotations

import math
import random
from itertools import product
from typing import Any

import numpy as np

from podium.models.boxes import box_iou

# RetinaNet (retinanet.py `RetinaNet.__init__`, focal_loss.py defaults)
FG_IOU, BG_IOU = 0.5, 0.4
BELOW_LOW, BETWEEN = -1, -2
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0
# SSD (train.py `dboxes300_coco`, utils.py `DefaultBoxes`, `Encoder.encode`)
SSD_FIG_SIZE = 300
SSD_FEATURE_MAPS = (38, 19, 10, 5, 3, 1)
SSD_STEPS = (8, 16, 32, 64, 100, 300)
SSD_SCALES = (21, 45, 99, 153, 207, 261, 315)
SSD_ASPECT_RATIOS = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
SSD_SCALE_XY, SSD_SCALE_WH = 0.1, 0.2
SSD_MATCH_IOU = 0.5
NEGATIVES_PER_POSITIVE = 3
# SSDCropping's choices: None keeps the image; (min IoU, max IoU) of the crop with every box, None unbounded
CROP_OPTIONS: tuple[tuple[float | None, float | None] | None, ...] = (
    None, (0.1, None), (0.3, None), (0.5, None), (0.7, None), (0.9, None), (None, None))
# SSDTransformer's ColorJitter(brightness=0.125, contrast=0.5, saturation=0.5, hue=0.05)
JITTER_BRIGHTNESS, JITTER_CONTRAST, JITTER_SATURATION, JITTER_HUE = 0.125, 0.5, 0.5, 0.05


# -- RetinaNet ---------------------------------------------------------------------------------------------------
def match_retinanet(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(A,) int64: the box each anchor is matched to, BELOW_LOW (background) or BETWEEN (ignored), as the
    reference's `Matcher(0.5, 0.4, allow_low_quality_matches=True)` on IoU(boxes, anchors)."""
    if len(boxes) == 0:
        return np.full(len(anchors), BELOW_LOW, dtype=np.int64)
    iou = box_iou(boxes.astype(np.float64), anchors.astype(np.float64))  # (G, A)
    best = iou.max(axis=0)
    matches = iou.argmax(axis=0).astype(np.int64)
    candidates = matches.copy()
    matches[best < BG_IOU] = BELOW_LOW
    matches[(best >= BG_IOU) & (best < FG_IOU)] = BETWEEN
    # every box keeps the anchors it overlaps most, ties included (`set_low_quality_matches_`)
    _, kept = np.nonzero(iou == iou.max(axis=1, keepdims=True))
    matches[kept] = candidates[kept]
    return matches


def encode_xyxy(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n, 4) float32 codes (dx, dy, dw, dh) of [x1, y1, x2, y2] boxes relative to anchors (BoxCoder, weights 1)."""
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + 0.5 * aw, anchors[:, 1] + 0.5 * ah
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    bx, by = boxes[:, 0] + 0.5 * bw, boxes[:, 1] + 0.5 * bh
    return np.stack([(bx - ax) / aw, (by - ay) / ah, np.log(bw / aw), np.log(bh / ah)], axis=1).astype(np.float32)


def retinanet_targets(boxes: np.ndarray, labels: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's (class per anchor (A,) int64: its class column, BELOW_LOW or BETWEEN; box codes (A, 4) float32,
    zero off the foreground)."""
    matches = match_retinanet(boxes, anchors)
    foreground = matches >= 0
    classes = matches.copy()
    classes[foreground] = labels[matches[foreground]]
    codes = np.zeros((len(anchors), 4), dtype=np.float32)
    codes[foreground] = encode_xyxy(boxes[matches[foreground]], anchors[foreground])
    return classes, codes


def sigmoid_focal_loss(logits: Any, targets: Any, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA) -> Any:
    """Elementwise focal loss of logits against 0/1 targets (focal_loss.py, reduction none)."""
    import torch.nn.functional as F

    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * ce * (1 - p_t) ** gamma


def retinanet_loss(logits: Any, deltas: Any, classes: Any, codes: Any) -> Any:
    """Classification plus box regression loss of a batch: logits (N, A, K), deltas (N, A, 4), and the targets of
    `retinanet_targets` stacked, (N, A) and (N, A, 4)."""
    foreground = classes >= 0
    count = foreground.sum(dim=1).clamp(min=1).to(logits.dtype)
    onehot = logits.new_zeros(logits.shape).scatter_(-1, classes.clamp(min=0)[..., None],
                                                     foreground[..., None].to(logits.dtype))
    focal = sigmoid_focal_loss(logits, onehot).sum(dim=-1) * (classes != BETWEEN)
    l1 = (deltas - codes).abs().sum(dim=-1) * foreground
    return (focal.sum(dim=1) / count).mean() + (l1.sum(dim=1) / count).mean()


# -- SSD ---------------------------------------------------------------------------------------------------------
def ssd_default_boxes(fig_size: int = SSD_FIG_SIZE, feature_maps: tuple[int, ...] = SSD_FEATURE_MAPS,
                      steps: tuple[int, ...] = SSD_STEPS, scales: tuple[int, ...] = SSD_SCALES,
                      aspect_ratios: tuple[tuple[int, ...], ...] = SSD_ASPECT_RATIOS) -> np.ndarray:
    """(8732, 4) float32 default boxes [cx, cy, w, h], normalized and clamped to [0, 1], in the heads' order: per
    feature map, per box shape, per row, per column (the reference's `DefaultBoxes`)."""
    boxes = []
    for k, cells in enumerate(feature_maps):
        fk = fig_size / steps[k]
        small, large = scales[k] / fig_size, scales[k + 1] / fig_size
        sizes = [(small, small), (math.sqrt(small * large),) * 2]
        for alpha in aspect_ratios[k]:
            w, h = small * math.sqrt(alpha), small / math.sqrt(alpha)
            sizes += [(w, h), (h, w)]
        for w, h in sizes:
            boxes += [((j + 0.5) / fk, (i + 0.5) / fk, w, h) for i, j in product(range(cells), repeat=2)]
    return np.clip(np.asarray(boxes, dtype=np.float32), 0.0, 1.0)


def xywh_to_ltrb(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def ssd_targets(boxes: np.ndarray, labels: np.ndarray, defaults_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's (label per default box (A,) int64, 0 background; codes (A, 4) float32) of its boxes
    [left, top, right, bottom] normalized (`Encoder.encode` with criteria 0.5, then `Loss._loc_vec`)."""
    defaults = xywh_to_ltrb(defaults_xywh)
    out_labels = np.zeros(len(defaults), dtype=np.int64)
    codes = np.zeros((len(defaults), 4), dtype=np.float32)
    if len(boxes) == 0:
        return out_labels, codes
    iou = box_iou(boxes.astype(np.float64), defaults.astype(np.float64))  # (n, A)
    best_iou, best_box = iou.max(axis=0), iou.argmax(axis=0)
    best_default = iou.argmax(axis=1)
    best_iou[best_default] = 2.0
    best_box[best_default] = np.arange(len(boxes))
    matched = best_iou > SSD_MATCH_IOU
    out_labels[matched] = labels[best_box[matched]]
    gt = boxes[best_box[matched]]
    gxy, gwh = (gt[:, :2] + gt[:, 2:]) / 2, gt[:, 2:] - gt[:, :2]
    dxy, dwh = defaults_xywh[matched, :2], defaults_xywh[matched, 2:]
    codes[matched] = np.concatenate([(gxy - dxy) / dwh / SSD_SCALE_XY, np.log(gwh / dwh) / SSD_SCALE_WH], axis=1)
    return out_labels, codes


def multibox_loss(codes_pred: Any, logits: Any, labels: Any, codes: Any) -> Any:
    """The SSD reference's `Loss`: codes_pred (N, A, 4), logits (N, C, A), targets labels (N, A), codes (N, A, 4)."""
    import torch
    import torch.nn.functional as F

    positive = labels > 0
    matches = positive.sum(dim=1)
    box = (F.smooth_l1_loss(codes_pred, codes, reduction="none").sum(dim=-1) * positive).sum(dim=1)
    ce = F.cross_entropy(logits, labels, reduction="none")  # (N, A)
    hardness = ce.detach().masked_fill(positive, 0.0)
    rank = hardness.argsort(dim=1, descending=True).argsort(dim=1)
    negative = rank < torch.clamp(NEGATIVES_PER_POSITIVE * matches, max=labels.shape[1])[:, None]
    conf = (ce * (positive | negative)).sum(dim=1)
    per_image = (box + conf) * (matches > 0) / matches.to(ce.dtype).clamp(min=1e-6)
    return per_image.mean()


def ssd_crop(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, attempts: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`SSDCropping` with `attempts` tries per choice (MLPerf's max_samples): keep the image, or crop a patch of
    0.3 to 1 of each side (aspect 1/2 to 2) whose IoU with every box is above the chosen minimum and which holds
    some box's centre; boxes [left, top, right, bottom] normalized, clipped to the patch. Python's `random`."""
    height, width = image.shape[:2]
    while True:
        mode = random.choice(CROP_OPTIONS)
        if mode is None:
            return image, boxes, labels
        low = -math.inf if mode[0] is None else mode[0]
        high = math.inf if mode[1] is None else mode[1]
        for _ in range(attempts):
            w, h = random.uniform(0.3, 1.0), random.uniform(0.3, 1.0)
            if w / h < 0.5 or w / h > 2:
                continue
            left, top = random.uniform(0, 1.0 - w), random.uniform(0, 1.0 - h)
            patch = np.array([[left, top, left + w, top + h]])
            iou = box_iou(boxes.astype(np.float64), patch)[:, 0]
            if not ((iou > low) & (iou < high)).all():
                continue
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            inside = (cx > left) & (cx < left + w) & (cy > top) & (cy < top + h)
            if not inside.any():
                continue
            kept = np.clip(boxes[inside], [left, top, left, top], [left + w, top + h, left + w, top + h])
            kept = ((kept - [left, top, left, top]) / [w, h, w, h]).astype(np.float32)
            x0, y0 = int(left * width), int(top * height)
            x1, y1 = int((left + w) * width), int((top + h) * height)
            return image[y0:y1, x0:x1], kept, labels[inside]


def colour_jitter(rgb: np.ndarray) -> np.ndarray:
    """torchvision's ColorJitter(0.125, 0.5, 0.5, 0.05) on a float32 RGB image in 0..255: brightness, contrast,
    saturation and hue factors drawn uniformly, applied in a random order, clipped after each (the rules allow a
    jitter of similar distribution and magnitude: training rules §Equivalence exceptions). numpy's generator."""
    import cv2

    def grey(x: np.ndarray) -> np.ndarray:
        return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]

    def hue(x: np.ndarray, shift: float) -> np.ndarray:
        hsv = cv2.cvtColor(x / 255.0, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + shift * 360.0) % 360.0
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0  # type: ignore[no-any-return]

    ops = [lambda x, f: x * f, lambda x, f: x * f + grey(x).mean() * (1 - f),
           lambda x, f: x * f + grey(x) * (1 - f), hue]
    factors = [np.random.uniform(1 - JITTER_BRIGHTNESS, 1 + JITTER_BRIGHTNESS),
               np.random.uniform(1 - JITTER_CONTRAST, 1 + JITTER_CONTRAST),
               np.random.uniform(1 - JITTER_SATURATION, 1 + JITTER_SATURATION),
               np.random.uniform(-JITTER_HUE, JITTER_HUE)]
    out = rgb.astype(np.float32)
    for k in np.random.permutation(4):
        out = np.clip(ops[k](out, factors[k]), 0.0, 255.0).astype(np.float32)
    return out
