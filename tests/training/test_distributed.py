"""`podium train --nproc 2`: two ranks under torchrun (gloo on CPU), one log per run written by rank 0, the
global batch size = per-rank batch x world size x accumulation steps, logs accepted by the checker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from podium.training.distributed import Rendezvous, torchrun_argv  # noqa: E402


def test_torchrun_command_for_one_and_many_nodes():
    one = torchrun_argv(2, ["train", "digits"])
    assert one[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    many = Rendezvous(nnodes=2, node_rank=1, endpoint="node0:29500").torchrun_options()
    assert many == ["--nnodes", "2", "--node-rank", "1", "--rdzv-backend", "c10d",
                    "--rdzv-endpoint", "node0:29500", "--rdzv-id", "podium"]


def test_two_processes_train_digits_to_target(tmp_path):
    argv = [sys.executable, "-m", "podium", "train", "digits", "--nproc", "2", "--runs", "3", "--seed", "2000",
            "--out", str(tmp_path), "--no-models"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("olympic score (digits, closed)") == 1      # rank 0 alone reports
    record = json.loads((tmp_path / "podium" / "cpu" / "digits" / "campaign.json").read_text())
    assert all(r["status"] == "success" and r["compliance"]["passed"] for r in record["runs"]), record
    log = (tmp_path / "results" / "cpu" / "digits" / "result_0.txt").read_text()
    assert log.count('"key": "run_start"') == 1
    assert '"key": "global_batch_size", "value": 64' in log
