"""Campaigns through the harness with scripted workloads: timing order, seeds, and the faults of issue 3."""

from __future__ import annotations

import json

import pytest

from podium.cli.train_cmd import result_table
from podium.core.errors import RuleViolation, RunAborted
from podium.training.campaign import Campaign
from podium.training.log_keys import Submission
from podium.training.mllog import TOKEN, MLLogWriter
from podium.training.run_record import RunStatus
from podium.training.timed_run import TimedRun
from podium.workloads.base import RunSpec
from podium.workloads.scripted import Curve, Fault

from .conftest import quick_config, scripted_resnet


def _keys(path):
    return [json.loads(line[len(TOKEN):]) for line in path.read_text().splitlines()]


def test_runs_converge_with_distinct_logged_seeds_and_scores(run_campaign):
    _, result = run_campaign(scripted_resnet())
    assert [r.status for r in result.records] == [RunStatus.SUCCESS] * 3
    assert [r.seed for r in result.records] == [11, 12, 13]
    logged = [next(k["value"] for k in _keys(result.layout.result_log(i)) if k["key"] == "seed") for i in range(3)]
    assert logged == [11, 12, 13]
    assert result.score.valid and result.layout.campaign_record.exists()


def test_run_start_precedes_data_and_run_stop_follows_the_first_passing_eval(run_campaign):
    _, result = run_campaign(scripted_resnet())
    records = _keys(result.layout.result_log(0))
    keys = [r["key"] for r in records]
    assert keys.index("init_stop") < keys.index("run_start") < keys.index("block_start")
    assert keys.index("submission_division") < keys.index("init_stop")
    evals = [r for r in records if r["key"] == "eval_accuracy"]
    assert evals[-1]["value"] >= 0.759 and all(e["value"] < 0.759 for e in evals[:-1])
    assert keys[-1] == "run_stop" and records[-1]["metadata"]["status"] == "success"
    run = result.records[0]
    assert run.duration_ms == records[-1]["time_ms"] - records[keys.index("run_start")]["time_ms"]


def test_nan_loss_aborts_the_run_and_the_next_proceeds(run_campaign):
    _, result = run_campaign(scripted_resnet({1: (Fault.NAN_LOSS, 2)}))
    assert [r.status for r in result.records] == [RunStatus.SUCCESS, RunStatus.ABORTED, RunStatus.SUCCESS]
    assert "non-finite training loss" in result.records[1].reason
    assert _keys(result.layout.result_log(1))[-1]["metadata"]["status"] == "aborted"


def test_an_exception_in_a_run_is_recorded_and_shown(run_campaign):
    _, result = run_campaign(scripted_resnet({0: (Fault.EXCEPTION, 1)}))
    assert result.records[0].status is RunStatus.ABORTED
    assert result.records[0].reason.startswith("RuntimeError: scripted failure")
    assert result.records[1].converged and result.records[2].converged
    table = "\n".join(result_table(result, "epochs"))
    assert "RuntimeError: scripted failure" in table and "olympic score" in table


def test_ctrl_c_keeps_finished_runs_and_marks_the_current_one_aborted(tmp_path):
    campaign = Campaign(scripted_resnet({1: (Fault.INTERRUPT, 3)}), quick_config(tmp_path))
    with pytest.raises(RunAborted, match=r"interrupted \(Ctrl-C\) during run 2/3"):
        campaign.run()
    result = campaign.result
    assert result.interrupted and [r.status for r in result.records] == [RunStatus.SUCCESS, RunStatus.ABORTED]
    assert (tmp_path / ".podium" / "partial") in result.layout.results_dir.parents   # kept, not published
    assert _keys(result.layout.result_log(1))[-1]["metadata"]["status"] == "aborted"
    saved = json.loads(result.layout.campaign_record.read_text())
    assert saved["interrupted"] and saved["status"] == "aborted" and saved["stop_signal"] == "SIGINT"
    assert len(saved["runs"]) == 2 and saved["schema_version"] >= 2
    assert saved["runs"][0]["log_path"] == str(result.layout.result_log(0))
    assert not (tmp_path / "results").exists()


def test_budget_exhausted_is_aborted_and_two_failures_invalidate(run_campaign):
    never = Curve(start=0.05, end=0.7620, converge_at=1e6)
    _, result = run_campaign(scripted_resnet(curve=never))
    assert all("budget of 60 epochs exhausted" in r.reason for r in result.records)
    assert not result.score.valid


def test_closed_division_refuses_before_init(tmp_path):
    with pytest.raises(RuleViolation):
        Campaign(scripted_resnet(), quick_config(tmp_path, overrides={"lars_epsilon": 1e-9}))
    assert not any(tmp_path.iterdir())


def test_init_past_its_budget_aborts_the_run(tmp_path):
    clock = [0]

    class SlowInit:
        def __init__(self, workload, spec):
            pass

        def build(self):
            clock[0] += 31 * 60_000    # 31 minutes of "initialization" on a fake clock

    workload = scripted_resnet()
    from dataclasses import replace
    workload = replace(workload, program=SlowInit)
    spec = RunSpec(seed=1, hyperparameters={}, per_rank_batch_size=1)
    log = MLLogWriter(tmp_path / "r.txt", clock_ms=lambda: clock[0])
    record = TimedRun(workload, spec, Submission(), log).execute()
    assert record.status is RunStatus.ABORTED and "closed budget is 1800000 ms" in record.reason
