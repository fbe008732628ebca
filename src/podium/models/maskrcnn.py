"""`maskrcnn`: MLPerf Training's Mask R-CNN, ResNet-50 FPN with frozen batch norm, 81 COCO classes.

The definition follows the reference (mlcommons/training retired_benchmarks/maskrcnn/pytorch, maskrcnn-benchmark:
configs/e2e_mask_rcnn_R_50_FPN_1x.yaml over maskrcnn_benchmark/config/defaults.py), with its module names
(`backbone.body.*`, `backbone.fpn.*`, `rpn.head.*`, `roi_heads.box.*`, `roi_heads.mask.*`), so that a
maskrcnn-benchmark state dict loads. `MaskRCNNConfig` holds the reference's numbers, each named after the config
key it comes from; a smaller network of the same family (fewer or narrower ResNet blocks, a narrower FPN and
heads, smaller anchors for smaller images) is a `dataclasses.replace` of it, passed to `build_maskrcnn`.

The network is in private modules: `_maskrcnn_net` (backbone, FPN, region proposal network, the whole),
`_maskrcnn_heads` (box and mask heads, their losses and detections), `_maskrcnn_boxes` (box coding, IoU,
suppression, matching, sampling); RoIAlign is in `roi_align`. This module imports none of them, nor torch, until a
model is built.
Training-mode forward: (images (N, 3, H, W) normalized and padded, image sizes (N, 2) as (height, width) before
padding, targets: per image a dict of "boxes" (G, 4) x1, y1, x2, y2 in input pixels (the reference's inclusive
pixel convention), "labels" (G,) 1..80, "masks" (per instance: a list of polygons, flat [x0, y0, x1, y1, ...] in
input pixels, or an (H, W) bitmask)) -> a dict of the five losses. Eval-mode forward: (images, image sizes) ->
per image a dict of "boxes" (D, 4), "scores" (D,), "labels" (D,) and "masks" (D, 1, 28, 28) probabilities.
"""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models._maskrcnn_config import (CLASSES, INPUT_SHAPE, MAX_SIZE, MIN_SIZE, SIZE_DIVISIBILITY,
                                            MaskRCNNConfig)
from podium.models.base import Model

__all__ = ["CLASSES", "CONFIG", "INPUT_SHAPE", "MAX_SIZE", "MIN_SIZE", "SIZE_DIVISIBILITY", "MaskRCNNConfig",
           "build_maskrcnn", "maskrcnn_resnet50_fpn", "paste_masks"]

CONFIG = MaskRCNNConfig()


def build_maskrcnn(config: MaskRCNNConfig = CONFIG) -> Any:
    """The network, untrained, initialized as the reference initializes it: a torch.nn.Module."""
    from podium.models._maskrcnn_net import MaskRCNN

    return MaskRCNN(config)


def maskrcnn_resnet50_fpn() -> Any:
    """The benchmark's model."""
    return build_maskrcnn()


@MODELS.register("maskrcnn")
def _maskrcnn() -> Model:
    return Model(name="maskrcnn", build=maskrcnn_resnet50_fpn, input_shape=INPUT_SHAPE, input_name="images",
                 output_names=("boxes", "scores", "labels", "masks"))


def paste_masks(masks: Any, boxes: Any, height: int, width: int, threshold: float = 0.5, padding: int = 1) -> Any:
    """(D, height, width) uint8 numpy masks: each (1, M, M) probability mask (a CPU tensor) pasted into the image
    at its box (x1, y1, x2, y2 in the image's pixels), as the reference's Masker (mask_head/inference.py): the mask
    padded by `padding` cells, the box grown to match, truncated to integers, the mask resized bilinearly onto it
    and thresholded, then clipped to the image."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    out = np.zeros((len(masks), height, width), dtype=np.uint8)
    if len(masks) == 0:
        return out
    side = masks.shape[-1]
    padded = F.pad(masks.float(), (padding,) * 4)
    scale = (side + 2 * padding) / side
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    centre = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    grown = torch.cat([centre - half, centre + half], dim=1).to(torch.int32).tolist()
    for k, (x1, y1, x2, y2) in enumerate(grown):
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        resized = F.interpolate(padded[k:k + 1], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        binary = (resized > threshold).numpy().astype(np.uint8)
        xa, xb, ya, yb = max(x1, 0), min(x2 + 1, width), max(y1, 0), min(y2 + 1, height)
        if xb > xa and yb > ya:
            out[k, ya:yb, xa:xb] = binary[ya - y1:yb - y1, xa - x1:xb - x1]
    return out
