"""Mask R-CNN's RoI heads in torch: the FPN pooler, the box head (two fully connected layers, class scores and
class-specific regression) and the mask head (four convolutions, a deconvolution, per-class 28x28 logits), their
losses on sampled proposals, and the detections of evaluation, as maskrcnn-benchmark computes them.

Follows mlcommons/training retired_benchmarks/maskrcnn/pytorch/maskrcnn_benchmark: modeling/poolers.py,
modeling/roi_heads/box_head/{roi_box_feature_extractors,roi_box_predictors,loss,inference}.py and
modeling/roi_heads/mask_head/{roi_mask_feature_extractors,roi_mask_predictors,loss,inference}.py; the numbers are in
`podium.models.maskrcnn.MaskRCNNConfig`. Mask targets are rasterized with pycocotools from polygons (as the
reference) or sampled from a bitmask (the training rules' "scalable bitmask", for RLE annotations), once per
positive proposal. torch is imported at the top: this private module is imported only when a model is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podium.models._maskrcnn_boxes import BELOW_LOW, BETWEEN, Target, box_iou, clip, decode, encode, match, \
    sample, smooth_l1, suppress
from podium.models.roi_align import roi_align

if TYPE_CHECKING:
    from podium.models._maskrcnn_config import MaskRCNNConfig

CANONICAL_SCALE, CANONICAL_LEVEL = 224, 4  # poolers.LevelMapper (FPN paper, eq. 1)


class Pooler(nn.Module):
    """RoIAlign of each box on its FPN level: floor(4 + log2(sqrt(area) / 224)) clamped to P2..P5."""

    def __init__(self, resolution: int, scales: tuple[float, ...], sampling_ratio: int) -> None:
        super().__init__()
        self.resolution, self.scales, self.sampling_ratio = resolution, scales, sampling_ratio
        self.k_min, self.k_max = round(-math.log2(scales[0])), round(-math.log2(scales[-1]))

    def forward(self, features: list[Tensor], boxes: list[Tensor]) -> Tensor:
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)])
        area = (rois[:, 3] - rois[:, 1] + 1) * (rois[:, 4] - rois[:, 2] + 1)
        levels = torch.floor(CANONICAL_LEVEL + torch.log2(torch.sqrt(area) / CANONICAL_SCALE + 1e-6))
        levels = levels.clamp(self.k_min, self.k_max).to(torch.int64) - self.k_min
        out = features[0].new_zeros((len(rois), features[0].shape[1], self.resolution, self.resolution))
        for level, scale in enumerate(self.scales):
            chosen = torch.nonzero(levels == level).squeeze(1)
            if chosen.numel():
                out[chosen] = roi_align(features[level], rois[chosen], self.resolution, scale, self.sampling_ratio)
        return out


class BoxFeatures(nn.Module):
    """FPN2MLPFeatureExtractor: pooled 7x7 features through two fully connected layers (fc6, fc7)."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.pooler = Pooler(config.box_resolution, config.pooler_scales, config.box_sampling_ratio)
        self.fc6 = _fc(config.fpn_channels * config.box_resolution**2, config.mlp_dim)
        self.fc7 = _fc(config.mlp_dim, config.mlp_dim)

    def forward(self, features: list[Tensor], boxes: list[Tensor]) -> Tensor:
        x = self.pooler(features, boxes).flatten(1)
        return F.relu(self.fc7(F.relu(self.fc6(x))))


def _fc(cin: int, cout: int) -> nn.Linear:
    fc = nn.Linear(cin, cout)
    nn.init.kaiming_uniform_(fc.weight, a=1)
    nn.init.zeros_(fc.bias)
    return fc


class BoxPredictor(nn.Module):
    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.cls_score = nn.Linear(config.mlp_dim, config.classes)
        self.bbox_pred = nn.Linear(config.mlp_dim, config.classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class BoxHead(nn.Module):
    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_extractor = BoxFeatures(config)
        self.predictor = BoxPredictor(config)


class MaskFeatures(nn.Module):
    """MaskRCNNFPNFeatureExtractor: pooled 14x14 features through four 3x3 convolutions (mask_fcn1..4)."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.pooler = Pooler(config.mask_resolution, config.pooler_scales, config.mask_sampling_ratio)
        cin = config.fpn_channels
        for i, cout in enumerate(config.mask_channels, 1):
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.get_parameter("bias"))
            self.add_module(f"mask_fcn{i}", conv)
            cin = cout
        self.layers = len(config.mask_channels)

    def forward(self, features: list[Tensor], boxes: list[Tensor]) -> Tensor:
        x = self.pooler(features, boxes)
        for i in range(1, self.layers + 1):
            x = F.relu(getattr(self, f"mask_fcn{i}")(x))
        return x  # type: ignore[no-any-return]


class MaskPredictor(nn.Module):
    """MaskRCNNC4Predictor: a 2x2 stride-2 deconvolution, then one 1x1 convolution per class: 28x28 logits."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        channels = config.mask_channels[-1]
        self.conv5_mask = nn.ConvTranspose2d(channels, channels, 2, 2, 0)
        self.mask_fcn_logits = nn.Conv2d(channels, config.classes, 1)
        for name, p in self.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            else:
                nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.mask_fcn_logits(F.relu(self.conv5_mask(x)))
        return logits


class MaskHead(nn.Module):
    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.feature_extractor = MaskFeatures(config)
        self.predictor = MaskPredictor(config)


class RoIHeads(nn.Module):
    """The box head (classes, class-specific box regression) and the mask head on the RPN's proposals."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.box = BoxHead(config)
        self.mask = MaskHead(config)

    def forward(self, features: list[Tensor], proposals: list[Tensor], sizes: list[tuple[int, int]],
                targets: list[Target] | None) -> Any:
        if targets is None:
            return self.detect(features, proposals, sizes)
        with torch.no_grad():
            boxes, labels, goals, matched = zip(*(self._subsample(p, t) for p, t in zip(proposals, targets)))
        logits, codes = self.box.predictor(self.box.feature_extractor(features, list(boxes)))
        labels_all, goals_all = torch.cat(labels), torch.cat(goals)
        positive = torch.nonzero(labels_all > 0).squeeze(1)
        columns = 4 * labels_all[positive, None] + torch.arange(4, device=codes.device)
        box_loss = smooth_l1(codes.float()[positive[:, None], columns], goals_all[positive], beta=1.0)
        losses = {"loss_classifier": F.cross_entropy(logits.float(), labels_all),
                  "loss_box_reg": box_loss / max(1, labels_all.numel())}
        losses["loss_mask"] = self._mask_loss(features, boxes, labels, matched, targets)
        return losses

    def _subsample(self, proposals: Tensor, target: Target) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """512 proposals of an image, a quarter positive at most (FastRCNNLossComputation.subsample): boxes, labels
        (0 background), regression targets, matched ground-truth index."""
        c, gt = self.config, target["boxes"].to(proposals.dtype)
        matched = match(box_iou(gt, proposals), c.roi_fg_iou, c.roi_bg_iou, low_quality=False)
        labels = target["labels"][matched.clamp(min=0)].clone()
        labels[matched == BELOW_LOW] = 0
        labels[matched == BETWEEN] = -1
        pos, neg = sample(labels, c.roi_batch_per_image, c.roi_positive_fraction)
        chosen = torch.cat([pos, neg])
        goals = encode(gt[matched[chosen].clamp(min=0)], proposals[chosen], c.box_weights)
        return proposals[chosen], labels[chosen], goals, matched[chosen]

    def _mask_loss(self, features: list[Tensor], boxes: tuple[Tensor, ...], labels: tuple[Tensor, ...],
                   matched: tuple[Tensor, ...], targets: list[Target]) -> Tensor:
        """Binary cross-entropy of the positive proposals' 28x28 logits of their class against their ground
        truth's mask projected on them (MaskRCNNLossComputation)."""
        positive = [torch.nonzero(lab > 0).squeeze(1) for lab in labels]
        chosen = [b[p] for b, p in zip(boxes, positive)]
        logits = self.mask.predictor(self.mask.feature_extractor(features, chosen))
        if logits.shape[0] == 0:
            return logits.sum() * 0  # type: ignore[no-any-return]
        size = self.config.mask_size
        goals = torch.cat([project_masks(t["masks"], m[p].tolist(), b.detach().cpu().numpy(), size)
                           for t, m, p, b in zip(targets, matched, positive, chosen)]).to(logits.device)
        classes = torch.cat([lab[p] for lab, p in zip(labels, positive)])
        picked = logits[torch.arange(len(classes), device=logits.device), classes].float()
        return F.binary_cross_entropy_with_logits(picked, goals)

    @torch.no_grad()
    def detect(self, features: list[Tensor], proposals: list[Tensor], sizes: list[tuple[int, int]]
               ) -> list[dict[str, Tensor]]:
        """Per image: class-specific boxes scored above 0.05, suppressed per class (IoU 0.5), the best 100, with
        the mask probabilities of their class (PostProcessor, MaskPostProcessor)."""
        c = self.config
        logits, codes = self.box.predictor(self.box.feature_extractor(features, proposals))
        probabilities = torch.split(F.softmax(logits.float(), -1), [len(p) for p in proposals])
        codes_per_image = torch.split(codes.float(), [len(p) for p in proposals])
        found = [self._filter(clip(decode(k, p, c.box_weights), h, w), s)
                 for k, p, s, (h, w) in zip(codes_per_image, proposals, probabilities, sizes)]
        masks = self.mask.predictor(self.mask.feature_extractor(features, [f["boxes"] for f in found])).float()
        labels = torch.cat([f["labels"] for f in found])
        chosen = masks[torch.arange(len(labels), device=masks.device), labels].sigmoid()[:, None]
        for f, m in zip(found, torch.split(chosen, [len(f["labels"]) for f in found])):
            f["masks"] = m
        return found

    def _filter(self, boxes: Tensor, scores: Tensor) -> dict[str, Tensor]:
        """Per class j >= 1: the boxes scoring above the threshold, suppressed within the class (all classes in
        one call, each moved to a region of its own: the same boxes as one suppression per class), the best
        `detections_per_img` of all."""
        c = self.config
        rows, classes = torch.nonzero(scores[:, 1:] > c.score_thresh, as_tuple=True)
        classes = classes + 1
        picked = boxes.view(len(boxes), scores.shape[1], 4)[rows, classes]   # no proposal: no row
        picked_scores = scores[rows, classes]
        span = float(picked.max() - picked.min() + 2) if len(picked) else 0.0
        # suppression keeps boxes best first, so stopping at the best `detections_per_img` is the same as
        # keeping them all and then the best of those
        kept = suppress(picked + (classes * span)[:, None].to(picked.dtype), picked_scores, c.box_nms,
                        keep_at_most=c.detections_per_img if c.detections_per_img > 0 else -1)
        return {"boxes": picked[kept], "scores": picked_scores[kept], "labels": classes[kept]}


def project_masks(masks: list[Any], matched: list[int], boxes: np.ndarray, size: int) -> Tensor:
    """(P, size, size) float mask targets: each ground-truth mask cropped to its proposal and resized
    (project_masks_on_boxes; polygons as Polygons.crop/resize/convert, bitmasks sampled at the cells' centres)."""
    import pycocotools.mask as mask_util  # type: ignore[import-untyped]

    out = np.zeros((len(matched), size, size), dtype=np.float32)
    for k, (g, box) in enumerate(zip(matched, boxes)):
        x1, y1 = float(box[0]), float(box[1])
        w, h = max(float(box[2]) - x1, 1.0), max(float(box[3]) - y1, 1.0)
        mask = masks[g]
        if isinstance(mask, np.ndarray):
            ys = np.clip((y1 + (np.arange(size) + 0.5) * h / size).astype(np.int64), 0, mask.shape[0] - 1)
            xs = np.clip((x1 + (np.arange(size) + 0.5) * w / size).astype(np.int64), 0, mask.shape[1] - 1)
            out[k] = mask[np.ix_(ys, xs)] > 0
            continue
        polygons = []
        for p in mask:
            q = np.array(p, dtype=np.float64)
            q[0::2] = (q[0::2] - x1) * (size / w)
            q[1::2] = (q[1::2] - y1) * (size / h)
            polygons.append(q.tolist())
        if polygons:
            out[k] = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polygons, size, size)))
    return torch.from_numpy(out)
