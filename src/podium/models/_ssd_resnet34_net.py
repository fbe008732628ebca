"""The SSD-ResNet34 network (torch), with the module names of the MLPerf reference
(vision/classification_and_detection/python/models/ssd_r34.py and base_model_r34.py), so that the reference
checkpoint's state dict loads as it is: model.layer1 (torchvision ResNet-34's conv1, bn1, relu, maxpool, layer1,
layer2), model.layer2 (its layer3, first block at stride 1), additional_blocks.{0..4}, loc.{0..5}, conf.{0..5}.

`forward` answers the official graph's outputs (`resnet34-ssd1200.onnx`): `bboxes` (N, 200, 4) [left, top, right,
bottom] normalized, `labels` (N, 200) int64 (1..80, the contiguous COCO class numbers; 0 where padded) and
`scores` (N, 200), best first. The official ONNX graph answers batch 1 and only its real detections; here every
image has 200 rows, padded with zeros after its last detection (the reference's post-processing stops at the first
score under its threshold, so padding never becomes a detection). Decoding and suppression are the reference's
`Encoder.decode_batch(…, criteria=0.50, max_output=200)`: softmax over 81 classes, per class the best 200 boxes
scoring over 0.05, greedy NMS dropping boxes at IoU 0.5 or more, then the best 200 of all classes. IoU here is
the true one: the reference's `calc_iou_tensor` leaves negative overlaps unclamped (its `masked_fill_` works on a
copy), which the ONNX port (its roi_ops NMS) does not do either.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from podium.models import ssd
from podium.models._ssd_torch import Suppression, decode_xywh, suppress_top_candidates

CLASSES = 81  # background, then the 80 COCO categories in their file order
SCALE_XY, SCALE_WH = 0.1, 0.2
SUPPRESSION = Suppression(score_threshold=0.05, iou_threshold=0.5, per_class=200, max_detections=200,
                          inclusive=True)
CANDIDATES = 200  # boxes per class entering NMS (the reference's max_num)
CHANNELS = (256, 512, 512, 256, 256, 256)  # of the six feature maps
HEAD_STRIDE = 3  # loc and conf convolutions take every third cell: 150 -> 50, 75 -> 25, ...
# additional blocks: (middle channels, stride, padding) of the 3x3 convolution after a 1x1 one
ADDITIONAL = ((256, 2, 1), (256, 2, 1), (128, 2, 1), (128, 2, 0), (128, 1, 0))


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (attribute names kept: conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (None if stride == 1 and cin == cout else
                           nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: Tensor) -> Tensor:
        skip: Tensor = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + skip)


def stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), *(BasicBlock(cout, cout, 1) for _ in range(blocks - 1)))


class ResNet34Trunk(nn.Module):
    """ResNet-34 up to its third stage, that stage at stride 1: 1200x1200 -> 256 x 150 x 150."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                    nn.MaxPool2d(3, 2, 1), stage(64, 64, 3, 1), stage(64, 128, 4, 2))
        self.layer2 = nn.Sequential(stage(128, 256, 6, 1))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.layer2(self.layer1(x))
        return out


def additional_block(cin: int, cout: int, mid: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, cout, 3, stride, padding), nn.ReLU(inplace=True))


def init_heads(net: Any) -> None:
    """The reference's `_init_weights`: Xavier-uniform weights in the additional blocks and the loc/conf heads."""
    for layer in (*net.additional_blocks, *net.loc, *net.conf):
        for weight in layer.parameters():
            if weight.dim() > 1:
                nn.init.xavier_uniform_(weight)


def bbox_view(net: Any, images: Tensor) -> tuple[Tensor, Tensor]:
    """An SSD's box codes (N, 4, boxes) and class logits (N, classes, boxes) from its trunk (`model`), its
    `additional_blocks` and its `loc`/`conf` heads, laid out as the reference's `bbox_view`."""
    x: Tensor = net.model(images)
    maps = [x]
    for block in net.additional_blocks:
        x = block(x)
        maps.append(x)
    n = images.shape[0]
    codes = torch.cat([loc(m).reshape(n, 4, -1) for loc, m in zip(net.loc, maps, strict=True)], 2)
    logits = torch.cat([conf(m).reshape(n, net.classes, -1)
                        for conf, m in zip(net.conf, maps, strict=True)], 2)
    return codes, logits


class SSDResNet34(nn.Module):
    """SSD-ResNet34, 1200x1200, answering the official graph's outputs (see the module docstring)."""

    default_boxes: Tensor  # (15130, 4) [cx, cy, w, h], a buffer outside the state dict

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.classes = classes
        self.model = ResNet34Trunk()
        self.additional_blocks = nn.ModuleList([
            additional_block(cin, cout, *spec)
            for cin, cout, spec in zip(CHANNELS[:-1], CHANNELS[1:], ADDITIONAL, strict=True)])
        self.loc = nn.ModuleList([nn.Conv2d(c, n * 4, 3, HEAD_STRIDE, 1)
                                  for c, n in zip(CHANNELS, ssd.R34_BOXES_PER_CELL, strict=True)])
        self.conf = nn.ModuleList([nn.Conv2d(c, n * classes, 3, HEAD_STRIDE, 1)
                                   for c, n in zip(CHANNELS, ssd.R34_BOXES_PER_CELL, strict=True)])
        self.register_buffer("default_boxes", torch.from_numpy(ssd.r34_default_boxes_xywh()), persistent=False)
        init_heads(self)

    def raw(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Box codes (N, 4, 15130) and class logits (N, 81, 15130), laid out as the reference's `bbox_view`."""
        return bbox_view(self, images)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        codes, logits = self.raw(images)
        boxes = decode_xywh(codes, self.default_boxes, SCALE_XY, SCALE_WH)
        scores = torch.softmax(logits.transpose(1, 2), dim=-1)[..., 1:]
        d = suppress_top_candidates(boxes, scores, SUPPRESSION, CANDIDATES)
        return d.boxes, d.labels, d.scores
