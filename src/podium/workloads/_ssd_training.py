"""The SSD-ResNet34 (300x300) training program and its datasets (torch; imported when an `ssd` program is built).

As mlcommons/training single_stage_detector/ssd at v1.x (train.py `train300_mlperf_coco`, utils.py
`SSDTransformer`, `COCODetection`, base_model.py `Loss`):
- training samples: the image as RGB, boxes normalized, labels 1..80 in the annotation file's category order;
  `SSDCropping` with `max_samples` tries, horizontal flip with probability 0.5, resize to 300x300, colour jitter
  (brightness 0.125, contrast 0.5, saturation 0.5, hue 0.05), ImageNet mean and std; default boxes matched here,
  in the feed's worker processes (Python's and numpy's generators, seeded per worker by the feed);
- SGD with momentum 0.9 and `opt_weight_decay`; the learning rate warmed up over `opt_learning_rate_warmup_steps`
  iterations as `lr_warmup` does (base - (steps left) x base / (warmup x 2^warmup_factor)), and multiplied by 0.1
  at each epoch of `opt_learning_rate_decay_boundary_epochs`;
- evaluation: the validation images resized to 300x300 and normalized (`podium.datasets.coco`'s
  `pre_process_coco_resnet34`), decoded and suppressed by the model (criteria 0.5, 200 detections, scores over
  0.05), scored by `coco-map-inv` (class k is the file's k-th category, the reference's `inv_map`).
Batch norm spans one rank's batch (the reference's `model_bn_span` = --batch-size): Podium has no group batch norm.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from podium.core.errors import ConfigError
from podium.datasets.coco import MEANS_RGB, STDS_RGB, pre_process_coco_resnet34
from podium.datasets.coco_training import DetectionSplit
from podium.datasets.images import opencv, read_bgr
from podium.workloads._anchors import colour_jitter, multibox_loss, ssd_crop, ssd_default_boxes, ssd_targets
from podium.workloads._detection_nets import SSDRaw
from podium.workloads._single_stage import SingleStageProgram

IMAGE_SIZE = 300
MOMENTUM = 0.9
DECAY_FACTOR = 0.1
HFLIP_PROBABILITY = 0.5


class TrainingImages:
    """Training samples: (image (3, 300, 300) float32 normalized, label per default box (A,), codes (A, 4))."""

    def __init__(self, split: DetectionSplit, max_samples: int) -> None:
        self.split, self.max_samples = split, max_samples
        self.defaults = ssd_default_boxes()
        self.label_of = {c: k + 1 for k, c in enumerate(split.category_ids)}

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rgb = self.split.read_rgb(index)
        height, width = rgb.shape[:2]
        boxes, categories = self.split.boxes(index)
        kept = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes = (boxes[kept] / np.array([width, height, width, height], dtype=np.float32)).astype(np.float32)
        labels = np.array([self.label_of[int(c)] for c in categories[kept]], dtype=np.int64)
        rgb, boxes, labels = ssd_crop(rgb, boxes, labels, self.max_samples)
        if random.random() < HFLIP_PROBABILITY:
            rgb = rgb[:, ::-1]
            boxes = np.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], axis=1)
        cv2 = opencv()
        image = cv2.resize(np.ascontiguousarray(rgb).astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE),
                           interpolation=cv2.INTER_LINEAR)
        image = colour_jitter(image) / 255.0
        image = (image - np.asarray(MEANS_RGB, dtype=np.float32)) / np.asarray(STDS_RGB, dtype=np.float32)
        classes, codes = ssd_targets(boxes, labels, self.defaults)
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32), classes, codes


class EvalImages:
    """Evaluation samples: (image (3, 300, 300) float32 normalized, index)."""

    def __init__(self, split: DetectionSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return pre_process_coco_resnet34(read_bgr(self.split.image_path(index)), IMAGE_SIZE), index


class SSDProgram(SingleStageProgram):
    """SSD-ResNet34 as the v1.x reference trains it; hyperparameters named by their mllog keys."""

    metric = "coco-map-inv"

    def _prepare_model(self) -> None:
        if self.hp["model_bn_span"] != self.spec.per_rank_batch_size:
            raise ConfigError(f"model_bn_span must be the batch per rank ({self.spec.per_rank_batch_size}): "
                              "Podium's batch norm spans one rank's batch", key="model_bn_span")

    def _optimizer(self, params: list[Any]) -> Any:
        return torch.optim.SGD(params, lr=self.hp["opt_base_learning_rate"], momentum=MOMENTUM,
                               weight_decay=self.hp["opt_weight_decay"])

    def _training_forward(self) -> Any:
        return SSDRaw(self.model)

    def _train_dataset(self, split: DetectionSplit) -> Any:
        return TrainingImages(split, self.hp["max_samples"])

    def _eval_dataset(self, split: DetectionSplit) -> Any:
        return EvalImages(split)

    def _set_lr(self) -> None:
        """The epoch's rate (0.1x per decay boundary passed), warmed up linearly over the first steps."""
        epoch = self.step // getattr(self, "steps_per_epoch", 1)  # 0-based, as the reference's loop counts
        passed = sum(epoch >= boundary for boundary in self.hp["opt_learning_rate_decay_boundary_epochs"])
        lr = self.hp["opt_base_learning_rate"] * DECAY_FACTOR ** passed
        warmup = self.hp["opt_learning_rate_warmup_steps"]
        if self.step < warmup:
            lr -= (warmup - self.step) * lr / (warmup * 2 ** self.hp["opt_learning_rate_warmup_factor"])
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _loss(self, batch: tuple[Any, Any, Any]) -> Any:
        images, classes, codes = batch
        predicted, logits = self.train_model(images)
        return multibox_loss(predicted.float(), logits.float(), classes, codes)

    def _rows(self, outputs: list[np.ndarray], k: int) -> np.ndarray:
        """The model's boxes ([left, top, right, bottom] normalized), labels (1..80) and scores -> rows."""
        boxes, labels, scores = (o[k] for o in outputs)
        real = (scores > 0) & (labels > 0)
        return np.column_stack([np.zeros(int(real.sum())), boxes[real][:, [1, 0, 3, 2]], scores[real],
                                labels[real]]).astype(np.float32)
