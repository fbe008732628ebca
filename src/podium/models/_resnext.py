"""RetinaNet's backbone: ResNeXt50-32x4d with frozen batch norm, and the feature pyramid (P3-P7) on top of it.

As the MLPerf RetinaNet reference builds it (mlcommons/training, retired_benchmarks/retinanet/ssd/model:
resnet.py, backbone_utils.py `resnet_fpn_backbone('resnext50_32x4d', returned_layers=[2, 3, 4])`,
feature_pyramid_network.py with `LastLevelP6P7(256, 256)`), with the same module names, so that the reference
checkpoint's `backbone.body.*` and `backbone.fpn.*` keys load as they are:
- body: the torchvision ResNet layout (stride on the grouped 3x3 convolution, "v1.5"), 32 groups of width 4,
  blocks (3, 4, 6, 3); batch norm frozen (`FrozenBatchNorm2d`: four buffers, eps 1e-5, no `num_batches_tracked`);
  only conv1 .. layer4 (the classifier is not part of the detector, as `IntermediateLayerGetter` drops it);
- fpn: 1x1 lateral (`inner_blocks`) and 3x3 output (`layer_blocks`) convolutions on layer2..layer4 (C3-C5),
  nearest-neighbour top-down upsampling, then P6 = 3x3/2 conv of P5 and P7 = 3x3/2 conv of relu(P6)
  (`extra_blocks.p6`, `extra_blocks.p7`; the reference uses P5, not C5, because both have 256 channels).

torch is imported at the top: this private module is imported only when a model is built (`podium.models.retinanet`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLOCKS = (3, 4, 6, 3)
GROUPS = 32
WIDTH_PER_GROUP = 4
EXPANSION = 4
FPN_CHANNELS = 256
FROZEN_BN_EPS = 1e-5  # torchvision's FrozenBatchNorm2d default, which the reference uses


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters, all buffers (none trained)."""

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, channels: int, eps: float = FROZEN_BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # A checkpoint trained with ordinary batch norm carries a counter the frozen layer has no use for.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    """1x1 reduce, grouped 3x3 (carrying the stride), 1x1 expand; identity or projected shortcut."""

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        width = planes * WIDTH_PER_GROUP // 64 * GROUPS
        cout = planes * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=GROUPS, bias=False)
        self.bn2 = FrozenBatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), FrozenBatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNeXtBody(nn.Module):
    """The stem and the four stages; `forward` answers C3, C4, C5 (layer2..layer4, strides 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(64, 64, BLOCKS[0], stride=1)
        self.layer2 = _stage(256, 128, BLOCKS[1], stride=2)
        self.layer3 = _stage(512, 256, BLOCKS[2], stride=2)
        self.layer4 = _stage(1024, 512, BLOCKS[3], stride=2)
        self.out_channels = (512, 1024, 2048)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        c3 = self.layer2(self.layer1(x))
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


def _stage(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """One stage: the first block changes width (and stride), the others keep it."""
    return nn.Sequential(*(Bottleneck(cin if b == 0 else planes * EXPANSION, planes, stride if b == 0 else 1)
                           for b in range(blocks)))


class LastLevelP6P7(nn.Module):
    """P6 and P7, from P5."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        self.p7 = nn.Conv2d(channels, channels, 3, 2, 1)

    def forward(self, p5: Tensor) -> list[Tensor]:
        p6 = self.p6(p5)
        return [p6, self.p7(F.relu(p6))]


class FeaturePyramid(nn.Module):
    """C3..C5 -> P3..P7, 256 channels each."""

    def __init__(self, in_channels: tuple[int, ...], channels: int = FPN_CHANNELS) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)
        self.extra_blocks = LastLevelP6P7(channels)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        inner = list(self.inner_blocks)
        layer = list(self.layer_blocks)
        last = inner[-1](features[-1])
        results = [layer[-1](last)]
        for idx in range(len(features) - 2, -1, -1):
            lateral = inner[idx](features[idx])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, layer[idx](last))
        extra: list[Tensor] = self.extra_blocks(results[-1])
        return results + extra


class Backbone(nn.Module):
    """`body` then `fpn` (the reference's BackboneWithFPN): an image batch -> [P3, P4, P5, P6, P7]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = ResNeXtBody()
        self.fpn = FeaturePyramid(self.body.out_channels)
        self.out_channels = FPN_CHANNELS

    def forward(self, x: Tensor) -> list[Tensor]:
        features: list[Tensor] = self.fpn(self.body(x))
        return features


def init_backbone(backbone: Backbone) -> None:
    """Random weights as the reference draws them when training from scratch: He-normal (fan_out) convolutions
    in the body (torchvision's ResNet), Kaiming-uniform (a=1) convolutions and zero biases in the pyramid."""
    for m in backbone.body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    for m in backbone.fpn.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, a=1)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
