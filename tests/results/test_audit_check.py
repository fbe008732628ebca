"""Audits in submission packages and under `podium check`: the official layout, Podium's records out of the
checker's file lists, tampering found, a closed package without its audits or calibration refused, and the
system type the round allows (ResNet-50 is edge-only from v5.1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from podium.core.errors import ConfigError
from podium.results import system as sysdesc
from podium.results.checker import Severity, check_tree
from podium.results.layout import scan
from podium.results.submission import build_submission
from tests.inference.test_audit import SYSTEM, audited_run
from tests.results.conftest import complete_calibration

RESULT = Path("results") / SYSTEM / "resnet" / "SingleStream"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audit-check")
    audited_run(root)
    return root / "out"


@pytest.fixture(scope="module")
def package(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit-package") / "sub"
    result = build_submission([run_dir], out, "ACME", "closed", allow_invalid=True)
    assert any("system_type 'edge', not the description's 'datacenter'" in n for n in result.notes)
    return out / "closed" / "ACME"


@pytest.fixture(scope="module")
def package_v51(tmp_path_factory) -> Path:
    """A closed package of round v5.1, whose checker reads audits under compliance/."""
    root = tmp_path_factory.mktemp("audit-v51")
    audited_run(root, round_name="v5.1")
    build_submission([root / "out"], root / "sub", "ACME", "closed", allow_invalid=True)
    return root / "sub" / "closed" / "ACME"


def compliance_errors(tree: Path) -> set[str]:
    report = check_tree(tree, official_tools=False, rules=["inference.compliance"])
    return {f"{Path(f.path).name}: {f.message}" for p in report.packages for f in p.findings
            if f.severity is Severity.ERROR}


def test_the_package_holds_the_official_files_and_podium_s_records_apart(package) -> None:
    scenario = package / RESULT
    files = {str(p.relative_to(scenario)) for p in scenario.rglob("*") if p.is_file()}
    assert {f for f in files if f.startswith("TEST")} == {
        "TEST01/audit.config", "TEST01/verify_accuracy.txt", "TEST01/verify_performance.txt",
        "TEST01/accuracy/accuracy.txt", "TEST01/accuracy/mlperf_log_accuracy.json",
        "TEST01/performance/run_1/mlperf_log_detail.txt", "TEST01/performance/run_1/mlperf_log_summary.txt",
        "TEST04/audit.config", "TEST04/verify_performance.txt", "TEST04/performance/run_1/mlperf_log_detail.txt",
        "TEST04/performance/run_1/mlperf_log_summary.txt"}
    assert not [f for f in files if Path(f).name in ("podium_run.json", "accuracy.json")]
    records = package / "podium" / SYSTEM / "resnet" / "SingleStream"
    for rel in ("performance/run_1/podium_run.json", "accuracy/podium_run.json", "accuracy/accuracy.json",
                "TEST01/performance/run_1/podium_run.json", "TEST04/performance/run_1/podium_run.json"):
        assert (records / rel).is_file(), rel
    assert any(line.startswith("hash=") for line in (scenario / "TEST01/accuracy/accuracy.txt").read_text().split())
    desc = json.loads((package / "systems" / f"{SYSTEM}.json").read_text())
    assert desc["system_type"] == "edge" and "host_processor_vcpu_count" not in desc
    assert (package / "calibration.md").is_file()


def test_podium_s_readers_find_the_records_under_podium(package) -> None:
    (run,) = scan(package).inference
    assert run.record.get("round") == "v6.0" and run.accuracy is not None
    report = check_tree(package.parent.parent, official_tools=False)
    assert report.packages[0].round_name == "v6.0"   # recorded in podium/.../podium_run.json


def test_a_clean_audit_has_no_compliance_errors(run_dir, package) -> None:
    """Whether the short runs' scores are within the tolerances is timing (a report saying TEST FAIL is then an
    error too); nothing else may be found."""
    for tree in (run_dir, package):
        assert {e for e in compliance_errors(tree) if not e.endswith("does not say TEST PASS")} == set()


def test_before_v6_the_audits_go_to_the_compliance_tree(package_v51, tmp_path) -> None:
    """Before v6.0 the official checker reads a package's audits in compliance/<system>/<benchmark>/<scenario>/
    (its COMPLIANCE_PATH) and its user.conf, README.md and measurements file in measurements/<system>/...
    (MEASUREMENTS_PATH), not in the scenario folder: the build puts them there, `podium check` reads them
    there, and an audit left in the scenario folder is an error, as that round's checker would not find it."""
    audits = Path("compliance") / SYSTEM / "resnet" / "SingleStream"
    assert {p.name for p in (package_v51 / RESULT).iterdir()} == {"performance", "accuracy"}
    measured = package_v51 / "measurements" / SYSTEM / "resnet" / "SingleStream"
    assert {p.name for p in measured.iterdir()} == {"user.conf", "mlperf.conf", "README.md",
                                                    f"{SYSTEM}_podium_SingleStream.json"}
    assert f"(their folders in {audits}/)" in (measured / "README.md").read_text()
    report = check_tree(package_v51, official_tools=False, rules=["inference.required_files"])
    assert [f.message for p in report.packages for f in p.findings] == []
    assert {d.name for d in (package_v51 / audits).iterdir()} == {"TEST01", "TEST04"}
    assert (package_v51 / audits / "TEST01" / "accuracy" / "mlperf_log_accuracy.json").is_file()
    records = package_v51 / "podium" / SYSTEM / "resnet" / "SingleStream"
    assert (records / "TEST01" / "performance" / "run_1" / "podium_run.json").is_file()
    assert {e for e in compliance_errors(package_v51) if not e.endswith("does not say TEST PASS")} == set()

    copy = shutil.copytree(package_v51.parent.parent, tmp_path / "sub") / "closed" / "ACME"
    shutil.move(copy / audits / "TEST04", copy / RESULT / "TEST04")
    errors = compliance_errors(copy)
    assert f"TEST04: the round's checker does not read audits here: v5.1 keeps them in {copy / audits}" in errors
    assert "SingleStream: audit test TEST04 missing (the closed division requires it): podium audit TEST04 ..." \
        in errors


def tampered(package: Path, tmp_path: Path, edit) -> set[str]:
    copy = shutil.copytree(package.parent.parent, tmp_path / "sub") / "closed" / "ACME"
    edit(copy / RESULT)
    return compliance_errors(copy)


def test_an_edited_report_fails(package, tmp_path) -> None:
    def edit(scenario: Path) -> None:
        report = scenario / "TEST04" / "verify_performance.txt"
        lines = report.read_text().splitlines()
        report.write_text("\n".join(line.replace("test score = ", "test score = 1") for line in lines[:-1]) +
                          "\nTEST PASS\n")

    assert any("verify_performance.txt: does not match the logs" in e for e in tampered(package, tmp_path, edit))


def test_a_changed_log_fails(package, tmp_path) -> None:
    def edit(scenario: Path) -> None:
        detail = scenario / "TEST01" / "performance" / "run_1" / "mlperf_log_detail.txt"
        lines = [json.loads(line.removeprefix(":::MLLOG ")) for line in detail.read_text().splitlines()]
        for entry in lines:
            if entry["key"] == "early_stopping_latency_ss":
                entry["value"] = entry["value"] // 2
        detail.write_text("".join(f":::MLLOG {json.dumps(e)}\n" for e in lines))

    assert any("does not match the logs" in e for e in tampered(package, tmp_path, edit))


def test_the_result_s_own_run_is_no_audit(package, tmp_path) -> None:
    def edit(scenario: Path) -> None:
        for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
            shutil.copyfile(scenario / "performance" / "run_1" / name,
                            scenario / "TEST04" / "performance" / "run_1" / name)

    found = tampered(package, tmp_path, edit)
    assert any("effective_performance_issue_same is False; TEST04 runs with True" in e for e in found)
    assert any("is the result's own performance log" in e for e in found)


def test_a_closed_package_without_its_audits_or_calibration_fails(package, tmp_path) -> None:
    found = tampered(package, tmp_path, lambda scenario: shutil.rmtree(scenario / "TEST04"))
    assert any("audit test TEST04 missing" in e for e in found)
    report = check_tree(package.parent.parent, official_tools=False, rules=["system.calibration"])
    assert [f.message for f in report.packages[0].findings][0].startswith("still the template")
    copy = shutil.copytree(package.parent.parent, tmp_path / "done") / "closed" / "ACME"
    complete_calibration(copy)
    assert not check_tree(copy, official_tools=False, rules=["system.calibration"]).packages[0].findings


def test_a_system_type_without_required_scenarios_fails(package, run_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--system-type datacenter: resnet50 has no required scenarios"):
        build_submission([run_dir], tmp_path / "b", "ACME", "closed", system_type="datacenter", allow_invalid=True)
    copy = shutil.copytree(package.parent.parent, tmp_path / "sub") / "closed" / "ACME"
    desc_path = copy / "systems" / f"{SYSTEM}.json"
    sysdesc.write(desc_path, dict(json.loads(desc_path.read_text()), system_type="datacenter"))
    report = check_tree(copy, official_tools=False, rules=["inference.scenarios"])
    assert [f.message for f in report.packages[0].findings if f.severity is Severity.ERROR] == \
        ["resnet50 has no required scenarios for system_type 'datacenter' in round v6.0: not a benchmark of that "
         "category"]


def test_an_audit_of_another_model_fails(package, tmp_path) -> None:
    def edit(scenario: Path) -> None:
        record = scenario.parents[3] / "podium" / SYSTEM / "resnet" / "SingleStream" / "TEST01" / "performance" / \
            "run_1" / "podium_run.json"
        data = json.loads(record.read_text())
        data["model"]["sha256"] = "f" * 64
        record.write_text(json.dumps(data))

    assert any("the audit ran model sha256 ffff" in e for e in tampered(package, tmp_path, edit))


def test_a_build_refuses_audits_not_valid_for_submission(run_dir, tmp_path) -> None:
    from podium.results.layout import contents
    from podium.results.submission import inference_problems

    run_dir = shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns(".podium*"))
    (result,) = contents(run_dir)[0]
    problems = list(inference_problems(result))
    assert f"{result.path / 'TEST04' / 'performance' / 'run_1'}: a short run (podium --short)" in problems
    report = result.path / "TEST04" / "verify_performance.txt"
    report.write_text(report.read_text().replace("TEST PASS", "TEST FAIL: Test score invalid"))
    assert f"{report}: the audit did not pass" in list(inference_problems(result))
    with pytest.raises(ConfigError, match="not valid for submission"):
        build_submission([run_dir], tmp_path / "b", "ACME", "closed")
