"""The whole engine, through the drop-in API, against the official mlperf_loadgen 6.0.17.

The same recording null SUT (official_probe.py) runs once on the official module and once with
`mlperf_loadgen` aliased to `podium.loadgen.compat`: same loaded sets, same issued QSL indices per
query, same generated_query_count / samples_per_query / duration, same accuracy-log entries.
SingleStream/MultiStream performance runs stop on the wall clock, so there the issued sequences are
compared over the shorter of the two (each is a prefix of the same pre-generated sequence).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlperf_loadgen")
pytestmark = pytest.mark.official

PROBE = Path(__file__).with_name("official_probe.py")
ROOT = Path(__file__).resolve().parents[2]
# mlperf.conf's seeds: non-zero, as in every submission
SEEDS = dict(qsl_rng_seed=2085463073848966840, sample_index_rng_seed=2747215439041700203,
             schedule_rng_seed=16159082839903944936)
PODIUM = ("import sys, runpy; import podium.loadgen.compat as lg; sys.modules['mlperf_loadgen'] = lg; "
          "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")

CASES = {
    "server-perf": ("Server", "PerformanceOnly", dict(server_target_qps=3000.0, min_duration_ms=200)),
    "server-acc": ("Server", "AccuracyOnly", dict(server_target_qps=20000.0)),
    "server-submission": ("Server", "SubmissionRun", dict(server_target_qps=3000.0, min_duration_ms=100)),
    "server-equal-issue": ("Server", "PerformanceOnly", dict(server_target_qps=2000.0, min_duration_ms=100,
                                                             sample_concatenate_permutation=True)),
    "ss-perf": ("SingleStream", "PerformanceOnly", dict(single_stream_expected_latency_ns=2_000,
                                                        min_duration_ms=100)),
    "ss-acc": ("SingleStream", "AccuracyOnly", {}),
    "ms-perf": ("MultiStream", "PerformanceOnly", dict(multi_stream_expected_latency_ns=5_000,
                                                       min_duration_ms=100, min_query_count=700)),
    "ms-acc": ("MultiStream", "AccuracyOnly", {}),
    "offline-perf": ("Offline", "PerformanceOnly", dict(offline_expected_qps=50_000.0, min_duration_ms=100)),
    "offline-acc": ("Offline", "AccuracyOnly", {}),
    "offline-unique": ("Offline", "PerformanceOnly", dict(performance_issue_unique=True, min_duration_ms=100)),
    "ss-same": ("SingleStream", "PerformanceOnly", dict(performance_issue_same=True,
                                                        performance_issue_same_index=3, min_duration_ms=50,
                                                        single_stream_expected_latency_ns=50_000)),
}


def _probe(tmp: Path, engine: str, scenario: str, mode: str, settings: dict) -> dict:
    out = tmp / engine
    cfg = dict(scenario=scenario, mode=mode, total=300, performance_count=128, outdir=str(out),
               settings={**SEEDS, **settings})
    cmd = [sys.executable, str(PROBE), json.dumps(cfg)]
    if engine == "podium":
        cmd = [sys.executable, "-c", PODIUM, *cmd[1:]]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads((out / "probe.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_engine_issues_what_the_official_issues(tmp_path, case):
    scenario, mode, settings = CASES[case]
    official = _probe(tmp_path, "official", scenario, mode, settings)
    podium = _probe(tmp_path, "podium", scenario, mode, settings)
    assert podium["loaded"] == official["loaded"]
    for key in ("generated_query_count", "generated_samples_per_query", "generated_query_duration"):
        assert podium["detail"][key] == official["detail"][key], key
    assert podium["detail"]["errors"] == official["detail"]["errors"]
    wall_clock_stop = scenario in ("SingleStream", "MultiStream") and mode == "PerformanceOnly"
    if wall_clock_stop:
        n = min(len(official["issued"]), len(podium["issued"]))
        assert n > 100
        assert podium["issued"][:n] == official["issued"][:n]
    else:
        assert podium["issued"] == official["issued"]
        assert sorted(podium["accuracy"]) == sorted(official["accuracy"])
