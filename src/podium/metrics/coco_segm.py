"""`coco-segm`: COCO mask mAP (IoU 0.50:0.95, all areas, up to 100 detections) in %, with the box mAP of the same
detections beside it, by pycocotools' COCOeval as Mask R-CNN's reference scores them (mlcommons/training
retired_benchmarks/maskrcnn/pytorch, maskrcnn_benchmark/data/datasets/evaluation/coco/coco_eval.py: iouType
"segm" and "bbox" over the same results; MLPerf logs both, as fractions, in one eval_accuracy).

A prediction is one image's detections: a dict with "boxes" (n, 4) [x, y, w, h] in the original image's pixels,
"scores" (n,), "category_ids" (n,) (the annotation file's ids) and "masks": the binary masks pasted in the image,
(n, height, width), or their RLEs (pycocotools.mask.encode's dicts). Masks are RLE-encoded as they arrive, so the
state is the RLEs, not the pixels. A target is that image's ground truth as `podium.metrics.coco_map` takes it,
whose annotations carry their "segmentation" (polygons or RLE). An image seen twice is scored once.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score
from podium.metrics.coco_map import STATS, empty_results, ground_truth


class CocoSegmMap(Metric):
    """Mask mAP in % (the first number of COCOeval.summarize() for "segm", times 100); `details` holds the
    twelve numbers of both evaluations, as "segm_AP", ..., "bbox_AP", ... in %."""

    name: ClassVar[str] = "coco-segm"
    units = "%"
    higher_is_better = True

    def reset(self) -> None:
        self.images: dict[int, Mapping[str, Any]] = {}
        self.results: dict[int, list[dict[str, Any]]] = {}
        self.category_ids: tuple[int, ...] | None = None

    def update(self, predictions: Any, targets: Any) -> None:
        found, truth = list(predictions), list(targets)
        if len(found) != len(truth):
            raise MetricInputError(f"{self.name}: {len(found)} predictions for {len(truth)} targets")
        for k, (prediction, target) in enumerate(zip(found, truth, strict=True)):
            if not isinstance(target, Mapping) or "image_id" not in target:
                raise MetricInputError(f"{self.name}: target is not an image's ground truth (a dict with "
                                       f"image_id)", sample=k)
            image_id = int(target["image_id"])
            if image_id in self.images:
                continue
            if self.category_ids is None:
                self.category_ids = tuple(int(c) for c in target["category_ids"])
            self.images[image_id] = target
            self.results[image_id] = image_results(k, image_id, prediction, target)

    def compute(self) -> Score:
        segm = evaluate(self.images, self.results, self.category_ids or (), "segm")
        bbox = evaluate(self.images, self.results, self.category_ids or (), "bbox")
        details = {f"segm_{k}": 100.0 * v for k, v in zip(STATS, segm, strict=True)}
        details.update({f"bbox_{k}": 100.0 * v for k, v in zip(STATS, bbox, strict=True)})
        return Score(self.name, 100.0 * segm[0], self.units, good=None, total=len(self.images), details=details)

    def merge(self, other: CocoSegmMap) -> None:
        for image_id, target in other.images.items():
            if image_id not in self.images:
                self.images[image_id] = target
                self.results[image_id] = other.results[image_id]
        if self.category_ids is None:
            self.category_ids = other.category_ids

    def summary_line(self, score: Score) -> str:
        box = score.details.get("bbox_AP", float("nan"))
        return f"segm mAP={score.value:.3f}% bbox mAP={box:.3f}%"


def image_results(sample: int, image_id: int, prediction: Any, target: Mapping[str, Any]) -> list[dict[str, Any]]:
    """COCO results (one dict per detection: image_id, category_id, bbox, score, segmentation RLE)."""
    import pycocotools.mask as mask_util  # type: ignore[import-untyped]

    if not isinstance(prediction, Mapping) or not {"boxes", "scores", "category_ids", "masks"} <= set(prediction):
        raise MetricInputError("coco-segm: a prediction is a dict of boxes, scores, category_ids, masks",
                               sample=sample)
    boxes = np.asarray(prediction["boxes"], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(prediction["scores"], dtype=np.float64).reshape(-1)
    categories = np.asarray(prediction["category_ids"]).reshape(-1)
    masks = prediction["masks"]
    if not len(boxes) == len(scores) == len(categories) == len(masks):
        raise MetricInputError("coco-segm: boxes, scores, category_ids and masks differ in length", sample=sample)
    if isinstance(masks, np.ndarray):
        if masks.shape[1:] != (int(target["height"]), int(target["width"])):
            raise MetricInputError(f"coco-segm: masks of shape {masks.shape[1:]} for an image of "
                                   f"{target['height']}x{target['width']}", sample=sample)
        masks = mask_util.encode(np.asfortranarray(masks.astype(np.uint8).transpose(1, 2, 0))) if len(masks) else []
    return [{"image_id": image_id, "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s),
             "segmentation": dict(m)} for b, s, c, m in zip(boxes, scores, categories, masks)]


def evaluate(images: Mapping[int, Mapping[str, Any]], results: Mapping[int, list[dict[str, Any]]],
             category_ids: tuple[int, ...], iou_type: str) -> list[float]:
    """COCOeval's 12 summary numbers (fractions; -1 where undefined) for `iou_type` ("segm" or "bbox")."""
    from pycocotools.coco import COCO  # type: ignore[import-untyped]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

    found_list = [r for rs in results.values() for r in rs]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = ground_truth(images, category_ids)
        truth.createIndex()
        found = truth.loadRes(_copies(found_list, iou_type)) if found_list else empty_results(truth)
        evaluation = COCOeval(truth, found, iouType=iou_type)
        evaluation.params.imgIds = sorted(images)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(s) for s in evaluation.stats]


def _copies(results: list[dict[str, Any]], iou_type: str) -> list[dict[str, Any]]:
    """Fresh result dicts (loadRes writes into them) of one kind, as the reference's two result lists: boxes
    without masks for "bbox", masks without boxes for "segm" (loadRes then takes areas and boxes from the masks)."""
    if iou_type == "bbox":
        return [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
    return [dict({k: v for k, v in r.items() if k != "bbox"}, segmentation=dict(r["segmentation"]))
            for r in results]


@METRICS.register("coco-segm")
def _coco_segm() -> Metric:
    return CocoSegmMap()
