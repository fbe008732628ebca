"""Inference rules: what the official submission checker verifies (reference §4.3), one small function each.

Round-dependent rules read the registry's benchmark (`result.benchmark`); they say nothing when it is unknown,
because the engine reports an unknown round or benchmark once. Severity follows the division: what makes a
closed result invalid is an error there and, where the official checker lets open results pass, a warning in open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from podium.core.errors import UnknownNameError
from podium.core.files import file_sha256
from podium.core.layout import (ACCURACY_LOG, BASELINE_ACCURACY, COMPLIANCE_ACCURACY, DETAIL_LOG, VERIFY_ACCURACY,
                                VERIFY_PERFORMANCE)
from podium.results.checker import compliance, rounds
from podium.results.checker.finding import Finding, error, info, warning
from podium.results.checker.registry import Scope, rule
from podium.results.checker.tree import BenchmarkView, ScenarioView
from podium.results.layout import (ACCURACY, MAX_ACCURACY_LOG_BYTES, PERFORMANCE, RUN_RECORD, compliance_verdicts,
                                   read_json)

PERF_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt")
ACC_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "accuracy.txt", "mlperf_log_accuracy.json")
MEASUREMENT_FIELDS = ("input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
                      "weight_transformations")
EARLY_STOPPING_SCENARIOS = ("SingleStream", "MultiStream", "Server")


def _closed_error(result: ScenarioView, rule_id: str, path: object, message: str) -> Finding:
    return (error if result.closed else warning)(rule_id, path, message)


@rule("inference.required_files", Scope.SCENARIO)
def required_files(result: ScenarioView) -> Iterator[Finding]:
    """The files of the submission layout are present where the round's checker reads them (user.conf, README.md
    and the measurements under measurements/ before v6.0), and the measurements file has its fields."""
    wanted = [result.path / PERFORMANCE / f for f in PERF_FILES] + [result.path / ACCURACY / f for f in ACC_FILES]
    measurements_path = result.measurements_path
    wanted += [measurements_path.parent / "user.conf", measurements_path]
    if result.ctx.package.is_submission:
        wanted.append(measurements_path.parent / "README.md")
    for path in wanted:
        if not path.is_file():
            yield error("inference.required_files", path, "missing")
        elif path.stat().st_size == 0:
            yield error("inference.required_files", path, "empty")
    measurements = read_json(measurements_path)
    if isinstance(measurements, dict):
        for name in MEASUREMENT_FIELDS:
            if name not in measurements:
                yield error("inference.required_files", measurements_path, f"field {name!r} missing")


def _detail_logs(result: ScenarioView) -> Iterator[tuple[Path, Any]]:
    dirs = [result.perf_dir, result.acc_dir] + [d / PERFORMANCE for d in result.compliance_dirs()]
    for d in dirs:
        log = result.detail(d)
        if log is not None:
            yield d / "mlperf_log_detail.txt", log


@rule("inference.loadgen_errors", Scope.SCENARIO)
def loadgen_errors(result: ScenarioView) -> Iterator[Finding]:
    """No detail log (performance, accuracy, compliance runs) records a LoadGen error."""
    for path, log in _detail_logs(result):
        count = max(log.num_errors, len(log.errors))   # an error line added after num_errors still counts
        if count:
            shown = "; ".join(f"{e['key']}: {e['value']}" for e in log.errors[:3])
            yield error("inference.loadgen_errors", path, f"{count} LoadGen error(s): {shown}")


@rule("inference.seeds", Scope.SCENARIO)
def seeds(result: ScenarioView) -> Iterator[Finding]:
    """The performance run used the round's RNG seeds (qsl, sample index, schedule)."""
    log = result.detail(result.perf_dir)
    if log is None or result.ctx.round is None:
        return
    for name, expected in rounds.seeds(result.ctx.round).items():
        found = log.get(f"effective_{name}")
        if found is None or int(found) != expected:
            yield error("inference.seeds", result.perf_dir / "mlperf_log_detail.txt",
                        f"{name} is {found}, the round's is {expected}")


@rule("inference.min_duration", Scope.SCENARIO)
def min_duration(result: ScenarioView) -> Iterator[Finding]:
    """The performance run lasted at least the round's minimum duration."""
    log, path = result.detail(result.perf_dir), result.perf_dir / "mlperf_log_detail.txt"
    if log is None:
        return
    required = rounds.scenario_value(result.benchmark, "min_duration_ms", result.scenario) if result.benchmark else None
    found = log.get("effective_min_duration_ms")
    if required is not None and (found is None or int(found) < int(required)):
        yield error("inference.min_duration", path, f"min_duration is {found} ms, the round requires {required} ms")
    if log.get("result_min_duration_met") is False:
        yield error("inference.min_duration", path, "LoadGen says the minimum duration was not met")


@rule("inference.min_queries", Scope.SCENARIO)
def min_queries(result: ScenarioView) -> Iterator[Finding]:
    """The performance run issued at least the round's minimum query count (Offline: samples in its query)."""
    log, path = result.detail(result.perf_dir), result.perf_dir / "mlperf_log_detail.txt"
    if log is None:
        return
    required = rounds.scenario_value(result.benchmark, "min_query_count", result.scenario) if result.benchmark else None
    if required is not None:
        key = "effective_samples_per_query" if result.scenario == "Offline" else "effective_min_query_count"
        found = log.get(key)
        if found is None or int(found) < int(required):
            what = "samples in the Offline query" if result.scenario == "Offline" else "min_query_count"
            yield error("inference.min_queries", path, f"{what} is {found}, the round requires {required}")
    if log.get("result_min_queries_met") is False:
        yield error("inference.min_queries", path, "LoadGen says the minimum query count was not met")


@rule("inference.latency", Scope.SCENARIO)
def latency(result: ScenarioView) -> Iterator[Finding]:
    """Latency bounds: Server's target latency within the round's; constraints and early stopping met."""
    log, path = result.detail(result.perf_dir), result.perf_dir / "mlperf_log_detail.txt"
    if log is None:
        return
    bound = latency_bound(result.benchmark, result.scenario)
    if bound and result.scenario in EARLY_STOPPING_SCENARIOS:
        # early stopping judges the run against the target latency it was given: that target must be in bound
        target = log.get("effective_target_latency_ns")
        if result.scenario == "Server" and (target is None or int(target) > bound):
            yield error("inference.latency", path, f"target latency {target} ns exceeds the round's {bound} ns")
    elif bound:
        p99 = log.get("result_99.00_percentile_latency_ns")
        if p99 is not None and int(p99) > bound:
            yield error("inference.latency", path, f"p99 latency {p99} ns exceeds the round's {bound} ns")
    if log.get("result_perf_constraints_met") is False:
        yield error("inference.latency", path, "the latency constraint was not met")
    if result.scenario in EARLY_STOPPING_SCENARIOS and log.get("early_stopping_met") is False:
        yield error("inference.latency", path, f"early stopping not met: {log.get('early_stopping_result', '')}")


TTFT_KEY = "result_first_token_99.00_percentile_latency_ns"
TPOT_KEY = "result_time_per_output_token_99.00_percentile_ns"


@rule("inference.token_latency", Scope.SCENARIO)
def token_latency(result: ScenarioView) -> Iterator[Finding]:
    """LLMs: token latencies were on, and a Server or Interactive run's p99 TTFT and TPOT are below the round's
    bounds (the submission checker's llm_check; strictly below, as it compares)."""
    bench = result.benchmark
    if bench is None or not getattr(bench, "uses_token_latencies", False):
        return
    log, path = result.detail(result.perf_dir), result.perf_dir / "mlperf_log_detail.txt"
    if log is None:
        return
    if log.get("requested_use_token_latencies") is not True:
        yield error("inference.token_latency", path, "use_token_latencies is off: LLM benchmarks are measured "
                    "in token latencies (TTFT, TPOT)")
        return
    bounds = token_bounds(result)
    if bounds is None:
        return
    ttft, tpot = log.get(TTFT_KEY), log.get(TPOT_KEY)
    if ttft is None or tpot is None:
        yield error("inference.token_latency", path, f"no {TTFT_KEY if ttft is None else TPOT_KEY} in the log")
        return
    for name, value, bound in (("TTFT", ttft, bounds[0]), ("TPOT", tpot, bounds[1])):
        if not int(value) < bound:
            yield error("inference.token_latency", path,
                        f"p99 {name} {int(value)} ns is not below the round's {bound} ns ({result.scenario})")


def token_bounds(result: ScenarioView) -> tuple[int, int] | None:
    """(TTFT, TPOT) p99 bounds in ns for a Server or Interactive directory; None for other scenarios. An
    Interactive run takes the bounds of the benchmark's "-interactive" LoadGen model in the same round."""
    bench = result.benchmark
    if result.scenario == "Interactive":
        model = getattr(bench, "interactive_model", None)
        try:
            bench = result.ctx.round.benchmark(model) if result.ctx.round is not None and model else None
        except UnknownNameError:  # no such model in the round: no bounds to hold the run to
            bench = None
    elif result.scenario != "Server":
        return None
    ttft, tpot = getattr(bench, "ttft_ns", None), getattr(bench, "tpot_ns", None)
    return (int(ttft), int(tpot)) if ttft and tpot else None


@rule("inference.result_validity", Scope.SCENARIO)
def result_validity(result: ScenarioView) -> Iterator[Finding]:
    """The performance run's result is VALID."""
    log = result.detail(result.perf_dir)
    if log is not None and log.get("result_validity") != "VALID":
        reason = log.get("result_invalid_reason", "")
        yield error("inference.result_validity", result.perf_dir / "mlperf_log_detail.txt",
                    f"result is {log.get('result_validity')}" + (f": {reason}" if reason else ""))


def latency_bound(benchmark: Any, scenario: str) -> int | None:
    """The checker's latency constraint for a scenario (ns); Server falls back to mlperf.conf's target."""
    if benchmark is None:
        return None
    bound = (getattr(benchmark, "checker_latency_ns", None) or {}).get(scenario)
    if bound is None and scenario == "Server":
        bound = getattr(benchmark, "server_latency_ns", None)
    return int(bound) if bound else None


def accuracy_value(result: ScenarioView) -> tuple[float | None, Path]:
    """The accuracy the run reports: accuracy.json's value as reported (5 significant figures) or raw, else the
    first `name=value` of accuracy.txt."""
    data = result.accuracy_json()
    if data is not None:
        for key in ("value_reported", "value"):
            if isinstance(data.get(key), (int, float)):
                return float(data[key]), result.records_path(result.acc_dir / "accuracy.json")
    return first_accuracy_number(result.accuracy_lines() or []), result.acc_dir / "accuracy.txt"


def first_accuracy_number(lines: Iterable[str]) -> float | None:
    """The value of the first `name=value` pair that is not the hash: `accuracy=98.592%, good=350, total=355`."""
    for line in lines:
        if line.startswith("hash="):
            continue
        name, sep, rest = line.partition("=")
        if sep and name.strip():
            number = rest.split(",")[0].strip().rstrip("%")
            try:
                return float(number)
            except ValueError:
                continue
    return None


@rule("inference.accuracy", Scope.SCENARIO)
def accuracy(result: ScenarioView) -> Iterator[Finding]:
    """The accuracy run reached the round's target (or, without one in the registry, the target it recorded)."""
    value, path = accuracy_value(result)
    if value is None:
        if (result.acc_dir / "accuracy.txt").is_file():
            yield error("inference.accuracy", path, "no accuracy value found")
        return
    target = rounds.accuracy_target(result.benchmark, result.level) if result.benchmark is not None else None
    source = "the round's"
    if target is None:
        recorded = (result.accuracy_json() or {}).get("target")
        if not isinstance(recorded, (int, float)):
            yield warning("inference.accuracy", path, "no target known (registry or accuracy.json): not checked")
            return
        target, source = (float(recorded), None), "the run's recorded"
        yield info("inference.accuracy", path, f"target {recorded:g} taken from the run (the registry has none)")
    low, high = target
    if (low is not None and value < low) or (high is not None and value > high):
        wanted = " and ".join(t for t in (f">= {low:g}" if low is not None else "",
                                          f"<= {high:g}" if high is not None else "") if t)
        # the official checker accepts any accuracy in the open division
        make = error if result.closed else info
        yield make("inference.accuracy", path, f"accuracy {value:g} is not {wanted} ({source} target)")


def _hash_line(lines: Iterable[str]) -> str | None:
    for line in lines:
        if line.startswith("hash="):
            return line[len("hash="):].strip()
    return None


@rule("inference.accuracy_log", Scope.SCENARIO)
def accuracy_log(result: ScenarioView) -> Iterator[Finding]:
    """Accuracy logs carry their sha256 (hash= in accuracy.txt) that matches; submissions keep them <= 10 KiB."""
    for acc_dir in [result.acc_dir] + [d / "accuracy" for d in result.compliance_dirs()]:
        yield from _accuracy_log(result, acc_dir)


def _accuracy_log(result: ScenarioView, acc_dir: Path) -> Iterator[Finding]:
    log, txt = acc_dir / "mlperf_log_accuracy.json", acc_dir / "accuracy.txt"
    if not log.is_file() or not txt.is_file():
        return
    digest = _hash_line(txt.read_text(encoding="utf-8", errors="replace").splitlines())
    size = log.stat().st_size
    complete = _is_complete_log(log)
    if result.ctx.package.is_submission and size > MAX_ACCURACY_LOG_BYTES:
        yield error("inference.accuracy_log", log, f"{size} bytes: not truncated (limit {MAX_ACCURACY_LOG_BYTES})")
    if digest is None:
        if result.ctx.package.is_submission or not complete:
            yield error("inference.accuracy_log", txt, "no hash= line for the accuracy log")
    elif complete and file_sha256(log) != digest:
        yield error("inference.accuracy_log", txt, "hash= does not match the sha256 of mlperf_log_accuracy.json")


def _is_complete_log(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        return False
    return True


@rule("inference.sample_counts", Scope.SCENARIO)
def sample_counts(result: ScenarioView) -> Iterator[Finding]:
    """Performance sample count is the round's; the accuracy run covered the whole dataset."""
    b = result.benchmark
    if b is None:
        return
    perf = result.detail(result.perf_dir)
    if perf is not None:
        found, wanted = perf.get("effective_performance_sample_count"), b.performance_sample_count
        if found is None or int(found) < int(wanted):   # the official checker accepts more than required
            yield error("inference.sample_counts", result.perf_dir / "mlperf_log_detail.txt",
                        f"performance_sample_count is {found}, the round's is {wanted}")
    size = rounds.accuracy_sample_count(b, result.scenario)
    if size is not None:
        yield from _dataset_coverage(result, size)


def _dataset_coverage(result: ScenarioView, size: int) -> Iterator[Finding]:
    acc = result.detail(result.acc_dir)
    if acc is not None:
        found = acc.get("effective_accuracy_sample_count", acc.get("qsl_reported_total_count"))
        if found is None or int(found) != size:
            yield error("inference.sample_counts", result.acc_dir / "mlperf_log_detail.txt",
                        f"accuracy run covered {found} samples; the dataset has {size}")
    entries = result.accuracy_entries()
    if entries is not None:
        distinct = len({e.get("qsl_idx") for e in entries})
        if distinct != size:
            yield error("inference.sample_counts", result.acc_dir / "mlperf_log_accuracy.json",
                        f"{distinct} distinct samples logged; the dataset has {size}")
    data = result.accuracy_json()
    if data is not None and isinstance(data.get("total"), int) and data["total"] != size:
        yield error("inference.sample_counts", result.records_path(result.acc_dir / "accuracy.json"),
                    f"total is {data['total']}; the dataset has {size}")


@rule("inference.equal_issue", Scope.SCENARIO)
def equal_issue(result: ScenarioView) -> Iterator[Finding]:
    """Benchmarks that require equal-issue mode ran with sample_concatenate_permutation on."""
    log = result.detail(result.perf_dir)
    if log is None or not getattr(result.benchmark, "equal_issue", False):
        return
    if log.get("effective_sample_concatenate_permutation") is not True:
        yield _closed_error(result, "inference.equal_issue", result.perf_dir / "mlperf_log_detail.txt",
                            "equal-issue mode (sample_concatenate_permutation) is required and was off")


@rule("inference.compliance", Scope.SCENARIO)
def compliance_tests(result: ScenarioView) -> Iterator[Finding]:
    """The audits the round lists for the benchmark are there (closed submissions), their verify_*.txt say TEST
    PASS, and say what their logs say: the scores the reports print are the logs' scores, the audit's run shows
    the audit's settings and is not the result's own run, TEST01's logged responses are the accuracy run's."""
    present = {d.name: d for d in result.compliance_dirs()}
    for test_dir in result.misplaced_audits():
        yield error("inference.compliance", test_dir, f"the round's checker does not read audits here: "
                    f"{result.ctx.round_name or 'this round'} keeps them in {result.audit_home}")
    for name, test_dir in present.items():
        if name in compliance.AUDIT_TESTS:
            yield from _audit_folder(result, name, test_dir)
        else:
            yield from _other_audit(test_dir)
    required = tuple(getattr(result.benchmark, "audit_tests", ()) or ()) if result.benchmark is not None else ()
    for missing in [t for t in required if t not in present]:
        if result.ctx.package.is_submission and result.closed:
            podium_runs = missing in compliance.AUDIT_TESTS
            yield error("inference.compliance", result.path, f"audit test {missing} missing (the closed division "
                        "requires it): " + (f"podium audit {missing} ..." if podium_runs else
                                            "Podium does not run it"))
        else:
            yield info("inference.compliance", result.path, f"audit test {missing} not run yet")


def _other_audit(test_dir: Path) -> Iterator[Finding]:
    """An audit Podium does not run (TEST06, ...): its verify reports say it passed."""
    verdicts = compliance_verdicts(test_dir)
    if not verdicts:
        yield error("inference.compliance", test_dir, "no verify_*.txt file")
    for verdict in verdicts:
        if not verify_passed(verdict.read_text(encoding="utf-8", errors="replace")):
            yield error("inference.compliance", verdict, "does not say TEST PASS")


def _audit_folder(result: ScenarioView, test: str, test_dir: Path) -> Iterator[Finding]:
    """TEST01, TEST04, TEST05: its run's logs, its performance report against them, TEST01's accuracy."""
    run = test_dir / PERFORMANCE
    audit_log, reference = result.detail(run), result.detail(result.perf_dir)
    if audit_log is None:
        yield error("inference.compliance", run / DETAIL_LOG, "missing: the audit's performance run")
        return
    yield from _audit_settings(result, test, run, audit_log)
    yield from _same_model(result, run)
    if reference is not None:
        yield from _performance_report(test, test_dir, reference, audit_log)
        if (run / DETAIL_LOG).read_bytes() == (result.perf_dir / DETAIL_LOG).read_bytes():
            yield error("inference.compliance", run / DETAIL_LOG, "is the result's own performance log, not an "
                        "audit's run")
    if test == "TEST01":
        yield from _test01_accuracy(result, test_dir)


def _audit_settings(result: ScenarioView, test: str, run: Path, audit_log: Any) -> Iterator[Finding]:
    bench, rnd = result.benchmark, result.ctx.round
    if bench is None:
        return
    seeds = getattr(rnd, "test05_seeds", None)
    seed_values = None if seeds is None else {n: int(getattr(seeds, n)) for n in rounds.SEED_NAMES}
    try:
        expected = compliance.expected_settings(test, bench.name, seed_values)
    except KeyError:
        return   # no official audit.config for this benchmark: nothing to compare with
    for key, value in expected.items():
        if audit_log.get(key) != value:
            yield error("inference.compliance", run / DETAIL_LOG,
                        f"{key} is {audit_log.get(key)!r}; {test} runs with {value!r}: not the audit's run")


def _same_model(result: ScenarioView, run: Path) -> Iterator[Finding]:
    """The audit served the model of the result it audits (the run records' sha256, where both have one)."""
    audited, own = result.record(run), result.record(result.perf_dir)
    ours = ((audited or {}).get("model") or {}).get("sha256"), ((own or {}).get("model") or {}).get("sha256")
    if all(ours) and ours[0] != ours[1]:
        yield error("inference.compliance", result.records_path(run / RUN_RECORD),
                    f"the audit ran model sha256 {ours[0]}, the result model sha256 {ours[1]}")


def _performance_report(test: str, test_dir: Path, reference: Any, audit_log: Any) -> Iterator[Finding]:
    path = test_dir / VERIFY_PERFORMANCE
    if not path.is_file():
        yield error("inference.compliance", path, "missing")
        return
    written = path.read_text(encoding="utf-8", errors="replace")
    computed = compliance.verify_performance(test, reference, audit_log)
    if not verify_passed(written):
        yield error("inference.compliance", path, "does not say TEST PASS")
    elif not computed.passed:
        yield error("inference.compliance", path, f"says TEST PASS, but the logs say {computed.lines[-1]!r}")
    wrong = compliance.differing_lines(written, computed)
    if wrong:
        yield error("inference.compliance", path, f"does not match the logs (they give {'; '.join(wrong)}): rerun "
                    "the audit after the result's runs, or restore the logs it compared")


def _test01_accuracy(result: ScenarioView, test_dir: Path) -> Iterator[Finding]:
    """verify_accuracy.txt: TEST PASS (recomputed where both logs are whole), else the accuracy of the same samples
    from both runs within the allowed delta (baseline_accuracy.txt, compliance_accuracy.txt)."""
    path = test_dir / VERIFY_ACCURACY
    if not path.is_file():
        yield error("inference.compliance", path, "missing")
        return
    written = path.read_text(encoding="utf-8", errors="replace")
    logged, reference = _complete_log(test_dir / ACCURACY / ACCURACY_LOG), result.accuracy_entries()
    if logged is not None and reference is not None:
        computed = compliance.verify_accuracy(compliance.compare_responses(reference, logged))
        wrong = compliance.differing_lines(written, computed)
        if wrong:
            yield error("inference.compliance", path, f"does not match the logs (they give {'; '.join(wrong)})")
    if not verify_passed(written):
        yield from _accuracy_delta(result, test_dir / ACCURACY)


def _accuracy_delta(result: ScenarioView, acc_dir: Path) -> Iterator[Finding]:
    values = []
    for name in (BASELINE_ACCURACY, COMPLIANCE_ACCURACY):
        if not (acc_dir / name).is_file():
            yield error("inference.compliance", acc_dir / name, "missing (verify_accuracy.txt says the responses "
                        "differ: the accuracy of the same samples from both runs is needed)")
            return
        values.append(first_accuracy_number((acc_dir / name).read_text(encoding="utf-8").splitlines()))
    delta = compliance.accuracy_delta(values[0] or 0.0, values[1] or 0.0)
    variant = next((v for v in getattr(result.benchmark, "variants", ()) if v.name == result.benchmark_name),
                   next(iter(getattr(result.benchmark, "variants", ())), None))
    allowed = compliance.allowed_delta_percent(variant, str(getattr(result.benchmark, "metric", "")))
    if delta is None or delta > allowed:
        shown = "no accuracy" if delta is None else f"{delta:.3f} %"
        yield error("inference.compliance", acc_dir, f"the responses differ and the accuracies of the same samples "
                    f"differ by {shown} (at most {allowed:g} % allowed)")


def _complete_log(path: Path) -> list[dict[str, Any]] | None:
    """A whole accuracy log's entries; None when absent or truncated (a submission's)."""
    from podium.loadgen.logparse import read_accuracy

    try:
        return read_accuracy(path) if path.is_file() else None
    except ValueError:
        return None


def verify_passed(text: str) -> bool:
    """A verify script's verdict: "TEST PASS", or (TEST06's format) every "... pass: X" line True or Skipped."""
    if "TEST PASS" in text:
        return True
    checks = [line.rsplit(":", 1)[1].strip() for line in text.splitlines() if line.split(":")[0].endswith(" pass")]
    return bool(checks) and all(c in ("True", "Skipped") for c in checks)


@rule("inference.run_record", Scope.SCENARIO)
def run_record(result: ScenarioView) -> Iterator[Finding]:
    """podium_run.json: not a short run, valid for submission, and recorded for this round, system and place."""
    for directory, mode in ((result.perf_dir, "performance"), (result.acc_dir, "accuracy")):
        record = result.record(directory)
        if record is None:
            continue
        path = result.records_path(directory / RUN_RECORD)
        severe = error if result.ctx.package.is_submission else warning
        if record.get("short"):
            yield severe("inference.run_record", path, "a short run (podium --short): not valid for submission")
        elif record.get("valid_for_submission") is False:
            yield severe("inference.run_record", path, "the run is marked not valid for submission")
        yield from _record_place(result, record, path, mode)


def _record_place(result: ScenarioView, record: dict[str, Any], path: Path, mode: str) -> Iterator[Finding]:
    expected = {"system_id": result.system, "scenario": result.scenario, "mode": mode}
    if result.ctx.round_name:
        expected["round"] = result.ctx.round_name
    for key, want in expected.items():
        got = record.get(key)
        if got is not None and str(got) != want:
            yield error("inference.run_record", path, f"{key} is {got!r}, the tree says {want!r}")
    bench = record.get("benchmark")
    same = bench in (result.benchmark_name, getattr(result.benchmark, "name", None))   # e.g. resnet50 in resnet/
    if bench is not None and not same and not result.benchmark_name.startswith(f"{bench}-"):
        yield error("inference.run_record", path, f"benchmark is {bench!r}, the tree says {result.benchmark_name!r}")


@rule("inference.scenarios", Scope.BENCHMARK)
def scenarios(results: BenchmarkView) -> Iterator[Finding]:
    """The benchmark is in the round, and every scenario its system type requires is present."""
    if results.problem:
        yield _severity_for(results)("inference.scenarios", results.path, results.problem)
    if results.benchmark is None:
        return
    desc = results.ctx.system_desc(results.system) or {}
    kind = str(desc.get("system_type") or "")
    if not kind:
        return   # the system rules report a missing system type
    try:
        required = rounds.required_scenarios(results.benchmark, kind)
    except (KeyError, ValueError) as e:
        yield error("inference.scenarios", results.path, f"system_type {kind!r}: {e}")
        return
    if not required:   # the official checker has no rule for it there (the new one crashes, the old one refuses)
        yield _severity_for(results)("inference.scenarios", results.path,
                                     f"{results.benchmark.name} has no required scenarios for system_type {kind!r} "
                                     f"in round {results.ctx.round_name}: not a benchmark of that category")
        return
    missing = sorted(required - set(results.scenarios))
    if missing:
        yield _severity_for(results)("inference.scenarios", results.path,
                                     f"missing scenario(s) {', '.join(missing)} required for system_type {kind!r}")


def _severity_for(results: BenchmarkView) -> Any:
    """Closed submissions: error; open division: info (the official checker skips it); run trees: warning."""
    division = results.ctx.division(results.system)
    if division == "open":
        return info
    return error if results.ctx.package.is_submission else warning
