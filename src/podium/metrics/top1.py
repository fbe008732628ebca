"""`top1`: top-1 classification accuracy in %, counted as it goes (good and total: two integers of state).

A prediction is one class id (an argmax, taken by the model's post-processing). As in the reference script
(vision/classification_and_detection/tools/accuracy-imagenet.py), a float class id is truncated and a
non-finite one never matches; a prediction that is not one real number is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

# Floats at or beyond this magnitude are no int64 class id (and no label): they never match, as NaN.
_INT64_LIMIT = 2.0 ** 63


class Top1(Metric):
    """Top-1 accuracy: the share of predictions equal to their label, in %."""

    name = "top1"
    units = "%"
    higher_is_better = True

    def reset(self) -> None:
        self.good = 0
        self.total = 0

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add a batch: `predictions` a 1-D array of class ids, or a sequence of one-element arrays (one
        decoded response each); `targets` the labels, as many."""
        found = class_ids(predictions)
        labels = np.asarray(targets).reshape(-1)
        if len(found) != len(labels):
            raise MetricInputError(f"top1: {len(found)} predictions for {len(labels)} targets")
        self.good += int(np.count_nonzero(found == labels))
        self.total += len(found)

    def compute(self) -> Score:
        value = 100.0 * self.good / self.total if self.total else 0.0
        return Score(self.name, value, self.units, good=self.good, total=self.total)

    def merge(self, other: Top1) -> None:
        self.good += other.good
        self.total += other.total

    def summary_line(self, score: Score) -> str:
        # The line of vision/classification_and_detection/tools/accuracy-imagenet.py.
        return f"accuracy={score.value:.3f}%, good={score.good}, total={score.total}"


def class_ids(predictions: npt.ArrayLike) -> np.ndarray:
    """One int64 class id per prediction; float ids truncated, non-finite ones -1 (which matches no label)."""
    if isinstance(predictions, np.ndarray) and predictions.ndim == 1:
        if predictions.dtype.kind not in "biuf":
            raise MetricInputError(_refusal(predictions.dtype, ()), sample=0)
        values = predictions
    else:
        values = np.array([_one_value(k, p) for k, p in enumerate(predictions)])  # type: ignore[arg-type]
    if values.dtype.kind != "f":
        return values.astype(np.int64)
    usable = np.isfinite(values) & (np.abs(values) < _INT64_LIMIT)
    return np.where(usable, values, -1).astype(np.int64)


def _one_value(sample: int, prediction: npt.ArrayLike) -> np.generic:
    """The single number in one prediction (MetricInputError otherwise)."""
    array = np.asarray(prediction)
    if array.size != 1 or array.dtype.kind not in "biuf":
        raise MetricInputError(_refusal(array.dtype, array.shape), sample=sample)
    value: np.generic = array.reshape(-1)[0]
    return value


def _refusal(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    return f"top1 expects one real class id per response, got {dtype} of shape {shape}"


@METRICS.register("top1")
def _top1() -> Metric:
    return Top1()
