"""`auc`: the area under the ROC curve of click predictions, in %, as MLPerf's DLRM accuracy script computes it.

recommendation/dlrm/pytorch/tools/accuracy-dlrm.py (and its copy for DLRMv2, recommendation/dlrm_v2/pytorch/
tools/accuracy-dlrm.py) reads every response of the accuracy log as rows of float32 (prediction, label) pairs, one
row per user-item pair of the aggregated sample, scores all rows at once with scikit-learn's `roc_auc_score`,
counts a row good when its rounded prediction equals its label, and prints
"AUC=<100 auc, 3 decimals>%, accuracy=<100 good/total, 3 decimals>%, good=<n>, total=<rows>, queries=<samples>",
which the submission checker reads with its ACC_PATTERN "AUC": r"^AUC=([\\d\\.]+).*". The targets are 80.25 % x
0.99 / 0.999 (DLRM, v0.7-v3.0) and 80.31 % x 0.99 / 0.999 (DLRMv2, v3.1-v5.1), in the benchmark registry.

The AUC here is exact: the Mann-Whitney statistic on ranks, tied scores sharing their average rank, which equals
the trapezoidal area scikit-learn computes (the tests cross-check both). Unlike most metrics the state is not of
fixed size: the AUC of all rows needs every score, so the metric keeps each row's score (float32, as logged) and
label (int8): 5 bytes per row, some 450 MB for the 89 million rows of the full DLRM test set.

A prediction is one sample's response: (n, 2) rows of (score, label) as the reference logs them, or (n,) / (n, 1)
scores alone; its target is that sample's n labels (the `criteo` datasets' labels). When the response carries
labels too, they must equal the target's: a response logged for another sample is refused, not scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The exact area under the ROC curve of `scores` for binary `labels` (non-zero = positive), in [0, 1]: the
    probability that a random positive scores above a random negative, ties counting one half. A ValueError when
    the labels hold one class only (no ROC curve exists), as scikit-learn's."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1) != 0
    if len(s) != len(y):
        raise ValueError(f"{len(s)} scores for {len(y)} labels")
    positives = int(np.count_nonzero(y))
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("only one class is present in the labels: the ROC AUC is undefined")
    ranks = average_ranks(s)
    u = float(ranks[y].sum()) - positives * (positives + 1) / 2.0
    return u / (positives * float(negatives))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values` (1-D), tied values sharing the mean of their ranks (scipy's rankdata 'average')."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # start of each run of equal values, in sorted order
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.concatenate((starts[1:], [len(values)]))
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


class RocAuc(Metric):
    """ROC AUC over every row of every response, in %; the rows whose rounded score is the label are counted too."""

    name = "auc"
    units = "%"
    higher_is_better = True

    def reset(self) -> None:
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.good = 0
        self.total = 0
        self.queries = 0

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add samples: `predictions[i]` the rows of one response ((n, 2) score and label, or (n,) scores),
        `targets[i]` its n labels. A flat 1-D array of scores with a 1-D array of labels adds rows directly
        (a training evaluation)."""
        preds, truths = _samples(predictions), _samples(targets)
        if len(preds) != len(truths):
            raise MetricInputError(f"auc: {len(preds)} predictions for {len(truths)} targets")
        for k, (pred, truth) in enumerate(zip(preds, truths)):
            scores, labels = _rows(pred, truth, k)
            self.scores.append(scores)
            self.labels.append(labels)
            # np.round is half to even; the reference's tensor/np.float32 .round() is too
            self.good += int(np.count_nonzero(np.round(scores) == labels))
            self.total += len(scores)
        self.queries += len(preds)

    def compute(self) -> Score:
        """AUC in %; `total` counts the samples (responses) scored, as every metric's does, and the details hold the
        script's other figures: the accuracy of the rounded scores, and the rows (`good` of `rows`) behind it."""
        if not self.total:
            return Score(self.name, 0.0, self.units, good=None, total=0,
                         details={"accuracy": 0.0, "good": 0.0, "rows": 0.0})
        try:
            value = 100.0 * roc_auc(np.concatenate(self.scores), np.concatenate(self.labels))
        except ValueError as e:
            raise MetricInputError(f"auc: {e} ({self.total} rows scored)") from None
        accuracy = 100.0 * self.good / self.total
        return Score(self.name, value, self.units, good=None, total=self.queries,
                     details={"accuracy": accuracy, "good": float(self.good), "rows": float(self.total)})

    def merge(self, other: RocAuc) -> None:
        self.scores += other.scores
        self.labels += other.labels
        self.good += other.good
        self.total += other.total
        self.queries += other.queries

    def summary_line(self, score: Score) -> str:
        # The line of recommendation/dlrm/pytorch/tools/accuracy-dlrm.py: its total counts rows, its queries samples.
        details = score.details
        return (f"AUC={score.value:.3f}%, accuracy={details.get('accuracy', 0.0):.3f}%, "
                f"good={int(details.get('good', 0))}, total={int(details.get('rows', 0))}, queries={score.total}")


def _samples(batch: Any) -> Sequence[Any]:
    """A batch as a sequence of samples; a flat 1-D numeric array is one sample of many rows."""
    if isinstance(batch, np.ndarray) and batch.dtype != object and batch.ndim == 1:
        return [batch]
    return list(batch)


def _rows(pred: Any, truth: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores float32, labels int8) of one sample; a MetricInputError naming it when they do not fit."""
    p = np.asarray(pred)
    labels = np.asarray(truth).reshape(-1)
    if p.ndim == 2 and p.shape[1] == 2:
        scores, logged = p[:, 0], p[:, 1]
        if len(logged) == len(labels) and not np.array_equal(logged.astype(np.float64), labels.astype(np.float64)):
            raise MetricInputError("auc: the labels logged with the predictions differ from the dataset's; was "
                                   "the response written for another sample?", sample=k)
    elif p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        scores = p.reshape(-1)
    else:
        raise MetricInputError(f"auc: a response of shape {p.shape}; expected (n, 2) rows of (prediction, label) "
                               "or (n,) predictions", sample=k)
    if len(scores) != len(labels):
        raise MetricInputError(f"auc: {len(scores)} predictions for a sample of {len(labels)} labels", sample=k)
    if not np.all(np.isfinite(scores)):
        raise MetricInputError("auc: a prediction is not a finite number", sample=k)
    return scores.astype(np.float32), labels.astype(np.int8)


@METRICS.register("auc")
def _auc() -> Metric:
    return RocAuc()
