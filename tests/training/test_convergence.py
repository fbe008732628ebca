"""The RCP-style convergence check agrees with mlperf_logging.rcp_checker's own statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.training.convergence import check_convergence, reference_stats

pytest.importorskip("scipy")


def test_rules_example_with_the_codes_full_list_stdev():
    # training rules' worked example; the 4.1.68 code uses the full-list stdev (reference §4.1): 0.781
    ref = [16, 14, 16, 17, 16, 16, 15, 16, 15, 16]
    stats = reference_stats(ref, 5, "bert")
    assert stats.stdev == pytest.approx(0.781, abs=1e-3)
    assert stats.mean == pytest.approx(15.75)


def _official_resnet_rcp() -> tuple[list[float], object]:
    rcp = pytest.importorskip("mlperf_logging.rcp_checker.rcp_checker")
    checker = rcp.RCP_Checker("training", "4.0.0", "resnet", verbose=False)
    record = next(r for r in checker.rcp_data.values() if r["BS"] == 3264)
    path = Path(rcp.__file__).parent / "training_4.0.0" / "rcps_resnet.json"
    raw = next(r for r in json.loads(path.read_text()).values() if r["BS"] == 3264)
    return raw["Epochs to converge"], record


def test_same_mean_stdev_and_minimum_as_the_official_checker():
    epochs, official = _official_resnet_rcp()
    ours = reference_stats(epochs, 5, "resnet")
    assert ours.mean == pytest.approx(official["RCP Mean"])
    assert ours.stdev == pytest.approx(official["RCP Stdev"])
    assert ours.min_acceptable_mean == pytest.approx(official["Min Epochs"], abs=1e-3)


def test_verdicts_match_the_measured_resnet_cases():
    epochs, _ = _official_resnet_rcp()
    assert check_convergence([35, 35, 39, 35, 39], epochs, "resnet").passed
    all35 = check_convergence([35] * 5, epochs, "resnet")
    assert all35.passed and all35.scaling_factor == pytest.approx(1.00440, abs=1e-4)
    assert not check_convergence([31] * 5, epochs, "resnet").passed


def test_more_than_one_failed_run_is_insufficient_convergence():
    verdict = check_convergence([None, None, 5, 5, 5], [5, 6, 5, 6, 5, 6, 5, 6, 5, 6], "digits")
    assert not verdict.passed and "insufficient" in verdict.message
