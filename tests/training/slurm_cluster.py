"""A one-node Slurm cluster for tests, from Debian's packages (slurm-wlm, munge): munged, slurmctld and slurmd in
the foreground as children of the test process, every socket on 127.0.0.1, every file in a temporary folder,
stopped by process id. `.ci/run` installs the packages; elsewhere the tests using it are skipped when they are
missing, unless PODIUM_REQUIRE_SLURM=1."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "scontrol", "sinfo", "scancel", "squeue")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
REQUIRED = os.environ.get("PODIUM_REQUIRE_SLURM") == "1"


def find(program: str) -> str | None:
    """A Slurm or munge program: on PATH, or in /usr/sbin (daemons, not on a plain user's PATH)."""
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


def missing_programs() -> list[str]:
    return [p for p in (*DAEMONS, *CLIENTS) if find(p) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """The running daemons, and the environment a client (sbatch, podium train --launcher slurm) needs."""

    root: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM each daemon by its process id (slurmd first), SIGKILL what is still there after a while."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""


def slurm_conf(root: Path, ctld_port: int, node_port: int, user: str) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        "ClusterName=podiumtest", "SlurmctldHost=localhost(127.0.0.1)", f"SlurmUser={user}", f"SlurmdUser={user}",
        f"SlurmctldPort={ctld_port}", f"SlurmdPort={node_port}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",    # listen on 127.0.0.1, not every interface
        "AuthType=auth/munge", f"AuthInfo=socket={root / 'munge.socket'}", "CredType=cred/munge",
        f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}", f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
        "SchedulerType=sched/builtin", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
        "ReturnToService=2", "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none",
        "InactiveLimit=0", "KillWait=5", "MinJobAge=300",
        f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
        "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP", ""])


def start(root: Path) -> Cluster:
    """Start munged, slurmctld and slurmd under `root`; return once the node is idle (or raise, stopping them)."""
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, _free_port(), _free_port(), getpass.getuser()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(root, env)
    commands = [
        [find("munged"), "--foreground", "--force", f"--socket={root / 'munge.socket'}", f"--key-file={key}",
         f"--log-file={root / 'munged.log'}", f"--pid-file={root / 'munged.pid'}",
         f"--seed-file={root / 'munged.seed'}"],
        [find("slurmctld"), "-D", "-f", str(conf)],
        [find("slurmd"), "-D", "-f", str(conf), "-N", "localhost"],
    ]
    try:
        for command in commands:
            cluster.processes.append(subprocess.Popen([str(c) for c in command], env=env,
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if command[0] == find("munged"):
                _wait_for(lambda: (root / "munge.socket").exists(), "munged's socket", cluster)
        _wait_for(lambda: _node_state(env) == "idle", "the node to be idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _node_state(env: dict[str, str]) -> str:
    done = subprocess.run([str(find("sinfo")), "-h", "-o", "%T"], env=env, capture_output=True, text=True,
                          timeout=10, check=False)
    return done.stdout.strip()


def _wait_for(ready, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        dead = [p.args[0] for p in cluster.processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"Slurm test cluster: waiting for {what}: "
                               f"{'exited: ' + ', '.join(map(str, dead)) if dead else 'timed out'}\n"
                               f"{cluster.log('slurmctld')[-2000:]}\n{cluster.log('slurmd')[-2000:]}")
        time.sleep(0.2)
