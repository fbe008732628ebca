"""The RetinaNet training program and its datasets (torch; imported when a `retinanet` program is built).

As mlcommons/training single_stage_detector/ssd (train.py, engine.py, presets.py, model/retinanet.py):
- training samples (`DetectionPresetTrain("hflip")`, `ConvertCocoPolysToMask(filter_iscrowd=False)`, then the
  model's `GeneralizedRCNNTransform`): the image decoded as RGB in [0, 1], boxes clipped to it and degenerate ones
  dropped, flipped left-right with probability 0.5, resized to the model's size (bilinear, boxes scaled); the
  anchors matched here, in the feed's worker processes (numpy's generator, seeded per worker by the feed);
- Adam over the trainable parameters (the backbone's conv1 and layer1 frozen: `trainable_backbone_layers=3`),
  no weight decay; the learning rate warmed up per iteration over `opt_learning_rate_warmup_epochs` epochs from
  `opt_learning_rate_warmup_factor` x base (`utils.warmup_lr_scheduler`), constant after;
- evaluation images resized as `podium.datasets.openimages.pre_process_retinanet` does (what the model's resize
  does to a [0, 1] image), detections scored by `coco-map` on the validation annotations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from podium.datasets.coco_training import DetectionSplit
from podium.datasets.images import opencv
from podium.datasets.openimages import pre_process_retinanet
from podium.workloads._anchors import retinanet_loss, retinanet_targets
from podium.workloads._detection_nets import RetinaNetHeads, retinanet_anchors
from podium.workloads._single_stage import SingleStageProgram

TRAINABLE_BODY_LAYERS = ("layer2", "layer3", "layer4")  # trainable_backbone_layers=3
HFLIP_PROBABILITY = 0.5


class TrainingImages:
    """Training samples: (image (3, H, W) float32 in [0, 1], class per anchor (A,), codes (A, 4))."""

    def __init__(self, split: DetectionSplit, anchors: np.ndarray, image_hw: tuple[int, int]) -> None:
        self.split, self.anchors, self.image_hw = split, anchors, image_hw

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rgb = self.split.read_rgb(index)
        height, width = rgb.shape[:2]
        boxes, labels = self.split.boxes(index)
        boxes = np.clip(boxes, 0, [width, height, width, height])
        kept = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, labels = boxes[kept], labels[kept]
        if np.random.random() < HFLIP_PROBABILITY:
            rgb = rgb[:, ::-1]
            boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
        out_h, out_w = self.image_hw
        image = opencv().resize(rgb.astype(np.float32) / 255.0, (out_w, out_h), interpolation=opencv().INTER_LINEAR)
        boxes = boxes * np.array([out_w / width, out_h / height] * 2, dtype=np.float32)
        classes, codes = retinanet_targets(boxes, labels, self.anchors)
        return np.ascontiguousarray(image.transpose(2, 0, 1)), classes, codes


class EvalImages:
    """Evaluation samples: (image (3, H, W) float32 in [0, 1] at the model's size, index)."""

    def __init__(self, split: DetectionSplit, image_hw: tuple[int, int]) -> None:
        self.split, self.image_hw = split, image_hw

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        from podium.datasets.images import read_bgr

        assert self.image_hw[0] == self.image_hw[1], "square inputs, as the reference's 800x800"
        return pre_process_retinanet(read_bgr(self.split.image_path(index)), self.image_hw[0]), index


class RetinaNetProgram(SingleStageProgram):
    """RetinaNet as the reference trains it; hyperparameters named by their mllog keys."""

    metric = "coco-map"

    def _prepare_model(self) -> None:
        for name, weight in self.model.backbone.body.named_parameters():
            if not name.startswith(TRAINABLE_BODY_LAYERS):
                weight.requires_grad_(False)
        self.anchors = retinanet_anchors(self.model, self.image_hw)

    def _optimizer(self, params: list[Any]) -> Any:
        return torch.optim.Adam(params, lr=self.hp["opt_base_learning_rate"],
                                weight_decay=self.hp["opt_weight_decay"])

    def _training_forward(self) -> Any:
        return RetinaNetHeads(self.model)

    def _train_dataset(self, split: DetectionSplit) -> Any:
        return TrainingImages(split, self.anchors, self.image_hw)

    def _eval_dataset(self, split: DetectionSplit) -> Any:
        return EvalImages(split, self.image_hw)

    def _set_lr(self) -> None:
        """`warmup_lr_scheduler`: factor (1 - a) + a, a = iteration / warmup iterations, during the warmup."""
        base = self.hp["opt_base_learning_rate"]
        warmup = self.hp["opt_learning_rate_warmup_epochs"] * getattr(self, "steps_per_epoch", 1)
        lr = base
        if self.step < warmup:
            alpha = self.step / warmup
            lr = base * (self.hp["opt_learning_rate_warmup_factor"] * (1 - alpha) + alpha)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _loss(self, batch: tuple[Any, Any, Any]) -> Any:
        images, classes, codes = batch
        logits, deltas = self.train_model(images)
        return retinanet_loss(logits.float(), deltas.float(), classes, codes)

    def _rows(self, outputs: list[np.ndarray], k: int) -> np.ndarray:
        """The model's boxes (x1, y1, x2, y2 in input pixels), scores and labels (category ids) -> rows."""
        boxes, scores, labels = (o[k] for o in outputs)
        real = (scores > 0) & (labels >= 0)
        height, width = self.image_hw
        normalized = boxes[real][:, [1, 0, 3, 2]] / np.array([height, width, height, width], dtype=np.float32)
        return np.column_stack([np.zeros(int(real.sum())), normalized, scores[real], labels[real]]).astype(
            np.float32)
