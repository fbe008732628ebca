"""The Mask R-CNN network in torch: ResNet body with frozen batch norm, FPN, region proposal network, box and mask
heads, their losses and the inference post-processing, as maskrcnn-benchmark computes them.

Follows mlcommons/training retired_benchmarks/maskrcnn/pytorch/maskrcnn_benchmark: modeling/backbone/{resnet,fpn}.py,
modeling/rpn/{anchor_generator,inference,loss,rpn}.py, modeling/{box_coder,matcher,poolers,
balanced_positive_negative_sampler}.py, modeling/roi_heads/{box_head,mask_head}/*.py; the numbers are in
`podium.models.maskrcnn.MaskRCNNConfig`. Boxes keep the reference's inclusive pixel convention (a box's width is
x2 - x1 + 1) in IoU, encoding, clipping and suppression, so that matches and proposals are the reference's.
What differs, and why:
- suppression runs in numpy (`podium.models.boxes.nms`, on x2 + 1, y2 + 1: exactly the reference's "+1" NMS),
  since torchvision does not install here; the RPN's candidates leave the device for it;
- mask targets are rasterized with pycocotools from polygons (as the reference) or sampled from a bitmask (the
  training rules' "scalable bitmask", for RLE annotations), once per positive proposal.

torch is imported at the top: this private module is imported only when a model is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podium.models.boxes import nms
from podium.models.roi_align import roi_align

if TYPE_CHECKING:
    from podium.models.maskrcnn import MaskRCNNConfig

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # BoxCoder: dw, dh are clamped here before exp
CANONICAL_SCALE, CANONICAL_LEVEL = 224, 4  # poolers.LevelMapper (FPN paper, eq. 1)
Target = dict[str, Any]


# -- boxes, in the reference's inclusive pixel convention -------------------------------------------------------
def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(len(a), len(b)) IoU with areas (x2 - x1 + 1) * (y2 - y1 + 1) (structures/boxlist_ops.boxlist_iou)."""
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def encode(gt: Tensor, boxes: Tensor, weights: tuple[float, ...]) -> Tensor:
    """Regression targets of `gt` relative to `boxes` (BoxCoder.encode)."""
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    gw, gh = gt[:, 2] - gt[:, 0] + 1, gt[:, 3] - gt[:, 1] + 1
    dx = wx * ((gt[:, 0] + 0.5 * gw) - (boxes[:, 0] + 0.5 * w)) / w
    dy = wy * ((gt[:, 1] + 0.5 * gh) - (boxes[:, 1] + 0.5 * h)) / h
    return torch.stack([dx, dy, ww * torch.log(gw / w), wh * torch.log(gh / h)], dim=1)


def decode(codes: Tensor, boxes: Tensor, weights: tuple[float, ...]) -> Tensor:
    """Boxes from `codes` (R, 4k) relative to `boxes` (R, 4): (R, 4k) (BoxCoder.decode)."""
    boxes = boxes.to(codes.dtype)
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
    cx, cy = boxes[:, 0:1] + 0.5 * w, boxes[:, 1:2] + 0.5 * h
    dx, dy = codes[:, 0::4] / wx, codes[:, 1::4] / wy
    dw, dh = (codes[:, 2::4] / ww).clamp(max=BBOX_XFORM_CLIP), (codes[:, 3::4] / wh).clamp(max=BBOX_XFORM_CLIP)
    px, py, pw, ph = dx * w + cx, dy * h + cy, torch.exp(dw) * w, torch.exp(dh) * h
    out = torch.stack([px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw - 1, py + 0.5 * ph - 1], dim=2)
    return out.reshape(codes.shape)


def clip(boxes: Tensor, height: int, width: int) -> Tensor:
    """BoxList.clip_to_image: x into 0..width-1, y into 0..height-1."""
    x = boxes[..., 0::2].clamp(0, width - 1)
    y = boxes[..., 1::2].clamp(0, height - 1)
    return torch.stack([x[..., 0::2], y[..., 0::2], x[..., 1::2], y[..., 1::2]], dim=-1).reshape(boxes.shape)


def suppress(boxes: Tensor, scores: Tensor, threshold: float, keep_at_most: int = -1) -> Tensor:
    """Indices kept by the reference's NMS (inclusive boxes), best first, at most `keep_at_most` (-1: all)."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    exclusive = boxes.detach().double().cpu().numpy() + np.array([0.0, 0.0, 1.0, 1.0])
    kept = nms(exclusive, scores.detach().double().cpu().numpy(), threshold)
    kept = kept[:keep_at_most] if keep_at_most >= 0 else kept
    return torch.as_tensor(kept, dtype=torch.int64, device=boxes.device)


# -- matching and sampling -------------------------------------------------------------------------------------
BELOW_LOW, BETWEEN = -1, -2


def match(iou: Tensor, high: float, low: float, low_quality: bool) -> Tensor:
    """Per prediction (column of `iou` (G, P)): the matched ground truth, BELOW_LOW or BETWEEN (Matcher); with
    `low_quality`, each ground truth also keeps the predictions it overlaps most (ties included)."""
    best, matches = iou.max(dim=0)
    result = matches.clone()
    result[best < low] = BELOW_LOW
    result[(best >= low) & (best < high)] = BETWEEN
    if low_quality:
        highest = iou.max(dim=1).values
        _, chosen = torch.nonzero(iou == highest[:, None], as_tuple=True)
        result[chosen] = matches[chosen]
    return result


def sample(labels: Tensor, batch: int, positive_fraction: float) -> tuple[Tensor, Tensor]:
    """(positive, negative) indices drawn at random: up to batch * fraction labels >= 1, the rest of `batch` from
    labels == 0 (BalancedPositiveNegativeSampler)."""
    positive = torch.nonzero(labels >= 1).squeeze(1)
    negative = torch.nonzero(labels == 0).squeeze(1)
    positives = min(positive.numel(), int(batch * positive_fraction))
    negatives = min(negative.numel(), batch - positives)
    positive = positive[torch.randperm(positive.numel(), device=labels.device)[:positives]]
    negative = negative[torch.randperm(negative.numel(), device=labels.device)[:negatives]]
    return positive, negative


def smooth_l1(x: Tensor, y: Tensor, beta: float) -> Tensor:
    """Summed smooth L1 with the reference's `beta` (layers/smooth_l1_loss.py)."""
    n = torch.abs(x - y)
    return torch.where(n < beta, 0.5 * n**2 / beta, n - 0.5 * beta).sum()


# -- backbone --------------------------------------------------------------------------------------------------
class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters, all buffers (layers/batch_norm.py)."""

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        for name, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((channels,), value))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * self.running_var.rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1).to(x.dtype) + shift.reshape(1, -1, 1, 1).to(x.dtype)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    return conv


class Bottleneck(nn.Module):
    """ResNet bottleneck, stride in the 1x1 convolution (RESNETS.STRIDE_IN_1X1), frozen batch norm."""

    def __init__(self, cin: int, width: int, cout: int, stride: int) -> None:
        super().__init__()
        self.downsample = nn.Sequential(_conv(cin, cout, 1, stride), FrozenBatchNorm2d(cout)) if cin != cout else None
        self.conv1, self.bn1 = _conv(cin, width, 1, stride), FrozenBatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3, 1, 1), FrozenBatchNorm2d(width)
        self.conv3, self.bn3 = _conv(width, cout, 1), FrozenBatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Stem(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv(3, channels, 7, 2, 3), FrozenBatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)


class ResNet(nn.Module):
    """The body: stem, then `layer1`..`layer4`, returning C2..C5."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.stem = Stem(config.stem_channels)
        cin, self.stages = config.stem_channels, []
        for index, blocks in enumerate(config.stage_blocks):
            width, cout = config.bottleneck_channels * 2**index, config.res2_channels * 2**index
            layers = [Bottleneck(cin if b == 0 else cout, width, cout, (2 if index > 0 else 1) if b == 0 else 1)
                      for b in range(blocks)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layers))
            self.stages.append(f"layer{index + 1}")
            cin = cout
        for module in ([self.stem] + [getattr(self, s) for s in self.stages])[:config.freeze_at]:
            for p in module.parameters():
                p.requires_grad = False

    def forward(self, x: Tensor) -> list[Tensor]:
        x, outputs = self.stem(x), []
        for stage in self.stages:
            x = getattr(self, stage)(x)
            outputs.append(x)
        return outputs


class FPN(nn.Module):
    """P2..P5 from C2..C5 (1x1 lateral, nearest 2x top-down, 3x3 output), P6 by stride-2 subsampling of P5."""

    def __init__(self, in_channels: list[int], channels: int) -> None:
        super().__init__()
        for i, cin in enumerate(in_channels, 1):
            self.add_module(f"fpn_inner{i}", _fpn_conv(cin, channels, 1))
            self.add_module(f"fpn_layer{i}", _fpn_conv(channels, channels, 3))
        self.levels = len(in_channels)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        inner = getattr(self, f"fpn_inner{self.levels}")(features[-1])
        results = [getattr(self, f"fpn_layer{self.levels}")(inner)]
        for i in range(self.levels - 1, 0, -1):
            inner = getattr(self, f"fpn_inner{i}")(features[i - 1]) + F.interpolate(inner, scale_factor=2.0,
                                                                                     mode="nearest")
            results.insert(0, getattr(self, f"fpn_layer{i}")(inner))
        return results + [F.max_pool2d(results[-1], kernel_size=1, stride=2)]   # LastLevelMaxPool


def _fpn_conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    nn.init.zeros_(_bias(conv))
    return conv


def _bias(layer: nn.Conv2d | nn.ConvTranspose2d | nn.Linear) -> Tensor:
    assert layer.bias is not None
    return layer.bias


class Backbone(nn.Module):
    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.body = ResNet(config)
        stages = len(config.stage_blocks)
        self.fpn = FPN([config.res2_channels * 2**i for i in range(stages)], config.fpn_channels)

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.fpn(self.body(x)))


# -- region proposal network -------------------------------------------------------------------------------------
def cell_anchors(stride: int, size: float, ratios: tuple[float, ...]) -> Tensor:
    """The anchors at one location (generate_anchors): a stride x stride window reshaped to each aspect ratio
    (widths rounded half to even, as numpy's round), scaled to `size`, about the window's centre."""
    centre = (stride - 1) / 2
    ratios_np = np.asarray(ratios, dtype=np.float64)
    base_w = np.round(np.sqrt(stride * stride / ratios_np))
    base_h = np.round(base_w * ratios_np)
    ws, hs = base_w * size / stride, base_h * size / stride
    anchors = np.stack([centre - 0.5 * (ws - 1), centre - 0.5 * (hs - 1), centre + 0.5 * (ws - 1),
                        centre + 0.5 * (hs - 1)], axis=1)
    return torch.as_tensor(anchors, dtype=torch.float32)


class RPNHead(nn.Module):
    def __init__(self, channels: int, anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(channels, anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, anchors * 4, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(_bias(layer))

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        hidden = [F.relu(self.conv(f)) for f in features]
        return [self.cls_logits(t) for t in hidden], [self.bbox_pred(t) for t in hidden]


def flatten(layer: Tensor, channels: int) -> Tensor:
    """(N, A * C, H, W) -> (N, H * W * A, C), anchors innermost (rpn/utils.permute_and_flatten)."""
    n, _, h, w = layer.shape
    return layer.view(n, -1, channels, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, channels)


class RPN(nn.Module):
    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.head = RPNHead(config.fpn_channels, config.anchors_per_location)
        for i, (stride, size) in enumerate(zip(config.anchor_strides, config.anchor_sizes)):
            self.register_buffer(f"cell_anchors_{i}", cell_anchors(stride, size, config.aspect_ratios),
                                 persistent=False)

    def anchors(self, features: list[Tensor]) -> list[Tensor]:
        """Per level, (H * W * A, 4) anchors: the cell anchors shifted to every location (grid_anchors)."""
        out = []
        for i, (feature, stride) in enumerate(zip(features, self.config.anchor_strides)):
            h, w = feature.shape[-2:]
            ys = torch.arange(h, device=feature.device, dtype=torch.float32) * stride
            xs = torch.arange(w, device=feature.device, dtype=torch.float32) * stride
            sy, sx = torch.meshgrid(ys, xs, indexing="ij")
            shifts = torch.stack([sx, sy, sx, sy], dim=-1).reshape(-1, 1, 4)
            out.append((shifts + getattr(self, f"cell_anchors_{i}").view(1, -1, 4)).reshape(-1, 4))
        return out

    def forward(self, features: list[Tensor], sizes: list[tuple[int, int]], targets: list[Target] | None
                ) -> tuple[list[Tensor], dict[str, Tensor]]:
        logits, deltas = self.head(features)
        anchors = self.anchors(features)
        with torch.no_grad():
            proposals = self.propose(anchors, logits, deltas, sizes)
        if targets is None:
            return proposals, {}
        proposals = [torch.cat([p, t["boxes"].to(p.dtype)]) for p, t in zip(proposals, targets)]  # add_gt_proposals
        return proposals, self.loss(anchors, logits, deltas, sizes, targets)

    def propose(self, anchors: list[Tensor], logits: list[Tensor], deltas: list[Tensor],
                sizes: list[tuple[int, int]]) -> list[Tensor]:
        """Per image, its proposals (RPNPostProcessor): per level the best pre-NMS candidates decoded, clipped,
        suppressed; then the best over all levels: over the whole batch in training, per image in evaluation."""
        c = self.config
        pre, post = (c.pre_nms_top_n_train, c.post_nms_top_n_train) if self.training else \
            (c.pre_nms_top_n_test, c.post_nms_top_n_test)
        boxes: list[list[Tensor]] = [[] for _ in sizes]
        scores: list[list[Tensor]] = [[] for _ in sizes]
        for level_anchors, level_logits, level_deltas in zip(anchors, logits, deltas):
            objectness = flatten(level_logits, 1).squeeze(2).float().sigmoid()
            top, index = objectness.topk(min(pre, objectness.shape[1]), dim=1)
            codes = flatten(level_deltas, 4).float()
            for i, (h, w) in enumerate(sizes):
                found = clip(decode(codes[i, index[i]], level_anchors[index[i]], (1.0, 1.0, 1.0, 1.0)), h, w)
                wide = ((found[:, 2] - found[:, 0] + 1 >= c.rpn_min_size) &
                        (found[:, 3] - found[:, 1] + 1 >= c.rpn_min_size))
                found, score = found[wide], top[i][wide]
                kept = suppress(found, score, c.rpn_nms, post)
                boxes[i].append(found[kept])
                scores[i].append(score[kept])
        merged = [torch.cat(b) for b in boxes]
        merged_scores = [torch.cat(s) for s in scores]
        return self._best_over_levels(merged, merged_scores)

    def _best_over_levels(self, boxes: list[Tensor], scores: list[Tensor]) -> list[Tensor]:
        if not self.training:
            top = self.config.fpn_post_nms_top_n_test
            return [b[s.topk(min(top, len(s))).indices] for b, s in zip(boxes, scores)]
        everything = torch.cat(scores)
        chosen = torch.zeros_like(everything, dtype=torch.bool)
        chosen[everything.topk(min(self.config.fpn_post_nms_top_n_train, len(everything))).indices] = True
        return [b[m] for b, m in zip(boxes, torch.split(chosen, [len(s) for s in scores]))]

    def loss(self, anchors: list[Tensor], logits: list[Tensor], deltas: list[Tensor], sizes: list[tuple[int, int]],
             targets: list[Target]) -> dict[str, Tensor]:
        """Objectness (binary cross-entropy) and box (smooth L1, beta 1/9) losses over 256 sampled anchors per
        image, half positive at most (RPNLossComputation)."""
        c, every = self.config, torch.cat(anchors)
        positives, negatives, goals = [], [], []
        for i, ((h, w), target) in enumerate(zip(sizes, targets)):
            gt = target["boxes"].to(every.dtype)
            matched = match(box_iou(gt, every), c.rpn_fg_iou, c.rpn_bg_iou, low_quality=True)
            labels = (matched >= 0).to(torch.float32)
            labels[matched == BELOW_LOW] = 0
            t = c.straddle_thresh
            visible = ((every[:, 0] >= -t) & (every[:, 1] >= -t) & (every[:, 2] < w + t) & (every[:, 3] < h + t))
            labels[~visible | (matched == BETWEEN)] = -1
            pos, neg = sample(labels, c.rpn_batch_per_image, c.rpn_positive_fraction)
            offset = i * len(every)
            positives.append(pos + offset)
            negatives.append(neg + offset)
            goals.append(encode(gt[matched.clamp(min=0)], every, (1.0, 1.0, 1.0, 1.0)))
        pos, neg = torch.cat(positives), torch.cat(negatives)
        chosen = torch.cat([pos, neg])
        objectness = torch.cat([flatten(x, 1) for x in logits], dim=1).reshape(-1).float()
        codes = torch.cat([flatten(x, 4) for x in deltas], dim=1).reshape(-1, 4).float()
        labels_all = torch.zeros_like(objectness)
        labels_all[pos] = 1.0
        box = smooth_l1(codes[pos], torch.cat(goals)[pos], beta=1.0 / 9) / max(1, chosen.numel())
        return {"loss_objectness": F.binary_cross_entropy_with_logits(objectness[chosen], labels_all[chosen]),
                "loss_rpn_box_reg": box}


# -- RoI heads ---------------------------------------------------------------------------------------------------
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
            nn.init.zeros_(_bias(conv))
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
        picked = boxes.view(len(boxes), -1, 4)[rows, classes]
        picked_scores = scores[rows, classes]
        span = float(picked.max() - picked.min() + 2) if len(picked) else 0.0
        kept = suppress(picked + (classes * span)[:, None].to(picked.dtype), picked_scores, c.box_nms)
        kept = kept[:c.detections_per_img] if c.detections_per_img > 0 else kept
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


class MaskRCNN(nn.Module):
    """GeneralizedRCNN: backbone, RPN, RoI heads. Training forward: the five losses; eval forward: detections."""

    def __init__(self, config: MaskRCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        self.rpn = RPN(config)
        self.roi_heads = RoIHeads(config)

    def forward(self, images: Tensor, sizes: Tensor, targets: list[Target] | None = None) -> Any:
        image_sizes = [(int(h), int(w)) for h, w in sizes.tolist()]
        features = self.backbone(images)
        if self.training and targets is None:
            raise ValueError("Mask R-CNN in training mode needs targets")
        proposals, rpn_losses = self.rpn(features, image_sizes, targets if self.training else None)
        if not self.training:
            return self.roi_heads(features[:-1], proposals, image_sizes, None)
        return {**self.roi_heads(features[:-1], proposals, image_sizes, targets), **rpn_losses}

