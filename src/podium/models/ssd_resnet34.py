"""`ssd-resnet34`: SSD with a ResNet-34 trunk for 1200x1200 COCO images (MLPerf Inference's "ssd-large", until
v2.0), as the official ONNX graph `resnet34-ssd1200.onnx` is: input `image` (N, 3, 1200, 1200) float32, outputs
`bboxes`, `labels`, `scores` (post-NMS, best first). The reference (main.py profile `ssd-resnet34-onnxruntime`)
feeds it `coco-1200` images (dataset `coco-1200-onnx`) and reads those three outputs.

The state dict has the keys of the reference PyTorch model (models/ssd_r34.py, `SSD_R34`; the published
`resnet34-ssd1200.pytorch`). The network is `podium.models._ssd_resnet34_net` (torch imported when built).
"""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models.base import Model

INPUT_SHAPE = (3, 1200, 1200)
CLASSES = 81
INPUT_NAME = "image"
OUTPUT_NAMES = ("bboxes", "labels", "scores")
MAX_DETECTIONS = 200


def build() -> Any:
    """The network, untrained: (N, 3, 1200, 1200) float32 -> bboxes (N, 200, 4), labels (N, 200), scores (N, 200)."""
    from podium.models._ssd_resnet34_net import SSDResNet34

    return SSDResNet34()


@MODELS.register("ssd-resnet34")
def _ssd_resnet34() -> Model:
    return Model("ssd-resnet34", build=build, input_shape=INPUT_SHAPE, classes=CLASSES, input_name=INPUT_NAME,
                 output_names=OUTPUT_NAMES, layout="NCHW")
