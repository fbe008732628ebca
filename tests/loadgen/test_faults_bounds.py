"""Faults that must end a run in bounded time, with its logs: long runs, hung or raising SUTs, signals.

A completion bound that does not follow the run fails full-length runs; a SUT stuck in flush_queries,
raising in issue_query or reporting `fail` must end the run at once; SIGTERM must leave complete logs
marked aborted. A test that guards against a hang runs the engine in a helper thread and gives it
HANG_S: far beyond every bound the test sets (<= 1 s), so the tolerance is a hang detector, not a
timing claim.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import podium
from podium.core import signals
from podium.core.errors import IncompleteRunError, RunAborted, SUTError
from podium.loadgen import compat as lg
from podium.loadgen import logparse, session
from podium.loadgen.null_sut import NullQSL
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings, derive

SRC = str(Path(podium.__file__).resolve().parents[1])  # the child runs the podium this test imports
HANG_S = 30.0


def _settings(scenario: Scenario, **kw) -> TestSettings:
    base = dict(scenario=scenario, mode=Mode.PERFORMANCE, min_duration_ms=300, min_query_count=50,
                single_stream_expected_latency_ns=20_000, multi_stream_expected_latency_ns=50_000,
                server_target_qps=2000, offline_expected_qps=5000, server_target_latency_ns=10_000_000)
    base.update(kw)
    return TestSettings(**base)


def _run(sut, tmp_path, settings, timeout_s=None, qsl=None) -> session.RunResult:
    opts = session.RunOptions(completion_timeout_s=timeout_s, raise_on_failure=True)
    return session.run(sut, qsl or NullQSL(64), settings, LogSettings(outdir=str(tmp_path)), options=opts)


def _bounded(fn, release=lambda: None):
    """fn() in a helper thread; fails if it is still running after HANG_S (then `release` unsticks it)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(HANG_S)
    if t.is_alive():
        release()
        t.join(HANG_S)
        pytest.fail(f"the run still waited after {HANG_S:g} s")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _errors(tmp_path) -> list[str]:
    return [e["value"] for e in logparse.read_detail(tmp_path / "mlperf_log_detail.txt").errors]


def _summary(tmp_path) -> str:
    return (tmp_path / "mlperf_log_summary.txt").read_text()


# ---- 1. the completion bound follows the run -----------------------------------------------------

def test_completion_bound_covers_a_full_length_offline_run():
    """Fault: a fixed 120 s bound failed every full-length Offline run (one query of >= 600 s of work)."""
    assert session.RunOptions().completion_timeout_s is None  # the engine derives it per pass
    # The issue's repro at full length: 600 s at 1,000 samples/s is one query of 660,000 samples.
    eff = derive(_settings(Scenario.OFFLINE, min_duration_ms=600_000, offline_expected_qps=1000), 1024, 1024)
    expected_s = eff.samples_per_query / eff.target_qps
    assert expected_s == pytest.approx(660.0)
    assert session.completion_bound_s(eff) == pytest.approx(
        session.COMPLETION_FLOOR_S + session.COMPLETION_FACTOR * expected_s)
    assert session.completion_bound_s(eff) > 2 * expected_s
    server = derive(_settings(Scenario.SERVER, min_duration_ms=600_000, server_target_qps=100), 1024, 1024)
    assert session.completion_bound_s(server) > 2 * 600
    stream = derive(_settings(Scenario.SINGLE_STREAM, single_stream_expected_latency_ns=10**9), 1024, 1024)
    assert session.completion_bound_s(stream) == pytest.approx(session.COMPLETION_FLOOR_S + 2.0)


class PacedSUT:
    """Offline, asynchronous: issue_query returns at once; a thread completes 10 samples every 10 ms
    (1,000 samples/s), so the last completion comes at least n / 1,000 seconds after the issue."""

    name = "PacedSUT"

    def __init__(self, complete=session.complete) -> None:
        self.complete, self.workers = complete, []

    def issue_query(self, ids, indices):
        self.workers.append(threading.Thread(target=self._work, args=(list(ids),), daemon=True))
        self.workers[-1].start()

    def _work(self, ids):
        for k in range(0, len(ids), 10):
            time.sleep(0.01)
            try:
                self.complete(ids[k:k + 10])
            except SUTError:  # the run gave up on us (a short bound): stop answering
                return

    def flush_queries(self):
        pass

    def join(self):
        for w in self.workers:
            w.join()


@pytest.mark.realtime  # tolerance: the SUT may run at half its nominal 1,000 samples/s and still pass
def test_offline_completions_after_a_short_fixed_bound_still_count(tmp_path, monkeypatch):
    """Fault: a fixed completion bound shorter than the pass's work failed a healthy asynchronous SUT."""
    monkeypatch.setattr(session, "COMPLETION_FLOOR_S", 0.01)  # the 60 s floor, scaled down
    settings = _settings(Scenario.OFFLINE, min_duration_ms=500, offline_expected_qps=1000)  # 550 samples
    short_fixed_s = 0.2  # what a fixed bound scaled down like the floor would be: the SUT needs >= 0.55 s
    bound_s = session.completion_bound_s(derive(settings, 64, 64))
    assert short_fixed_s < 0.55 < bound_s
    sut = PacedSUT()
    r = _run(sut, tmp_path, settings)
    assert r.valid and r.summary.sample_count == 550
    with pytest.raises(IncompleteRunError):  # control: the same SUT under the short fixed bound
        _run(sut, tmp_path / "fixed", settings, timeout_s=short_fixed_s)
    sut.join()


def _compat_complete(samples) -> None:
    lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])


def _compat_offline(outdir: Path) -> None:
    """The issue's repro through the drop-in API: QuerySamplesComplete from a thread, 1,000 samples/s."""
    settings = lg.TestSettings()
    settings.scenario, settings.mode = lg.TestScenario.Offline, lg.TestMode.PerformanceOnly
    settings.min_duration_ms, settings.offline_expected_qps, settings.min_query_count = 500, 1000, 1
    log = lg.LogSettings()
    log.log_output.outdir, log.enable_trace = str(outdir), False
    paced = PacedSUT(complete=_compat_complete)
    sut = lg.ConstructSUT(lambda samples: paced.issue_query(samples, None), lambda: None)
    qsl = lg.ConstructQSL(64, 64, lambda s: None, lambda s: None)
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        paced.join()
        lg.DestroySUT(sut)
        lg.DestroyQSL(qsl)


@pytest.mark.realtime  # tolerance: as above, the SUT may run at half its nominal rate
def test_compat_uses_the_derived_bound_unless_the_environment_sets_one(tmp_path, monkeypatch):
    """Fault: the drop-in API waited a fixed 120 s whatever the run (VALID after 138 s officially)."""
    monkeypatch.delenv("PODIUM_COMPLETION_TIMEOUT_S", raising=False)
    monkeypatch.chdir(tmp_path)  # no audit.config here
    monkeypatch.setattr(session, "COMPLETION_FLOOR_S", 0.01)
    _compat_offline(tmp_path / "derived")  # 550 samples at 1,000/s under a 1.1 s bound: VALID
    assert "Result is : VALID" in _summary(tmp_path / "derived")
    monkeypatch.setattr(session, "COMPLETION_FACTOR", 0.1)  # the bound shrinks with it: 0.065 s
    with pytest.raises(IncompleteRunError):
        _compat_offline(tmp_path / "shrunk")
    monkeypatch.setenv("PODIUM_COMPLETION_TIMEOUT_S", "5")  # an explicit bound wins
    _compat_offline(tmp_path / "explicit")
    assert "Result is : VALID" in _summary(tmp_path / "explicit")


# ---- 3. bounded waits ----------------------------------------------------------------------------

class StuckFlushSUT:
    """Completes inline; flush_queries blocks until released (a SUT waiting on a lock it never gets)."""

    name = "StuckFlushSUT"

    def __init__(self) -> None:
        self.release = threading.Event()

    def issue_query(self, ids, indices):
        session.complete(ids)

    def flush_queries(self):
        self.release.wait()


@pytest.mark.realtime  # tolerance: HANG_S (30 s) detects a hang against a 0.3 s bound
@pytest.mark.parametrize("scenario", [Scenario.SERVER, Scenario.OFFLINE])
def test_sut_stuck_in_flush_queries_fails_the_run(tmp_path, scenario):
    """Fault: a SUT stuck in flush_queries hung the run forever."""
    sut = StuckFlushSUT()
    with pytest.raises(SUTError, match="flush_queries did not return within 0.3 s") as info:
        _bounded(lambda: _run(sut, tmp_path, _settings(scenario), timeout_s=0.3), sut.release.set)
    sut.release.set()
    assert not info.value.result.valid
    assert any("flush_queries did not return" in e for e in _errors(tmp_path))
    assert "Run failed : flush_queries did not return within 0.3 s" in _summary(tmp_path)


class RaisesOnIssueSUT:
    """Raises in its first issue_query: the sample it was handed stays outstanding."""

    name = "RaisesOnIssueSUT"

    def issue_query(self, ids, indices):
        raise RuntimeError("backend lost")

    def flush_queries(self):
        pass


@pytest.mark.realtime  # tolerance: HANG_S (30 s) detects a hang against a 600 s completion bound
@pytest.mark.parametrize("scenario", list(Scenario))
def test_sut_raising_in_issue_query_fails_at_once(tmp_path, scenario):
    """Fault: a SUT raising in issue_query still made the run wait the whole completion timeout."""
    with pytest.raises(SUTError, match="backend lost") as info:
        _bounded(lambda: _run(RaisesOnIssueSUT(), tmp_path, _settings(scenario), timeout_s=600),
                 lambda: session.fail(RuntimeError("test cleanup")))
    assert info.value.result.failures[0] == "the SUT failed: RuntimeError: backend lost"
    assert any("were outstanding when the SUT failed" in e for e in _errors(tmp_path))
    assert "Run failed : the SUT failed: RuntimeError: backend lost" in _summary(tmp_path)


class FailingWorkerSUT:
    """A worker thread completes the first `good` samples, then reports `fail` and answers nothing more;
    issue_query keeps accepting queries (it does not know the worker failed)."""

    name = "FailingWorkerSUT"

    def __init__(self, good: int) -> None:
        self.good, self.q = good, queue.SimpleQueue()
        threading.Thread(target=self._work, daemon=True).start()

    def issue_query(self, ids, indices):
        self.q.put(list(ids))

    def _work(self):
        done = 0
        while True:
            ids = self.q.get()
            if ids is None:
                return
            if done >= self.good:
                session.fail(RuntimeError("worker out of memory"))
                continue
            session.complete(ids)
            done += len(ids)

    def flush_queries(self):
        pass


@pytest.mark.realtime  # tolerance: HANG_S (30 s) detects a run that kept issuing a 60 s schedule
@pytest.mark.parametrize("scenario", list(Scenario))
def test_fail_from_a_worker_thread_ends_the_pass_at_once(tmp_path, scenario):
    """Fault: a failure reported through podium.loadgen.fail did not stop a Server schedule (60 s here)."""
    sut = FailingWorkerSUT(good=0 if scenario is Scenario.OFFLINE else 40)
    settings = _settings(scenario, min_duration_ms=60_000, server_target_qps=500, offline_expected_qps=20)
    try:
        with pytest.raises(SUTError, match="worker out of memory") as info:
            _bounded(lambda: _run(sut, tmp_path, settings, timeout_s=600))
    finally:
        sut.q.put(None)
    assert "Run failed : the SUT failed: RuntimeError: worker out of memory" in _summary(tmp_path)
    assert not info.value.result.valid


class SignalsItselfSUT:
    """Completes inline; on its `at`-th query the process receives a real SIGTERM (as from `timeout`)."""

    name = "SignalsItselfSUT"

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def issue_query(self, ids, indices):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        session.complete(ids)

    def flush_queries(self):
        pass


def test_sigterm_while_issuing_is_logged_as_sigterm_and_carries_its_signum(tmp_path):
    """Fault: a SIGTERM was logged as "interrupted (Ctrl-C)", and the abort did not carry SIGTERM."""
    try:
        with signals.handled(), pytest.raises(RunAborted) as info:
            _run(SignalsItselfSUT(at=20), tmp_path, _settings(Scenario.SERVER))
    finally:
        signals.reset()
    assert any(e.startswith("Test aborted: terminated (SIGTERM)") for e in _errors(tmp_path))
    text = _summary(tmp_path)
    assert "Result is : INVALID" in text and "Run failed : the run was aborted: terminated (SIGTERM)" in text
    assert info.value.signum == signal.SIGTERM and signals.exit_code(info.value.signum) == 143
    r = info.value.result
    assert r.aborted and r.abort_signum == signal.SIGTERM and r.validity == "ABORTED"


def _sigterm_default() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_sigterm_to_podium_loadgen_null_leaves_complete_logs_and_exits_143(tmp_path):
    """Fault: SIGTERM to `podium loadgen null` (a real subprocess) must leave whole logs marked aborted, exit 143."""
    env = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen([sys.executable, "-m", "podium", "loadgen", "null", "--scenario", "Server",
                          "--target-qps", "1000", "--min-duration-ms", "60000", "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=_sigterm_default)
    detail = tmp_path / "mlperf_log_detail.txt"
    deadline = time.monotonic() + 60
    while b"generated_query_duration" not in (detail.read_bytes() if detail.exists() else b""):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # inside the issue loop
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    text = detail.read_text()
    assert text.endswith("}\n") and all(line.startswith(":::MLLOG {") for line in text.splitlines())
    log = logparse.read_detail(detail)
    assert any(e["value"].startswith("Test aborted: terminated (SIGTERM)") for e in log.errors)
    assert log["result_validity"] == "INVALID"
    summary = _summary(tmp_path)
    assert "Result is : INVALID" in summary and "the run was aborted: terminated (SIGTERM)" in summary
    assert logparse.read_accuracy(tmp_path / "mlperf_log_accuracy.json") == []
    assert p.returncode == 143, err
