"""Faults: a SUT that raises, never completes, completes wrong ids, is interrupted; bad output dirs.

None may hang or lose the logs: every test bounds its wait and reads the logs the run left.
"""

from __future__ import annotations

import json

import pytest

from podium.core.errors import IncompleteRunError, RunAborted, SUTError
from podium.loadgen import session
from podium.loadgen.null_sut import NullQSL
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings


def _settings(scenario: Scenario, **kw) -> TestSettings:
    base = dict(scenario=scenario, mode=Mode.PERFORMANCE, min_duration_ms=100, min_query_count=50,
                single_stream_expected_latency_ns=20_000, multi_stream_expected_latency_ns=50_000,
                server_target_qps=2000, offline_expected_qps=5000, server_target_latency_ns=10_000_000)
    base.update(kw)
    return TestSettings(**base)


def _detail(outdir) -> list[dict]:
    return [json.loads(line[len(":::MLLOG "):]) for line in open(outdir / "mlperf_log_detail.txt")
            if line.startswith(":::MLLOG ")]


def _run(sut, tmp_path, settings, timeout_s=0.5):
    opts = session.RunOptions(completion_timeout_s=timeout_s, raise_on_failure=True)
    return session.run(sut, NullQSL(64), settings, LogSettings(outdir=str(tmp_path)), options=opts)


class RaisingSUT:
    name = "RaisingSUT"

    def __init__(self, after: int, exc: BaseException) -> None:
        self.after, self.exc, self.calls = after, exc, 0

    def issue_query(self, ids, indices):
        self.calls += 1
        if self.calls > self.after:
            raise self.exc
        session.complete(ids)

    def flush_queries(self):
        pass


@pytest.mark.parametrize("scenario", list(Scenario))
def test_sut_that_raises_fails_the_run_and_keeps_the_logs(tmp_path, scenario):
    with pytest.raises(SUTError, match="ValueError: broken model") as info:
        _run(RaisingSUT(3 if scenario is not Scenario.OFFLINE else 0, ValueError("broken model")),
             tmp_path, _settings(scenario))
    result = info.value.result
    assert not result.valid
    errors = [e["value"] for e in _detail(tmp_path) if e["metadata"]["is_error"]]
    assert any("broken model" in e for e in errors)
    assert "ERROR" in (tmp_path / "mlperf_log_summary.txt").read_text()


class LossySUT:
    """Completes every sample except those whose QSL index is 5."""

    name = "LossySUT"

    def issue_query(self, ids, indices):
        session.complete([i for i, x in zip(ids, indices) if x != 5])

    def flush_queries(self):
        pass


@pytest.mark.parametrize("scenario", list(Scenario))
def test_samples_never_completed_end_the_run_in_bounded_time_and_are_named(tmp_path, scenario):
    with pytest.raises(IncompleteRunError) as info:
        _run(LossySUT(), tmp_path, _settings(scenario), timeout_s=0.3)
    missing = info.value.missing_ids
    assert missing
    errors = [e["value"] for e in _detail(tmp_path) if e["metadata"]["is_error"]]
    assert any(str(missing[0]) in e and "never completed" in e for e in errors)


class WrongIdSUT:
    name = "WrongIdSUT"

    def __init__(self, repeat: bool) -> None:
        self.repeat = repeat

    def issue_query(self, ids, indices):
        session.complete(ids)
        session.complete(ids if self.repeat else [i + 10**9 for i in ids])

    def flush_queries(self):
        pass


@pytest.mark.parametrize("repeat", [True, False], ids=["repeated", "unknown"])
def test_completion_with_unknown_or_repeated_id_is_an_error(tmp_path, repeat):
    with pytest.raises(SUTError, match="unknown or repeated"):
        _run(WrongIdSUT(repeat), tmp_path, _settings(Scenario.SERVER))
    assert (tmp_path / "mlperf_log_detail.txt").stat().st_size > 0


def test_ctrl_c_marks_the_run_aborted_and_flushes_logs(tmp_path):
    with pytest.raises(RunAborted) as info:
        _run(RaisingSUT(20, KeyboardInterrupt()), tmp_path, _settings(Scenario.SERVER))
    assert info.value.result.aborted and info.value.result.validity == "ABORTED"
    errors = [e["value"] for e in _detail(tmp_path) if e["metadata"]["is_error"]]
    assert any("aborted" in e for e in errors)


def test_missing_output_directory_is_created(tmp_path):
    out = tmp_path / "a" / "b"

    class Echo:
        name = "Echo"

        def issue_query(self, ids, indices):
            session.complete(ids)

        def flush_queries(self):
            pass

    result = session.run(Echo(), NullQSL(64), _settings(Scenario.SERVER), LogSettings(outdir=str(out)))
    assert result.summary is not None and not result.errors
    assert (out / "mlperf_log_summary.txt").exists() and (out / "mlperf_log_detail.txt").exists()


class SilentThenInterruptedSUT:
    """Never completes anything; a Ctrl-C arrives while issuing its fifth query."""

    name = "SilentThenInterruptedSUT"

    def __init__(self) -> None:
        self.calls = 0

    def issue_query(self, ids, indices):
        self.calls += 1
        if self.calls == 5:
            raise KeyboardInterrupt

    def flush_queries(self):
        pass


def test_ctrl_c_does_not_wait_for_outstanding_samples(tmp_path):
    # With a 10-minute completion wait, only not waiting after the Ctrl-C lets this test finish.
    with pytest.raises(RunAborted) as info:
        _run(SilentThenInterruptedSUT(), tmp_path, _settings(Scenario.SERVER), timeout_s=600)
    assert info.value.result.aborted
    errors = [e["value"] for e in _detail(tmp_path) if e["metadata"]["is_error"]]
    assert any("outstanding when the run was interrupted" in e for e in errors)
