"""The object detection training program: an SSD's MultiBox loss over anchors, COCO mAP eval.

Used by `tiny-detection`. As SSD trains: each ground-truth box is matched to the anchor it overlaps most and to
every anchor it overlaps by IoU >= 0.5; matched anchors learn the box's class and its offsets (TensorFlow's box
coder, as the model decodes them), the others the background; the loss is the softmax cross-entropy of the
matched anchors and of the hardest unmatched ones (three per match: hard negative mining), plus the smooth L1 loss
of the matched offsets, over the number of matches. Matching is done once, when the data is loaded (there is no
augmentation). The evaluation runs the model as it is served (decoding and suppression in the graph) on the eval
images and scores the detections with the `coco-map` metric of `podium.metrics` (pycocotools), the one an inference
accuracy run is scored by: mAP as a fraction, as MLPerf Training logs SSD's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podium.metrics import METRICS
from podium.workloads.torch_program import TorchProgram

if TYPE_CHECKING:  # numpy is imported where it is used: declaring the workload imports none
    import numpy as np

MATCH_IOU = 0.5
NEGATIVES_PER_POSITIVE = 3
EVAL_BATCH = 64


class DetectionProgram(TorchProgram):
    """Program for `Workload`s whose `datasets()` returns (train, eval) datasets of `podium.datasets` in a COCO
    layout (uint8 NHWC images; labels as `podium.datasets.coco` gives them), for a model with `anchors`,
    `category_ids` (0, then the category of each score column) and a training-mode forward answering (class logits,
    box codes); hyperparameters `box_coder_scales` besides the optimizer's."""

    input_dtype = "uint8"  # as SSD-MobileNet's graph: the coco-300 images as they are

    def load_data(self) -> None:
        import numpy as np

        train, evaluation = self.workload.datasets() if self.workload.datasets else (None, None)
        images, labels = _all(train)
        anchors = self.model.anchors.cpu().numpy()
        categories = [int(c) for c in self.model.category_ids.cpu().numpy()[1:]]
        classes, codes = zip(*(match(anchors, truth, categories, self.hp["box_coder_scales"]) for truth in labels))
        torch = self.torch
        self.images = torch.as_tensor(images, device=self.device)
        self.classes = torch.as_tensor(np.stack(classes), device=self.device)
        self.codes = torch.as_tensor(np.stack(codes), device=self.device)
        self.eval_images, self.eval_labels = _all(evaluation)
        self.generator = torch.Generator().manual_seed(self.spec.seed + self.spec.rank)

    def _batch(self) -> Any:
        index = self.torch.randint(len(self.images), (self.spec.per_rank_batch_size,), generator=self.generator)
        index = index.to(self.device)
        return self.images[index], self.classes[index], self.codes[index]

    def _loss(self, batch: tuple[Any, Any, Any]) -> Any:
        """MultiBox: cross-entropy of the matches and the hardest 3x as many non-matches, smooth L1 of the matches'
        offsets, both over the number of matches."""
        images, classes, codes = batch
        functional = self.torch.nn.functional
        logits, predicted = self.train_model(images)
        logits, predicted = logits.float(), predicted.float()
        positive = classes > 0
        matches = positive.sum().clamp(min=1)
        cross_entropy = functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), classes.reshape(-1),
                                                 reduction="none").reshape(classes.shape)
        hardness = cross_entropy.detach().masked_fill(positive, -1.0)
        rank = hardness.argsort(dim=1, descending=True).argsort(dim=1)
        negative = rank < NEGATIVES_PER_POSITIVE * positive.sum(dim=1, keepdim=True)
        box = functional.smooth_l1_loss(predicted[positive], codes[positive], reduction="sum")
        return (cross_entropy[positive | negative].sum() + box) / matches

    def evaluate(self) -> float:
        """COCO mAP of the served graph's detections on the eval images, as a fraction."""
        torch = self.torch
        self.model.eval()
        metric = METRICS.get("coco-map")
        with torch.no_grad(), self.autocast():
            for start in range(0, len(self.eval_images), EVAL_BATCH):
                batch = torch.as_tensor(self.eval_images[start:start + EVAL_BATCH], device=self.device)
                count, boxes, scores, categories = (o.float().cpu().numpy() for o in self.model(batch))
                metric.update(detection_rows(count, boxes, scores, categories),
                              list(self.eval_labels[start:start + EVAL_BATCH]))
        return float(metric.compute().value) / 100.0


def _all(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every sample of a dataset of `podium.datasets` (loaded, stacked) and its labels."""
    import numpy as np

    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    return np.asarray(dataset.get_samples(indices)), dataset.labels()


def detection_rows(count: np.ndarray, boxes: np.ndarray, scores: np.ndarray, categories: np.ndarray
                   ) -> list[np.ndarray]:
    """The graph's padded outputs -> per image, its first `count` rows [index, ymin, xmin, ymax, xmax, score,
    category], the reference's detection response (the index column is not read by the metric)."""
    import numpy as np

    found = []
    for i, n in enumerate(count.astype(np.int64)):
        table = np.column_stack([np.full(n, i), boxes[i, :n], scores[i, :n], categories[i, :n]])
        found.append(table.astype(np.float32))
    return found


def match(anchors: np.ndarray, truth: dict[str, Any], categories: list[int], scales: list[float]
          ) -> tuple[np.ndarray, np.ndarray]:
    """(class per anchor (A,) int64: 0 background, k for the k-th of `categories`; box codes (A, 4) float32) of one
    image's ground truth: the best anchor of every box, and every anchor overlapping a box by MATCH_IOU or more."""
    import numpy as np

    from podium.models.boxes import box_iou

    width, height = float(truth["width"]), float(truth["height"])
    found = [(a["bbox"], categories.index(a["category_id"]) + 1) for a in truth["annotations"]
             if a["category_id"] in categories]
    classes = np.zeros(len(anchors), dtype=np.int64)
    codes = np.zeros((len(anchors), 4), dtype=np.float32)
    if not found:
        return classes, codes
    boxes = np.array([[y / height, x / width, (y + h) / height, (x + w) / width] for (x, y, w, h), _ in found])
    iou = box_iou(anchors.astype(np.float64), boxes)  # (A, B)
    best = iou.argmax(axis=1)
    matched = iou.max(axis=1) >= MATCH_IOU
    matched[iou.argmax(axis=0)] = True
    best[iou.argmax(axis=0)] = np.arange(len(boxes))
    labels = np.array([k for _, k in found])
    classes[matched] = labels[best[matched]]
    codes[matched] = encode(boxes[best[matched]], anchors[matched], scales)
    return classes, codes


def encode(boxes: np.ndarray, anchors: np.ndarray, scales: list[float]) -> np.ndarray:
    """TensorFlow's box coder, the inverse of `podium.models._ssd_torch.decode_tf`: [ymin, xmin, ymax, xmax] boxes
    relative to anchors -> [ty, tx, th, tw] times `scales` (y, x, h, w)."""
    import numpy as np

    ah, aw = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ay, ax = anchors[:, 0] + ah / 2, anchors[:, 1] + aw / 2
    bh, bw = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    by, bx = boxes[:, 0] + bh / 2, boxes[:, 1] + bw / 2
    sy, sx, sh, sw = scales
    return np.stack([(by - ay) / ah * sy, (bx - ax) / aw * sx, np.log(bh / ah) * sh, np.log(bw / aw) * sw],
                    axis=1).astype(np.float32)
