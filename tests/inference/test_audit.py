"""The compliance audits (TEST01, TEST04) run for real: a small ResNet-50-shaped ONNX graph on generated ImageNet
data, short settings, Podium's engine; the reports are checked against the logs, never for a timing verdict."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.inference.audit import run_audit, run_audits
from podium.inference.harness import InferenceSpec, run_inference
from podium.loadgen.logparse import read_accuracy, read_detail
from podium.loadgen.settings import Mode, Scenario
from podium.results.checker import compliance

SYSTEM = "testbox"
IMAGES = 8


def tiny_resnet50(path: Path) -> Path:
    """A graph with ResNet-50's input and a 1000-class output: global average pooling, then a seeded 3x1000
    matrix; its class ids do not depend on the batch it runs in."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, 1000)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["output"])],
        "tiny_resnet50",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1000])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def audited_run(root: Path, scenarios: tuple[Scenario, ...] = (Scenario.SINGLE_STREAM,), round_name: str = "v6.0") \
        -> dict[Scenario, InferenceSpec]:
    """resnet50 (round v6.0 by default) in `root`/out: each scenario's performance and accuracy runs, then its
    audits (SingleStream by default: its short runs last their minimum duration, so that their results are
    VALID)."""
    from podium.datasets.imagenet import generate

    model, data = tiny_resnet50(root / "tiny.onnx"), generate(root / "imagenet", IMAGES)
    specs = {}
    for scenario in scenarios:
        spec = InferenceSpec(benchmark="resnet50", scenario=scenario, model_path=model, mode=Mode.SUBMISSION,
                             round=round_name, dataset_path=data, short=True, target_qps=2000.0, out=root / "out",
                             system_id=SYSTEM, cache_dir=root / "cache", progress=False)
        run_inference(spec)
        run_audits(spec)
        specs[scenario] = spec
    return specs


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> tuple[Path, InferenceSpec]:
    root = tmp_path_factory.mktemp("audited")
    return root / "out" / "results" / SYSTEM / "resnet50" / "SingleStream", audited_run(root)[Scenario.SINGLE_STREAM]


def test_the_round_s_audits_write_the_official_compliance_folders(audited) -> None:
    scenario, _ = audited
    files = {str(p.relative_to(scenario)) for p in scenario.rglob("*") if p.is_file() and "TEST" in str(p)}
    assert files == {
        "TEST01/audit.config", "TEST01/verify_accuracy.txt", "TEST01/verify_performance.txt",
        "TEST01/accuracy/accuracy.txt", "TEST01/accuracy/mlperf_log_accuracy.json",
        "TEST01/performance/run_1/mlperf_log_detail.txt", "TEST01/performance/run_1/mlperf_log_summary.txt",
        "TEST01/performance/run_1/podium_run.json",
        "TEST04/audit.config", "TEST04/verify_performance.txt", "TEST04/performance/run_1/mlperf_log_detail.txt",
        "TEST04/performance/run_1/mlperf_log_summary.txt", "TEST04/performance/run_1/podium_run.json"}
    assert (scenario / "TEST01" / "audit.config").read_text() == compliance.audit_config("TEST01", "resnet50")
    assert "*.SingleStream.performance_issue_same = 1" in (scenario / "TEST04" / "audit.config").read_text()
    assert not list(scenario.parents[4].glob(".podium/audits/*"))   # the scratch runs are gone


def test_each_audit_ran_with_its_settings_and_its_report_is_the_logs(audited) -> None:
    scenario, _ = audited
    reference = read_detail(scenario / "performance" / "run_1" / "mlperf_log_detail.txt")
    for test in ("TEST01", "TEST04"):
        run = scenario / test / "performance" / "run_1" / "mlperf_log_detail.txt"
        log = read_detail(run)
        for key, value in compliance.expected_settings(test, "resnet50").items():
            assert log.get(key) == value, (test, key)
        report = compliance.verify_performance(test, reference, log,   # paths as the package has them
                                               reference_path="performance/run_1/mlperf_log_detail.txt",
                                               audit_path=f"{test}/performance/run_1/mlperf_log_detail.txt")
        assert (scenario / test / "verify_performance.txt").read_text() == report.text
        if report.passed:
            assert report.lines[-1] == "TEST PASS"


def test_test01_compares_the_logged_responses_with_the_accuracy_run(audited) -> None:
    scenario, _ = audited
    logged = read_accuracy(scenario / "TEST01" / "accuracy" / "mlperf_log_accuracy.json")
    reference = read_accuracy(scenario / "accuracy" / "mlperf_log_accuracy.json")
    assert len(logged) > 0 and {e["qsl_idx"] for e in logged} <= {e["qsl_idx"] for e in reference}
    text = (scenario / "TEST01" / "verify_accuracy.txt").read_text()
    assert f"num_perf_log_entries = {len(logged)}" in text and "num_perf_log_data_mismatch = 0" in text
    assert "TEST PASS" in text   # the same graph answers the same class for the same image
    assert (scenario / "TEST01" / "accuracy" / "accuracy.txt").read_text().startswith("accuracy=")
    assert not (scenario / "TEST01" / "accuracy" / "baseline_accuracy.txt").exists()


def test_responses_that_differ_are_scored_on_the_same_samples(audited, tmp_path) -> None:
    """A SUT whose answers changed between the accuracy run and the audit (here: the accuracy run's log edited):
    TEST FAIL in verify_accuracy.txt, and both runs' accuracy over the audited samples written beside."""
    import shutil

    scenario, spec = audited
    out = tmp_path / "out"
    shutil.copytree(spec.out, out, ignore=shutil.ignore_patterns(".podium*"))
    copy = out / scenario.relative_to(spec.out)
    log = copy / "accuracy" / "mlperf_log_accuracy.json"
    entries = json.loads(log.read_text())
    for entry in entries:   # every class id moved by one: float32 little-endian
        value = np.frombuffer(bytes.fromhex(entry["data"]), np.float32)[0]
        entry["data"] = np.float32((value + 1) % 1000).tobytes().hex().upper()
    log.write_text(json.dumps(entries))
    result = run_audit(dataclasses.replace(spec, out=out), "TEST01")
    text = (copy / "TEST01" / "verify_accuracy.txt").read_text()
    assert "TEST FAIL" in text and "num_perf_log_data_mismatch = 0" not in text
    for name in ("baseline_accuracy.txt", "compliance_accuracy.txt"):
        assert (copy / "TEST01" / "accuracy" / name).read_text().startswith("accuracy=")
    assert result.accuracy_passed is not None


def test_test05_runs_with_the_round_s_alternative_seeds(audited, tmp_path) -> None:
    """TEST05 (rounds before v5.0): the seeds its audit.config names are the ones the audit's run used (its detail
    log's effective seeds), not the round's regular ones, and its report compares it with the regular run."""
    import shutil

    scenario, spec = audited
    out = tmp_path / "out"
    shutil.copytree(spec.out, out, ignore=shutil.ignore_patterns(".podium*"))
    result = run_audit(dataclasses.replace(spec, out=out, round="v3.1"), "TEST05")
    folder = out / scenario.relative_to(spec.out) / "TEST05"
    config = (folder / "audit.config").read_text()
    assert "*.*.test05 = 1" in config
    detail = read_detail(folder / "performance" / "run_1" / "mlperf_log_detail.txt")
    seeds = {line.split(" = ")[0].removeprefix("*.*.test05_"): int(line.split(" = ")[1])
             for line in config.splitlines() if line.startswith("*.*.test05_")}
    assert seeds and all(detail[f"effective_{name}"] == value for name, value in seeds.items())  # LoadGen's logging
    assert detail["effective_qsl_rng_seed"] != read_detail(scenario / "performance" / "run_1" /
                                                            "mlperf_log_detail.txt")["effective_qsl_rng_seed"]
    assert "TEST " in (folder / "verify_performance.txt").read_text() and result.notes == ()


def test_audits_that_cannot_run_say_why_before_running(audited, tmp_path) -> None:
    _, spec = audited
    with pytest.raises(ConfigError, match="TEST05 is not an audit of resnet50 in round v6.0"):
        run_audit(spec, "TEST05")
    with pytest.raises(ConfigError, match="unknown audit"):
        run_audit(spec, "TEST99")
    fresh = dataclasses.replace(spec, out=tmp_path / "empty")
    with pytest.raises(ConfigError, match="compares with the performance run"):
        run_audit(fresh, "TEST04")


def test_podium_audit_on_the_command_line(audited, capsys) -> None:
    from podium.cli import main

    _, spec = audited
    options = ["resnet50", "--scenario", "SingleStream", "--round", "v6.0", "--model", str(spec.model_path),
               "--dataset-path", str(spec.dataset_path), "--short", "--out", str(spec.out), "--system", SYSTEM,
               "--cache-dir", str(spec.cache_dir), "--no-progress"]
    code = main(["audit", "test04", *options])   # the test's name in any case
    line = capsys.readouterr().out.strip()
    assert line.startswith("TEST04: performance ") and code == (0 if "PASS" in line else 1)
    assert main(["audit", "TEST05", *options]) == 2
    assert "TEST05 is not an audit of resnet50 in round v6.0" in capsys.readouterr().err
