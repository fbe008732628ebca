"""`podium check`: clean trees pass; every rule fails on a fixture that breaks it, tampered results included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from podium.cli import main
from podium.loadgen import Scenario
from podium.results.checker import Severity, all_rules, check_tree, exit_code
from podium.results.checker.finding import Finding, error, info, warning
from podium.results.checker.training_rules import TrainingInfo
from tests.results.fixtures import (ROUND, SYSTEM_ID, Seeds, performance_run, resolve_round, stricter)

SCENARIOS = Path("results") / SYSTEM_ID / "digits"
OFFLINE = SCENARIOS / "Offline"
SUB = Path("closed") / "ACME"


def errors(report, rule_id: str) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule_id and f.severity is Severity.ERROR]


def of(report, rule_id: str, severity: Severity) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule_id and f.severity is severity]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# ---------------------------------------------------------------- clean trees

def test_clean_run_tree_has_only_notes(run_tree, check):
    report = check(run_tree)
    assert report.exit_code == 0, report.format_text()
    assert report.packages[0].round_name == ROUND.name


def test_clean_submission_has_only_notes(submission, check):
    report = check(submission)
    assert report.exit_code == 0, report.format_text()
    assert report.packages[0].division == "closed" and report.packages[0].org == "ACME"


def test_every_rule_is_listed_with_a_summary():
    rules = all_rules()
    assert {r.group for r in rules} == {"inference", "consistency", "system", "training"}
    assert all(r.summary and not r.summary.endswith(" a") for r in rules)


def test_exit_code_follows_the_worst_severity():
    assert exit_code([]) == 0
    assert exit_code([info("x", "p", "m")]) == 0
    assert exit_code([info("x", "p", "m"), warning("x", "p", "m")]) == 1
    assert exit_code([warning("x", "p", "m"), error("x", "p", "m")]) == 2


def test_json_report_and_cli_exit_code(run_tree, copy_of, capsys):
    tree = copy_of(run_tree)
    (tree / OFFLINE / "user.conf").unlink()
    assert main(["check", str(tree), "--json", "--rule", "inference.required_files"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == 1 and report["exit_code"] == 2
    assert report["packages"][0]["findings"][0]["rule_id"] == "inference.required_files"
    assert main(["check", str(tree), "--rule", "system"]) == 0
    assert "system.fields" in capsys.readouterr().out


# ---------------------------------------------------------------- inference rules

def test_missing_files_and_measurement_fields(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    (tree / OFFLINE / "accuracy" / "accuracy.txt").unlink()
    edit_json(tree / OFFLINE / "measurements.json", lambda d: d.pop("weight_data_types"))
    found = [f.path + " " + f.message for f in errors(check(tree), "inference.required_files")]
    assert any("accuracy.txt missing" in f for f in found)
    assert any("'weight_data_types' missing" in f for f in found)


def test_a_loadgen_error_in_a_detail_log(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    log = tree / OFFLINE / "performance" / "run_1" / "mlperf_log_detail.txt"
    line = {"key": "error_runtime", "value": "SUT crashed", "time_ms": 1.0, "namespace": "mlperf::logging",
            "event_type": "POINT_IN_TIME", "metadata": {"is_error": True, "is_warning": False}}
    log.write_text(log.read_text() + ":::MLLOG " + json.dumps(line) + "\n")
    found = errors(check(tree), "inference.loadgen_errors")
    assert found and "SUT crashed" in found[0].message


def test_seeds_other_than_the_rounds(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    performance_run(tree / OFFLINE, Scenario.OFFLINE, seeds=Seeds(1, 2, 3))
    found = errors(check(tree), "inference.seeds")
    assert {f.message.split()[0] for f in found} == {"qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"}


def test_an_invalid_run_fails_validity_and_duration(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    performance_run(tree / OFFLINE, Scenario.OFFLINE, offline_delay_s=0.0)   # finishes before min_duration
    report = check(tree)
    assert errors(report, "inference.result_validity")
    assert any("not met" in f.message for f in errors(report, "inference.min_duration"))
    assert not errors(report, "consistency.record_matches_logs")


@pytest.mark.parametrize("changes, rule_id, text", [
    ({"min_duration": 600_000}, "inference.min_duration", "requires 600000 ms"),
    ({"min_queries": 10**6}, "inference.min_queries", "requires 1000000"),
    ({"offline_min_samples": 10**7}, "inference.min_queries", "samples in the Offline query"),
    ({"server_latency_ns": 1_000}, "inference.latency", "exceeds the round's 1000 ns"),
    ({"targets": {"99": 99.0}}, "inference.accuracy", "is not >= 99"),
    ({"targets": {"99": (90.0, 97.0)}}, "inference.accuracy", "is not >= 90 and <= 97"),
    ({"targets": {"99": (None, 50.0)}}, "inference.accuracy", "is not <= 50"),
    ({"performance_sample_count": 1024}, "inference.sample_counts", "performance_sample_count is 355"),
    ({"dataset_size": 400}, "inference.sample_counts", "the dataset has 400"),
    ({"equal_issue": True}, "inference.equal_issue", "equal-issue mode"),
])
def test_the_rounds_constants(run_tree, changes, rule_id, text):
    report = check_tree(run_tree, resolve_round=stricter(**changes), official_tools=False)
    assert any(text in f.message for f in errors(report, rule_id)), report.format_text()


def test_accuracy_target_recorded_by_the_run_when_the_registry_has_none(run_tree):
    report = check_tree(run_tree, resolve_round=stricter(targets={}), official_tools=False)
    assert of(report, "inference.accuracy", Severity.INFO)
    assert report.exit_code == 0


def test_accuracy_below_target_is_only_a_note_in_the_open_division(run_tree, copy_of):
    tree = copy_of(run_tree)
    edit(tree / "systems" / f"{SYSTEM_ID}.json", '"division": "closed"', '"division": "open"')
    report = check_tree(tree, resolve_round=stricter(targets={"99": 99.0}), official_tools=False)
    assert not errors(report, "inference.accuracy") and of(report, "inference.accuracy", Severity.INFO)


def test_latency_constraint_and_early_stopping_verdicts(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    log = tree / SCENARIOS / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt"
    for key in ("result_perf_constraints_met", "early_stopping_met"):
        edit(log, f'"key": "{key}", "value": true', f'"key": "{key}", "value": false')
    messages = [f.message for f in errors(check(tree), "inference.latency")]
    assert any("latency constraint" in m for m in messages) and any("early stopping" in m for m in messages)


def _mllog(key: str, value) -> str:
    return (':::MLLOG {"key": "%s", "value": %s, "time_ms": 1.0, "namespace": "mlperf::logging", '
            '"event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false, "file": "x", '
            '"line_no": 1, "pid": 1, "tid": 1}}\n') % (key, json.dumps(value))


@pytest.mark.parametrize("logged, message", [
    ({}, "use_token_latencies is off"),
    ({"requested_use_token_latencies": True}, "no result_first_token_99.00_percentile_latency_ns"),
    ({"requested_use_token_latencies": True, "result_first_token_99.00_percentile_latency_ns": 2_000_000,
      "result_time_per_output_token_99.00_percentile_ns": 100_000}, "p99 TTFT 2000000 ns is not below"),
    ({"requested_use_token_latencies": True, "result_first_token_99.00_percentile_latency_ns": 1_000_000,
      "result_time_per_output_token_99.00_percentile_ns": 300_000}, "p99 TPOT 300000 ns is not below"),
    ({"requested_use_token_latencies": True, "result_first_token_99.00_percentile_latency_ns": 1_999_999,
      "result_time_per_output_token_99.00_percentile_ns": 199_999}, None),
])
def test_llm_token_latencies(run_tree, copy_of, logged, message):
    """An LLM benchmark: token latencies on, Server p99 TTFT and TPOT strictly below the round's bounds."""
    tree = copy_of(run_tree)
    with open(tree / SCENARIOS / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt", "a") as f:
        f.writelines(_mllog(k, v) for k, v in logged.items())
    llm = stricter(uses_token_latencies=True, ttft_ns=2_000_000, tpot_ns=200_000)
    found = errors(check_tree(tree, resolve_round=llm, official_tools=False), "inference.token_latency")
    server = [f.message for f in found if "/Server/" in str(f.path)]
    assert server == [] if message is None else (len(server) == 1 and message in server[0]), found
    # the other scenarios only need token latencies on (llm_check returns early for them)
    assert {Path(f.path).parts[-4] for f in found} == {"SingleStream", "MultiStream", "Offline"} | (
        {"Server"} if message else set())
    assert not errors(check_tree(tree, resolve_round=resolve_round, official_tools=False), "inference.token_latency")


def test_a_hash_that_does_not_match_the_accuracy_log(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    with open(tree / OFFLINE / "accuracy" / "accuracy.txt", "a") as f:
        f.write("\nhash=" + "0" * 64 + "\n")
    assert any("does not match" in f.message for f in errors(check(tree), "inference.accuracy_log"))


def test_an_untruncated_accuracy_log_in_a_submission(run_tree, submission, copy_of, check):
    tree = copy_of(submission)
    full = run_tree / OFFLINE / "accuracy" / "mlperf_log_accuracy.json"
    (tree / SUB / OFFLINE / "accuracy" / "mlperf_log_accuracy.json").write_bytes(full.read_bytes())
    assert any("not truncated" in f.message for f in errors(check(tree), "inference.accuracy_log"))


def test_a_truncated_log_without_its_hash(submission, copy_of, check):
    tree = copy_of(submission)
    txt = tree / SUB / OFFLINE / "accuracy" / "accuracy.txt"
    txt.write_text("\n".join(line for line in txt.read_text().splitlines() if not line.startswith("hash=")))
    assert any("no hash=" in f.message for f in errors(check(tree), "inference.accuracy_log"))


def test_compliance_folders(run_tree, copy_of, check):
    """Audits Podium runs are checked against their run's logs (tests/results/test_audit_check.py); others
    (TEST06) by their reports only. A verify report alone is no audit: its run's logs are missing."""
    tree = copy_of(run_tree)
    for test, text in (("TEST01", "TEST FAIL\n"), ("TEST04", "TEST PASS\n"),
                       ("TEST06", "First token check pass: Skipped\nEOS check pass: True\n")):
        (tree / OFFLINE / test).mkdir()
        (tree / OFFLINE / test / "verify_accuracy.txt").write_text(text)
    (tree / SCENARIOS / "Server" / "TEST06").mkdir()
    found = {(Path(f.path).relative_to(SCENARIOS).parts[:2], f.message)
             for f in errors(check(tree), "inference.compliance")}
    missing_run = "missing: the audit's performance run"
    assert found == {(("Offline", "TEST01"), missing_run), (("Offline", "TEST04"), missing_run),
                     (("Server", "TEST06"), "no verify_*.txt file")}


def test_audit_tests_the_round_requires_but_the_tree_lacks(run_tree, submission):
    resolver = stricter(audit_tests=("TEST01",))
    report = check_tree(run_tree, resolve_round=resolver, official_tools=False)
    assert any("TEST01 not run yet" in f.message for f in of(report, "inference.compliance", Severity.INFO))
    report = check_tree(submission, resolve_round=resolver, official_tools=False)   # closed submission
    assert of(report, "inference.compliance", Severity.ERROR) and report.exit_code == 2


def test_a_short_run_warns_in_a_run_tree_and_fails_a_submission(short_tree, tmp_path, check):
    assert of(check(short_tree), "inference.run_record", Severity.WARNING)
    from podium.results.submission import build_submission

    build_submission([short_tree], tmp_path / "sub", "ACME", "open", allow_invalid=True)
    assert any("short run" in f.message for f in errors(check(tmp_path / "sub"), "inference.run_record"))


def test_a_record_for_another_system_or_round(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    edit_json(tree / OFFLINE / "accuracy" / "podium_run.json", lambda d: d.update(system_id="elsewhere"))
    assert any("system_id" in f.message for f in errors(check(tree), "inference.run_record"))
    report = check_tree(tree, "tiny-v1", resolve_round=resolve_round, official_tools=False, rules=["inference"])
    assert errors(report, "inference.run_record")


def test_missing_required_scenarios(run_tree, submission, copy_of, check):
    tree = copy_of(run_tree)
    import shutil

    shutil.rmtree(tree / SCENARIOS / "Server")
    assert any("Server" in f.message for f in of(check(tree), "inference.scenarios", Severity.WARNING))
    sub = copy_of(submission)
    shutil.rmtree(sub / SUB / SCENARIOS / "SingleStream")
    assert any("SingleStream" in f.message for f in errors(check(sub), "inference.scenarios"))


def test_a_benchmark_the_round_does_not_know(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    (tree / SCENARIOS).rename(tree / "results" / SYSTEM_ID / "resnet50")
    assert any("not in round" in f.message for f in of(check(tree), "inference.scenarios", Severity.WARNING))


# ---------------------------------------------------------------- tampering

def test_tampered_summary_result(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    summary = tree / OFFLINE / "performance" / "run_1" / "mlperf_log_summary.txt"
    value = re.search(r"Samples per second\s*: ([\d.]+)", summary.read_text()).group(1)
    edit(summary, value, str(float(value) * 2))
    found = errors(check(tree), "consistency.summary_matches_detail")
    assert found and "Samples per second" in found[0].message


def test_tampered_latency_in_a_single_stream_summary(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    summary = tree / SCENARIOS / "SingleStream" / "performance" / "run_1" / "mlperf_log_summary.txt"
    line = re.search(r"90.0th percentile latency \(ns\) : (\d+)", summary.read_text())
    edit(summary, line.group(0), line.group(0).replace(line.group(1), str(int(line.group(1)) // 2)))
    assert errors(check(tree), "consistency.summary_matches_detail")


def test_tampered_validity_in_the_detail_log(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    log = tree / OFFLINE / "performance" / "run_1" / "mlperf_log_detail.txt"
    edit(log, '"key": "result_min_duration_met", "value": true', '"key": "result_min_duration_met", "value": false')
    assert errors(check(tree), "consistency.detail_verdict")


def test_tampered_run_record(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    edit_json(tree / OFFLINE / "performance" / "run_1" / "podium_run.json",
              lambda d: d["result"].update(value=d["result"]["value"] * 1.5))
    found = errors(check(tree), "consistency.record_matches_logs")
    assert found and "detail log says" in found[0].message


def test_tampered_accuracy(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    edit(tree / OFFLINE / "accuracy" / "accuracy.txt", "accuracy=97.465%", "accuracy=99.900%")
    edit_json(tree / SCENARIOS / "Server" / "accuracy" / "accuracy.json", lambda d: d.update(value=99.9))
    found = {(Path(f.path).parts[-3], f.message.split()[0])
             for f in errors(check(tree), "consistency.accuracy_files_agree")}
    assert ("Offline", "accuracy") in found and ("Server", "value") in found
    assert errors(check(tree), "consistency.record_matches_logs")   # Server's record still says 97.465


def test_an_unreadable_detail_log_is_one_finding(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    (tree / OFFLINE / "performance" / "run_1" / "mlperf_log_detail.txt").write_text("garbage\n")
    found = errors(check(tree), "tree.readable")
    assert len(found) == 1 and "not a detail log" in found[0].message


def test_round_unknown_or_not_recorded(run_tree, copy_of, check):
    report = check(run_tree, "v9.9")
    assert errors(report, "tree.round") and "tiny-v1" in errors(report, "tree.round")[0].message
    tree = copy_of(run_tree)
    for record in tree.rglob("podium_run.json"):
        edit_json(record, lambda d: d.pop("round"))
    assert of(check(tree), "tree.round", Severity.WARNING)


# ---------------------------------------------------------------- system rules

def test_system_description_missing(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    (tree / "systems" / f"{SYSTEM_ID}.json").unlink()
    assert errors(check(tree), "system.present")


def test_system_fields_and_values(run_tree, copy_of, check):
    tree = copy_of(run_tree)
    edit_json(tree / "systems" / f"{SYSTEM_ID}.json",
              lambda d: (d.pop("host_storage_type"), d.update(status="released", framework="")))
    messages = " | ".join(f.message for f in errors(check(tree), "system.fields"))
    assert "'host_storage_type' is missing" in messages
    assert "'status' is 'released'" in messages and "'framework' needs a meaningful answer" in messages


def test_system_submitter_must_match_the_path(submission, copy_of, check):
    tree = copy_of(submission)
    edit_json(tree / SUB / "systems" / f"{SYSTEM_ID}.json", lambda d: d.update(submitter="Other", division="open"))
    assert {f.message.split()[0] for f in errors(check(tree), "system.matches_path")} == {"submitter", "division"}


# ---------------------------------------------------------------- training rules

REFERENCE = TrainingInfo("4.0.0", runs=5, reference=(34, 34, 35, 35, 35, 35, 35, 35, 35, 35, 35, 36, 36, 36, 37))


def test_clean_training_tree_passes_the_official_checkers(training_tree):
    report = check_tree(training_tree, training_info=lambda b: REFERENCE)
    assert report.exit_code == 0, report.format_text()


def test_the_official_rcp_checker_judges_benchmarks_without_a_podium_reference(training_tree):
    pytest.importorskip("mlperf_logging")
    report = check_tree(training_tree, rules=["training.convergence"])   # scripted ResNet-50: official RCPs
    assert report.exit_code == 0, report.format_text()


def test_a_missing_run(training_tree, copy_of, check):
    tree = copy_of(training_tree)
    (tree / "results" / SYSTEM_ID / "resnet" / "result_4.txt").unlink()
    assert any("4 result files, 5 required" in f.message for f in errors(check(tree), "training.run_count"))


def test_logs_failing_the_compliance_checker(training_tree, copy_of):
    tree = copy_of(training_tree)
    logs = sorted((tree / "results" / SYSTEM_ID / "resnet").glob("result_*.txt"))
    for log in logs[:2]:
        log.write_text("".join(line for line in log.read_text().splitlines(keepends=True)
                               if '"submission_division"' not in line))
    report = check_tree(tree, rules=["training.compliance"], training_info=lambda b: REFERENCE)
    assert len(errors(report, "training.compliance")) == 2


def test_repeated_seeds(training_tree, copy_of, check):
    tree = copy_of(training_tree)
    logs = sorted((tree / "results" / SYSTEM_ID / "resnet").glob("result_*.txt"))
    edit(logs[1], '"key": "seed", "value": 12', '"key": "seed", "value": 11')
    assert any("seed 11 is used by 2 runs" in f.message for f in errors(check(tree), "training.unique_seeds"))


def test_converging_faster_than_the_reference_allows(training_tree):
    slow_reference = TrainingInfo("4.0.0", runs=5, reference=(60.0,) * 10 + (61.0,) * 5)
    report = check_tree(training_tree, official_tools=False, training_info=lambda b: slow_reference)
    assert any("converged too fast" in f.message for f in errors(report, "training.convergence"))


def test_a_log_naming_another_benchmark(training_tree, copy_of, check):
    tree = copy_of(training_tree)
    edit(tree / "results" / SYSTEM_ID / "resnet" / "result_0.txt", '"value": "resnet"', '"value": "bert"')
    assert any("submission_benchmark is 'bert'" in f.message for f in errors(check(tree), "training.log_identity"))


# ---------------------------------------------------------------- the real registry

def test_the_real_tiny_round_asks_for_longer_runs(run_tree):
    pytest.importorskip("podium.benchmarks")
    report = check_tree(run_tree, official_tools=False)   # tiny-v1: 1 s per scenario, 662 MultiStream queries
    scenarios = {Path(f.path).parts[3] for f in errors(report, "inference.min_duration")}
    assert scenarios == {"SingleStream", "MultiStream", "Server", "Offline"}
    assert any("requires 662" in f.message for f in errors(report, "inference.min_queries"))
    for rule_id in ("inference.seeds", "inference.sample_counts", "inference.scenarios", "tree.round"):
        assert not errors(report, rule_id), rule_id
