"""`podium submission build`: the MLPerf layouts, truncated accuracy logs with verifiable hashes, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from podium.cli import main
from podium.core.errors import ConfigError
from podium.results.submission import (ELISION, MAX_ACCURACY_LOG_BYTES, VIEWABLE_BYTES, build_submission,
                                       truncate_accuracy_log, truncated)
from tests.results.conftest import complete_calibration
from tests.results.fixtures import SYSTEM_ID, resolve_round

PKG = Path("closed") / "ACME"
OFFLINE = Path("results") / SYSTEM_ID / "digits" / "Offline"


def test_inference_layout(submission):
    pkg = submission / PKG
    assert sorted(p.name for p in (pkg / "results" / SYSTEM_ID / "digits").iterdir()) == \
        ["MultiStream", "Offline", "Server", "SingleStream"]
    scenario = pkg / OFFLINE
    for rel in ("performance/run_1/mlperf_log_detail.txt", "performance/run_1/mlperf_log_summary.txt",
                "accuracy/mlperf_log_detail.txt", "accuracy/mlperf_log_summary.txt", "accuracy/accuracy.txt",
                "accuracy/mlperf_log_accuracy.json", "user.conf", "measurements.json", "README.md"):
        assert (scenario / rel).is_file(), rel
    assert not list(scenario.rglob("mlperf_log_trace.json"))
    # the official checker's file lists: Podium's records are under podium/, not in the result folders
    assert {p.name for p in (scenario / "performance" / "run_1").iterdir()} - {"mlperf_log_accuracy.json"} == \
        {"mlperf_log_detail.txt", "mlperf_log_summary.txt"}   # its (empty) accuracy log is optional there
    assert sorted(p.name for p in (scenario / "accuracy").iterdir()) == \
        ["accuracy.txt", "mlperf_log_accuracy.json", "mlperf_log_detail.txt", "mlperf_log_summary.txt"]
    records = pkg / "podium" / SYSTEM_ID / "digits" / "Offline"
    assert (records / "accuracy" / "accuracy.json").is_file() and (records / "accuracy" / "podium_run.json").is_file()
    assert (records / "performance" / "run_1" / "podium_run.json").is_file()
    assert (pkg / "calibration.md").is_file()   # closed division: the template
    assert (pkg / "src" / "digits" / "README.md").is_file()   # src/ from v6.0 on (checker SRC_PATH)
    desc = json.loads((pkg / "systems" / f"{SYSTEM_ID}.json").read_text())
    assert desc["submitter"] == "ACME" and desc["division"] == "closed"


def test_published_run_records_hold_no_local_paths(run_tree, submission):
    records = sorted((submission / PKG).rglob("podium_run.json"))
    assert len(records) == 8
    for path in records:
        assert "/home/someone" not in path.read_text(), path
        record = json.loads(path.read_text())
        # kept out of the official result folders, at the same place under podium/
        source = json.loads((run_tree / "results" / path.relative_to(submission / PKG / "podium")).read_text())
        assert record["model"] == {"path": "digits.onnx", "sha256": "0" * 64}
        assert record["dataset"]["cache_path"] == "abc" and record["dataset"]["path"] is None
        source["model"]["path"], source["dataset"]["cache_path"] = "digits.onnx", "abc"
        assert record == source   # nothing else changed


def test_accuracy_log_hash_is_the_sha256_of_the_whole_log(run_tree, submission):
    original = (run_tree / OFFLINE / "accuracy" / "mlperf_log_accuracy.json").read_bytes()
    assert len(original) > MAX_ACCURACY_LOG_BYTES
    acc = submission / PKG / OFFLINE / "accuracy"
    lines = (acc / "accuracy.txt").read_text().splitlines()
    assert lines[0].startswith("accuracy=") and lines[-1] == f"hash={hashlib.sha256(original).hexdigest()}"
    cut = (acc / "mlperf_log_accuracy.json").read_bytes()
    assert len(cut) <= MAX_ACCURACY_LOG_BYTES
    assert cut == original[:VIEWABLE_BYTES] + ELISION + original[-VIEWABLE_BYTES:]


def test_truncation_keeps_short_logs_and_runs_once(tmp_path):
    assert truncated(b"[]\n") == b"[]\n"
    big = bytes(range(256)) * 100
    assert truncated(big) == big[:4096] + ELISION + big[-4096:]
    (tmp_path / "mlperf_log_accuracy.json").write_bytes(big)
    (tmp_path / "accuracy.txt").write_text("accuracy=1.000%, good=1, total=1\n")
    digest = truncate_accuracy_log(tmp_path)
    assert digest == hashlib.sha256(big).hexdigest()
    assert truncate_accuracy_log(tmp_path) is None   # a hash present and the log small: already done
    assert (tmp_path / "accuracy.txt").read_text().count("hash=") == 1


def test_a_short_run_is_refused_by_name(short_tree, tmp_path):
    with pytest.raises(ConfigError, match=r"Offline/performance/run_1: a short run"):
        build_submission([short_tree], tmp_path / "sub", "ACME", "closed")
    assert not (tmp_path / "sub" / "closed" / "ACME").exists()
    built = build_submission([short_tree], tmp_path / "sub", "ACME", "closed", allow_invalid=True)
    assert built.packages == (tmp_path / "sub" / "closed" / "ACME",)


def test_existing_packages_duplicates_and_non_runs_are_refused(run_tree, submission, tmp_path):
    with pytest.raises(ConfigError, match="already exists"):
        build_submission([run_tree], submission, "ACME", "closed")
    with pytest.raises(ConfigError, match="given twice"):
        build_submission([run_tree, run_tree], tmp_path / "sub", "ACME", "closed")
    with pytest.raises(ConfigError, match="not a Podium run directory"):
        build_submission([tmp_path], tmp_path / "sub", "ACME", "closed")
    with pytest.raises(ConfigError, match="system type"):
        build_submission([run_tree], tmp_path / "sub", "ACME", "closed", system_type="cloud")


def test_system_settings_are_applied(run_tree, tmp_path):
    build_submission([run_tree], tmp_path / "sub", "ACME", "open", system_type="edge", availability="preview")
    desc = json.loads((tmp_path / "sub" / "open" / "ACME" / "systems" / f"{SYSTEM_ID}.json").read_text())
    assert (desc["division"], desc["system_type"], desc["status"]) == ("open", "edge", "preview")


def test_training_and_inference_together(run_tree, training_tree, tmp_path, check):
    result = build_submission([run_tree, training_tree], tmp_path / "sub", "Podium", "closed")
    train = tmp_path / "sub" / "training" / "closed" / "Podium"
    assert result.packages == (tmp_path / "sub" / "inference" / "closed" / "Podium", train)
    assert sorted(p.name for p in (train / "results" / SYSTEM_ID / "resnet").iterdir()) == \
        [f"result_{i}.txt" for i in range(5)]
    assert (train / "benchmarks" / "resnet" / "implementations" / "podium" / "README.md").is_file()
    assert json.loads((train / "systems" / f"{SYSTEM_ID}.json").read_text())["status"] == "Available on-premise"
    complete_calibration(tmp_path / "sub" / "inference" / "closed" / "Podium")
    report = check(tmp_path / "sub")
    assert report.exit_code == 0, report.format_text()


def test_an_org_other_than_the_logs_is_refused_and_the_logged_one_is_the_default(training_tree, tmp_path):
    with pytest.raises(ConfigError, match=r"--org 'ACME', but the training logs say submission_org 'Podium'"):
        build_submission([training_tree], tmp_path / "sub", "ACME", "closed")
    assert not (tmp_path / "sub" / "closed").exists()
    result = build_submission([training_tree], tmp_path / "sub", None, "closed")
    assert result.packages == (tmp_path / "sub" / "closed" / "Podium",)
    assert "as the training logs say" in result.notes[0]


def test_cli_build_then_check(run_tree, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sub"
    assert main(["submission", "build", str(run_tree), "--org", "ACME", "--division", "closed",
                 "--out", str(out)]) == 0
    assert f"built {out / 'closed' / 'ACME'}" in capsys.readouterr().out
    monkeypatch.setattr("podium.results.checker.rounds.resolve_round", resolve_round)
    assert main(["check", str(out), "--no-official"]) == 2   # the calibration.md template is not completed
    assert "calibration.md: still the template" in capsys.readouterr().out
    complete_calibration(out / "closed" / "ACME")
    assert main(["check", str(out), "--no-official"]) == 0
    assert main(["submission", "build", str(run_tree), "--org", "ACME", "--division", "closed",
                 "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_benchmark_directories_take_the_checkers_names(run_tree, copy_of, tmp_path):
    pytest.importorskip("podium.benchmarks")
    tree = copy_of(run_tree)
    (tree / "results" / SYSTEM_ID / "digits").rename(tree / "results" / SYSTEM_ID / "resnet50")
    for record in tree.rglob("podium_run.json"):
        data = json.loads(record.read_text())
        record.write_text(json.dumps(data | {"round": "v6.1", "benchmark": "resnet50"}))
    build_submission([tree], tmp_path / "sub", "ACME", "closed")
    assert (tmp_path / "sub" / PKG / "results" / SYSTEM_ID / "resnet" / "Offline").is_dir()
    from podium.results.checker import check_tree

    report = check_tree(tmp_path / "sub", rules=["inference.run_record"], official_tools=False)
    assert report.exit_code == 0, report.format_text()


def test_training_package_passes_the_official_package_checker(training_tree, tmp_path):
    pytest.importorskip("mlperf_logging")
    from podium.training.compliance import check_package

    build_submission([training_tree], tmp_path / "sub", "Podium", "closed")
    verdict = check_package(tmp_path / "sub" / "closed" / "Podium", "4.0.0")
    assert verdict.passed, verdict.messages


def test_public_api_is_sorted_and_importable():
    import podium.results
    import podium.results.checker

    for module in (podium.results, podium.results.checker):
        assert list(module.__all__) == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)


def _set_convergence(root: Path, **verdict) -> None:
    path = root / "podium" / "cpu-a" / "digits" / "campaign.json"
    campaign = json.loads(path.read_text())
    campaign["convergence"] = {"message": "m", **verdict}
    path.write_text(json.dumps(campaign))


def test_rcp_scaling_is_written_and_a_failed_convergence_refused(tmp_path):
    from tests.results.report_fixtures import training_tree

    root = training_tree(tmp_path / "t")
    _set_convergence(root, passed=True, scaling_factor=1.25)
    build_submission([root], tmp_path / "a", "ACME", "closed")
    scaling = tmp_path / "a" / "closed" / "ACME" / "results" / "cpu-a" / "digits" / "scaling.json"
    assert json.loads(scaling.read_text()) == {"scaling_factor": 1.25}
    _set_convergence(root, passed=True, scaling_factor=1.0)
    build_submission([root], tmp_path / "b", "ACME", "closed")
    assert not (tmp_path / "b" / "closed" / "ACME" / "results" / "cpu-a" / "digits" / "scaling.json").exists()
    _set_convergence(root, passed=False, scaling_factor=1.4, message="converged too fast: mean 3 < minimum 3.2")
    with pytest.raises(ConfigError, match=r"digits: convergence check failed \(converged too fast"):
        build_submission([root], tmp_path / "c", "ACME", "closed")
