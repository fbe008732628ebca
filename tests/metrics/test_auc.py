"""`auc`: exact ROC AUC (average ranks for ties) against scikit-learn and a known ranking, accumulated over the
(prediction, label) rows of DLRM responses, with the line of tools/accuracy-dlrm.py that the checker parses."""

from __future__ import annotations

import re

import numpy as np
import pytest

from podium.metrics import METRICS, MetricInputError
from podium.metrics.auc import average_ranks, roc_auc

# tools/submission/submission_checker/constants.py ACC_PATTERN["AUC"]
CHECKER_AUC = r"^AUC=([\d\.]+).*"


def test_a_known_ranking() -> None:
    """scikit-learn's roc_auc_score example: of the 4 positive-negative pairs, 3 are ranked right."""
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert roc_auc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9], [1, 1, 0]) == 0.0


def test_ties_count_one_half() -> None:
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    # one positive tied with one of two negatives, above the other: (1 + 0.5) / 2
    assert roc_auc([0.3, 0.7, 0.7], [0, 0, 1]) == 0.75
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_matches_scikit_learn_with_and_without_ties() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for quantized in (False, True):
        y = rng.integers(0, 2, 5000)
        scores = rng.random(5000) + 0.3 * y
        if quantized:
            scores = np.round(scores, 1)  # many ties
        assert roc_auc(scores, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, scores), abs=1e-12)


def test_one_class_has_no_auc() -> None:
    with pytest.raises(ValueError, match="one class"):
        roc_auc([0.1, 0.2], [1, 1])
    metric = METRICS.get("auc")
    metric.update([np.array([[0.2, 1.0], [0.7, 1.0]], dtype=np.float32)], [np.array([1.0, 1.0])])
    with pytest.raises(MetricInputError, match="one class"):
        metric.compute()


def test_responses_of_prediction_label_rows_and_the_official_line() -> None:
    metric = METRICS.get("auc")
    first = np.array([[0.1, 0.0], [0.4, 0.0], [0.35, 1.0]], dtype=np.float32)
    second = np.array([[0.8, 1.0]], dtype=np.float32)
    metric.update([first, second], [np.array([0.0, 0.0, 1.0]), np.array([1.0])])
    score = metric.compute()
    assert score.value == pytest.approx(75.0)
    assert (score.details["good"], score.details["rows"]) == (3, 4)  # 0.35 rounds to 0 against its label 1
    assert (score.good, score.total) == (None, 2)  # samples, as every metric counts them (value is not good/total)
    line = metric.summary_line(score)
    assert line == "AUC=75.000%, accuracy=75.000%, good=3, total=4, queries=2"
    assert float(re.match(CHECKER_AUC, line).group(1)) == 75.0


def test_predictions_alone_and_flat_arrays() -> None:
    a, b = METRICS.get("auc"), METRICS.get("auc")
    a.update([np.array([0.1, 0.4]), np.array([[0.35], [0.8]])], [np.array([0, 0]), np.array([1, 1])])
    b.update(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert a.compute().value == b.compute().value == pytest.approx(75.0)
    a.merge(b)
    assert a.compute().details["rows"] == 8 and a.compute().total == 3


def test_refuses_responses_that_do_not_fit() -> None:
    metric = METRICS.get("auc")
    with pytest.raises(MetricInputError, match="differ") as e:
        metric.update([np.array([[0.2, 0.0]]), np.array([[0.3, 1.0]])], [np.array([0.0]), np.array([0.0])])
    assert e.value.sample == 1
    with pytest.raises(MetricInputError, match="2 predictions for a sample of 3"):
        metric.update([np.array([0.2, 0.3])], [np.array([0, 1, 0])])
    with pytest.raises(MetricInputError, match="shape"):
        metric.update([np.zeros((2, 3))], [np.zeros(2)])
    with pytest.raises(MetricInputError, match="finite"):
        metric.update([np.array([np.nan])], [np.array([1])])
