"""Faults injected into the results tools (`podium results`, `podium report`, `podium submission build`,
`podium check`): corrupt and missing trees, staging and partial folders beside results, 0600 source files, a
read-only destination, a full disk, an organization the logs contradict.

Every fault is real: files truncated or overwritten on disk, a tmpfs mounted read-only or 256 KiB small (root
only; the tests skip elsewhere), real training logs naming another organization.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from podium.cli import main
from podium.core.errors import ConfigError
from podium.loadgen import Scenario
from podium.results import tables
from podium.results.submission import build_submission
from tests.results.conftest import complete_calibration
from tests.results.fixtures import resolve_round
from tests.results.report_fixtures import inference_tree, suite_tree

RUNNER = {"kind": "pool", "batch_size": 1, "instances": 1}
UMASK = os.umask(0o022)
os.umask(UMASK)
FILE_MODE, DIR_MODE = 0o666 & ~UMASK, 0o777 & ~UMASK   # what a plain open() and mkdir() give
STAGING_PREFIX = ".podium-build-"   # podium.results.submission's staging folders


@pytest.fixture(scope="module")
def good_tree(tmp_path_factory) -> Path:
    """A `podium run` output (two scenarios, training) that every test leaves as it is."""
    return suite_tree(tmp_path_factory.mktemp("good") / "out", "cpu-a", runner=RUNNER,
                      scenarios=[Scenario.SINGLE_STREAM, Scenario.OFFLINE])


def _bad_tree(root: Path, fault: str) -> tuple[Path, Path]:
    """A second tree, `cpu-b`, with `fault` injected; returns (the tree, the path the error must name)."""
    tree = suite_tree(root / "bad", "cpu-b", runner=RUNNER, scenarios=[Scenario.OFFLINE])
    perf = tree / "inference" / "results" / "cpu-b" / "digits" / "Offline" / "performance" / "run_1"
    if fault == "truncated podium_run.json":
        path = perf / "podium_run.json"
        path.write_bytes(path.read_bytes()[:57])
    elif fault == "garbage detail log":
        path = perf / "mlperf_log_detail.txt"
        path.write_bytes(b"\x00\xff garbage, not a LoadGen log\n")
    elif fault == "campaign.json not JSON":
        path = tree / "training" / "podium" / "cpu-b" / "digits" / "campaign.json"
        path.write_text('{"schema_version": 1, "score": {"minutes": ')
    else:  # a folder that does not exist
        shutil.rmtree(tree)
        path = tree
    return tree, path


FAULTS = ("truncated podium_run.json", "garbage detail log", "campaign.json not JSON", "missing folder")


@pytest.mark.parametrize("fault", FAULTS)
def test_results_with_one_corrupt_tree_names_it_and_shows_the_rest(good_tree, tmp_path, capsys, fault):
    """Fault: one of two trees is corrupt (or missing); the other's rows are shown, the bad one named, exit 1."""
    bad, path = _bad_tree(tmp_path, fault)
    code = main(["results", str(good_tree), str(bad), "--csv", str(tmp_path / "t.csv")])
    out, err = capsys.readouterr()
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"podium: cannot read {path}: "), err
    assert "cpu-a/onnxruntime" in out and "SingleStream" in out and "cpu-a/training" in out
    missing = "cpu-b/training" if fault == "campaign.json not JSON" else "cpu-b/onnxruntime"
    assert "cpu-a/onnxruntime" in (tmp_path / "t.csv").read_text() and missing not in (tmp_path / "t.csv").read_text()


@pytest.mark.parametrize("fault", FAULTS)
def test_report_with_one_corrupt_tree_names_it_and_shows_the_rest(good_tree, tmp_path, capsys, fault):
    """Fault: one of two trees is corrupt (or missing); the report shows the other and lists the bad one."""
    bad, path = _bad_tree(tmp_path, fault)
    code = main(["report", str(good_tree), str(bad), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 1 and f"podium: cannot read {path}: " in err, err
    html = (tmp_path / "r.html").read_text()
    assert "cpu-a/onnxruntime" in html and 'id="unreadable"' in html and str(path) in html


def test_a_record_of_the_wrong_shape_is_named_not_a_traceback(good_tree, tmp_path, capsys):
    """Fault: podium_run.json is valid JSON of the wrong shape (a string where the result table belongs)."""
    bad = inference_tree(tmp_path / "odd", "cpu-b", runner=RUNNER, scenarios=[Scenario.OFFLINE])
    record = bad / "results" / "cpu-b" / "digits" / "Offline" / "performance" / "run_1" / "podium_run.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "result": "fast", "backend": "ort"}))
    assert main(["results", str(good_tree), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"cannot read {record.parent}: unexpected content" in err


def test_only_corrupt_trees_is_one_line_error_exit_2(tmp_path, capsys):
    """Fault: every tree given is missing; nothing to show: one line naming each, exit 2."""
    assert main(["results", str(tmp_path / "gone"), str(tmp_path / "also-gone")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{tmp_path / 'gone'}: no such directory" in err and f"{tmp_path / 'also-gone'}: no such directory" in err


def test_non_finite_numbers_are_no_result(tmp_path):
    """Fault: a detail log whose result is NaN and a campaign whose score is Infinity; the JSON table stays
    strict JSON and the rows say why they are INVALID."""
    tree = suite_tree(tmp_path / "nan", "cpu-a", runner=RUNNER, scenarios=[Scenario.OFFLINE])
    detail = tree / "inference" / "results" / "cpu-a" / "digits" / "Offline" / "performance" / "run_1" / \
        "mlperf_log_detail.txt"
    lines = [line.replace(line.split('"value": ')[1].split(",")[0], "NaN")
             if '"key": "result_samples_per_second"' in line else line for line in detail.read_text().splitlines()]
    detail.write_text("\n".join(lines) + "\n")
    campaign = tree / "training" / "podium" / "cpu-a" / "digits" / "campaign.json"
    campaign.write_text(campaign.read_text().replace('"minutes": ', '"minutes": Infinity, "was": ', 1))
    results = tables.load([tree])
    assert all(not row.valid and row.value is None for row in results.rows), [r.reasons for r in results.rows]
    tables.write_tables(results, [], json_path=tmp_path / "t.json")
    json.loads((tmp_path / "t.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


# ---- staging and partial folders (`.podium/`) beside results


def _with_partial_copy(tree: Path) -> Path:
    """A `.podium/partial/<run id>/` copy of the tree's inference and training results, as a failed run
    leaves it, and a killed run's staging folder."""
    for kind in ("inference", "training"):
        shutil.copytree(tree / kind / "results", tree / kind / ".podium" / "partial" / "20260101T000000Z-1-000001"
                        / "results")
        shutil.copytree(tree / kind / "results", tree / kind / ".podium" / "staging" / "x" / "new" / "results")
    shutil.copytree(tree / "inference", tree / ".podium" / "partial" / "20260101T000000Z-2-000002" / "inference",
                    ignore=shutil.ignore_patterns(".podium"))
    return tree


def test_partial_and_staged_copies_are_not_read_as_results(good_tree, tmp_path):
    """Fault: a failed run's files under .podium/partial/ and a killed run's under .podium/staging/; the tree
    reads as the one run it holds."""
    tree = _with_partial_copy(shutil.copytree(good_tree, tmp_path / "out"))
    clean = tables.load([good_tree])
    results = tables.load([tree])
    assert len(results.rows) == len(clean.rows) == 3 and not results.unreadable
    assert [r.label for r in results.rows] == [r.label for r in clean.rows]   # no "@<tree>" duplicates
    assert not any(".podium" in str(r.location) for r in results.rows)


def test_submission_and_check_ignore_dot_folders(run_tree, tmp_path, check, monkeypatch):
    """Fault: a run's .podium/partial/ copy beside its results, and a killed build's staging folder beside a
    package; the build packs one run, the checker checks one package."""
    tree = shutil.copytree(run_tree, tmp_path / "run")
    shutil.copytree(tree / "results", tree / ".podium" / "partial" / "r1" / "results")
    build_submission([tree], tmp_path / "sub", "ACME", "closed")
    complete_calibration(tmp_path / "sub" / "closed" / "ACME")
    shutil.copytree(tmp_path / "sub" / "closed" / "ACME", tmp_path / "sub" / "closed" / ".ACME.building-1234")
    shutil.copytree(tmp_path / "sub" / "closed" / "ACME", tmp_path / "sub" / f"{STAGING_PREFIX}1234" / "0")
    report = check(tmp_path / "sub")
    assert [p.org for p in report.packages] == ["ACME"], report.format_text()
    assert report.exit_code == 0, report.format_text()


# ---- file modes


def _modes(folder: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)) for p in [folder, *folder.rglob("*")]}


def test_package_files_are_readable_by_others_whatever_the_source_modes(run_tree, training_tree, tmp_path):
    """Fault: the run's records, accuracy files and logs are 0600 (as the harness's temp-file writes left them);
    every file of the package gets FILE_MODE (0644 under umask 022) and every folder DIR_MODE."""
    runs = [shutil.copytree(run_tree, tmp_path / "run"), shutil.copytree(training_tree, tmp_path / "train")]
    for path in (p for run in runs for p in run.rglob("*") if p.is_file()):
        path.chmod(0o600)
    built = build_submission(runs, tmp_path / "sub", "Podium", "closed")
    for package in built.packages:
        assert _modes(package) == {("dir", DIR_MODE), ("file", FILE_MODE)}, package


def test_tables_report_and_system_files_get_one_mode(good_tree, tmp_path):
    """Fault: none injected beyond today's writers; every file the results tools write has FILE_MODE."""
    results = tables.load([good_tree])
    written = tables.write_tables(results, [], csv_path=tmp_path / "t.csv", md_path=tmp_path / "t.md",
                                  json_path=tmp_path / "t.json")
    assert main(["report", str(good_tree), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["system", "--id", "box", "--out", str(tmp_path)]) in (0, 1)
    for path in [*written, tmp_path / "r.html", tmp_path / "systems" / "box.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE, path
    assert not [p for p in tmp_path.rglob(".*")]   # no temp file left


# ---- a destination that cannot be written


def test_build_into_a_read_only_destination_is_one_line_exit_2(run_tree, readonly_dir, capsys):
    """Fault: --out on a read-only file system (a tmpfs mounted ro); one line naming the path, exit 2."""
    out = readonly_dir / "sub"
    code = main(["submission", "build", str(run_tree), "--org", "ACME", "--division", "closed", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert err == f"podium: error: cannot create the folder {out}: read-only file system"


def _fill(disk: Path, leave_bytes: int) -> None:
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_bytes))


def test_build_on_a_full_disk_leaves_no_package(run_tree, training_tree, small_disk, capsys):
    """Fault: the disk fills up in the middle of the build (a 256 KiB tmpfs, 48 KiB free); one line naming the
    file as the package would hold it, exit 2, no package under its final name and no staging folder left."""
    _fill(small_disk, 48 * 1024)
    out = small_disk / "sub"
    code = main(["submission", "build", str(run_tree), str(training_tree), "--org", "Podium", "--division",
                 "closed", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"podium: error: cannot write {out}/") and err.endswith("no space left on the device")
    assert STAGING_PREFIX not in err   # the path as the package would have it
    assert not [p for p in out.rglob("Podium")]
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_report_on_a_full_disk_keeps_the_previous_report(good_tree, small_disk, capsys):
    """Fault: the disk is full when report.html is rewritten; the previous report stays whole, no temp file is
    left, one line naming the path, exit 2."""
    report = small_disk / "report.html"
    report.write_text("<html>previous</html>\n")
    _fill(small_disk, 4 * 1024)
    code = main(["report", str(good_tree), "-o", str(report)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"podium: error: cannot write {report}: no space left on the device", err
    assert report.read_text() == "<html>previous</html>\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "report.html"]


# ---- the organization


def test_an_org_the_training_logs_contradict_is_refused(training_tree, tmp_path, capsys, monkeypatch):
    """Fault: `submission build --org ACME` of runs whose training logs say submission_org 'Podium' (what made
    `podium check` exit 1); refused in one line, nothing built. Without --org the logged org is used and the
    package checks clean."""
    out = tmp_path / "sub"
    args = ["submission", "build", str(training_tree), "--division", "closed", "--out", str(out)]
    assert main([*args, "--org", "ACME"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--org 'ACME', but the training logs say submission_org 'Podium'" in err
    assert "rerun with --org ACME" in err and "build with --org Podium" in err and not out.exists()
    assert main(args) == 0
    assert f"built {out / 'closed' / 'Podium'}" in capsys.readouterr().out
    monkeypatch.setattr("podium.results.checker.rounds.resolve_round", resolve_round)
    assert main(["check", str(out), "--no-official"]) == 0


def test_an_org_unsafe_as_a_folder_name_is_refused(run_tree, tmp_path):
    """Fault: --org that is not one folder name ("../x"); refused before anything is written."""
    for org in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(ConfigError, match="organization"):
            build_submission([run_tree], tmp_path / "sub", org, "closed")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "sub").exists()

