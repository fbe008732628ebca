"""`dice`: the mean composite DICE score of MLPerf's 3D U-Net (KiTS 2019), as its accuracy script computes it.

vision/medical_imaging/3d-unet-kits19/accuracy_kits.py scores each case on two classes, kidney (label 1) and tumour
(label 2), each against the ground truth of that same label: DICE = (2 |P ∩ T| + 1e-6) / (|P| + |T| + 1e-6); the
case's composite is the mean of the two. The result is the mean over cases of each (a NaN counting as 0, which the
smoothing terms never let happen), printed as "Accuracy: mean = <composite>, kidney = ..., tumor = ..."; the
submission checker reads the composite, a fraction (the reference reached 0.86170).

A prediction is one case's label volume, uint8 class ids (the reference's response: the argmax volume, flat); a
target is that case's ground truth, any array-like numpy reads as its (D, H, W) volume (the `kits19` dataset's
lazy labels are read here, one at a time). The prediction is laid out in the target's shape. The state is one
(kidney, tumour) pair per case: a few dozen numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

CLASSES = 3  # background, kidney, tumour
SCORED = (1, 2)  # kidney, tumour: background is not scored
SMOOTH_NUMERATOR = 1e-6
SMOOTH_DENOMINATOR = 1e-6


class Dice(Metric):
    """Mean over cases of the kidney, tumour and composite (their mean) DICE scores; the value is the composite."""

    name = "dice"
    units = ""
    higher_is_better = True

    def reset(self) -> None:
        self.cases: list[tuple[float, float]] = []  # (kidney, tumour) per case scored

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add cases: `predictions[i]` a label volume (any shape with the target's number of voxels), `targets[i]`
        the ground truth volume (or anything numpy reads as one)."""
        preds, truths = _cases(predictions), _cases(targets)
        if len(preds) != len(truths):
            raise MetricInputError(f"dice: {len(preds)} predictions for {len(truths)} targets")
        for k, (pred, truth) in enumerate(zip(preds, truths)):
            self.cases.append(case_dice(pred, truth, sample=k))

    def compute(self) -> Score:
        if not self.cases:
            return Score(self.name, 0.0, self.units, good=None, total=0, details={"kidney": 0.0, "tumor": 0.0})
        per_case = np.nan_to_num(np.asarray(self.cases, dtype=np.float64), nan=0.0)  # the script's fillna(0)
        kidney, tumour = (float(v) for v in per_case.mean(axis=0))
        composite = float(per_case.mean(axis=1).mean())
        return Score(self.name, composite, self.units, good=None, total=len(self.cases),
                     details={"kidney": kidney, "tumor": tumour})

    def merge(self, other: Dice) -> None:
        self.cases.extend(other.cases)

    def summary_line(self, score: Score) -> str:
        # The line accuracy_kits.py prints; the checker's pattern is r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*".
        return (f"Accuracy: mean = {score.value:.5f}, kidney = {score.details.get('kidney', 0.0):.4f}, "
                f"tumor = {score.details.get('tumor', 0.0):.4f}")


def _cases(batch: Any) -> list[Any]:
    """The cases of a batch: the items of a sequence or of an object array (the slices of a numeric one)."""
    if isinstance(batch, np.ndarray) or (isinstance(batch, Sequence) and not isinstance(batch, (str, bytes))):
        return list(batch)
    raise MetricInputError(f"dice: expected a sequence of volumes, got {type(batch).__name__}")


def case_dice(prediction: npt.ArrayLike, target: npt.ArrayLike, *, sample: int = 0) -> tuple[float, float]:
    """(kidney DICE, tumour DICE) of one case; a MetricInputError naming `sample` when the prediction does not
    have the target's number of voxels or holds a class id other than 0, 1, 2."""
    truth = np.asarray(target)
    pred = np.asarray(prediction)
    if pred.size != truth.size:
        raise MetricInputError(f"dice: a prediction of {pred.size} voxels (shape {pred.shape}) for a case of "
                               f"{truth.size} voxels (shape {truth.shape})", sample=sample)
    confusion = confusion_matrix(pred.reshape(-1), truth.reshape(-1), sample=sample)
    scores = []
    for c in SCORED:
        both, in_truth, in_pred = confusion[c, c], confusion[c].sum(), confusion[:, c].sum()
        scores.append((2.0 * both + SMOOTH_NUMERATOR) / (in_truth + in_pred + SMOOTH_DENOMINATOR))
    return float(scores[0]), float(scores[1])


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, *, sample: int = 0) -> np.ndarray:
    """(CLASSES, CLASSES) voxel counts, float64: row = ground truth class, column = predicted class."""
    for name, values in (("prediction", pred), ("target", truth)):
        if values.dtype.kind not in "biu" and not np.array_equal(values, np.round(values)):
            raise MetricInputError(f"dice: the {name} holds non-integer class ids", sample=sample)
        if values.size and (values.min() < 0 or values.max() >= CLASSES):
            raise MetricInputError(f"dice: the {name} holds class ids outside 0..{CLASSES - 1} "
                                   f"(min {values.min()}, max {values.max()})", sample=sample)
    pairs = truth.astype(np.int64) * CLASSES + pred.astype(np.int64)
    counts: np.ndarray = np.bincount(pairs, minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES)
    return counts.astype(np.float64)


@METRICS.register("dice")
def _dice() -> Metric:
    return Dice()
