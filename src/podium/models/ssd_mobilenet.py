"""`ssd-mobilenet`: SSD-MobileNet v1 for 300x300 COCO images (MLPerf Inference's "ssd-small", until v2.0), as the
official graph `ssd_mobilenet_v1_coco_2018_01_28` (TensorFlow; ONNX conversion on Zenodo) is: input `image_tensor:0`
(N, 300, 300, 3) uint8, outputs `num_detections:0`, `detection_boxes:0`, `detection_scores:0`,
`detection_classes:0` (post-NMS, padded to 100 detections). The reference (main.py profile
`ssd-mobilenet-onnxruntime`) feeds it `coco-300` images and reads those four outputs.

The official weights are a TensorFlow graph; the state-dict layout here is the MLPerf PyTorch port's
(models/ssd_mobilenet_v1.py, which its convert_tf_weights.py fills from the graph), so the weights of that port
load as they are. The network is `podium.models._ssd_mobilenet_net` (torch imported when built).
"""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models.base import Model

INPUT_SHAPE = (300, 300, 3)  # one image, NHWC, uint8
CLASSES = 91
INPUT_NAME = "image_tensor:0"
OUTPUT_NAMES = ("num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0")
MAX_DETECTIONS = 100


def build() -> Any:
    """The network, untrained: (N, 300, 300, 3) uint8 -> the four outputs of the official graph."""
    from podium.models._ssd_mobilenet_net import SSDMobileNet

    return SSDMobileNet()


@MODELS.register("ssd-mobilenet")
def _ssd_mobilenet() -> Model:
    return Model("ssd-mobilenet", build=build, input_shape=INPUT_SHAPE, classes=CLASSES, input_name=INPUT_NAME,
                 output_names=OUTPUT_NAMES, layout="NHWC")
