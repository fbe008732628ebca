"""The training side of the two single-stage detectors' networks (torch): SSD-ResNet34 at 300x300 (the network
MLPerf Training's SSD trained up to v1.1), narrow variants of it and of RetinaNet for CI, and the training-mode
forward of `podium.models.retinanet` (head outputs before decoding).

- `SSD300`: mlcommons/training single_stage_detector/ssd (v1.x) ssd300.py `SSD300` on base_model.py `ResNet34`:
  torchvision's ResNet-34 up to layer3, layer3's first block at stride 1 (38x38 for 300x300 inputs); five
  additional blocks (1x1 then 3x3 convolutions: stride 2 padding 1 three times, then stride 1 padding 0 twice:
  19, 10, 5, 3, 1); 3x3 loc and conf heads with 4, 6, 6, 6, 4, 4 default boxes per cell (8732); the additional
  blocks and heads Xavier-initialized. The trunk and the additional blocks are `podium.models._ssd_resnet34_net`'s
  (the 1200x1200 inference model shares the trunk's module names); the 300x300 network differs from that one in
  its heads (stride 1, not 3) and the padding of its last two blocks, so it is assembled here. Its eval forward
  decodes and suppresses as the reference's `Encoder.decode_batch(criteria=0.5, max_output=200)` with the
  inference model's suppression.
- `NarrowRetinaNet`: `podium.models._retinanet_net.RetinaNet` (same heads, anchors, decoding, suppression) on a
  narrow ResNeXt (groups of 32, one block per stage) and a narrow pyramid, for tests.
- `RetinaNetHeads`: the training forward the reference's `RetinaNet.forward` runs before `compute_loss`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from podium.models._resnext import (Bottleneck, FeaturePyramid, FrozenBatchNorm2d, init_backbone)
from podium.models._retinanet_net import Head, RetinaNet, cell_anchors, grid_anchors
from podium.models._ssd_resnet34_net import SUPPRESSION, additional_block, bbox_view, init_heads, stage
from podium.models._ssd_torch import decode_xywh, suppress_top_candidates
from podium.workloads._anchors import SSD_SCALE_WH, SSD_SCALE_XY, ssd_default_boxes

SSD_CLASSES = 81
SSD_BOXES_PER_CELL = (4, 6, 6, 6, 4, 4)
SSD_CANDIDATES = 200  # per class entering NMS (the reference's max_num)


class Trunk(nn.Module):
    """ResNet-34's stem and stages 1-3 (`layer1`: conv1 .. layer2; `layer2`: layer3 at stride 1), of `widths`
    and `blocks` per stage ((64, 128, 256), (3, 4, 6): torchvision's ResNet-34)."""

    def __init__(self, widths: tuple[int, int, int], blocks: tuple[int, int, int]) -> None:
        super().__init__()
        stem = widths[0]
        self.layer1 = nn.Sequential(nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem),
                                    nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1), stage(stem, widths[0], blocks[0], 1),
                                    stage(widths[0], widths[1], blocks[1], 2))
        self.layer2 = nn.Sequential(stage(widths[1], widths[2], blocks[2], 1))
        for m in self.modules():  # torchvision's ResNet initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.layer2(self.layer1(x))
        return out


class SSD300(nn.Module):
    """(N, 3, 300, 300) normalized RGB -> eval: bboxes (N, 200, 4) [left, top, right, bottom] normalized, labels
    (N, 200) (1..80, 0 padding), scores (N, 200); `raw` answers the training outputs."""

    default_boxes: Tensor

    def __init__(self, classes: int = SSD_CLASSES, widths: tuple[int, int, int] = (64, 128, 256),
                 blocks: tuple[int, int, int] = (3, 4, 6),
                 channels: tuple[int, ...] = (256, 512, 512, 256, 256, 256),
                 middles: tuple[int, ...] = (256, 256, 128, 128, 128)) -> None:
        super().__init__()
        self.classes = classes
        self.model = Trunk(widths, blocks)
        shape = ((2, 1), (2, 1), (2, 1), (1, 0), (1, 0))  # (stride, padding) of each block's 3x3 convolution
        self.additional_blocks = nn.ModuleList([
            additional_block(cin, cout, mid, stride, pad)
            for cin, cout, mid, (stride, pad) in zip(channels[:-1], channels[1:], middles, shape, strict=True)])
        self.loc = nn.ModuleList([nn.Conv2d(c, n * 4, 3, padding=1)
                                  for c, n in zip(channels, SSD_BOXES_PER_CELL, strict=True)])
        self.conf = nn.ModuleList([nn.Conv2d(c, n * classes, 3, padding=1)
                                   for c, n in zip(channels, SSD_BOXES_PER_CELL, strict=True)])
        self.register_buffer("default_boxes", torch.from_numpy(ssd_default_boxes()), persistent=False)
        init_heads(self)

    def raw(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Box codes (N, 4, 8732) and class logits (N, classes, 8732), as the reference's `bbox_view`."""
        return bbox_view(self, images)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        codes, logits = self.raw(images)
        boxes = decode_xywh(codes.float(), self.default_boxes, SSD_SCALE_XY, SSD_SCALE_WH)
        scores = torch.softmax(logits.float().transpose(1, 2), dim=-1)[..., 1:]
        d = suppress_top_candidates(boxes, scores, SUPPRESSION, SSD_CANDIDATES)
        return d.boxes, d.labels, d.scores


class SSDRaw(nn.Module):
    """The SSD's training forward as a module (what data-parallel wrapping calls): (codes (N, A, 4), logits)."""

    def __init__(self, net: SSD300) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        codes, logits = self.net.raw(images)
        return codes.transpose(1, 2), logits


class NarrowBody(nn.Module):
    """A ResNeXt body of the reference's blocks (groups of 32, frozen batch norm), one block per stage, of
    `planes` per stage; answers C3, C4, C5 as `podium.models._resnext.ResNeXtBody` does."""

    def __init__(self, planes: tuple[int, int, int, int]) -> None:
        super().__init__()
        stem = planes[0]
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = [stem] + [p * 4 for p in planes[:-1]]
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nn.Sequential(Bottleneck(c, p, 1 if k == 0 else 2)) for k, (c, p) in enumerate(zip(cin, planes)))
        self.out_channels = tuple(p * 4 for p in planes[1:])

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        c3 = self.layer2(self.layer1(x))
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


class NarrowBackbone(nn.Module):
    def __init__(self, planes: tuple[int, int, int, int], channels: int) -> None:
        super().__init__()
        self.body = NarrowBody(planes)
        self.fpn = FeaturePyramid(self.body.out_channels, channels)
        self.out_channels = channels

    def forward(self, x: Tensor) -> list[Tensor]:
        features: list[Tensor] = self.fpn(self.body(x))
        return features


class NarrowRetinaNet(RetinaNet):
    """`podium.models` RetinaNet (its forward, anchors, decoding and suppression) on a narrow backbone: `planes`
    per ResNeXt stage (multiples of 16: groups of 32) and `channels` in the pyramid and heads."""

    def __init__(self, config: object, image_size: tuple[int, int] | None, planes: tuple[int, int, int, int],
                 channels: int) -> None:
        nn.Module.__init__(self)  # RetinaNet.__init__ would build the full ResNeXt50 first
        self.config = config
        self.image_size = image_size
        self.backbone = NarrowBackbone(planes, channels)  # type: ignore[assignment]
        init_backbone(self.backbone)  # type: ignore[arg-type]
        ratios = config.aspect_ratios  # type: ignore[attr-defined]
        sizes = config.anchor_sizes  # type: ignore[attr-defined]
        self.head = Head(channels, len(sizes[0]) * len(ratios), config.classes)  # type: ignore[attr-defined]
        for level, level_sizes in enumerate(sizes):
            self.register_buffer(f"cell_anchors_{level}", cell_anchors(level_sizes, ratios), persistent=False)
        self.register_buffer("image_mean", torch.tensor(config.image_mean)[:, None, None],  # type: ignore[attr-defined]
                             persistent=False)
        self.register_buffer("image_std", torch.tensor(config.image_std)[:, None, None],  # type: ignore[attr-defined]
                             persistent=False)


class RetinaNetHeads(nn.Module):
    """The reference's training forward up to the head outputs, over a `podium.models` RetinaNet `net`, inputs
    already at its image size: (class logits (N, A, K), box deltas (N, A, 4)) over all levels, P3 first."""

    def __init__(self, net: RetinaNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        net = self.net
        features = net.backbone((images - net.image_mean) / net.image_std)
        logits = torch.cat(net.head.classification_head(features), dim=1)
        deltas = torch.cat(net.head.regression_head(features), dim=1)
        return logits, deltas


def retinanet_anchors(net: RetinaNet, image_hw: tuple[int, int]) -> np.ndarray:
    """(A, 4) float32 anchors [x1, y1, x2, y2] in pixels of `net` for inputs of `image_hw`, in the heads' order
    (the features' sizes are measured on a zero image)."""
    with torch.no_grad():
        features = net.backbone(torch.zeros((1, 3, *image_hw), device=net.image_mean.device))
        levels = [grid_anchors(getattr(net, f"cell_anchors_{k}"), (int(f.shape[-2]), int(f.shape[-1])), image_hw)
                  for k, f in enumerate(features)]
    return torch.cat(levels).cpu().numpy().astype(np.float32)  # type: ignore[no-any-return]
