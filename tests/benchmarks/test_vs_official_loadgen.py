"""The registry's round against what the official LoadGen (mlcommons-loadgen 6.0.17) actually runs.

For every model of the wheel's embedded mlperf.conf (and every benchmark of the round), in every scenario,
the official LoadGen reads an empty user.conf (so only its embedded mlperf.conf applies) and runs a tiny
AccuracyOnly test (settings_probe.py, one process, a fork per pair). The effective settings it logs must be
the ones the registry states for that round: durations, query counts, latency bounds and percentiles,
samples per query, equal issue, seeds, sample counts and token-latency bounds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from podium.benchmarks import Benchmark, Round, Scenario, get_round, rounds
from podium.loadgen import logparse
from podium.loadgen.config import _scan_official

lg = pytest.importorskip("mlperf_loadgen")
pytestmark = pytest.mark.official

PROBE = Path(__file__).with_name("settings_probe.py")
QSL_TOTAL = 16  # settings_probe.TOTAL: the QSL's total and performance sample counts
NS_PER_MS = 1_000_000


def wheel_version() -> str:
    from importlib.metadata import version

    return version("mlcommons-loadgen")


def round_of_wheel() -> Round:
    """The MLPerf round whose mlperf.conf the installed wheel embeds."""
    matches = [get_round(r) for r in rounds() if get_round(r).loadgen_version == wheel_version()
               and not r.startswith("tiny")]
    assert len(matches) == 1, f"no single round for mlcommons-loadgen {wheel_version()}: {matches}"
    return matches[0]


def embedded_conf() -> dict[str, str]:
    """The mlperf.conf compiled into the wheel (a C string next to its first key)."""
    blob = Path(lg.__file__).read_bytes()
    at = blob.find(b"*.*.qsl_rng_seed")
    start, end = blob.rfind(b"\0", 0, at) + 1, blob.find(b"\0", at)
    kv, errors = _scan_official(blob[start:end].decode("utf-8"))
    assert not errors
    return kv


def as_benchmark(r: Round, model: str) -> Benchmark:
    """The round's benchmark, or, for a model that is only in mlperf.conf, a stand-in whose LoadGen accessors
    read that model's lines (they depend only on the name and the round's conf)."""
    if model in r.retired or not any(b.name == model for b in r.benchmarks):
        return dataclasses.replace(r.benchmarks[0], name=model, interactive_of=None, interactive_model=None)
    return r.benchmark(model)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(model, scenario) -> (detail log, requested.json) of the official run."""
    r = round_of_wheel()
    models = list(dict.fromkeys([*r.conf_models(), *(b.name for b in r.benchmarks)]))
    pairs = [[m, s.value, as_benchmark(r, m).uses_token_latencies] for m in models for s in Scenario]
    out = tmp_path_factory.mktemp("official")
    (out / "user.conf").write_text("")
    job = {"pairs": pairs, "outdir": str(out), "user_conf": str(out / "user.conf")}
    (out / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, str(PROBE), str(out / "job.json")], capture_output=True, text=True,
                          timeout=600, cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "done.json").read_text())["failed"] == [], proc.stderr[-3000:]
    return {(m, s): (logparse.read_detail(out / str(i) / "mlperf_log_detail.txt"),
                     json.loads((out / str(i) / "requested.json").read_text()))
            for i, (m, s, _) in enumerate(pairs)}


def test_the_wheel_embeds_the_rounds_mlperf_conf():
    """Every model of the embedded conf is a benchmark of the round or named there with a reason, and the
    round's lines are exactly the embedded ones."""
    r = round_of_wheel()
    embedded = embedded_conf()
    models = {k.rsplit(".", 2)[0] for k in embedded} - {"*"}
    benchmarks = {b.name for b in r.benchmarks}
    unexplained = sorted(m for m in models if m not in benchmarks and not r.retired.get(m))
    assert unexplained == [], f"models of the embedded mlperf.conf missing from round {r.name}"
    assert dict(r.conf) == embedded


def expected(r: Round, b: Benchmark, s: Scenario) -> dict[str, object]:
    """The effective_* / requested_* values LoadGen must log for `b` in `s`, from the registry."""
    conf = b.settings(s)
    want: dict[str, object] = {
        "effective_min_duration_ms": b.min_duration_ms(s),
        "requested_min_query_count": b.min_query_count(s),
        "effective_sample_concatenate_permutation": b.equal_issue,
        "effective_qsl_rng_seed": r.seeds.qsl_rng_seed,
        "effective_sample_index_rng_seed": r.seeds.sample_index_rng_seed,
        "effective_schedule_rng_seed": r.seeds.schedule_rng_seed,
        "effective_performance_sample_count": int(conf.get("performance_sample_count_override", 0)) or QSL_TOTAL,
        "effective_accuracy_sample_count": int(conf.get("accuracy_sample_count_override", 0)) or QSL_TOTAL,
    }
    if s is Scenario.OFFLINE:
        # test_settings_internal.cc: one query of max(min_query_count, 1.1 * min_duration * expected QPS)
        qps = float(conf.get("target_qps", 1.0))
        target_samples = int(1.1 * b.min_duration_ms(s) / 1000 * qps)
        want["effective_samples_per_query"] = max(b.min_query_count(s), target_samples)
        want["effective_min_query_count"] = 1
        return want
    want["effective_target_latency_percentile"] = b.target_latency_percentile(s) / 100
    want["effective_samples_per_query"] = b.samples_per_query if s is Scenario.MULTI_STREAM else 1
    if not (s is Scenario.SINGLE_STREAM and b.equal_issue):  # equal issue SingleStream derives its own count
        want["effective_min_query_count"] = b.min_query_count(s)
    if s is Scenario.SERVER:
        want["effective_target_latency_ns"] = b.server_latency_ns or 0
        want["requested_use_token_latencies"] = b.uses_token_latencies  # logged only when true
        if b.uses_token_latencies:
            want["requested_server_ttft_latency"] = b.ttft_ns
            want["requested_server_tpot_latency"] = b.tpot_ns
    else:  # the expected latency (mlperf.conf target_latency, ms) sets the schedule's QPS
        want["effective_target_qps"] = 1000 / float(conf["target_latency"])
    return want


def same(logged: object, want: object) -> bool:
    """Equal; floats to the 6 significant digits the detail log prints."""
    if isinstance(want, float) and isinstance(logged, (int, float)) and not isinstance(logged, bool):
        return math.isclose(logged, want, rel_tol=1e-5)
    return logged == want and type(logged) is type(want)


def test_effective_settings_match_the_registry(runs):
    r = round_of_wheel()
    mismatches = []
    for (model, scenario), (detail, requested) in runs.items():
        s = Scenario(scenario)
        b = as_benchmark(r, model)
        assert requested["code"] == 0 and detail.num_errors == 0, (model, scenario, detail.errors)
        want = expected(r, b, s)
        got = {k: detail.get(k, False if k == "requested_use_token_latencies" else "absent") for k in want}
        if s is Scenario.SERVER:
            got["requested target_qps"] = requested["server_target_qps"]
            want["requested target_qps"] = float(b.settings(s)["target_qps"])
        mismatches += [(model, scenario, k, got[k], want[k]) for k in want if not same(got[k], want[k])]
    assert mismatches == []
