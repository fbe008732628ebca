"""Olympic scoring, run counts and the M > N median-window rule (training rules §Benchmark results)."""

from __future__ import annotations

import pytest

from podium.training.run_record import CheckVerdict, Evaluation, RunRecord, RunStatus
from podium.training.scoring import median_window, olympic_score, runs_required, score_runs


def test_drops_fastest_and_slowest_and_reports_minutes():
    score = olympic_score([60_000, 120_000, 180_000, 240_000, 600_000], "resnet")
    assert score.kept_ms == (120_000, 180_000, 240_000)
    assert score.minutes == pytest.approx(3.0)


def test_one_non_converged_run_is_dropped_as_the_slowest():
    score = olympic_score([60_000, 120_000, None, 240_000, 180_000], "resnet")
    assert score.valid and score.non_converged == 1
    assert score.kept_ms == (120_000, 180_000, 240_000)


def test_two_non_converged_runs_make_the_result_invalid():
    score = olympic_score([60_000, None, None, 240_000, 180_000], "resnet")
    assert not score.valid
    assert "2 runs did not converge" in score.reason


def test_unet3d_drops_four_and_four_and_tolerates_four_failures():
    durations = [float(i) for i in range(1, 37)] + [None] * 4
    score = olympic_score(durations, "unet3d")
    assert score.valid and len(score.kept_ms) == 32
    assert not olympic_score(durations[:-5] + [None] * 5, "unet3d").valid


def test_matches_the_summarizers_slice_when_one_run_failed():
    # result_summarizer: scores[1 : len - (1 - dropped)] over the converged runs
    converged = sorted([5.0, 3.0, 4.0, 7.0])
    expected = sum(converged[1:len(converged) - 0]) / 3
    assert olympic_score([5.0, 3.0, None, 4.0, 7.0], "resnet").minutes * 60_000 == pytest.approx(expected)


def test_run_counts_follow_mlperf_and_declarations():
    assert runs_required("resnet") == 5
    assert runs_required("llama31_8b") == 10
    assert runs_required("unet3d") == 40
    assert runs_required("digits", 7) == 7
    assert runs_required("something-new") == 5


def _record(i: int, ms: int | None, passed: bool = True) -> RunRecord:
    status = RunStatus.SUCCESS if ms is not None else RunStatus.ABORTED
    return RunRecord(index=i, seed=i, status=status, reason="", run_start_ms=0 if ms else None,
                     run_stop_ms=ms, evaluations=(Evaluation(1, 0.5, 0),),
                     compliance=CheckVerdict("compliance_checker", passed))


def test_a_run_whose_log_fails_compliance_counts_as_dropped():
    records = [_record(i, (i + 1) * 60_000) for i in range(5)]
    records[0] = _record(0, 60_000, passed=False)
    score = score_runs(records, "resnet")
    assert score.non_converged == 1 and score.kept_ms == (180_000, 240_000, 300_000)


def test_median_window_of_m_runs():
    ms = [1, 9, 2, 8, 3, 7, 4]
    records = [_record(i, m * 60_000) for i, m in enumerate(ms)]
    window = median_window(records, 5, "resnet")
    scores = sorted(score_runs(records[i:i + 5], "resnet").minutes for i in range(3))
    assert window.score.minutes == scores[1]


def test_median_window_counts_failed_runs_as_infinite():
    records = [_record(0, None), _record(1, None)] + [_record(i, i * 60_000) for i in range(2, 8)]
    window = median_window(records, 5, "resnet")
    assert window.score.valid
