"""The SSD-MobileNet v1 network (torch), with the module names of the MLPerf PyTorch port
(vision/classification_and_detection/python/models/ssd_mobilenet_v1.py), whose state dict holds the official
TensorFlow weights (`convert_tf_weights.py`): backbone.{i}.{0,depthwise,pointwise}[/BatchNorm].*, extras.{i}.{0,2}.*,
predictors.{i}.{classification,regression}.*. Batch norms are folded as TensorFlow froze them: a bias after the
full convolutions, a scale and a bias after the depthwise ones.

`forward` is the official graph (`ssd_mobilenet_v1_coco_2018_01_28`, its ONNX conversion): uint8 NHWC images in,
scaled to [-1, 1] as TensorFlow's preprocessor does; out `num_detections` (N,), `detection_boxes` (N, 100, 4)
[ymin, xmin, ymax, xmax] normalized, `detection_scores` (N, 100) and `detection_classes` (N, 100), COCO category
ids 1..90 as floats, padded after `num_detections` (boxes and scores 0, class 1: TensorFlow pads the class index 0
and then adds its label offset 1). The post-processing is the published pipeline.config's: sigmoid scores,
boxes clipped to the image and empty ones dropped, per class score > 0.3 and greedy NMS at IoU 0.6 keeping up to
100, then the best 100 of all classes.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from podium.models import ssd
from podium.models._ssd_torch import Suppression, decode_tf, suppress_shared_boxes

CLASSES = 91  # the 90 COCO category ids 1..90 (some unused) and the background, column 0
# Untrained class logits start at the prior probability 0.01 (bias log(0.01 / 0.99)), so that random weights give
# what a trained model gives, a few candidate boxes, rather than every box of every class at 0.5: the suppression's
# cost with random weights (performance-only runs) is then that of a real model.
PRIOR_BIAS = -4.595
SCALE_YXHW = (10.0, 10.0, 5.0, 5.0)  # faster_rcnn_box_coder: y_scale, x_scale, height_scale, width_scale
SUPPRESSION = Suppression(score_threshold=0.3, iou_threshold=0.6, per_class=100, max_detections=100)
# (input channels, output channels, stride) of the 13 depthwise-separable blocks of MobileNet v1 after the stem
BLOCKS = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
          (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 1024, 2),
          (1024, 1024, 1))
FEATURE_LAYERS = (11, 13)  # backbone layers whose outputs feed the first two predictors (19x19, 10x10)
EXTRAS = ((1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 64, 128))  # in, 1x1, 3x3 stride 2
HEADS = ((512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6))  # (input channels, anchors per cell)


class Conv2dSame(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": the output has ceil(input / stride) cells, and an odd total
    padding puts the extra row and column at the bottom and right."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True):
            total = max(0, (-(-int(size) // s) - 1) * s + (k - 1) * d + 1 - int(size))
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.conv2d(F.pad(x, [left, right, top, bottom]), self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)


class BiasAdd(nn.Module):
    """A batch norm folded into the preceding convolution: only its bias remains."""

    bias: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("bias", torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias.view(1, -1, 1, 1)


class ScaleBias(nn.Module):
    """A frozen batch norm: a per-channel scale and bias."""

    scale: Tensor
    bias: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def stem(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("0", Conv2dSame(cin, cout, 3, stride, bias=False)), ("0/BatchNorm", BiasAdd(cout)),
        ("0/ReLU", nn.ReLU6())]))


def separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("depthwise", Conv2dSame(cin, cin, 3, stride, groups=cin, bias=False)),
        ("depthwise/BatchNorm", ScaleBias(cin)), ("depthwise/ReLU", nn.ReLU6()),
        ("pointwise", nn.Conv2d(cin, cout, 1, bias=False)), ("pointwise/BatchNorm", BiasAdd(cout)),
        ("pointwise/ReLU", nn.ReLU6())]))


def extra(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU6(), Conv2dSame(mid, cout, 3, 2), nn.ReLU6())


class PredictionHead(nn.Module):
    """Class logits and box codes of one feature map, flattened cell-major as TensorFlow's NHWC reshape."""

    def __init__(self, channels: int, anchors: int, classes: int) -> None:
        super().__init__()
        self.classes = classes
        self.classification = nn.Conv2d(channels, anchors * classes, 1)
        self.regression = nn.Conv2d(channels, anchors * 4, 1)
        nn.init.constant_(self.classification.bias, PRIOR_BIAS)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        logits = self.classification(x).permute(0, 2, 3, 1).reshape(n, -1, self.classes)
        codes = self.regression(x).permute(0, 2, 3, 1).reshape(n, -1, 4)
        return logits, codes


class SSDMobileNet(nn.Module):
    """SSD-MobileNet v1, 300x300, with the official graph's post-processing (see the module docstring)."""

    anchors: Tensor  # (1917, 4) [ymin, xmin, ymax, xmax], a buffer outside the state dict

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.backbone = nn.ModuleList([stem(3, 32, 2)] + [separable(*b) for b in BLOCKS])
        self.extras = nn.ModuleList([extra(*e) for e in EXTRAS])
        self.predictors = nn.ModuleList([PredictionHead(c, a, classes) for c, a in HEADS])
        self.register_buffer("anchors", torch.from_numpy(ssd.mobilenet_anchors()), persistent=False)

    def features(self, x: Tensor) -> list[Tensor]:
        maps = []
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i in FEATURE_LAYERS:
                maps.append(x)
        for layer in self.extras:
            x = layer(x)
            maps.append(x)
        return maps

    def raw(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Class probabilities (N, 1917, 91) and decoded boxes (N, 1917, 4) of uint8 NHWC images."""
        x = images.permute(0, 3, 1, 2).float() * (2.0 / 255.0) - 1.0
        logits, codes = zip(*(head(m) for head, m in zip(self.predictors, self.features(x), strict=True)),
                            strict=True)
        return torch.sigmoid(torch.cat(logits, 1)), decode_tf(torch.cat(codes, 1), self.anchors, SCALE_YXHW)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        scores, boxes = self.raw(images)
        boxes = boxes.clamp(0.0, 1.0)
        empty = (boxes[..., 2] <= boxes[..., 0]) | (boxes[..., 3] <= boxes[..., 1])
        scores = scores[..., 1:].masked_fill(empty[..., None], 0.0)
        d = suppress_shared_boxes(boxes, scores, SUPPRESSION)
        return d.count.float(), d.boxes, d.scores, d.labels.float() + (d.labels == 0).float()
