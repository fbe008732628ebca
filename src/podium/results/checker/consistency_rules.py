"""Consistency rules: the same number must say the same thing everywhere it is written (a tampered result fails).

A result is written four times: the detail log (LoadGen's record, which the official checker reads), the summary
(printed from the same data), podium_run.json (Podium's record) and, for accuracy, accuracy.txt and accuracy.json.
Editing one of them (a better throughput in the summary, a higher accuracy in accuracy.txt) leaves it disagreeing
with the others. The detail log's own verdict is also recomputed from its parts. A consistent forgery of every
file cannot be told from a real run by these rules; the audit tests (TEST01, TEST04) exist for that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from podium.results.checker.finding import Finding, error
from podium.results.checker.inference_rules import EARLY_STOPPING_SCENARIOS, first_accuracy_number
from podium.results.checker.registry import Scope, rule
from podium.results.checker.tree import ScenarioView
from podium.results.layout import RUN_RECORD

# Summary line -> detail keys it prints (any may match: MultiStream prints per-query latencies).
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "Samples per second": ("result_samples_per_second",),
    "Completed samples per second": ("result_completed_samples_per_sec",),
    "Scheduled samples per second": ("result_scheduled_samples_per_sec",),
    "Completed tokens per second": ("result_completed_tokens_per_second",),
    "Tokens per second": ("result_tokens_per_second",),
    "Result is": ("result_validity",),
    "Scenario": ("effective_scenario",),
    "Mode": ("effective_test_mode",),
    "Min latency (ns)": ("result_min_latency_ns", "result_min_query_latency_ns"),
    "Max latency (ns)": ("result_max_latency_ns", "result_max_query_latency_ns"),
    "Mean latency (ns)": ("result_mean_latency_ns", "result_mean_query_latency_ns"),
    "samples_per_query": ("effective_samples_per_query",),
    "target_qps": ("effective_target_qps",),
    "target_latency (ns)": ("effective_target_latency_ns",),
    "min_duration (ms)": ("effective_min_duration_ms",),
    "min_query_count": ("effective_min_query_count",),
    "qsl_rng_seed": ("effective_qsl_rng_seed",),
    "sample_index_rng_seed": ("effective_sample_index_rng_seed",),
    "schedule_rng_seed": ("effective_schedule_rng_seed",),
    "performance_sample_count": ("effective_performance_sample_count",),
    "accuracy_sample_count": ("effective_accuracy_sample_count",),
}
PERCENTILE = re.compile(r"(?P<p>\d+(?:\.\d+)?)(?:th)? percentile latency \(ns\)")
EARLY_STOPPING = re.compile(r"Early stopping (?P<p>\d+(?:\.\d+)?)th percentile estimate")
# podium_run.json's result is the scenario's official result (constants.py RESULT_FIELD_NEW) or its percentile.
RESULT_CANDIDATES = {
    "Offline": ("result_samples_per_second",),
    "Server": ("result_completed_samples_per_sec", "result_scheduled_samples_per_sec"),
    "SingleStream": ("early_stopping_latency_ss", "result_90.00_percentile_latency_ns"),
    "MultiStream": ("early_stopping_latency_ms", "result_99.00_percentile_per_query_latency_ns"),
}
NS_PER_UNIT = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}


def detail_keys_for(summary_key: str) -> tuple[str, ...]:
    """The detail-log keys a summary line prints; () for lines with no counterpart."""
    if summary_key in SUMMARY_KEYS:
        return SUMMARY_KEYS[summary_key]
    if m := PERCENTILE.fullmatch(summary_key):
        p = f"{float(m['p']):.2f}"
        return (f"result_{p}_percentile_latency_ns", f"result_{p}_percentile_per_query_latency_ns")
    if EARLY_STOPPING.fullmatch(summary_key):
        return ("early_stopping_latency_ss", "early_stopping_latency_ms")
    return ()


def same_value(printed: Any, logged: Any) -> bool:
    """Equal as text, as integers, or as numbers within the summary's printing precision."""
    if isinstance(logged, bool):
        return str(printed).strip() in (("Yes", "true", "True", "1") if logged else ("No", "NO", "false", "False", "0"))
    a, b = str(printed).strip(), str(logged).strip()
    if a == b:
        return True
    try:
        return int(a) == int(b)
    except ValueError:
        pass
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=0.01)
    except ValueError:
        return False


@rule("consistency.summary_matches_detail", Scope.SCENARIO)
def summary_matches_detail(result: ScenarioView) -> Iterator[Finding]:
    """Every value the summary prints equals the detail log's (result, validity, latencies, settings)."""
    audits = [d / "performance" / "run_1" for d in result.compliance_dirs()]
    for directory in [result.perf_dir, result.acc_dir] + audits:
        summary, detail = result.summary(directory), result.detail(directory)
        if summary is None or detail is None:
            continue
        for key, printed in summary.items():
            logged = [detail[k] for k in detail_keys_for(key) if k in detail]
            if logged and not any(same_value(printed, v) for v in logged):
                yield error("consistency.summary_matches_detail", directory / "mlperf_log_summary.txt",
                            f"{key!r} is {printed} but the detail log says {logged[0]}")


@rule("consistency.detail_verdict", Scope.SCENARIO)
def detail_verdict(result: ScenarioView) -> Iterator[Finding]:
    """The detail log's result_validity follows from its own parts (duration, queries, latency, early stopping)."""
    detail = result.detail(result.perf_dir)
    if detail is None or "result_validity" not in detail:
        return
    parts = ["result_min_duration_met", "result_min_queries_met", "result_perf_constraints_met"]
    if result.scenario in EARLY_STOPPING_SCENARIOS:
        parts.append("early_stopping_met")
    failed = [p for p in parts if detail.get(p) is False]
    says_valid = detail["result_validity"] == "VALID"
    if says_valid and failed:
        yield error("consistency.detail_verdict", result.perf_dir / "mlperf_log_detail.txt",
                    f"result_validity is VALID although {', '.join(failed)} is false")


def to_log_unit(value: float, units: str) -> float:
    """A podium_run.json result in the detail log's unit: latencies to ns; rates are already per second."""
    unit = units.strip().lower()
    for suffix, factor in NS_PER_UNIT.items():
        if unit == suffix or unit.endswith(f"({suffix})"):
            return value * factor
    return value


@rule("consistency.record_matches_logs", Scope.SCENARIO)
def record_matches_logs(result: ScenarioView) -> Iterator[Finding]:
    """podium_run.json's result and validity equal the detail log's; its accuracy equals accuracy.json's."""
    yield from _performance_record(result)
    record, data = result.record(result.acc_dir), result.accuracy_json()
    recorded = (record or {}).get("accuracy") or {}
    numbers = (recorded.get("value"), (data or {}).get("value"))
    if all(isinstance(v, (int, float)) for v in numbers) and not same_value(*numbers):
        yield error("consistency.record_matches_logs", result.records_path(result.acc_dir / RUN_RECORD),
                    f"accuracy {numbers[0]} but accuracy.json says {numbers[1]}")


def _performance_record(result: ScenarioView) -> Iterator[Finding]:
    record, detail = result.record(result.perf_dir), result.detail(result.perf_dir)
    res = (record or {}).get("result")
    if not isinstance(res, dict) or detail is None:
        return
    path = result.records_path(result.perf_dir / RUN_RECORD)
    if res.get("validity") is not None and res["validity"] != detail.get("result_validity"):
        yield error("consistency.record_matches_logs", path,
                    f"validity {res['validity']} but the detail log says {detail.get('result_validity')}")
    value = res.get("value")
    candidates = [detail[k] for k in RESULT_CANDIDATES.get(result.scenario, ()) if k in detail]
    if isinstance(value, (int, float)) and candidates:
        converted = to_log_unit(float(value), str(res.get("units", "")))
        if not any(same_value(converted, c) for c in candidates):
            yield error("consistency.record_matches_logs", path,
                        f"result {value} {res.get('units', '')} but the detail log says {candidates[0]}")


def _pairs(line: str) -> dict[str, str]:
    """`accuracy=98.592%, good=350, total=355` -> {"accuracy": "98.592", "good": "350", "total": "355"}."""
    out = {}
    for part in line.split(","):
        name, sep, value = part.partition("=")
        if sep:
            out[name.strip()] = value.strip().rstrip("%")
    return out


@rule("consistency.accuracy_files_agree", Scope.SCENARIO)
def accuracy_files_agree(result: ScenarioView) -> Iterator[Finding]:
    """accuracy.txt and accuracy.json report the same accuracy and counts, and the value is good/total."""
    data, lines = result.accuracy_json(), result.accuracy_lines()
    if data is None:
        return
    path = result.records_path(result.acc_dir / "accuracy.json")
    value, good, total = data.get("value"), data.get("good"), data.get("total")
    if lines is not None:
        printed = first_accuracy_number(lines)
        if printed is not None and isinstance(value, (int, float)) and not same_value(printed, value):
            yield error("consistency.accuracy_files_agree", result.acc_dir / "accuracy.txt",
                        f"accuracy {printed} but accuracy.json says {value}")
        # the printed good/total are the metric's own counts only for a metric that counts (good is recorded); the
        # DLRM script's line counts rows where the record counts samples, beside an AUC that is no ratio of them
        pairs = next((_pairs(line) for line in lines if "=" in line and not line.startswith("hash=")), {}) \
            if good is not None else {}
        for name in ("good", "total"):
            if name in pairs and data.get(name) is not None and not same_value(pairs[name], data[name]):
                yield error("consistency.accuracy_files_agree", result.acc_dir / "accuracy.txt",
                            f"{name}={pairs[name]} but accuracy.json says {data[name]}")
    if isinstance(good, int) and isinstance(total, int) and total > 0 and isinstance(value, (int, float)):
        scale = 100.0 if data.get("units") == "%" else 1.0
        if not math.isclose(value, scale * good / total, rel_tol=1e-4, abs_tol=1e-3 * scale):
            yield error("consistency.accuracy_files_agree", path,
                        f"value {value} is not good/total = {good}/{total}")
