"""Faults that must make a run INVALID in every file: samples missing, completed twice, never issued.

Each test injects one fault through a real SUT class and reads the three verdicts the run leaves: the
summary file ("Result is : INVALID" and a "Run failed" line), the detail log (result_validity and
result_invalid_reason) and the RunResult. The official LoadGen writes VALID in these cases (it counts
completions, not samples, and waits forever for missing ones); Podium deliberately does not.
"""

from __future__ import annotations

import threading

import pytest

from podium.core.errors import SUTError
from podium.loadgen import logparse, session
from podium.loadgen.null_sut import NullQSL
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings

RULE_RECOMMENDATIONS = ("Increase expected QPS", "Increase the target QPS", "Reduce target QPS",
                        "Decrease the expected latency")


def _settings(scenario: Scenario, **kw) -> TestSettings:
    base = dict(scenario=scenario, mode=Mode.PERFORMANCE, min_duration_ms=300, min_query_count=50,
                single_stream_expected_latency_ns=20_000, multi_stream_expected_latency_ns=50_000,
                server_target_qps=2000, offline_expected_qps=5000, server_target_latency_ns=10_000_000)
    base.update(kw)
    return TestSettings(**base)


def _run(sut, tmp_path, settings, timeout_s=0.3) -> session.RunResult:
    opts = session.RunOptions(completion_timeout_s=timeout_s)
    return session.run(sut, NullQSL(64), settings, LogSettings(outdir=str(tmp_path)), options=opts)


def _verdicts(tmp_path) -> tuple[list[str], logparse.DetailLogContents]:
    summary = (tmp_path / "mlperf_log_summary.txt").read_text().splitlines()
    return summary, logparse.read_detail(tmp_path / "mlperf_log_detail.txt")


def _assert_invalid_everywhere(tmp_path, result: session.RunResult, *reasons: str) -> list[str]:
    """INVALID for one of `reasons` in the summary (right after "Result is"), the detail log and the RunResult."""
    summary, detail = _verdicts(tmp_path)
    at = summary.index("Result is : INVALID")
    failed = [line for line in summary[at + 1:at + 4] if line.startswith("  Run failed : ")]
    reason = next((r for r in reasons for line in failed if r in line), None)
    assert reason is not None, summary[at:at + 4]
    assert not any(rec in line for line in summary for rec in RULE_RECOMMENDATIONS)
    assert detail["result_validity"] == "INVALID" and reason in detail["result_invalid_reason"]
    assert not result.valid and result.validity != "VALID"
    assert any(reason in r for r in result.reasons) and any(reason in f for f in result.failures)
    return summary


class StopsCompletingSUT:
    """Completes its first `answered` queries inline, then never completes another (a wedged backend)."""

    name = "StopsCompletingSUT"

    def __init__(self, answered: int) -> None:
        self.answered, self.calls = answered, 0

    def issue_query(self, ids, indices):
        self.calls += 1
        if self.calls <= self.answered:
            session.complete(ids)

    def flush_queries(self):
        pass


def test_server_half_the_samples_never_completed_is_invalid_with_a_positive_rate(tmp_path):
    """Fault: a Server SUT completes only the first half of its samples (the last query never completes)."""
    r = _run(StopsCompletingSUT(answered=300), tmp_path, _settings(Scenario.SERVER))
    summary = _assert_invalid_everywhere(tmp_path, r, "issued samples never completed")
    rate = next(line for line in summary if line.startswith("Completed samples per second"))
    assert float(rate.split(":")[1]) > 0  # a rate over the completed samples, never negative
    _, detail = _verdicts(tmp_path)
    assert detail["result_completed_samples_per_sec"] > 0


def test_missing_samples_are_not_counted_as_zero_latency(tmp_path):
    """Fault: samples that never completed were counted as latency 0, pulling percentiles down."""
    r = _run(StopsCompletingSUT(answered=300), tmp_path, _settings(Scenario.SERVER))
    assert r.summary.sample_count == len(r.sample_latencies_ns) == 300
    assert (r.sample_latencies_ns > 0).all()
    assert r.summary.samples.min_ns > 0 and r.summary.samples.percentiles[0] > 0


class DropsIndexSUT:
    """Completes every sample except those holding QSL index `dropped`."""

    name = "DropsIndexSUT"

    def __init__(self, dropped: int = 5) -> None:
        self.dropped = dropped

    def issue_query(self, ids, indices):
        session.complete([i for i, x in zip(ids, indices) if x != self.dropped])

    def flush_queries(self):
        pass


def test_offline_missing_samples_get_no_rule_recommendations(tmp_path):
    """Fault: an Offline run with missing samples was told to "Increase expected QPS" (the rules blamed)."""
    r = _run(DropsIndexSUT(), tmp_path, _settings(Scenario.OFFLINE))
    _assert_invalid_everywhere(tmp_path, r, "issued samples never completed")
    assert r.summary.samples_per_second > 0


def test_accuracy_run_with_missing_samples_says_invalid(tmp_path):
    """Fault: an accuracy run with missing samples left a summary with no verdict at all (only the footer)."""
    r = _run(DropsIndexSUT(), tmp_path, _settings(Scenario.OFFLINE, mode=Mode.ACCURACY))
    assert r.summary is None
    _assert_invalid_everywhere(tmp_path, r, "issued samples never completed")


class TwoThreadsSUT:
    """Hands every query to two worker threads that both complete it (a retry path that double-answers)."""

    name = "TwoThreadsSUT"

    def __init__(self) -> None:
        self.raised: list[BaseException] = []

    def issue_query(self, ids, indices):
        ids = list(ids)
        both = threading.Barrier(2)
        workers = [threading.Thread(target=self._complete, args=(ids, both)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _complete(self, ids, both):
        both.wait()
        for i in ids:
            try:
                session.complete([i])
            except SUTError as e:  # the engine names the repeated id to the thread that repeated it
                self.raised.append(e)

    def flush_queries(self):
        pass


def test_sample_completed_by_two_threads_is_invalid(tmp_path):
    """Fault: two SUT threads complete every sample of a query; the run ended VALID."""
    sut = TwoThreadsSUT()
    r = _run(sut, tmp_path, _settings(Scenario.OFFLINE, offline_expected_qps=500))
    assert sut.raised
    # Mostly the second thread finds the sample done (and is told); if both pass the check at once,
    # the audit after the pass finds the excess. Either way the run is INVALID.
    _assert_invalid_everywhere(tmp_path, r, "repeated sample ids", "completed twice")


class RacingId:
    """A sample position whose second use (the engine's write, after its "not done yet" check) first
    lets another thread complete the same sample: the lost check-then-set race, made deterministic.
    The engine checks and sets without a lock on purpose (a lock costs more than the rest of a
    completion), so the race is found after the pass by counting."""

    def __init__(self, position: int, sample_id: int) -> None:
        self.position, self.sample_id, self.uses = position, sample_id, 0

    def __index__(self) -> int:
        self.uses += 1
        if self.uses == 2:
            other = threading.Thread(target=session.complete, args=([self.sample_id],))
            other.start()
            other.join()
        return self.position

    def __ge__(self, other: int) -> bool:
        return self.position >= other

    def __lt__(self, other: int) -> bool:
        return self.position < other


class RacingSampleId(int):
    """A sample id (an int) whose position is a RacingId."""

    def __sub__(self, base: int) -> RacingId:  # type: ignore[override]
        return RacingId(int(self) - base, int(self))


class RacingSUT:
    """Completes each query's first sample with a racing id (fault injected at the completion boundary)."""

    name = "RacingSUT"

    def __init__(self) -> None:
        self.raced = False

    def issue_query(self, ids, indices):
        ids = list(ids)
        if not self.raced:
            self.raced = True
            session.complete([RacingSampleId(ids[0])])
            ids = ids[1:]
        session.complete(ids)

    def flush_queries(self):
        pass


def test_sample_completed_twice_in_a_lost_race_is_invalid(tmp_path):
    """Fault: two threads pass the engine's unlocked check for one sample at once; both count, one is kept."""
    r = _run(RacingSUT(), tmp_path, _settings(Scenario.SERVER))
    _assert_invalid_everywhere(tmp_path, r, "samples completed twice at once by concurrent threads: 1")


class AheadSUT:
    """Completes every query, and with its first one a sample `ahead` ids later: one never issued."""

    name = "AheadSUT"

    def __init__(self, ahead: int) -> None:
        self.ahead, self.calls = ahead, 0

    def issue_query(self, ids, indices):
        self.calls += 1
        session.complete(list(ids) + ([ids[0] + self.ahead] if self.calls == 1 else []))

    def flush_queries(self):
        pass


def test_completion_of_a_sample_never_issued_is_invalid(tmp_path):
    """Fault: a SUT completes an id of the schedule that was never issued (issuing stopped before it)."""
    r = _run(AheadSUT(ahead=400), tmp_path, _settings(Scenario.SERVER, max_query_count=100))
    assert r.summary.query_count == 100
    _assert_invalid_everywhere(tmp_path, r, "completions of samples never issued: 1")


@pytest.mark.parametrize("scenario", list(Scenario))
def test_complete_runs_stay_valid(tmp_path, scenario):
    """Control: the audits add no failure to a run whose SUT completes every sample once."""
    class Echo:
        name = "Echo"

        def issue_query(self, ids, indices):
            session.complete(ids)

        def flush_queries(self):
            pass

    r = _run(Echo(), tmp_path, _settings(scenario, offline_expected_qps=100, min_duration_ms=100,
                                          single_stream_expected_latency_ns=200_000,
                                          multi_stream_expected_latency_ns=400_000))
    summary, detail = _verdicts(tmp_path)
    assert "Run failed" not in "\n".join(summary)
    assert detail["result_validity"] == r.summary.result_validity
