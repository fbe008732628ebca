"""The `top1` metric: counted batch by batch (update/compute/reset/merge), class ids as the reference script reads
them, refusals naming the sample, the official accuracy.txt line; and the metric registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from podium.core.errors import UnknownNameError
from podium.metrics import METRICS, Metric, MetricInputError, Score


def test_importing_the_package_imports_no_numpy() -> None:
    probe = "import sys, podium.metrics; print('numpy' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_registry_and_did_you_mean() -> None:
    assert "top1" in METRICS.names()
    top1 = METRICS.get("top1")
    assert (top1.name, top1.units, top1.higher_is_better) == ("top1", "%", True)
    assert isinstance(top1, Metric)
    with pytest.raises(UnknownNameError, match="did you mean 'top1'"):
        METRICS.get("top")


def test_each_lookup_is_a_new_empty_metric() -> None:
    first = METRICS.get("top1")
    first.update(np.array([1]), np.array([1]))
    assert METRICS.get("top1").compute().total == 0


def test_batches_add_up_to_the_whole() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=1000)
    found = np.where(rng.random(1000) < 0.8, labels, (labels + 1) % 10)
    whole, batched = METRICS.get("top1"), METRICS.get("top1")
    whole.update(found, labels)
    for start in range(0, 1000, 64):
        batched.update(found[start:start + 64], labels[start:start + 64])
    good = int(np.count_nonzero(found == labels))
    assert whole.compute() == batched.compute() == Score("top1", 100.0 * good / 1000, "%", good=good, total=1000)


def test_reset_and_merge() -> None:
    a, b = METRICS.get("top1"), METRICS.get("top1")
    a.update(np.array([0, 1, 2]), np.array([0, 1, 0]))
    b.update(np.array([3]), np.array([3]))
    a.merge(b)
    assert (a.compute().good, a.compute().total) == (3, 4)
    a.reset()
    assert a.compute() == Score("top1", 0.0, "%", good=0, total=0)


def test_per_sample_responses_and_float_ids() -> None:
    # Decoded responses, one array each; float ids are truncated and a NaN or inf never matches (as the script).
    top1 = METRICS.get("top1")
    responses = [np.float32(3.9), np.array([2.0], np.float32), np.float32(np.nan), np.float32(np.inf),
                 np.float32(-0.5)]
    top1.update(responses, np.array([3, 2, 0, 0, 0]))
    assert (top1.compute().good, top1.compute().total) == (3, 5)


def test_refusals_name_the_sample() -> None:
    top1 = METRICS.get("top1")
    with pytest.raises(MetricInputError, match=r"top1 expects one real class id per response, got float32 of "
                                               r"shape \(2,\)") as err:
        top1.update([np.zeros(1, np.float32), np.zeros(2, np.float32)], np.array([0, 0]))
    assert err.value.sample == 1
    with pytest.raises(MetricInputError, match="3 predictions for 2 targets"):
        top1.update(np.array([0, 1, 2]), np.array([0, 1]))
    with pytest.raises(MetricInputError, match="got <U1"):
        top1.update(np.array(["a"]), np.array([0]))


def test_summary_line_is_the_reference_scripts() -> None:
    top1 = METRICS.get("top1")
    score = Score("top1", 100.0 * 350 / 355, "%", good=350, total=355)
    assert top1.summary_line(score) == "accuracy=98.592%, good=350, total=355"
