"""`podium train --launcher slurm`: the batch script, the node's place read from Slurm's environment, the options
refused before anything is submitted, and, on a real one-node Slurm cluster started here (tests/training/
slurm_cluster.py), a 2-process campaign submitted through sbatch and srun, recorded with its nodes and job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from podium.cli import main
from podium.core.errors import ConfigError
from podium.training.slurm import SLURM_NODE_FLAG, SlurmJob, batch_script, node_place
from tests.training import slurm_cluster


def test_the_batch_script_runs_one_task_per_node_with_the_job_s_resources(tmp_path) -> None:
    job = SlurmJob(nodes=4, ranks_per_node=8, gpus_per_node=8, partition="gpu", time_limit="1:30:00",
                   job_name="podium-resnet50")
    script = batch_script(job, ["train", "resnet50", "--nproc", "8"], tmp_path / "job.out", python="/opt/py")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert {"#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8",
            "#SBATCH --partition=gpu", "#SBATCH --time=1:30:00", "#SBATCH --job-name=podium-resnet50",
            f"#SBATCH --output={tmp_path / 'job.out'}"} <= set(lines)
    assert lines[-1] == ("exec srun --nodes=4 --ntasks-per-node=1 --kill-on-bad-exit=1 /opt/py -m podium train "
                         f"resnet50 --nproc 8 {SLURM_NODE_FLAG}")
    assert "--gpus-per-node" not in batch_script(SlurmJob(), ["train", "digits"], tmp_path / "o")


def test_a_node_reads_its_place_from_slurm_s_environment() -> None:
    one = node_place({"SLURM_JOB_ID": "7", "SLURM_NODEID": "0", "SLURM_JOB_NUM_NODES": "1"})
    assert (one.nnodes, one.node_rank, one.endpoint, one.job_id) == (1, 0, None, "7")   # loopback, free port
    two = node_place({"SLURM_JOB_ID": "8", "SLURM_NODEID": "1", "SLURM_JOB_NUM_NODES": "2",
                      "PODIUM_RDZV_HOST": "gpu-001", "PODIUM_RDZV_PORT": "29508"})
    assert (two.nnodes, two.node_rank, two.endpoint) == (2, 1, "gpu-001:29508")
    with pytest.raises(ConfigError, match="runs inside a Slurm job step"):
        node_place({})


@pytest.mark.parametrize(("argv", "words"), [
    (["--partition", "gpu"], "are Slurm's: add --launcher slurm"),
    (["--launcher", "slurm", "--node-rank", "1", "--nnodes", "2"], "places the nodes itself"),
    (["--launcher", "slurm", "--time", "an hour"], "--time must be a Slurm time limit"),
    (["--launcher", "slurm", "--partition", "a b"], "--partition must be a partition name"),
])
def test_bad_slurm_options_are_refused_in_one_line(argv, words, tmp_path, capsys) -> None:
    code = main(["train", "digits", "--out", str(tmp_path), *argv])
    assert code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "slurm").exists()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = slurm_cluster.missing_programs()
    if missing:
        if slurm_cluster.REQUIRED:
            pytest.fail(f"PODIUM_REQUIRE_SLURM=1 but {', '.join(missing)} missing (apt-get install slurm-wlm munge)")
        pytest.skip(f"Slurm is not installed ({', '.join(missing)}): apt-get install slurm-wlm munge")
    running = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    yield running
    running.stop()


def test_two_ranks_train_through_sbatch_and_srun(cluster, tmp_path) -> None:
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "podium", "train", "digits", "--launcher", "slurm", "--nproc", "2", "--runs", "1",
            "--seed", "2000", "--out", str(out), "--no-models", "--time", "10"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=400, env=cluster.env)
    assert done.returncode in (0, 1), done.stdout + done.stderr + cluster.log("slurmd")[-3000:]
    assert "Slurm job " in done.stderr and "submitted (1 node(s) x 2 rank(s))" in done.stderr
    assert "olympic score" in done.stdout or "no valid score" in done.stdout   # the job's output, relayed
    record = json.loads((out / "podium" / "cpu" / "digits" / "campaign.json").read_text())
    dist = record["distribution"]
    assert (dist["nodes"], dist["ranks_per_node"], dist["world_size"]) == (1, 2, 2)
    assert dist["slurm_job_id"] and dist["slurm_job_id"] in done.stderr
    system = json.loads((out / "systems" / "cpu.json").read_text())
    assert (system["number_of_nodes"], system["accelerators_per_node"]) == ("1", "0")
    log = (out / "results" / "cpu" / "digits" / "result_0.txt").read_text()
    assert '"key": "global_batch_size", "value": 64' in log   # 2 ranks x 32
    scripts = list((out / "slurm").glob("*.sbatch"))
    assert len(scripts) == 1 and "#SBATCH --time=10" in scripts[0].read_text()


def test_a_job_slurm_refuses_is_one_line(cluster, tmp_path) -> None:
    argv = [sys.executable, "-m", "podium", "train", "digits", "--launcher", "slurm", "--partition", "nosuch",
            "--runs", "1", "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=cluster.env)
    assert done.returncode == 2
    assert "podium: error: sbatch refused the job: " in done.stderr and "partition" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_stopping_the_submitter_cancels_the_job(cluster, tmp_path) -> None:
    """SIGTERM to `podium train --launcher slurm` cancels its job (scancel): the command exits 143 within a
    bounded time, the cluster has no job left, and no results replace the previous ones."""
    import os
    import signal
    import time

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "podium", "train", "digits", "--launcher", "slurm", "--nproc", "2", "--runs", "50",
            "--seed", "1", "--out", str(out), "--no-models", "--time", "10"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env)
    deadline = time.monotonic() + 120
    while not list(out.glob("slurm/*.out")) or "run 1/50" not in next(out.glob("slurm/*.out")).read_text():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "cancelling Slurm job" in err
    queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=cluster.env, timeout=30)
    assert queue.stdout.strip() == ""
    assert not (out / "results").exists()
