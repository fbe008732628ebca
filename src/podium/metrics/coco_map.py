"""`coco-map` and `coco-map-inv`: COCO box mAP (IoU 0.50:0.95, all areas, up to 100 detections) in %, computed
by pycocotools' COCOeval exactly as MLPerf's vision/classification_and_detection/tools/accuracy-coco.py does.

A prediction is one image's response: float32 rows [qsl index, ymin, xmin, ymax, xmax, score, class], boxes
normalized to 0..1 (the reference's detection encoding; fewer than 7 numbers: the image had no detection). A
target is that image's ground truth, as `podium.datasets.coco` labels it: a dict with "image_id", "width",
"height", "annotations" (COCO annotation dicts: "id", "category_id", "bbox" [x, y, w, h] in pixels, "area",
"iscrowd") and "category_ids" (the annotation file's category ids, in its order).

As the official script: boxes are scaled by the image's width and height in float32 and turned into [x, y, w, h];
the class is truncated to an integer; `coco-map-inv` (the script's --use-inv-map, which MLPerf runs for
SSD-ResNet34) maps class k to the file's k-th category id (k = 1, 2, ...; 0 stays 0, matching no category); an
image seen twice is scored once (LoadGen may log a sample more than once); evaluation covers the images seen.
The state is every detection so far (mAP cannot be accumulated otherwise), 48 bytes a detection.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

ROW = 7  # [qsl index, ymin, xmin, ymax, xmax, score, class]
# The 12 numbers COCOeval.summarize() prints, by the names they are known under.
STATS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
         "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


class CocoMap(Metric):
    """COCO bbox mAP in % (the first number of COCOeval.summarize(), times 100)."""

    name: ClassVar[str] = "coco-map"
    units = "%"
    higher_is_better = True
    inverse_label_map: ClassVar[bool] = False

    def reset(self) -> None:
        self.images: dict[int, Mapping[str, Any]] = {}  # image id -> its ground truth
        self.detections: dict[int, np.ndarray] = {}  # image id -> (n, 6) float64 [x, y, w, h, score, category]
        self.category_ids: tuple[int, ...] | None = None

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add a batch: `predictions[i]` one image's detection rows, `targets[i]` its ground truth."""
        found, truth = _as_list(predictions), _as_list(targets)
        if len(found) != len(truth):
            raise MetricInputError(f"{self.name}: {len(found)} predictions for {len(truth)} targets")
        for k, (prediction, target) in enumerate(zip(found, truth, strict=True)):
            self._add(k, prediction, target)

    def _add(self, sample: int, prediction: Any, target: Any) -> None:
        if not isinstance(target, Mapping) or "image_id" not in target:
            raise MetricInputError(f"{self.name}: target is not an image's ground truth (a dict with image_id)",
                                   sample=sample)
        image_id = int(target["image_id"])
        if image_id in self.images:
            return  # the official script scores a sample logged twice once
        rows = np.asarray(prediction, dtype=np.float32).reshape(-1)
        if rows.size % ROW and rows.size >= ROW:
            raise MetricInputError(f"{self.name}: a response of {rows.size} numbers is no whole number of "
                                   f"{ROW}-number detection rows", sample=sample)
        if self.category_ids is None:
            self.category_ids = tuple(int(c) for c in target["category_ids"])
        self.images[image_id] = target
        if rows.size >= ROW:
            self.detections[image_id] = self._to_pixels(sample, rows.reshape(-1, ROW), target)

    def _to_pixels(self, sample: int, rows: np.ndarray, target: Mapping[str, Any]) -> np.ndarray:
        """(n, 6) [x, y, w, h, score, category] as the official script computes them (float32 scaling)."""
        height, width = np.float32(target["height"]), np.float32(target["width"])
        ymin, xmin, ymax, xmax = rows[:, 1] * height, rows[:, 2] * width, rows[:, 3] * height, rows[:, 4] * width
        labels = self._categories(sample, rows[:, 6])
        return np.stack([xmin, ymin, xmax - xmin, ymax - ymin, rows[:, 5], labels.astype(np.float32)],
                        axis=1).astype(np.float64)

    def _categories(self, sample: int, classes: np.ndarray) -> np.ndarray:
        """Category ids of the rows' class numbers (truncated to integers; mapped when `inverse_label_map`)."""
        if not np.isfinite(classes).all():
            raise MetricInputError(f"{self.name}: a detection's class is not a finite number", sample=sample)
        labels: np.ndarray = np.trunc(classes).astype(np.int64)
        if not self.inverse_label_map:
            return labels
        inverse = np.asarray((0, *(self.category_ids or ())), dtype=np.int64)  # the script's [0] + getCatIds()
        bad = (labels < 0) | (labels >= len(inverse))
        if bad.any():
            raise MetricInputError(f"{self.name}: class {int(labels[bad][0])} has no category (the label map has "
                                   f"classes 1..{len(inverse) - 1})", sample=sample)
        return inverse[labels]  # type: ignore[no-any-return]

    def compute(self) -> Score:
        stats = evaluate(self.images, self.detections, self.category_ids or ())
        return Score(self.name, 100.0 * stats[0], self.units, good=None, total=len(self.images),
                     details=dict(zip(STATS, (100.0 * s for s in stats), strict=True)))

    def merge(self, other: CocoMap) -> None:
        for image_id, target in other.images.items():
            if image_id not in self.images:
                self.images[image_id] = target
                if image_id in other.detections:
                    self.detections[image_id] = other.detections[image_id]
        if self.category_ids is None:
            self.category_ids = other.category_ids

    def summary_line(self, score: Score) -> str:
        # The line of vision/classification_and_detection/tools/accuracy-coco.py.
        return f"mAP={score.value:.3f}%"


class CocoMapInverse(CocoMap):
    """COCO mAP of a model answering contiguous class numbers 1..80 (accuracy-coco.py --use-inv-map)."""

    name = "coco-map-inv"
    inverse_label_map = True


def _as_list(values: Any) -> list[Any]:
    """The items of a batch: a sequence, or an array's first axis."""
    return list(values)


def evaluate(images: Mapping[int, Mapping[str, Any]], detections: Mapping[int, np.ndarray],
             category_ids: Sequence[int]) -> list[float]:
    """COCOeval's 12 summary numbers (fractions; -1 where undefined) over `images`, in memory and quietly."""
    from pycocotools.coco import COCO  # type: ignore[import-untyped]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = ground_truth(images, category_ids)
        truth.createIndex()
        found = truth.loadRes(results(detections)) if detections else empty_results(truth)
        evaluation = COCOeval(truth, found, iouType="bbox")
        evaluation.params.imgIds = sorted(images)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(s) for s in evaluation.stats]


def ground_truth(images: Mapping[int, Mapping[str, Any]], category_ids: Sequence[int]) -> dict[str, Any]:
    """A COCO instances dataset holding `images` and their annotations (in their file order)."""
    return {"images": [{"id": i, "width": int(t["width"]), "height": int(t["height"])} for i, t in images.items()],
            "annotations": [dict(a, image_id=i) for i, t in images.items() for a in t["annotations"]],
            "categories": [{"id": int(c)} for c in category_ids]}


def results(detections: Mapping[int, np.ndarray]) -> np.ndarray:
    """The (n, 7) [image id, x, y, w, h, score, category] array COCO.loadRes takes."""
    return np.concatenate([np.column_stack([np.full(len(d), float(i)), d]) for i, d in detections.items()])


def empty_results(truth: Any) -> Any:
    """A results COCO with no detection (COCO.loadRes refuses an empty list; the official script crashes)."""
    from pycocotools.coco import COCO

    found = COCO()
    found.dataset = {"images": list(truth.dataset["images"]), "categories": list(truth.dataset["categories"]),
                     "annotations": []}
    found.createIndex()
    return found


@METRICS.register("coco-map")
def _coco_map() -> Metric:
    return CocoMap()


@METRICS.register("coco-map-inv")
def _coco_map_inverse() -> Metric:
    return CocoMapInverse()
