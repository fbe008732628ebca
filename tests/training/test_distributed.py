"""`podium train --nproc 2`: two ranks started by podium (gloo on CPU), one log per run written by rank 0, the
global batch size = per-rank batch x world size x accumulation steps, logs accepted by the checker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from podium.training.distributed import Rendezvous  # noqa: E402


def test_where_node_0_listens_for_one_and_many_nodes():
    assert Rendezvous().address() == ("127.0.0.1", 0)                  # one node: loopback, a free port
    assert Rendezvous(nnodes=2, node_rank=1, endpoint="node0:29500").address() == ("node0", 29500)
    assert Rendezvous(nnodes=2, endpoint="[fd00::1]:29500").address() == ("fd00::1", 29500)


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
