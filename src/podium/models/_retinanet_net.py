"""The RetinaNet network in torch: heads, anchors, box decoding and the post-processing the reference runs inside
the model, batch-major and exportable to ONNX.

Follows mlcommons/training retired_benchmarks/retinanet/ssd/model/retinanet.py (`RetinaNet`, `RetinaNetHead`),
anchor_utils.py, utils.py (`BoxCoder`) and transform.py (`GeneralizedRCNNTransform`); the constants are in
`podium.models.retinanet`. What differs, and why:
- the per-level selection takes the `topk_candidates` best scores of the level and then drops those not above
  `score_thresh`, where the reference drops first and then takes the top k: the same set, but with a fixed k, so
  that the graph needs no data-dependent sizes and runs a whole batch at once;
- all images of a batch go through one non-maximum suppression, per image and per class (the reference's
  coordinate trick: each class's boxes are moved to a region of their own), which exports as ONNX's
  NonMaxSuppression (one "batch" per image) and runs in eager mode with `podium.models.boxes.nms`;
- the detections are answered batch-major and padded: boxes (N, D, 4), scores (N, D), labels (N, D) with
  D = detections_per_img, in descending score; padding rows have score 0 and label -1 (the reference answers
  one variable-length list per image).

torch is imported at the top: this private module is imported only when a model is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podium.models._resnext import Backbone, init_backbone
from podium.models.boxes import nms

PRIOR_PROBABILITY = 0.01  # the classification bias starts at -log((1 - p) / p)
HEAD_CONVS = 4


def _head_tower(channels: int) -> nn.Sequential:
    """Four 3x3 convolutions with ReLU, as `conv.0` .. `conv.7` (the reference's key names)."""
    layers: list[nn.Module] = []
    for _ in range(HEAD_CONVS):
        layers += [nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU()]
    return nn.Sequential(*layers)


def _to_anchor_rows(x: Tensor, columns: int) -> Tensor:
    """(N, A * columns, H, W) -> (N, H * W * A, columns): the reference's (location, anchor) order."""
    n, _, h, w = x.shape
    return x.view(n, -1, columns, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, columns)


class ClassificationHead(nn.Module):
    def __init__(self, channels: int, anchors: int, classes: int) -> None:
        super().__init__()
        self.conv = _head_tower(channels)
        self.cls_logits = nn.Conv2d(channels, anchors * classes, 3, 1, 1)
        self.num_classes = classes

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """Per level: (N, H * W * A, classes) logits."""
        return [_to_anchor_rows(self.cls_logits(self.conv(f)), self.num_classes) for f in features]


class RegressionHead(nn.Module):
    def __init__(self, channels: int, anchors: int) -> None:
        super().__init__()
        self.conv = _head_tower(channels)
        self.bbox_reg = nn.Conv2d(channels, anchors * 4, 3, 1, 1)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """Per level: (N, H * W * A, 4) box offsets (dx, dy, dw, dh)."""
        return [_to_anchor_rows(self.bbox_reg(self.conv(f)), 4) for f in features]


class Head(nn.Module):
    def __init__(self, channels: int, anchors: int, classes: int) -> None:
        super().__init__()
        self.classification_head = ClassificationHead(channels, anchors, classes)
        self.regression_head = RegressionHead(channels, anchors)
        for tower in (self.classification_head, self.regression_head):
            for m in tower.modules():
                if isinstance(m, nn.Conv2d) and m.bias is not None:
                    nn.init.normal_(m.weight, std=0.01)
                    nn.init.zeros_(m.bias)
        prior_bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
        nn.init.constant_(self.classification_head.cls_logits.bias, prior_bias)  # type: ignore[arg-type]


def cell_anchors(sizes: tuple[int, ...], aspect_ratios: tuple[float, ...]) -> Tensor:
    """(len(ratios) * len(sizes), 4) zero-centred anchors, ratio-major, rounded (the reference's
    `generate_anchors`; an aspect ratio is height / width)."""
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    h_ratios = torch.sqrt(torch.as_tensor(aspect_ratios, dtype=torch.float32))
    ws = ((1 / h_ratios)[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def grid_anchors(cell: Tensor, grid_hw: tuple[int, int], image_hw: tuple[int, int]) -> Tensor:
    """(H * W * A, 4) anchors of one level: `cell` moved to every location, stride = image size // grid size."""
    stride_y, stride_x = image_hw[0] // grid_hw[0], image_hw[1] // grid_hw[1]
    shift_y, shift_x = torch.meshgrid(torch.arange(grid_hw[0], dtype=torch.float32, device=cell.device) * stride_y,
                                      torch.arange(grid_hw[1], dtype=torch.float32, device=cell.device) * stride_x,
                                      indexing="ij")
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=-1).reshape(-1, 1, 4)
    return (shifts + cell.reshape(1, -1, 4)).reshape(-1, 4)


def decode_boxes(deltas: Tensor, anchors: Tensor, clip: float) -> Tensor:
    """(..., 4) offsets (dx, dy, dw, dh) relative to (..., 4) anchor corners -> (x1, y1, x2, y2) corners
    (the reference's BoxCoder.decode_single, weights 1; dw and dh clamped at `clip` before exp)."""
    widths = anchors[..., 2] - anchors[..., 0]
    heights = anchors[..., 3] - anchors[..., 1]
    ctr_x = anchors[..., 0] + 0.5 * widths
    ctr_y = anchors[..., 1] + 0.5 * heights
    pred_x = deltas[..., 0] * widths + ctr_x
    pred_y = deltas[..., 1] * heights + ctr_y
    half_w = 0.5 * torch.exp(deltas[..., 2].clamp(max=clip)) * widths
    half_h = 0.5 * torch.exp(deltas[..., 3].clamp(max=clip)) * heights
    return torch.stack((pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h), dim=-1)


class NonMaxSuppression(torch.autograd.Function):
    """Greedy NMS of each image of a batch: boxes (N, M, 4), scores (N, 1, M) -> (S, 3) int64 rows [image, 0,
    candidate], each image's rows in descending score, at most `max_per_image`, only candidates scoring above
    `score_threshold`: ONNX NonMaxSuppression's contract, which is what it exports as."""

    @staticmethod
    def forward(ctx: Any, boxes: Tensor, scores: Tensor, max_per_image: int, iou_threshold: float,
                score_threshold: float) -> Tensor:
        boxes_np = boxes.detach().cpu().double().numpy()
        scores_np = scores.detach().cpu().double().numpy()[:, 0, :]
        rows = []
        for image in range(boxes_np.shape[0]):
            candidates = np.flatnonzero(scores_np[image] > score_threshold)
            kept = candidates[nms(boxes_np[image, candidates], scores_np[image, candidates],
                                  iou_threshold)[:max_per_image]]
            rows.append(np.stack([np.full_like(kept, image), np.zeros_like(kept), kept], axis=1))
        return torch.from_numpy(np.concatenate(rows).astype(np.int64)).to(boxes.device)

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, max_per_image: int, iou_threshold: float,
                 score_threshold: float) -> Any:
        return g.op("NonMaxSuppression", boxes, scores,
                    g.op("Constant", value_t=torch.tensor([max_per_image], dtype=torch.int64)),
                    g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float32)),
                    g.op("Constant", value_t=torch.tensor([score_threshold], dtype=torch.float32)))


class RetinaNet(nn.Module):
    """(N, 3, H, W) RGB in [0, 1] -> (boxes (N, D, 4) x1 y1 x2 y2 in input pixels, scores (N, D), labels (N, D)
    int64). With `image_size` set, an input of another size is resized to it and boxes scaled back."""

    image_mean: Tensor
    image_std: Tensor

    def __init__(self, config: Any, image_size: tuple[int, int] | None) -> None:
        super().__init__()
        self.config = config
        self.image_size = image_size
        self.backbone = Backbone()
        init_backbone(self.backbone)
        ratios = config.aspect_ratios
        self.head = Head(self.backbone.out_channels, len(config.anchor_sizes[0]) * len(ratios), config.classes)
        for level, sizes in enumerate(config.anchor_sizes):
            self.register_buffer(f"cell_anchors_{level}", cell_anchors(sizes, ratios), persistent=False)
        self.register_buffer("image_mean", torch.tensor(config.image_mean)[:, None, None], persistent=False)
        self.register_buffer("image_std", torch.tensor(config.image_std)[:, None, None], persistent=False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        original_hw = (int(images.shape[-2]), int(images.shape[-1]))
        x = (images - self.image_mean) / self.image_std
        if self.image_size is not None and original_hw != tuple(self.image_size):
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        image_hw = (int(x.shape[-2]), int(x.shape[-1]))
        features = self.backbone(x)
        logits = self.head.classification_head(features)
        deltas = self.head.regression_head(features)
        levels = [self._level_candidates(lg, dl, self._anchors(level, f, image_hw), image_hw)
                  for level, (f, lg, dl) in enumerate(zip(features, logits, deltas, strict=True))]
        boxes, scores, labels = (torch.cat(parts, dim=1) for parts in zip(*levels, strict=True))
        boxes, scores, labels = self._suppress(boxes, scores, labels)
        if original_hw != image_hw:
            ratio = torch.tensor([original_hw[1] / image_hw[1], original_hw[0] / image_hw[0]] * 2,
                                 dtype=boxes.dtype, device=boxes.device)
            boxes = boxes * ratio
        return boxes, scores, labels

    def _anchors(self, level: int, feature: Tensor, image_hw: tuple[int, int]) -> Tensor:
        cell: Tensor = getattr(self, f"cell_anchors_{level}")
        return grid_anchors(cell.to(feature.dtype), (int(feature.shape[-2]), int(feature.shape[-1])), image_hw)

    def _level_candidates(self, logits: Tensor, deltas: Tensor, anchors: Tensor,
                          image_hw: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        """One level's `topk_candidates` best (anchor, class) pairs per image: boxes clipped to the image, scores
        (0 where not above the score threshold) and labels, each (N, k, ...)."""
        classes = int(logits.shape[-1])
        scores = torch.sigmoid(logits.flatten(1))
        k = min(self.config.topk_candidates, int(logits.shape[1]) * classes)
        top_scores, top_idx = scores.topk(k, dim=1)
        anchor_idx = torch.div(top_idx, classes, rounding_mode="floor")
        labels = top_idx % classes
        picked = torch.gather(deltas, 1, anchor_idx[..., None].expand(-1, -1, 4))
        boxes = decode_boxes(picked, anchors[anchor_idx], self.config.bbox_xform_clip)
        limits = torch.tensor([image_hw[1], image_hw[0]] * 2, dtype=boxes.dtype, device=boxes.device)
        boxes = torch.min(boxes.clamp(min=0), limits)
        top_scores = torch.where(top_scores > self.config.score_thresh, top_scores, torch.zeros_like(top_scores))
        return boxes, top_scores, labels

    def _suppress(self, boxes: Tensor, scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-image, per-class NMS, the best `detections_per_img` kept, padded batch-major."""
        cfg = self.config
        offsets = labels.to(boxes.dtype) * (boxes.max() + 1)
        selected: Tensor = NonMaxSuppression.apply(  # type: ignore[no-untyped-call]
            boxes + offsets[..., None], scores[:, None, :], cfg.detections_per_img, cfg.nms_thresh, cfg.score_thresh)
        image, candidate = selected[:, 0], selected[:, 2]
        # Rows come grouped by image: a row's rank is its position minus where its image's rows start.
        batch = boxes.shape[0]
        per_image = (image[:, None] == torch.arange(batch, device=image.device)[None, :]).to(torch.int64).sum(0)
        starts = torch.cumsum(per_image, 0) - per_image
        rank = torch.arange(image.shape[0], device=image.device) - starts[image]
        slot = image * cfg.detections_per_img + rank
        count = batch * cfg.detections_per_img
        out_boxes = boxes.new_zeros((count, 4)).index_put((slot,), boxes[image, candidate])
        out_scores = scores.new_zeros((count,)).index_put((slot,), scores[image, candidate])
        out_labels = torch.full_like(out_scores, -1, dtype=torch.int64).index_put((slot,), labels[image, candidate])
        shape = (batch, cfg.detections_per_img)
        return out_boxes.reshape(*shape, 4), out_scores.reshape(shape), out_labels.reshape(shape)
