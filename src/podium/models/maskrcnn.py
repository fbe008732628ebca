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

from dataclasses import dataclass
from typing import Any

from podium.models import MODELS
from podium.models.base import Model

CLASSES = 81  # the 80 COCO categories and the background (ROI_BOX_HEAD.NUM_CLASSES)
MIN_SIZE, MAX_SIZE = 800, 1333  # INPUT.MIN_SIZE_TRAIN / MAX_SIZE_TRAIN (and _TEST)
SIZE_DIVISIBILITY = 32  # DATALOADER.SIZE_DIVISIBILITY of the config: batches are padded to multiples of it
INPUT_SHAPE = (3, MIN_SIZE, 1344)  # a landscape 4:3 COCO image resized to 800 and padded


@dataclass(frozen=True)
class MaskRCNNConfig:
    """The reference's e2e_mask_rcnn_R_50_FPN_1x numbers (config file over defaults.py)."""

    classes: int = CLASSES
    # MODEL.RESNETS / BACKBONE: R-50 stages, stride in the 1x1 convolution, stem and res2 frozen
    stage_blocks: tuple[int, ...] = (3, 4, 6, 3)
    stem_channels: int = 64  # RESNETS.STEM_OUT_CHANNELS
    bottleneck_channels: int = 64  # NUM_GROUPS * WIDTH_PER_GROUP, doubled per stage
    res2_channels: int = 256  # RESNETS.RES2_OUT_CHANNELS, doubled per stage
    freeze_at: int = 2  # BACKBONE.FREEZE_CONV_BODY_AT: the stem and layer1 are not trained
    fpn_channels: int = 256  # BACKBONE.OUT_CHANNELS
    # MODEL.RPN
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    anchor_strides: tuple[int, ...] = (4, 8, 16, 32, 64)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    straddle_thresh: float = 0.0
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    rpn_batch_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    pre_nms_top_n_train: int = 2000
    pre_nms_top_n_test: int = 1000
    post_nms_top_n_train: int = 2000  # per level and image, after NMS (RPN.POST_NMS_TOP_N_TRAIN)
    post_nms_top_n_test: int = 1000
    fpn_post_nms_top_n_train: int = 2000  # over a rank's batch: the logged num_image_candidates
    fpn_post_nms_top_n_test: int = 1000  # per image
    rpn_nms: float = 0.7
    rpn_min_size: float = 0.0
    # MODEL.ROI_HEADS
    roi_fg_iou: float = 0.5
    roi_bg_iou: float = 0.5
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    roi_batch_per_image: int = 512
    roi_positive_fraction: float = 0.25
    score_thresh: float = 0.05
    box_nms: float = 0.5
    detections_per_img: int = 100
    # MODEL.ROI_BOX_HEAD (FPN2MLPFeatureExtractor, FPNPredictor) and ROI_MASK_HEAD (MaskRCNNFPNFeatureExtractor,
    # MaskRCNNC4Predictor); the pooler scales are those of P2..P5
    pooler_scales: tuple[float, ...] = (0.25, 0.125, 0.0625, 0.03125)
    box_resolution: int = 7
    box_sampling_ratio: int = 2
    mlp_dim: int = 1024
    mask_resolution: int = 14
    mask_sampling_ratio: int = 2
    mask_channels: tuple[int, ...] = (256, 256, 256, 256)
    mask_size: int = 28  # ROI_MASK_HEAD.RESOLUTION: the predicted masks' side
    # INPUT: Caffe2-style BGR in 0..255 minus the means, standard deviations 1 (TO_BGR255)
    pixel_mean_bgr: tuple[float, float, float] = (102.9801, 115.9465, 122.7717)
    pixel_std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def anchors_per_location(self) -> int:
        return len(self.aspect_ratios)


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
