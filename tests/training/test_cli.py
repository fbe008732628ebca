"""`podium train` and `podium list`: exit codes, one-line errors, the table, Ctrl-C."""

from __future__ import annotations

import pytest

from podium.cli import main
from podium.workloads import WORKLOADS
from podium.workloads.scripted import Fault

from .conftest import scripted_resnet

WORKLOADS.register("test-interrupted-resnet")(lambda: scripted_resnet({1: (Fault.INTERRUPT, 2)}))
WORKLOADS.register("test-nan-resnet")(lambda: scripted_resnet({0: (Fault.NAN_LOSS, 1)}))


def test_list_workloads(capsys):
    assert main(["list", "workloads"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "scripted-llama31-8b" in out and "log_perplexity <= 3.3" in out
    assert "resnet50: --data-path <root>/train/<wnid>/*.JPEG" in out and "digits: brings its own data" in out


def test_data_path_is_refused_where_the_workload_brings_its_data(capsys, tmp_path):
    assert main(["train", "digits", "--data-path", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "digits brings its own data: drop --data-path" in capsys.readouterr().err


def test_unknown_workload_names_the_nearest(capsys, tmp_path):
    assert main(["train", "digitz", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("podium: error: unknown workload 'digitz'") and "did you mean 'digits'" in err


def test_closed_division_refuses_an_invalid_hyperparameter_before_init(capsys, tmp_path):
    code = main(["train", "scripted-resnet50", "--set", "lars_opt_weight_decay=3e-5", "--out", str(tmp_path)])
    assert code == 2
    assert "1e-4 * 2^N" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_train_prints_each_run_and_the_olympic_score(capsys, tmp_path):
    code = main(["train", "test-nan-resnet", "--runs", "5", "--seed", "3", "--out", str(tmp_path), "--no-check"])
    out = capsys.readouterr().out
    assert code == 0
    assert "run 1/5" in out and "aborted: non-finite training loss" in out
    assert "olympic score (resnet, closed):" in out


def test_ctrl_c_keeps_finished_runs_and_exits_non_zero(capsys, tmp_path):
    code = main(["train", "test-interrupted-resnet", "--runs", "3", "--out", str(tmp_path), "--no-check"])
    captured = capsys.readouterr()
    assert code == 130
    assert "interrupted (Ctrl-C) during run 2/3; 1 finished run(s)" in captured.err
    assert "interrupted (Ctrl-C)" in captured.out       # the table shows the aborted run
    kept = list((tmp_path / ".podium" / "partial").glob("*/results/cpu/resnet/result_0.txt"))
    assert len(kept) == 1 and not (tmp_path / "results" / "cpu" / "resnet").exists()


def test_a_malformed_override_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "scripted-resnet50", "--out", str(tmp_path), "--set", "novalue"]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err


def test_an_unknown_division_is_refused_by_the_parser(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "scripted-resnet50", "--out", str(tmp_path), "--division", "sideways"])
    assert exit_info.value.code == 2


def test_more_runs_than_required_report_the_median_window(capsys, tmp_path):
    code = main(["train", "scripted-resnet50", "--runs", "7", "--seed", "5", "--out", str(tmp_path), "--no-check"])
    out = capsys.readouterr().out
    assert code == 0 and "median window of 5 consecutive runs (runs" in out
