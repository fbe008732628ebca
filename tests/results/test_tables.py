"""Summary tables: rows equal what the logs say, normalization, CSV/MD/JSON, comparisons, selection, the CLI."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from podium.cli import main
from podium.core.errors import ConfigError
from podium.loadgen import Scenario
from podium.loadgen.logparse import read_detail
from podium.results import tables
from podium.results.comparison import Side, compare, default_comparisons, select
from podium.results.tables import Better, Kind, Row
from tests.results.report_fixtures import inference_tree, quick_settings, suite_tree, system_json, training_tree

# What the submission checker reads per scenario (constants.py RESULT_FIELD_NEW) and how it scales it.
CHECKER_FIELD = {"Offline": ("result_samples_per_second", 1.0, "Samples/s"),
                 "Server": ("result_completed_samples_per_sec", 1.0, "Queries/s"),
                 "SingleStream": ("early_stopping_latency_ss", 1e6, "Latency (ms)"),
                 "MultiStream": ("early_stopping_latency_ms", 1e6, "Latency (ms)")}
CPU_RUNNER = {"kind": "pool", "batch_size": 1, "instances": 1}
GPU_RUNNER = {"kind": "pool", "batch_size": 8, "instances": 2}


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """a: cpu-a (2 sockets, no accelerator) with training; b: gpu-b (2 accelerators), other batch size."""
    base = tmp_path_factory.mktemp("tables")
    return {
        "a": suite_tree(base / "a", "cpu-a", runner=CPU_RUNNER),
        "b": suite_tree(base / "b", "gpu-b", runner=GPU_RUNNER, training=False,
                        system=system_json("gpu-b", accelerators_per_node=2, accelerator_model_name="Fake A100")),
    }


@pytest.fixture(scope="module")
def results(trees) -> tables.Results:
    return tables.load([trees["a"], trees["b"]])


def label(system: str, runner: dict) -> str:  # runner: the settings column's, not part of the configuration
    return f"{system}/onnxruntime"


def test_inference_rows_equal_what_the_logs_say(results):
    rows = [r for r in results.rows if r.kind is Kind.INFERENCE]
    assert len(rows) == 8
    for row in rows:
        detail = read_detail(row.location / "mlperf_log_detail.txt")
        key, divisor, units = CHECKER_FIELD[row.scenario]
        assert row.value == pytest.approx(float(detail[key]) / divisor)
        assert row.columns["Result"] == row.value
        assert (row.units, row.columns["Units"]) == (units, units)
        assert row.columns["Validity"] == detail["result_validity"] == ("VALID" if row.valid else "INVALID")
        assert row.columns["errors"] == detail.num_errors == 0
        assert row.columns["Accuracy"] == "top1: 98.592"
        assert row.columns["version"] == "tiny-v1"
        assert row.columns["Organization"] == "Podium Tests"
        assert row.columns["Model"] == row.columns["MlperfModel"] == "digits"
        assert row.columns["Location"] == f"results/{row.columns['Platform']}/digits/{row.scenario}/performance/run_1"


def test_rows_carry_the_system_and_are_ordered(results):
    by_system = {r.columns["Platform"]: r for r in results.rows if r.kind is Kind.INFERENCE}
    assert by_system["gpu-b"].columns["total_accelerators"] == 2
    assert by_system["gpu-b"].columns["accelerator_model_name"] == "Fake A100"
    assert by_system["cpu-a"].columns["total_accelerators"] == 0
    assert by_system["cpu-a"].columns["SystemName"] == "cpu-a test box"
    scenarios = [r.scenario for r in results.rows if r.kind is Kind.INFERENCE]
    assert scenarios == ["SingleStream"] * 2 + ["MultiStream"] * 2 + ["Server"] * 2 + ["Offline"] * 2
    assert {r.label for r in results.rows} == {label("cpu-a", CPU_RUNNER), label("gpu-b", GPU_RUNNER),
                                               "cpu-a/training"}
    settings = {r.columns["Settings"] for r in results.rows}
    assert settings == {"pool(batch_size=1,instances=1)", "pool(batch_size=8,instances=2)",
                        "global_batch_size=128"}, settings


def test_training_row_is_the_campaign_score(results, trees):
    (row,) = [r for r in results.rows if r.kind is Kind.TRAINING]
    campaign = json.loads((trees["a"] / "training/podium/cpu-a/digits/campaign.json").read_text())
    assert row.value == pytest.approx(campaign["score"]["minutes"])
    assert (row.scenario, row.units, row.better) == ("Training", "Minutes", Better.LOWER)
    assert row.valid and row.columns["Accuracy"] == "top1 >= 0.98: 4/5 runs converged"
    assert row.normalized is None


def test_training_score_is_scaled_as_published(tmp_path):
    """Runs faster than the reference mean (RCP check passed): the minutes times campaign.json's scaling factor,
    and a scaling.json in the tree (the package checker's or a reviewer's) takes precedence."""
    root = training_tree(tmp_path / "t")
    path = root / "podium/cpu-a/digits/campaign.json"
    campaign = json.loads(path.read_text())
    campaign["convergence"] = {"passed": True, "scaling_factor": 1.25, "message": "mean 4 >= minimum 3.2"}
    path.write_text(json.dumps(campaign))
    (row,) = tables.load([root]).rows
    assert row.value == pytest.approx(campaign["score"]["minutes"] * 1.25) and row.valid
    assert "scaled by 1.2500" in row.columns["Reasons"]
    (root / "results/cpu-a/digits/scaling.json").write_text('{"scaling_factor": 2.0}')
    (row,) = tables.load([root]).rows
    assert row.value == pytest.approx(campaign["score"]["minutes"] * 2.0)
    campaign["convergence"] = {"passed": False, "scaling_factor": 1.25, "message": "converged too fast"}
    path.write_text(json.dumps(campaign))
    (root / "results/cpu-a/digits/scaling.json").unlink()
    (row,) = tables.load([root]).rows
    assert not row.valid and "converged too fast" in row.columns["Reasons"]
    assert row.value == pytest.approx(campaign["score"]["minutes"])


def test_per_accelerator_normalization(results):
    for row in results.rows:
        if row.units in ("Samples/s", "Queries/s"):
            per = 2  # gpu-b: 2 accelerators; cpu-a: no accelerator, 2 host processor sockets
            kind = "accelerator" if row.columns["Platform"] == "gpu-b" else "socket"
            assert row.normalized == pytest.approx(row.value / per)
            assert row.normalized_units == f"{row.units} per {kind}"
        else:
            assert row.normalized is None and row.columns["NormalizedResult"] == ""


def test_normalize_counts_nodes():
    system = {"number_of_nodes": "2", "accelerators_per_node": "4 (SXM)", "host_processors_per_node": "2"}
    assert tables.normalize(800.0, "Samples/s", system) == (100.0, "Samples/s per accelerator")
    assert tables.normalize(800.0, "Samples/s", {"number_of_nodes": 2, "accelerators_per_node": "N/A",
                                                 "host_processors_per_node": 2}) == (200.0, "Samples/s per socket")
    assert tables.normalize(3.0, "Latency (ms)", system) == (None, "")


def test_csv_md_json_are_written(results, tmp_path):
    comparisons = default_comparisons(results)
    written = tables.write_tables(results, comparisons, csv_path=tmp_path / "s.csv", md_path=tmp_path / "s.md",
                                  json_path=tmp_path / "s.json")
    assert [p.name for p in written] == ["s.csv", "s.md", "s.json"]
    with open(tmp_path / "s.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == tables.COLUMNS
        assert tuple(reader.fieldnames[:31]) == tables.OFFICIAL_COLUMNS
        lines = list(reader)
    assert len(lines) == len(results.rows)
    for line, row in zip(lines, results.rows):
        assert float(line["Result"]) == pytest.approx(row.value)
        assert (line["Scenario"], line["Configuration"], line["Validity"]) == (row.scenario, row.label,
                                                                               row.columns["Validity"])
    md = (tmp_path / "s.md").read_text()
    assert "| Configuration | Model | Scenario | Settings | Result |" in md
    assert "(A) vs" in md and "geometric mean" in md
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["schema_version"] == 1 and data["kind"] == "podium.results.summary"
    assert len(data["rows"]) == len(results.rows) and data["columns"] == list(tables.COLUMNS)
    assert data["comparisons"][0]["geomean"] == pytest.approx(comparisons[0].geomean)


def _row(bench: str, scenario: str, value: float, units: str, better: Better, valid: bool = True,
         normalized: float | None = None, name: str = "x") -> Row:
    return Row(Kind.INFERENCE, name, bench, scenario, value, units, better, valid, (), normalized, "",
               Path("/r"), Path("/r"), Path("/r") / bench / scenario)


def test_ratio_direction_and_geomean_on_known_values():
    hi, lo = Better.HIGHER, Better.LOWER
    a = Side("A", (_row("resnet", "Offline", 300.0, "Samples/s", hi, normalized=75.0),
                   _row("resnet", "SingleStream", 0.5, "Latency (ms)", lo),
                   _row("bert", "Offline", 10.0, "Samples/s", hi, valid=False),
                   _row("only-a", "Offline", 1.0, "Samples/s", hi)))
    b = Side("B", (_row("resnet", "Offline", 100.0, "Samples/s", hi, normalized=100.0),
                   _row("resnet", "SingleStream", 2.0, "Latency (ms)", lo),
                   _row("bert", "Offline", 20.0, "Samples/s", hi)))
    c = compare(a, b)
    ratios = {x.a.cell: x.ratio for x in c.cells}
    assert ratios == {("resnet", "Offline"): 3.0, ("resnet", "SingleStream"): 4.0, ("bert", "Offline"): 0.5}
    assert c.cells[0].normalized_ratio == pytest.approx(0.75)  # 4 accelerators against 1
    assert len(c.counted) == 2  # bert: A's result is invalid
    assert c.geomean == pytest.approx(math.sqrt(3.0 * 4.0))


def test_two_runs_with_different_settings_are_compared(results, trees):
    (c,) = default_comparisons(results)
    assert (c.a.name, c.b.name) == (label("gpu-b", GPU_RUNNER), label("cpu-a", CPU_RUNNER))
    assert [x.a.scenario for x in c.cells] == ["SingleStream", "MultiStream", "Server", "Offline"]
    for x in c.cells:
        expect = x.a.value / x.b.value if x.a.better is Better.HIGHER else x.b.value / x.a.value
        assert x.ratio == pytest.approx(expect)
    logs = [math.log(x.ratio) for x in c.cells if x.both_valid]
    assert c.geomean == pytest.approx(math.exp(sum(logs) / len(logs)))
    text = tables.format_text(results, [c])
    assert f"A = {c.a.name}" in text and "geometric mean over" in text


def test_select_by_label_directory_system_or_part(results, trees):
    assert select(results, label("cpu-a", CPU_RUNNER)).name == label("cpu-a", CPU_RUNNER)
    assert {r.label for r in select(results, str(trees["b"])).rows} == {label("gpu-b", GPU_RUNNER)}
    assert len(select(results, "gpu-b").rows) == 4
    assert select(results, "gpu-b/onnx").name == label("gpu-b", GPU_RUNNER)
    with pytest.raises(ConfigError, match="names no single configuration"):
        select(results, "onnxruntime")
    with pytest.raises(ConfigError, match="labels are"):
        select(results, "tpu-z")


def test_same_settings_in_two_trees_get_distinct_labels(tmp_path):
    for name in ("run1", "run2"):
        inference_tree(tmp_path / name, "cpu-a", runner=CPU_RUNNER, scenarios=[Scenario.SINGLE_STREAM])
    res = tables.load([tmp_path / "run1", tmp_path / "run2"])
    assert [r.label for r in res.rows] == [label("cpu-a", CPU_RUNNER) + "@run1", label("cpu-a", CPU_RUNNER) + "@run2"]
    (c,) = default_comparisons(res)
    assert c.cells[0].ratio is not None


def test_invalid_runs_say_why(tmp_path):
    # An Offline expected QPS far below what the null SUT does: the issued samples end before min duration.
    slow = lambda s: quick_settings(s).copy(offline_expected_qps=20_000)  # noqa: E731
    inference_tree(tmp_path, "cpu-a", runner=CPU_RUNNER, scenarios=[Scenario.OFFLINE], settings=slow)
    inference_tree(tmp_path, "cpu-b", runner=CPU_RUNNER, scenarios=[Scenario.SINGLE_STREAM], accuracy_value=90.0)
    rows = {r.columns["Platform"]: r for r in tables.load([tmp_path]).rows}
    assert rows["cpu-a"].columns["Validity"] == "INVALID" and "min duration not met" in rows["cpu-a"].reasons
    assert rows["cpu-b"].columns["Validity"] == "INVALID"
    assert rows["cpu-b"].reasons == ("accuracy 90.0 below target 97.6",)


def test_official_tree_without_podium_files(trees, tmp_path):
    sdir = tmp_path / "closed/Org/results/cpu-a/digits/Offline"
    shutil.copytree(trees["a"] / "inference/results/cpu-a/digits/Offline", sdir)
    (sdir / "performance/run_1/podium_run.json").unlink()
    (sdir / "accuracy/accuracy.json").unlink()
    (sdir / "accuracy/accuracy.txt").write_text("accuracy=98.592%, good=350, total=355\nhash=ab12\n")
    (row,) = tables.load([tmp_path]).rows
    assert row.label == "cpu-a" and row.columns["Accuracy"] == "accuracy: 98.592"
    assert row.columns["SystemName"] == "" and row.normalized is None and "no systems/cpu-a.json" in row.notes
    shutil.copytree(trees["a"] / "inference/systems", tmp_path / "closed/Org/systems")
    (row,) = tables.load([tmp_path]).rows
    assert row.columns["SystemName"] == "cpu-a test box" and row.normalized_units == "Samples/s per socket"


def test_no_results_is_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="no results under"):
        tables.load([tmp_path])
    with pytest.raises(ConfigError, match="no such directory"):
        tables.load([tmp_path / "missing"])


def test_cli_prints_writes_and_compares(trees, tmp_path, capsys):
    a, b = label("cpu-a", CPU_RUNNER), label("gpu-b", GPU_RUNNER)
    code = main(["results", str(trees["a"]), str(trees["b"]), "--csv", str(tmp_path / "t.csv"),
                 "--md", str(tmp_path / "t.md"), "--json", str(tmp_path / "t.json"), "--compare", a, b])
    out = capsys.readouterr().out
    assert code == 0
    assert f"A = {a}\nB = {b}" in out and "geometric mean" in out
    assert all((tmp_path / f"t.{ext}").exists() for ext in ("csv", "md", "json"))
    assert main(["results", str(trees["a"]), "--compare", a]) == 2
    assert "--compare takes two names" in capsys.readouterr().err


def test_two_backends_on_one_system_are_compared(tmp_path, capsys):
    for backend in ("onnxruntime", "pytorch"):
        inference_tree(tmp_path / backend, "cpu-a", runner=CPU_RUNNER, backend=backend,
                       scenarios=[Scenario.SINGLE_STREAM])
    res = tables.load([tmp_path / "onnxruntime", tmp_path / "pytorch"])
    (c,) = default_comparisons(res)
    assert (c.a.name, c.b.name) == ("cpu-a/pytorch", "cpu-a/onnxruntime")
    assert main(["results", str(tmp_path), "--compare", "onnxruntime", "pytorch"]) == 0
    out = capsys.readouterr().out
    assert "A = cpu-a/onnxruntime\nB = cpu-a/pytorch\n" in out


def test_each_configuration_is_compared_with_itself_in_the_first_tree(tmp_path):
    """Two `podium run`s, each with an ONNX Runtime and a PyTorch system: each configuration of the second
    run is compared with the same configuration of the first, not with another backend."""
    for run in ("run1", "run2"):
        for backend in ("onnxruntime", "pytorch"):
            inference_tree(tmp_path / run, f"box-{backend}", runner=CPU_RUNNER, backend=backend,
                           scenarios=[Scenario.SINGLE_STREAM, Scenario.OFFLINE])
    pairs = {(c.a.name, c.b.name) for c in default_comparisons(tables.load([tmp_path / "run1", tmp_path / "run2"]))}
    for backend in ("onnxruntime", "pytorch"):
        assert (f"box-{backend}/{backend}@run2", f"box-{backend}/{backend}@run1") in pairs, pairs
