"""`tiny-detector`: the tiny suite's single-stage detector, an SSD in small, for the COCO-layout images of drawn shapes.

It takes what SSD-MobileNet takes (`coco-300`: uint8 NHWC 300x300 images, scaled to [-1, 1] inside the graph) and
answers what SSD-MobileNet's official graph answers, so that the same post-processing (`ssd-mobilenet-rows`) and
metric (`coco-map`) serve it: `num_detections` (N,), `detection_boxes` (N, 20, 4) [ymin, xmin, ymax, xmax]
normalized, `detection_scores` (N, 20), `detection_classes` (N, 20), COCO category ids as floats; padded rows are
zeros (class 0, matching no category) after `num_detections`.

The network: a 4x4 average pool (300 -> 75: the shapes are large and flat, so the pixels it averages carry nothing
a detector of them needs), three stride-2 3x3 convolutions with ReLUs (75 -> 38 -> 19 -> 10; no batch norm: on a
CPU, training batch norm costs more than these convolutions) and one head on the 10x10 map predicting, for each of
9 anchors per cell (sizes 0.15, 0.3, 0.45 of the image; aspect ratios 1, 2, 1/2), softmax scores over the
background and the drawn categories and box offsets, decoded as TensorFlow's box coder
(`podium.models._ssd_torch.decode_tf`, the SSD-MobileNet reference's). Suppression is the SSD-ResNet34 reference's,
shared with it (`suppress_top_candidates`): per class the 32 best boxes scoring over 0.05, greedy NMS at IoU 0.5,
then the best 20 of all classes. In training mode `forward` answers what training needs instead, the
logits and box codes before decoding (`raw`), as torchvision's detection models answer their losses when training;
the graph exported and served is the evaluation-mode one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from podium.models import MODELS
from podium.models.base import Model

IMAGE_SIZE = 300
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)  # one image, NHWC, uint8 (the coco-300 dataset's samples)
# The categories `podium.datasets.coco.generate` draws, in the order of the score columns after the background.
CATEGORY_IDS = (1, 3, 18, 44, 62)
GRID = 10  # cells of the one feature map a side
ANCHOR_SIZES = (0.15, 0.3, 0.45)
ASPECT_RATIOS = (1.0, 2.0, 0.5)  # width / height
SCALE_YXHW = (10.0, 10.0, 5.0, 5.0)  # the box coder's scales (SSD-MobileNet's)
MAX_DETECTIONS = 20
PER_CLASS = 20
CANDIDATES = 32  # boxes per class that enter the suppression
SCORE_THRESHOLD = 0.05
IOU_THRESHOLD = 0.5
INPUT_NAME = "image"
OUTPUT_NAMES = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
WIDTHS = (16, 32, 64)


def anchors(grid: int = GRID, sizes: tuple[float, ...] = ANCHOR_SIZES,
            ratios: tuple[float, ...] = ASPECT_RATIOS) -> npt.NDArray[np.float32]:
    """(grid * grid * len(sizes) * len(ratios), 4) anchors [ymin, xmin, ymax, xmax], normalized, cell-major
    (row, column, then size, then ratio): the order of the head's NHWC predictions."""
    centres = (np.arange(grid, dtype=np.float64) + 0.5) / grid
    shapes = np.array([(s / math.sqrt(r), s * math.sqrt(r)) for s in sizes for r in ratios])  # (height, width)
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    centre = np.stack([cy, cx], axis=-1).reshape(-1, 1, 2)
    half = shapes[None, :, :] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=-1).reshape(-1, 4)
    return boxes.astype(np.float32)


def build(classes: int = len(CATEGORY_IDS)) -> Any:
    """The network, untrained: (N, 300, 300, 3) uint8 -> the four outputs of SSD-MobileNet's graph."""
    import torch
    from torch import nn

    from podium.models._ssd_torch import Suppression, decode_tf, suppress_top_candidates

    rule = Suppression(score_threshold=SCORE_THRESHOLD, iou_threshold=IOU_THRESHOLD, per_class=PER_CLASS,
                       max_detections=MAX_DETECTIONS)
    per_cell = len(ANCHOR_SIZES) * len(ASPECT_RATIOS)

    def block(cin: int, cout: int) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU())

    class TinyDetector(nn.Module):
        anchors: Any
        category_ids: Any

        def __init__(self) -> None:
            super().__init__()
            self.classes = classes
            self.pool = nn.AvgPool2d(4)
            self.features = nn.Sequential(block(3, WIDTHS[0]), block(WIDTHS[0], WIDTHS[1]),
                                          block(WIDTHS[1], WIDTHS[2]))
            self.head = nn.Conv2d(WIDTHS[2], per_cell * (classes + 1 + 4), 3, padding=1)
            self.register_buffer("anchors", torch.from_numpy(anchors()), persistent=False)
            ids = torch.tensor((0, *CATEGORY_IDS[:classes]), dtype=torch.float32)
            self.register_buffer("category_ids", ids, persistent=False)

        def raw(self, images: Any) -> tuple[Any, Any]:
            """Class logits (N, A, classes + 1; background first) and box codes (N, A, 4) of uint8 NHWC images."""
            x = self.pool(images.permute(0, 3, 1, 2).float()) * (2.0 / 255.0) - 1.0  # scaled after pooling: cheaper
            out = self.head(self.features(x)).permute(0, 2, 3, 1)
            out = out.reshape(out.shape[0], -1, self.classes + 1 + 4)
            return out[..., :self.classes + 1], out[..., self.classes + 1:]

        def forward(self, images: Any) -> tuple[Any, ...]:
            logits, codes = self.raw(images)
            if self.training:
                return logits, codes
            scores = logits.softmax(dim=-1)[..., 1:]
            boxes = decode_tf(codes, self.anchors, SCALE_YXHW).clamp(0.0, 1.0)
            d = suppress_top_candidates(boxes, scores, rule, CANDIDATES)
            return d.count.float(), d.boxes, d.scores, self.category_ids[d.labels]

    return TinyDetector()


@MODELS.register("tiny-detector")
def _tiny_detector() -> Model:
    return Model("tiny-detector", build=build, input_shape=INPUT_SHAPE, classes=len(CATEGORY_IDS),
                 input_name=INPUT_NAME, output_names=OUTPUT_NAMES, layout="NHWC")
