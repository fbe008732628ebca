"""`podium train --launcher slurm`: the same campaign as `--nproc`/`--nnodes`, submitted to a Slurm cluster.

Podium writes a batch script and submits it with `sbatch --wait`: one Slurm task per node (`srun
--ntasks-per-node=1`), each running `podium train ... --slurm-node`, which reads its node's place from Slurm's
environment (SLURM_NODEID, SLURM_JOB_NUM_NODES) and starts `--nproc` ranks there through Podium's own launcher
(`podium.training.distributed`): node 0 hosts the ranks' store on the job's first host (on 127.0.0.1 when the
job has one node), every node's ranks join it. The submitting command stays in the foreground: it relays the
job's output, exits with the job's status (0, or 1 when the campaign ran without a valid score), and cancels the
job (`scancel`) when it is stopped (Ctrl-C, SIGTERM). `--time` bounds the job, so a hung job ends.

What the batch script needs is what a cluster normally provides: the same paths on every node (this Python,
the data, `--out`), and the submitting shell's environment (sbatch's default `--export=ALL`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from podium.core import signals
from podium.core.errors import ConfigError, TrainingError
from podium.core.files import atomic_write

SLURM_NODE_FLAG = "--slurm-node"     # what each node's task runs with; not for users
PORT_BASE, PORT_SPAN = 29500, 2000   # node 0's store listens on PORT_BASE + job id % PORT_SPAN
TIME_FORMAT = re.compile(r"(\d+-)?\d+(:\d+){0,2}|UNLIMITED|INFINITE", re.IGNORECASE)
CANCEL_GRACE_S = 30                  # after scancel, how long sbatch --wait has to return (< signals.GRACE_S)
POLL_S = 0.2


@dataclass(frozen=True)
class SlurmJob:
    """What to ask Slurm for: nodes, ranks and GPUs per node, partition, time limit, any other sbatch option."""

    nodes: int = 1
    ranks_per_node: int = 1
    gpus_per_node: int = 0
    partition: str | None = None
    time_limit: str | None = None       # Slurm's formats: "30", "1:00:00", "2-00:00:00"
    job_name: str = "podium-train"
    sbatch_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.time_limit is not None and not TIME_FORMAT.fullmatch(self.time_limit):
            raise ConfigError(f"--time must be a Slurm time limit (minutes, H:MM:SS or D-HH:MM:SS), got "
                              f"{self.time_limit!r}", key="--time")
        if self.partition is not None and not re.fullmatch(r"[\w.,-]+", self.partition):
            raise ConfigError(f"--partition must be a partition name, got {self.partition!r}", key="--partition")

    def directives(self, output: Path) -> list[str]:
        lines = [f"--job-name={self.job_name}", f"--nodes={self.nodes}", "--ntasks-per-node=1",
                 f"--output={output}"]
        if self.gpus_per_node:
            lines.append(f"--gpus-per-node={self.gpus_per_node}")
        if self.partition:
            lines.append(f"--partition={self.partition}")
        if self.time_limit:
            lines.append(f"--time={self.time_limit}")
        return ["#SBATCH " + line for line in lines]


def batch_script(job: SlurmJob, podium_args: list[str], output: Path, python: str = sys.executable) -> str:
    """The batch script: one task per node, each `python -m podium <podium_args> --slurm-node`."""
    command = shlex.join([python, "-m", "podium", *podium_args, SLURM_NODE_FLAG])
    return "\n".join([
        "#!/bin/bash", *job.directives(output),
        "# written by `podium train --launcher slurm`: one task per node, each starting that node's ranks",
        "set -eu",
        'export PODIUM_RDZV_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
        f"export PODIUM_RDZV_PORT=$(( {PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN} ))",
        f"exec srun --nodes={job.nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 {command}", ""])


@dataclass(frozen=True)
class NodePlace:
    """This node's place in the job, read from Slurm's environment inside a task."""

    nnodes: int
    node_rank: int
    endpoint: str | None    # HOST:PORT of node 0's store; None on one node (127.0.0.1, a free port)
    job_id: str


def node_place(environ: dict[str, str] | None = None) -> NodePlace:
    """Where this task's node stands (SLURM_NODEID of SLURM_JOB_NUM_NODES); ConfigError outside a Slurm job."""
    env = os.environ if environ is None else environ
    missing = [v for v in ("SLURM_JOB_ID", "SLURM_NODEID", "SLURM_JOB_NUM_NODES") if v not in env]
    if missing:
        raise ConfigError(f"{SLURM_NODE_FLAG} runs inside a Slurm job step (no {missing[0]} in the environment); "
                          "use --launcher slurm to submit one")
    nnodes, node_rank = int(env["SLURM_JOB_NUM_NODES"]), int(env["SLURM_NODEID"])
    endpoint = None
    if nnodes > 1:
        host, port = env.get("PODIUM_RDZV_HOST"), env.get("PODIUM_RDZV_PORT")
        if not host or not port:
            raise ConfigError("a multi-node Slurm task needs PODIUM_RDZV_HOST and PODIUM_RDZV_PORT, which the "
                              "batch script of --launcher slurm sets")
        endpoint = f"{host}:{port}"
    return NodePlace(nnodes, node_rank, endpoint, env["SLURM_JOB_ID"])


@dataclass
class _Relay:
    """Copies the job's output file to our stdout as it grows (the file appears once the job starts)."""

    path: Path
    done: threading.Event = field(default_factory=threading.Event)
    offset: int = 0

    def run(self) -> None:
        while True:
            finished = self.done.is_set()
            self._copy()
            if finished:
                return
            time.sleep(POLL_S)

    def _copy(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        if chunk:
            self.offset += len(chunk)
            sys.stdout.write(chunk.decode("utf-8", errors="replace"))
            sys.stdout.flush()


def submit(job: SlurmJob, podium_args: list[str], out: Path) -> int:
    """Submit the campaign as a Slurm job and wait for it: the job's exit status (0, or 1: no valid score); 128 +
    signum when stopped here (the job is cancelled); TrainingError when Slurm refuses it or it fails."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ConfigError("--launcher slurm needs Slurm's sbatch on PATH (and SLURM_CONF where the cluster "
                          "keeps its configuration elsewhere)")
    folder = out.resolve() / "slurm"
    stamp = time.strftime("%Y%m%dT%H%M%S")
    script, output = folder / f"podium-{stamp}-{os.getpid()}.sbatch", folder / f"podium-{stamp}-{os.getpid()}.out"
    atomic_write(script, batch_script(job, podium_args, output))   # an OSError: one line naming the path
    process = subprocess.Popen([sbatch, "--parsable", "--wait", *job.sbatch_args, str(script)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None
    job_id = process.stdout.readline().strip().split(";")[0]
    if not job_id:
        process.wait()
        raise TrainingError(f"sbatch refused the job: {_last_line(process) or f'exit {process.returncode}'} "
                            f"(script: {script})")
    print(f"podium: Slurm job {job_id} submitted ({job.nodes} node(s) x {job.ranks_per_node} rank(s)); "
          f"output: {output}", file=sys.stderr, flush=True)
    relay = _Relay(output)
    thread = threading.Thread(target=relay.run, name="podium-slurm-output", daemon=True)
    thread.start()
    try:
        code = _wait(process, job_id)
    finally:
        relay.done.set()
        thread.join(timeout=5)
    if code < 0:
        return signals.exit_code(-code)
    if code not in (0, 1):
        said = _podium_error(output) or _last_line(process)
        raise TrainingError(f"Slurm job {job_id} failed (sbatch exit {code}): {said or 'no message'}; its output: "
                            f"{output}")
    return code


def _wait(process: subprocess.Popen[str], job_id: str) -> int:
    """sbatch's exit status; -signum when we were stopped (the job cancelled, sbatch given time to return)."""
    try:
        while process.poll() is None:
            time.sleep(POLL_S)
        return process.returncode
    except KeyboardInterrupt as e:
        stop = signals.signum_of(e)
        print(f"podium: stopping: cancelling Slurm job {job_id}", file=sys.stderr, flush=True)
        try:
            subprocess.run(["scancel", job_id], check=False, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as cancel:   # the job then ends at its --time
            print(f"podium: scancel {job_id} failed ({cancel}); cancel it by hand", file=sys.stderr, flush=True)
        try:
            process.wait(timeout=CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        return -stop


def _podium_error(output: Path) -> str:
    """The last `podium: error: ...` line of the job's output (a node's launcher says which rank failed)."""
    try:
        lines = output.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    said = [line.removeprefix("podium: error: ") for line in lines if line.startswith("podium: error: ")]
    return said[-1] if said else ""


def _last_line(process: subprocess.Popen[str]) -> str:
    """sbatch's last error line (it says why a job was refused or failed)."""
    err = process.stderr.read() if process.stderr is not None and process.poll() is not None else ""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    return lines[-1].removeprefix("sbatch: error: ") if lines else ""
