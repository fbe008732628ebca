"""`retinanet`: MLPerf's RetinaNet, ResNeXt50-32x4d FPN, 264 OpenImages classes, 800x800 inputs.

The definition follows the reference the MLPerf inference benchmark was trained with (mlcommons/training,
retired_benchmarks/retinanet/ssd/model/retinanet.py `retinanet_resnext50_32x4d_fpn`, used by the inference repo's
tools/retinanet_pytorch_to_onnx.py with num_classes=264, image_size=[800, 800]), with its module names, so that the
reference checkpoint (`model_10.pth`, its "model" entry, unwrapped by `podium.models.checkpoints`) loads with
`load_state_dict(strict=True)`:
`backbone.body.*` (ResNeXt, frozen batch norm), `backbone.fpn.*` (P3-P7), `head.classification_head.*`,
`head.regression_head.*` — 301 tensors. The network itself is in the private modules `_resnext` (backbone) and
`_retinanet_net` (heads, anchors, decoding, post-processing), which import torch; this module imports neither
until a model is built.

Inputs and outputs are the official ONNX graph's (`resnext50_32x4d_fpn.onnx`, exported by
retinanet_pytorch_to_onnx.py; main.py's profile `retinanet-onnxruntime`): input `images`, RGB in [0, 1], NCHW
(the model normalizes with the ImageNet mean and std itself); outputs `boxes` (x1, y1, x2, y2 in input pixels),
`scores`, `labels` (0..263, the category ids of openimages-mlperf.json), in that order. The official graph answers
one image (batch 1, a variable number of rows); this definition answers the same outputs batch-major, padded to
300 rows per image (rows in descending score; padding rows score 0, label -1), so that a batch runs as one graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from podium.models import MODELS
from podium.models.base import Model

IMAGE_SIZE = (800, 800)
INPUT_SHAPE = (3, *IMAGE_SIZE)
CLASSES = 264
INPUT_NAME = "images"
OUTPUT_NAMES = ("boxes", "scores", "labels")  # the official graph's order


def _anchor_sizes() -> tuple[tuple[int, ...], ...]:
    """Three sizes per level, octave thirds of 32 .. 512 truncated to integers (the reference's
    `(x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3)))`): (32, 40, 50), (64, 80, 101), ..., (512, 645, 812)."""
    return tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in (32, 64, 128, 256, 512))


@dataclass(frozen=True)
class RetinaNetConfig:
    """The reference's RetinaNet defaults (its `RetinaNet.__init__` and `BoxCoder`)."""

    classes: int = CLASSES
    anchor_sizes: tuple[tuple[int, ...], ...] = _anchor_sizes()  # per level, P3 .. P7
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # height / width, the same on every level
    score_thresh: float = 0.05  # candidates kept when their sigmoid score is above this
    topk_candidates: int = 1000  # per level, before NMS
    nms_thresh: float = 0.5  # IoU above which a lower-scoring box of the same class is dropped
    detections_per_img: int = 300  # after NMS
    bbox_xform_clip: float = math.log(1000.0 / 16)  # dw, dh are clamped here before exp
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def anchors_per_location(self) -> int:
        return len(self.anchor_sizes[0]) * len(self.aspect_ratios)


CONFIG = RetinaNetConfig()


def build_retinanet(config: RetinaNetConfig = CONFIG, image_size: tuple[int, int] | None = IMAGE_SIZE) -> Any:
    """The network, untrained (the reference's initialization): a torch.nn.Module. `image_size` None runs the
    network at whatever size it is given (no resize), which tests use to stay small."""
    from podium.models._retinanet_net import RetinaNet

    return RetinaNet(config, image_size)


def retinanet_resnext50_32x4d_fpn() -> Any:
    """The benchmark's model: 264 classes, inputs resized to 800x800 when they are not already."""
    return build_retinanet()


def feature_sizes(image_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(height, width) of P3 .. P7 for an input of `image_hw`: strides 8 .. 128, each step a 3x3 (or 7x7 stem)
    convolution or max pool with stride 2 and "same" padding, so each halves rounding up; for 800x800: 100, 50,
    25, 13, 7."""
    sizes = []
    h, w = image_hw
    for step in range(7):  # stem conv, max pool, layer2, layer3, layer4, p6, p7
        h, w = (h + 1) // 2, (w + 1) // 2
        if step >= 2:
            sizes.append((h, w))
    return sizes


def anchor_count(image_hw: tuple[int, int], config: RetinaNetConfig = CONFIG) -> int:
    """How many anchors an input of `image_hw` has (120,087 at 800x800)."""
    return sum(h * w for h, w in feature_sizes(image_hw)) * config.anchors_per_location


@MODELS.register("retinanet")
def _retinanet() -> Model:
    return Model("retinanet", build=retinanet_resnext50_32x4d_fpn, input_shape=INPUT_SHAPE, classes=CLASSES,
                 input_name=INPUT_NAME, output_names=OUTPUT_NAMES)
