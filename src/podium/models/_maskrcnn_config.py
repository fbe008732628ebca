"""Mask R-CNN's numbers as the reference's config holds them (`MaskRCNNConfig`), apart from the model module so that
the network's private modules and `podium.models.maskrcnn` read them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass

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
