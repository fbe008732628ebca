"""The native API end to end: modes, reasons, the trace, find-peak."""

from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from podium.loadgen import LogSettings, Mode, NullQSL, NullSUT, Scenario, TestSettings, complete, run


def _settings(**kw) -> TestSettings:
    base = dict(min_duration_ms=300, single_stream_expected_latency_ns=20_000, server_target_qps=2000,
                server_target_latency_ns=10_000_000, offline_expected_qps=3_000_000)
    base.update(kw)
    return TestSettings(**base)


def test_valid_run_has_no_reasons_and_keeps_raw_latencies(tmp_path):
    r = run(NullSUT(), NullQSL(64), _settings(scenario=Scenario.SERVER), LogSettings(outdir=str(tmp_path)))
    assert r.validity == "VALID" and r.reasons == ()
    assert len(r.sample_latencies_ns) == r.summary.sample_count and (r.sample_latencies_ns > 0).all()


def test_invalid_run_says_why(tmp_path):
    r = run(NullSUT(), NullQSL(64), _settings(scenario=Scenario.SERVER, server_target_latency_ns=1),
            LogSettings(outdir=str(tmp_path)))
    assert r.validity == "INVALID" and "latency constraint not met" in r.reasons


def test_trace_is_valid_json(tmp_path):
    r = run(NullSUT(), NullQSL(64), _settings(scenario=Scenario.SERVER),
            LogSettings(outdir=str(tmp_path), enable_trace=True))
    trace = json.loads((tmp_path / "mlperf_log_trace.json").read_text())
    samples = [e for e in trace["traceEvents"] if e.get("name") == "Sample" and e.get("ph") == "b"]
    assert len(samples) == r.summary.sample_count


@pytest.mark.parametrize("scenario", list(Scenario))
def test_accuracy_mode_logs_every_sample_once(tmp_path, scenario):
    class Echo:
        name = "Echo"

        def issue_query(self, ids, indices):
            complete(ids, [bytes([x % 256]) for x in indices])

        def flush_queries(self):
            pass

    r = run(Echo(), NullQSL(300, 128), _settings(scenario=scenario, mode=Mode.ACCURACY),
            LogSettings(outdir=str(tmp_path)))
    entries = json.loads((tmp_path / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(300)) or scenario is Scenario.MULTI_STREAM
    assert {e["qsl_idx"] for e in entries} == set(range(300))
    assert all(e["data"] == f"{e['qsl_idx'] % 256:02X}" for e in entries)
    assert r.summary is None and not r.errors
    assert (tmp_path / "mlperf_log_summary.txt").read_text().startswith("\nNo warnings")


class ServiceRateSUT:
    """One worker that needs `service_s` per sample: it saturates at 1/service_s QPS."""

    name = "ServiceRateSUT"

    def __init__(self, service_s: float) -> None:
        self.service_s, self.q = service_s, queue.SimpleQueue()
        threading.Thread(target=self._work, daemon=True).start()

    def issue_query(self, ids, indices):
        for i in ids:
            self.q.put(i)

    def flush_queries(self):
        pass

    def _work(self):
        while True:
            i = self.q.get()
            end = time.perf_counter() + self.service_s
            while time.perf_counter() < end:
                time.sleep(self.service_s / 4)
            complete([i])


@pytest.mark.realtime  # tolerance: the peak of a 1 ms/sample server lies well inside (100, 1000) QPS
def test_find_peak_brackets_a_server_that_saturates(tmp_path):
    s = _settings(scenario=Scenario.SERVER, mode=Mode.FIND_PEAK, server_target_qps=200, min_duration_ms=600,
                  server_target_latency_ns=50_000_000, server_find_peak_qps_decimals_of_precision=0)
    r = run(ServiceRateSUT(0.001), NullQSL(64), s, LogSettings(outdir=str(tmp_path)))
    assert r.find_peak_qps is not None and 100 <= r.find_peak_qps < 1000
    assert "FindPeakPerformance: Found peak performance field" in (tmp_path / "mlperf_log_detail.txt").read_text()


def test_find_peak_outside_server_is_an_error(tmp_path):
    r = run(NullSUT(), NullQSL(64), _settings(scenario=Scenario.OFFLINE, mode=Mode.FIND_PEAK),
            LogSettings(outdir=str(tmp_path)))
    assert any("only supported in Server" in e for e in r.errors) and not r.valid
