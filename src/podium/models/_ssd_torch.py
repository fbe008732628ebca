"""The torch side of the SSD models: box decoding and the per-class non-maximum suppression that turns raw SSD
predictions into fixed-size, padded detections (imported only when an SSD network is built).

Suppression here is greedy and exact, and exportable to ONNX as it stands (`torch.onnx.export`): a fixed number
of selection steps, each a handful of tensor operations over every image and class at once (no Python-side
data-dependent branch, no per-box loop). At each step every (image, class) takes its best remaining box and drops
the boxes that overlap it beyond the threshold; a class with nothing left selects nothing. The detections of all
classes are then merged by score and the best `max_detections` kept, padded with zeros after the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DROPPED = -1.0  # the score of a box no longer selectable (scores are probabilities, never negative)


@dataclass(frozen=True)
class Suppression:
    """How a reference suppresses: `score_threshold` (a box must score strictly more), `iou_threshold`, whether a
    box at exactly that IoU is suppressed too (`inclusive`), how many boxes a class may keep and how many
    detections an image keeps in all."""

    score_threshold: float
    iou_threshold: float
    per_class: int
    max_detections: int
    inclusive: bool = False


@dataclass(frozen=True)
class Detections:
    """Padded detections, batch-major: boxes (N, D, 4) in the boxes' own corner order, scores (N, D), labels
    (N, D) int64 (1 + the class's column in the scores given, 0 where padded) and count (N,) int64."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    count: Tensor


def overlaps(a: Tensor, b: Tensor, rule: Suppression) -> Tensor:
    """Whether each pair of corner boxes overlaps enough for one to suppress the other, batched: a (..., P, 4),
    b (..., Q, 4) -> bool (..., P, Q). IoU > threshold (>= when `rule.inclusive`), tested as intersection against
    threshold x union, without a division; two empty boxes never overlap. The corner order may be (x1, y1, x2, y2)
    or (y1, x1, y2, x2): IoU is the same."""
    a1, a2, a3, a4 = (v[..., :, None] for v in a.unbind(-1))
    b1, b2, b3, b4 = (v[..., None, :] for v in b.unbind(-1))
    inter = ((torch.minimum(a3, b3) - torch.maximum(a1, b1)).clamp(min=0)
             * (torch.minimum(a4, b4) - torch.maximum(a2, b2)).clamp(min=0))
    union = (a3 - a1) * (a4 - a2) + (b3 - b1) * (b4 - b2) - inter
    if rule.inclusive:
        return (inter >= rule.iou_threshold * union) & (union > 0)
    return inter > rule.iou_threshold * union


def exporting() -> bool:
    """Whether the network is being traced for export: then every shape must stay independent of the data."""
    return bool(torch._C._get_tracing_state() is not None or torch.onnx.is_in_onnx_export())


def greedy_select(scores: Tensor, overlap: Tensor, rule: Suppression) -> tuple[Tensor, Tensor]:
    """Greedy NMS of every (image, class) row at once. `scores` (N, C, K), DROPPED where a box may not be
    selected; `overlap` (N, K, K) when all classes share the boxes, (N, C, K, K) when each class has its own.
    Returns the selected positions (N, C, S) in selection order (descending score) and their scores, DROPPED
    after a row's last selection; S = min(rule.per_class, K). Run eagerly, it stops once no row has a box left."""
    n, c, k = scores.shape
    if overlap.dim() == 3:  # row r of image i is overlap[i, r] for every class
        first_row = (torch.arange(n, device=scores.device) * k)[:, None].expand(n, c)
    else:
        first_row = (torch.arange(n * c, device=scores.device) * k).reshape(n, c)
    rows = overlap.reshape(-1, k)
    steps, eager = min(rule.per_class, k), not exporting()
    positions, selected = [], []
    for _ in range(steps):
        best = scores.argmax(dim=-1)  # (N, C): the best remaining box of each row
        top = scores.gather(-1, best[..., None])[..., 0]
        if eager and bool((top <= DROPPED / 2).all()):
            break
        positions.append(best)
        selected.append(top)
        dropped = rows.index_select(0, (first_row + best).reshape(-1)).reshape(n, c, k)
        scores = scores.masked_fill(dropped, DROPPED).scatter(-1, best[..., None], DROPPED)
    missing = steps - len(positions)
    positions += [torch.zeros((n, c), dtype=torch.int64, device=scores.device)] * missing
    selected += [torch.full((n, c), DROPPED, dtype=scores.dtype, device=scores.device)] * missing
    return torch.stack(positions, dim=-1), torch.stack(selected, dim=-1)


def merge_classes(boxes: Tensor, anchor: Tensor, score: Tensor, max_detections: int) -> Detections:
    """The best `max_detections` of the selections of all classes: `anchor` and `score` (N, C, S) (DROPPED: no
    selection) index `boxes` (N, A, 4). Padding rows are zeros."""
    n, c, s = score.shape
    top, flat = score.reshape(n, c * s).topk(min(max_detections, c * s), dim=-1)
    valid = top > DROPPED / 2
    index = anchor.reshape(n, c * s).gather(1, flat)
    picked = boxes.gather(1, index[..., None].expand(*index.shape, 4))
    labels = torch.div(flat, s, rounding_mode="floor") + 1
    detections = Detections(boxes=picked * valid[..., None], scores=top * valid,
                            labels=labels * valid, count=valid.sum(dim=-1))
    return _pad(detections, max_detections)


def _pad(d: Detections, size: int) -> Detections:
    """Detections padded with zero rows to `size` (when the classes together had fewer selections)."""
    extra = size - d.scores.shape[1]
    if extra <= 0:
        return d
    pad = torch.nn.functional.pad
    return Detections(pad(d.boxes, (0, 0, 0, extra)), pad(d.scores, (0, extra)), pad(d.labels, (0, extra)), d.count)


def suppress_shared_boxes(boxes: Tensor, scores: Tensor, rule: Suppression) -> Detections:
    """TensorFlow's `batch_multiclass_non_max_suppression` (SSD-MobileNet): boxes (N, A, 4) shared by all classes,
    scores (N, A, C) without the background column. Every box above the score threshold is a candidate of its
    class; each class keeps up to `per_class`, by greedy NMS over all its candidates. Run eagerly, only the boxes
    that are a candidate somewhere in the batch enter the suppression (the others can neither be selected nor
    suppress one), which makes it cheap for a trained model, whose boxes mostly score low."""
    by_class = scores.transpose(1, 2).contiguous()  # (N, C, A): each step reduces over a contiguous row
    candidates = by_class.masked_fill(by_class <= rule.score_threshold, DROPPED)
    anchors = None
    if not exporting():
        anchors = (candidates > DROPPED / 2).any(dim=1).any(dim=0).nonzero()[:, 0]
        if len(anchors) == 0:  # no candidate at all: keep one box, which nothing selects
            anchors = torch.zeros(1, dtype=torch.int64, device=boxes.device)
        candidates, own = candidates[..., anchors], boxes[:, anchors]
    else:
        own = boxes
    position, selected = greedy_select(candidates, overlaps(own, own, rule), rule)
    return merge_classes(boxes, position if anchors is None else anchors[position], selected, rule.max_detections)


def suppress_top_candidates(boxes: Tensor, scores: Tensor, rule: Suppression, candidates: int) -> Detections:
    """The SSD-ResNet34 reference's `decode_single`: per class, the `candidates` best boxes scoring above the
    threshold, greedy NMS among them, then the best `max_detections` of all classes. boxes (N, A, 4), scores
    (N, A, C) without the background column. Run eagerly, the candidates are cut to the longest row of boxes above
    the threshold (the rows are sorted, so that is exact)."""
    by_class = scores.transpose(1, 2).contiguous()
    top, anchor = by_class.topk(min(candidates, scores.shape[1]), dim=-1)  # (N, C, K), sorted
    if not exporting():
        k = max(int((top > rule.score_threshold).sum(dim=-1).max()), 1)
        top, anchor = top[..., :k], anchor[..., :k]
    top = top.masked_fill(top <= rule.score_threshold, DROPPED)
    n, c, k = top.shape
    own = boxes.gather(1, anchor.reshape(n, c * k, 1).expand(n, c * k, 4)).reshape(n, c, k, 4)
    position, selected = greedy_select(top, overlaps(own, own, rule), rule)
    return merge_classes(boxes, anchor.gather(-1, position), selected, rule.max_detections)


def decode_tf(codes: Tensor, anchors: Tensor, scale: tuple[float, float, float, float]) -> Tensor:
    """TensorFlow's FasterRcnnBoxCoder.decode: codes (N, A, 4) [ty, tx, th, tw] relative to anchors (A, 4)
    [ymin, xmin, ymax, xmax], divided by `scale` (y, x, h, w) -> boxes (N, A, 4) [ymin, xmin, ymax, xmax]."""
    height, width = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    cy, cx = anchors[:, 0] + height / 2, anchors[:, 1] + width / 2
    ty, tx, th, tw = (codes[..., i] / scale[i] for i in range(4))
    y, x = ty * height + cy, tx * width + cx
    h, w = torch.exp(th) * height, torch.exp(tw) * width
    return torch.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], dim=-1)


def decode_xywh(codes: Tensor, defaults: Tensor, scale_xy: float, scale_wh: float) -> Tensor:
    """The SSD-ResNet34 reference's `scale_back_batch` for boxes: codes (N, 4, A) relative to default boxes
    (A, 4) [cx, cy, w, h] -> boxes (N, A, 4) [left, top, right, bottom]."""
    codes = codes.transpose(1, 2)
    xy = scale_xy * codes[..., :2] * defaults[:, 2:] + defaults[:, :2]
    wh = torch.exp(scale_wh * codes[..., 2:]) * defaults[:, 2:]
    return torch.cat([xy - 0.5 * wh, xy + 0.5 * wh], dim=-1)
