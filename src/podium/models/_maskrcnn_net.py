"""The Mask R-CNN network in torch: ResNet body with frozen batch norm, FPN, region proposal network, and the
whole (`MaskRCNN`: backbone, RPN, RoI heads), as maskrcnn-benchmark computes them.

Follows mlcommons/training retired_benchmarks/maskrcnn/pytorch/maskrcnn_benchmark: modeling/backbone/{resnet,fpn}.py,
modeling/rpn/{anchor_generator,inference,loss,rpn}.py, modeling/detector/generalized_rcnn.py; the numbers are in
`podium.models.maskrcnn.MaskRCNNConfig`. Boxes keep the reference's inclusive pixel convention (a box's width is
x2 - x1 + 1) in IoU, encoding, clipping and suppression (`_maskrcnn_boxes`), so that matches and proposals are the
reference's; the RoI heads are in `_maskrcnn_heads`.

torch is imported at the top: this private module is imported only when a model is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podium.models._maskrcnn_boxes import BELOW_LOW, BETWEEN, Target, box_iou, clip, decode, encode, match, \
    sample, smooth_l1, suppress
from podium.models._maskrcnn_heads import RoIHeads

if TYPE_CHECKING:
    from podium.models._maskrcnn_config import MaskRCNNConfig


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
