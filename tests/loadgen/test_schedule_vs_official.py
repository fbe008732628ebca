"""Podium's schedules against the official mlperf_loadgen 6.0.17, run with a recording null SUT.

Each case runs the official once, in its own process (official_probe.py), and compares what it loaded,
every issued query's QSL indices, the generated_* detail-log values and the accuracy-log entries
(sequence id, QSL index) with what podium.loadgen.schedule generates for the same settings. Settings
are chosen so that every generated query is issued: SingleStream/MultiStream runs need more queries
(min_query_count) than their duration generates, so the null SUT always runs out of queries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlperf_loadgen")

from tests.loadgen.official_probe import load_engine_modules  # noqa: E402

rng, schedule, settings_mod = load_engine_modules()
Mode, Scenario = settings_mod.Mode, settings_mod.Scenario

pytestmark = pytest.mark.official

PROBE = Path(__file__).with_name("official_probe.py")
SEEDS = {  # mlperf.conf 6.0.17
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}
OTHER_SEEDS = {"qsl_rng_seed": 42, "sample_index_rng_seed": 12345678901234567, "schedule_rng_seed": 7}


def _case(scenario: str, mode: str, total: int, count: int, seeds: dict = SEEDS, **settings) -> dict:
    return {"scenario": scenario, "mode": mode, "total": total, "performance_count": count,
            "settings": {**seeds, **settings}}


SS = {"single_stream_expected_latency_ns": 1_000_000, "min_duration_ms": 50}
MS = {"multi_stream_expected_latency_ns": 2_000_000, "min_duration_ms": 50,
      "multi_stream_samples_per_query": 8}
SERVER = {"server_target_qps": 2000, "min_duration_ms": 100, "min_query_count": 100}
OFFLINE = {"offline_expected_qps": 1000, "min_duration_ms": 100}
AUDIT = {"accuracy_log_rng_seed": 1234, "accuracy_log_probability": 0.3}

CASES = {
    "ss_performance": _case("SingleStream", "PerformanceOnly", 1000, 256, **SS, min_query_count=400),
    "ss_accuracy": _case("SingleStream", "AccuracyOnly", 300, 128, **SS),
    "ss_submission_audit": _case("SingleStream", "SubmissionRun", 250, 100, **SS, min_query_count=300,
                                 **AUDIT),
    "ss_equal_issue": _case("SingleStream", "PerformanceOnly", 200, 64, OTHER_SEEDS, **SS, min_query_count=10,
                            sample_concatenate_permutation=True),
    "ss_accuracy_equal_issue": _case("SingleStream", "AccuracyOnly", 150, 64, **SS,
                                     sample_concatenate_permutation=True),
    "ss_unique": _case("SingleStream", "PerformanceOnly", 300, 100, **SS, min_query_count=400,
                       performance_issue_unique=True),
    "ss_big_set": _case("SingleStream", "PerformanceOnly", 70000, 50000, **SS, min_query_count=120),
    "ms_performance": _case("MultiStream", "PerformanceOnly", 500, 203, **MS, min_query_count=100),
    "ms_accuracy_short_set": _case("MultiStream", "AccuracyOnly", 205, 100, **MS),
    "ms_submission_target": _case("MultiStream", "SubmissionRun", 120, 50, OTHER_SEEDS, **MS,
                                  min_query_count=60, accuracy_log_rng_seed=99,
                                  accuracy_log_sampling_target=100),
    "ms_unique": _case("MultiStream", "PerformanceOnly", 100, 61, **MS, min_query_count=100,
                       performance_issue_unique=True),
    "ms_equal_issue_bump": _case("MultiStream", "PerformanceOnly", 100, 64, OTHER_SEEDS,
                                 **{**MS, "min_duration_ms": 200}, min_query_count=10,
                                 sample_concatenate_permutation=True),
    "server_performance": _case("Server", "PerformanceOnly", 1000, 512, **SERVER),
    "server_many": _case("Server", "PerformanceOnly", 5000, 4096, OTHER_SEEDS, server_target_qps=10000,
                         min_duration_ms=200, min_query_count=100),
    "server_submission_audit": _case("Server", "SubmissionRun", 200, 64, **SERVER, **AUDIT),
    "server_equal_issue_bump": _case("Server", "PerformanceOnly", 300, 64, OTHER_SEEDS,
                                     **{**SERVER, "min_query_count": 10},
                                     sample_concatenate_permutation=True),
    "server_same": _case("Server", "PerformanceOnly", 100, 20, **SERVER, performance_issue_same=True,
                         performance_issue_same_index=3),
    "server_min_queries": _case("Server", "PerformanceOnly", 100, 40, OTHER_SEEDS, server_target_qps=5000,
                                min_duration_ms=10, min_query_count=300),
    "offline_performance": _case("Offline", "PerformanceOnly", 100, 64, **OFFLINE),
    "offline_accuracy_big": _case("Offline", "AccuracyOnly", 70000, 50000, **OFFLINE),
    "offline_submission_target": _case("Offline", "SubmissionRun", 90, 40, **OFFLINE, accuracy_log_rng_seed=5,
                                       accuracy_log_sampling_target=30),
    "offline_equal_issue_big": _case("Offline", "PerformanceOnly", 60000, 50000, OTHER_SEEDS,
                                     offline_expected_qps=500000, min_duration_ms=100,
                                     sample_concatenate_permutation=True),
    "offline_accuracy_equal_issue": _case("Offline", "AccuracyOnly", 100, 40, **OFFLINE,
                                          sample_concatenate_permutation=True),
    "offline_same": _case("Offline", "PerformanceOnly", 100, 30, **OFFLINE, performance_issue_same=True,
                          performance_issue_same_index=29),
    "offline_unique": _case("Offline", "PerformanceOnly", 100, 30, **OFFLINE, performance_issue_unique=True),
}


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every case run by the official, in parallel processes (each run lasts ~0.1-0.3 s)."""
    root = tmp_path_factory.mktemp("official")

    def run_one(name: str) -> dict:
        config = {**CASES[name], "outdir": str(root / name)}
        subprocess.run([sys.executable, str(PROBE), json.dumps(config)], cwd=root, check=True,
                       capture_output=True, timeout=120)
        return json.loads((root / name / "probe.json").read_text())

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(run_one, CASES)))


def podium_run(config: dict) -> dict:
    """What Podium loads, issues and logs for `config`, in the probe's format."""
    requested = settings_mod.TestSettings(scenario=Scenario.parse(config["scenario"]),
                                          mode=Mode.parse(config["mode"]), **config["settings"])
    eff = settings_mod.derive(requested, config["performance_count"], config["total"])
    passes = []
    if requested.mode in (Mode.ACCURACY, Mode.SUBMISSION):  # SubmissionRun: accuracy, then performance
        passes += [(Mode.ACCURACY, s) for s in schedule.loadable_sets(eff, eff.accuracy_sample_count,
                                                                      config["total"])]
    if requested.mode in (Mode.PERFORMANCE, Mode.SUBMISSION):
        sets = schedule.loadable_sets(eff, eff.performance_sample_count, config["total"])
        passes.append((Mode.PERFORMANCE, sets[0]))
    out: dict = {"loaded": [], "issued": [], "accuracy": [],
                 "detail": {"generated_query_count": [], "generated_samples_per_query": [],
                            "generated_query_duration": []}}
    first_sample_id = 0  # sequence ids run on across the passes of one StartTest
    for mode, loaded in passes:
        sched = schedule.generate_queries(eff, mode, loaded)
        out["loaded"].append(loaded.samples.tolist())
        out["issued"] += [sched.sample_index[slice(*sched.query_slice(q))].tolist()
                          for q in range(sched.query_count)]
        detail = out["detail"]
        detail["generated_query_count"].append(sched.query_count)
        detail["generated_samples_per_query"].append(sched.samples_per_query)
        detail["generated_query_duration"].append(sched.duration_ns)
        n = sched.sample_index.size
        logged = (np.ones(n, dtype=bool) if mode is Mode.ACCURACY
                  else schedule.accuracy_log_mask(eff, sched, first_sample_id))
        out["accuracy"] += [[first_sample_id + int(i), int(sched.sample_index[i])]
                            for i in np.flatnonzero(logged)]
        first_sample_id += n
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_same_as_official(name: str, official: dict[str, dict]) -> None:
    got, ref = podium_run(CASES[name]), official[name]
    assert got["loaded"] == ref["loaded"]
    ref_detail = {k: v for k, v in ref["detail"].items() if k != "errors"}
    assert got["detail"] == ref_detail
    assert len(got["issued"]) == len(ref["issued"]), "the official did not issue every generated query"
    diff = next((q for q, (a, b) in enumerate(zip(got["issued"], ref["issued"])) if a != b), None)
    assert diff is None, f"query {diff}: podium {got['issued'][diff]}, official {ref['issued'][diff]}"
    assert got["accuracy"] == sorted(ref["accuracy"])


def test_cases_cover_the_paths(official: dict[str, dict]) -> None:
    """The cases reach the paths they are named for (guards against settings that silently do nothing)."""
    bump = official["server_equal_issue_bump"]["detail"]["generated_query_count"][0]
    assert bump % 64 == 0 and bump > 64  # padded past min_query_count, then bumped by whole sets
    # MultiStream pads and bumps by the padded set size, 64 + 7: 3 * 71 >= 1 + 400 ms / 2 ms
    assert official["ms_equal_issue_bump"]["detail"]["generated_query_count"] == [213]
    assert official["offline_equal_issue_big"]["detail"]["generated_samples_per_query"] == [100000]
    assert any(len(s) == 5 + 7 for s in official["ms_accuracy_short_set"]["loaded"])  # cyclic padding
    audit = official["ss_submission_audit"]["accuracy"]
    assert 250 < len(audit) < 250 + 300  # all accuracy samples, a fraction of the performance ones
