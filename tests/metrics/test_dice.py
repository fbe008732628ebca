"""The `dice` metric: kidney and tumour DICE per case and their composite, averaged over cases, on hand-made volumes
whose overlaps are counted by hand; against a one-hot computation written as accuracy_kits.py writes it; the
official line; inputs it refuses, naming the sample."""

from __future__ import annotations

import numpy as np
import pytest

from podium.metrics import METRICS, MetricInputError
from podium.metrics.dice import Dice, case_dice

SMOOTH = 1e-6


def cubes() -> tuple[np.ndarray, np.ndarray]:
    """A 4x4x8 case: the target's kidney is the cube x < 4, the prediction's x in [2, 6): 32 of 64 voxels shared.
    Neither has a tumour."""
    target = np.zeros((4, 4, 8), dtype=np.uint8)
    prediction = np.zeros_like(target)
    target[:, :, :4] = 1
    prediction[:, :, 2:6] = 1
    return prediction, target


def one_hot_dice(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(kidney, tumour) as accuracy_kits.py's get_dice_score: one-hot both, drop background, sum per class."""
    pred = np.eye(3)[prediction.reshape(-1)][:, 1:]
    truth = np.eye(3)[target.reshape(-1)][:, 1:]
    intersection = np.sum(pred * truth, axis=0)
    return (2.0 * intersection + SMOOTH) / (np.sum(truth, axis=0) + np.sum(pred, axis=0) + SMOOTH)


def test_two_cubes_overlapping_by_half() -> None:
    prediction, target = cubes()
    kidney, tumour = case_dice(prediction, target)
    assert kidney == pytest.approx((2 * 32 + SMOOTH) / (64 + 64 + SMOOTH), rel=1e-12)  # 0.5
    assert tumour == 1.0  # absent from both: the smoothing terms make it a perfect score, as in the reference


def test_mean_over_cases_and_the_official_line() -> None:
    metric = METRICS.get("dice")
    assert isinstance(metric, Dice)
    half, target = cubes()
    # case 2: the tumour (8 voxels) found exactly, the kidney (56 voxels) missed entirely
    truth = np.zeros((4, 4, 4), dtype=np.uint8)
    truth[:, :, :] = 1
    truth[:2, :2, :2] = 2
    found = np.zeros_like(truth)
    found[:2, :2, :2] = 2
    metric.update([half.reshape(-1), found.reshape(-1)], [target, truth])  # flat, as responses are decoded
    score = metric.compute()
    kidney = [(64 + SMOOTH) / (128 + SMOOTH), SMOOTH / (56 + SMOOTH)]
    tumour = [1.0, (16 + SMOOTH) / (16 + SMOOTH)]
    assert score.total == 2 and score.units == "" and score.good is None
    assert score.details["kidney"] == pytest.approx(np.mean(kidney), rel=1e-12)
    assert score.details["tumor"] == pytest.approx(np.mean(tumour), rel=1e-12)
    composite = np.mean([(k + t) / 2 for k, t in zip(kidney, tumour)])
    assert score.value == pytest.approx(composite, rel=1e-12)  # (0.75 + 0.5) / 2 = 0.625
    assert metric.summary_line(score) == "Accuracy: mean = 0.62500, kidney = 0.2500, tumor = 1.0000"


def test_agrees_with_the_one_hot_computation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        target = rng.integers(0, 3, size=(6, 7, 8)).astype(np.uint8)
        prediction = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, 3, size=target.shape))
        got = case_dice(prediction.astype(np.uint8).reshape(-1), target)
        np.testing.assert_allclose(got, one_hot_dice(prediction, target), rtol=1e-12)


def test_lazy_targets_are_read_with_numpy() -> None:
    class Lazy:
        def __init__(self, volume: np.ndarray) -> None:
            self.volume, self.reads = volume, 0

        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            self.reads += 1
            return self.volume

    prediction, target = cubes()
    lazy = Lazy(target)
    targets = np.empty(1, dtype=object)
    targets[0] = lazy
    metric = Dice()
    metric.update([prediction.reshape(-1)], targets)
    assert lazy.reads == 1 and metric.compute().details["kidney"] == pytest.approx(0.5)


def test_merge_equals_one_metric() -> None:
    prediction, target = cubes()
    whole, a, b = Dice(), Dice(), Dice()
    whole.update([prediction, target], [target, target])
    a.update([prediction], [target])
    b.update([target], [target])
    a.merge(b)
    assert a.compute() == whole.compute()
    whole.reset()
    assert whole.compute().total == 0


def test_refuses_a_prediction_of_another_size_naming_it() -> None:
    prediction, target = cubes()
    with pytest.raises(MetricInputError, match="prediction of 64 voxels .* case of 128 voxels") as e:
        Dice().update([prediction, prediction[:, :, :4]], [target, target])
    assert e.value.sample == 1


def test_refuses_class_ids_out_of_range() -> None:
    prediction, target = cubes()
    prediction[0, 0, 0] = 3
    with pytest.raises(MetricInputError, match="outside 0..2"):
        Dice().update([prediction], [target])
    with pytest.raises(MetricInputError, match="2 predictions for 1 targets"):
        Dice().update([target, target], [target])
