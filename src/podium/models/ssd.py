"""What the two SSD references share, as data: their default boxes (anchors), in numpy. The networks, box
decoding and the suppression that turns raw predictions into the official graphs' outputs are in
`podium.models._ssd_torch` (torch imported there, when a network is built).

Two references, two conventions (mlcommons/inference vision/classification_and_detection/python/models):
- SSD-MobileNet v1 (`ssd_mobilenet_v1.py`, `anchor_generator.py`; TensorFlow's Object Detection API): 6 feature
  maps of 19, 10, 5, 3, 2, 1 cells; scales linear from 0.2 to 0.95; 3 anchors per cell on the lowest map
  ((0.1, 1), (0.2, 2), (0.2, 1/2)), 6 on the others (aspect ratios 1, 2, 1/2, 3, 1/3 and one of ratio 1 at the
  geometric mean of this scale and the next): 1917 anchors, corners [ymin, xmin, ymax, xmax], normalized.
  The ratio written 1/3 is the float 0.3333 in the published model's pipeline.config; it is 0.3333 here, as in
  the official graph (the PyTorch port computes 1.0 / 3).
- SSD-ResNet34 (`ssd_r34.py`, `dboxes_R34_coco`): 6 feature maps of 50, 25, 13, 7, 3, 3 cells for 1200x1200
  images; 4, 6, 6, 6, 4, 4 default boxes per cell: 15130 boxes, [cx, cy, w, h] normalized and clamped to
  [0, 1] (then [left, top, right, bottom] derived from the clamped values, as the reference does).
Both list anchors as the heads' outputs are laid out: SSD-MobileNet cell-major (row, column, anchor), from
TensorFlow's NHWC predictions; SSD-ResNet34 anchor-major (anchor, row, column), from the reference's NCHW
`view(N, 4, -1)`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.float32]

# SSD-MobileNet v1 COCO 300x300 (ssd_mobilenet_v1_coco_2018_01_28, pipeline.config `ssd_anchor_generator`)
MOBILENET_FEATURE_MAPS = (19, 10, 5, 3, 2, 1)
MOBILENET_MIN_SCALE = 0.2
MOBILENET_MAX_SCALE = 0.95
MOBILENET_ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
MOBILENET_LOWEST_LAYER = ((0.1, 1.0), (None, 2.0), (None, 0.5))  # (scale, ratio); None: the layer's own scale
MOBILENET_ANCHORS = 1917

# SSD-ResNet34 COCO 1200x1200 (ssd_r34.py `dboxes_R34_coco`, scaled from the SSD-300 numbers by 1200 / 300)
R34_IMAGE_SIZE = 1200
R34_FEATURE_MAPS = (50, 25, 13, 7, 3, 3)
R34_SCALES_300 = (21, 45, 99, 153, 207, 261, 315)
R34_ASPECT_RATIOS = ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))
R34_BOXES_PER_CELL = (4, 6, 6, 6, 4, 4)
R34_DEFAULT_BOXES = 15130


def mobilenet_box_specs(layers: int = len(MOBILENET_FEATURE_MAPS)) -> list[list[tuple[float, float]]]:
    """(scale, aspect ratio) of each anchor of a cell, per layer (TensorFlow's `create_ssd_anchors`)."""
    scales = [MOBILENET_MIN_SCALE + (MOBILENET_MAX_SCALE - MOBILENET_MIN_SCALE) * i / (layers - 1)
              for i in range(layers)] + [1.0]
    specs = []
    for layer in range(layers):
        scale, scale_next = scales[layer], scales[layer + 1]
        if layer == 0:
            specs.append([(scale if s is None else s, ratio) for s, ratio in MOBILENET_LOWEST_LAYER])
        else:
            specs.append([(scale, ratio) for ratio in MOBILENET_ASPECT_RATIOS]
                         + [(math.sqrt(scale * scale_next), 1.0)])
    return specs


def mobilenet_anchors(feature_maps: tuple[int, ...] = MOBILENET_FEATURE_MAPS) -> Boxes:
    """(1917, 4) float32 anchors [ymin, xmin, ymax, xmax], normalized, for square feature maps of `feature_maps`
    cells; row, then column, then anchor of the cell vary slowest to fastest."""
    layers = []
    for cells, specs in zip(feature_maps, mobilenet_box_specs(len(feature_maps)), strict=True):
        scale, ratio = (np.asarray(v, dtype=np.float64) for v in zip(*specs, strict=True))
        heights, widths = scale / np.sqrt(ratio), scale * np.sqrt(ratio)
        centres = (np.arange(cells) + 0.5) / cells  # stride 1 / cells, offset half a stride
        cy, cx, h = np.meshgrid(centres, centres, heights, indexing="ij")
        w = np.broadcast_to(widths, h.shape)
        layers.append(np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1).reshape(-1, 4))
    return np.concatenate(layers).astype(np.float32)


def r34_default_boxes_xywh(image_size: int = R34_IMAGE_SIZE,
                           feature_maps: tuple[int, ...] = R34_FEATURE_MAPS) -> Boxes:
    """(15130, 4) float32 default boxes [cx, cy, w, h], normalized, clamped to [0, 1]: for each feature map, each
    box shape, then row, then column (the reference's `DefaultBoxes`, which the decoder casts to float32)."""
    return _r34_default_boxes(image_size, feature_maps).astype(np.float32)


def r34_default_boxes_ltrb(image_size: int = R34_IMAGE_SIZE,
                           feature_maps: tuple[int, ...] = R34_FEATURE_MAPS) -> Boxes:
    """The same boxes as [left, top, right, bottom], derived from the clamped [cx, cy, w, h] in double precision
    and then rounded, as the reference's `dboxes(order="ltrb")`."""
    boxes = _r34_default_boxes(image_size, feature_maps)
    half = boxes[:, 2:] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1).astype(np.float32)


def _r34_default_boxes(image_size: int, feature_maps: tuple[int, ...]) -> npt.NDArray[np.float64]:
    """The default boxes [cx, cy, w, h] in double precision (the reference builds them from Python floats)."""
    steps = [int(image_size / cells) for cells in feature_maps]
    scales = [int(s * image_size / 300) for s in R34_SCALES_300]
    boxes = []
    for k, (cells, step) in enumerate(zip(feature_maps, steps, strict=True)):
        grid = image_size // step  # the reference's fk: 1200 // int(1200 / 13) = 13
        small, large = scales[k] / image_size, scales[k + 1] / image_size
        sizes = [(small, small), (math.sqrt(small * large),) * 2]
        for ratio in R34_ASPECT_RATIOS[k]:
            w, h = small * math.sqrt(ratio), small / math.sqrt(ratio)
            sizes += [(w, h), (h, w)]
        rows, cols = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        cx, cy = (cols.ravel() + 0.5) / grid, (rows.ravel() + 0.5) / grid
        for w, h in sizes:
            boxes.append(np.stack([cx, cy, np.full_like(cx, w), np.full_like(cy, h)], axis=-1))
    return np.clip(np.concatenate(boxes), 0.0, 1.0)
