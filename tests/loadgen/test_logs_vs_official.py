"""Podium's log files read like the official's: the same keys, in the same order, with the same values
wherever the value does not depend on timing. Both engines run the same inline SUT (keys_probe.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.loadgen import logparse

pytest.importorskip("mlperf_loadgen")
pytestmark = pytest.mark.official

PROBE = Path(__file__).with_name("keys_probe.py")
ROOT = Path(__file__).resolve().parents[2]
PODIUM = ("import sys, runpy; import podium.loadgen.compat as lg; sys.modules['mlperf_loadgen'] = lg; "
          "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
SEEDS = dict(qsl_rng_seed=2085463073848966840, sample_index_rng_seed=2747215439041700203,
             schedule_rng_seed=16159082839903944936)
# Values that depend on the clock, the machine or the build.
TIMING = ("result_", "early_stopping_", "power_", "test_datetime", "loadgen_", "get_sut_name_duration_ns",
          "generic_message", "warning_generic_message", "logger_")

# work_ns: the probe SUT's busy time per sample, so that SingleStream and Offline runs last their minimum
# duration on any machine (an instant SUT finishes an Offline query, or runs out of generated
# SingleStream queries, before it on a fast one).
CASES = {
    "server": ("Server", "PerformanceOnly", False, dict(server_target_qps=3000.0, min_duration_ms=200)),
    "singlestream": ("SingleStream", "PerformanceOnly", False,
                     dict(single_stream_expected_latency_ns=2000, min_duration_ms=150, work_ns=10_000)),
    "multistream": ("MultiStream", "PerformanceOnly", False,
                    dict(multi_stream_expected_latency_ns=4000, min_duration_ms=150, min_query_count=700)),
    "offline": ("Offline", "PerformanceOnly", False,
                dict(offline_expected_qps=1e5, min_duration_ms=150, work_ns=10_000)),
    "server-tokens": ("Server", "PerformanceOnly", True,
                      dict(server_target_qps=3000.0, min_duration_ms=200, use_token_latencies=True)),
    "offline-tokens": ("Offline", "PerformanceOnly", True,
                       dict(offline_expected_qps=1e5, min_duration_ms=150, use_token_latencies=True,
                            work_ns=10_000)),
    "server-accuracy-tokens": ("Server", "AccuracyOnly", True,
                               dict(server_target_qps=50000.0, use_token_latencies=True)),
    "singlestream-submission": ("SingleStream", "SubmissionRun", False,
                                dict(single_stream_expected_latency_ns=2000, min_duration_ms=100, work_ns=10_000)),
}


def _run(tmp: Path, engine: str, case: tuple) -> Path:
    scenario, mode, tokens, settings = case
    settings = dict(settings)
    out = tmp / engine
    cfg = dict(scenario=scenario, mode=mode, tokens=tokens, outdir=str(out), work_ns=settings.pop("work_ns", 0),
               settings={**SEEDS, **settings})
    cmd = [sys.executable, str(PROBE), json.dumps(cfg)]
    if engine == "podium":
        cmd = [sys.executable, "-c", PODIUM, *cmd[1:]]
    out.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def _keys(detail: logparse.DetailLogContents) -> list[str]:
    # The official's lock-free logger warns about its own buffers ("Logging allocation detected",
    # "CAS failed."): artifacts of its implementation, which Podium's logging does not have.
    return [e["key"] for e in detail.entries
            if not (e["key"] == "warning_generic_message" and e["metadata"]["file"] == "logging.cc")]


@pytest.mark.parametrize("case", list(CASES))
def test_detail_log_has_the_official_keys_and_values(tmp_path, case):
    official = logparse.read_detail(_run(tmp_path, "official", CASES[case]) / "mlperf_log_detail.txt")
    podium = logparse.read_detail(_run(tmp_path, "podium", CASES[case]) / "mlperf_log_detail.txt")
    assert _keys(podium) == _keys(official)
    for key, value in official.items():
        if not key.startswith(TIMING):
            assert podium[key] == value, key
    for key in ("result_validity", "early_stopping_met", "result_min_queries_met"):
        if key in official:
            assert podium[key] == official[key] == (True if key != "result_validity" else "VALID"), key
    assert podium.num_errors == official.num_errors == 0


@pytest.mark.parametrize("case", ["server-tokens", "server-accuracy-tokens", "offline-tokens"])
def test_accuracy_log_matches(tmp_path, case):
    official = logparse.read_accuracy(_run(tmp_path, "official", CASES[case]) / "mlperf_log_accuracy.json")
    podium = logparse.read_accuracy(_run(tmp_path, "podium", CASES[case]) / "mlperf_log_accuracy.json")
    key = lambda e: e["seq_id"]  # noqa: E731
    assert sorted(podium, key=key) == sorted(official, key=key)


@pytest.mark.parametrize("case", ["server", "offline", "singlestream"])
def test_summary_file_has_the_official_lines(tmp_path, case):
    official = logparse.read_summary(_run(tmp_path, "official", CASES[case]) / "mlperf_log_summary.txt")
    podium = logparse.read_summary(_run(tmp_path, "podium", CASES[case]) / "mlperf_log_summary.txt")
    assert list(podium) == list(official)
    for key in ("SUT name", "Scenario", "Mode", "Result is", "samples_per_query", "target_qps",
                "min_duration (ms)", "performance_sample_count", "qsl_rng_seed"):
        if key in official and key != "SUT name":
            assert podium[key] == official[key], key
