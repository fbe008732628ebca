"""Distributed training: `podium train --nproc N` re-launches itself under torchrun, one process per rank.

Single node: `torchrun --standalone --nproc_per_node N`. Multi-node: the same command on every node with
torchrun's rendezvous options (`--nnodes 2 --node-rank R --rdzv-endpoint HOST:PORT --rdzv-id JOB`), which
`podium train` passes through. Each rank joins a process group (gloo on CPU, NCCL on GPU), trains a DDP replica
on its shard of every global batch (global batch = per-rank batch x world size x accumulation steps, logged),
and only rank 0 writes logs and results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from podium.training.campaign import Distribution

WORKER_ENV = "PODIUM_TRAIN_WORKER"


@dataclass(frozen=True)
class Rendezvous:
    """torchrun's multi-node options; the defaults mean one node (`--standalone`)."""

    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None     # HOST:PORT of the rendezvous (node 0)
    job_id: str = "podium"

    def torchrun_options(self) -> list[str]:
        if self.nnodes == 1 and self.endpoint is None:
            return ["--standalone"]
        if self.endpoint is None:
            raise ValueError("multi-node training needs a rendezvous endpoint (HOST:PORT)")
        return ["--nnodes", str(self.nnodes), "--node-rank", str(self.node_rank), "--rdzv-backend", "c10d",
                "--rdzv-endpoint", self.endpoint, "--rdzv-id", self.job_id]


def in_worker() -> bool:
    """True inside a process that torchrun started for `podium train`."""
    return os.environ.get(WORKER_ENV) == "1" and "RANK" in os.environ


def torchrun_argv(nproc: int, podium_args: list[str], rendezvous: Rendezvous = Rendezvous()) -> list[str]:
    """The command that runs `podium <podium_args>` as `nproc` ranks on this node."""
    return [sys.executable, "-m", "torch.distributed.run", *rendezvous.torchrun_options(),
            "--nproc-per-node", str(nproc), "-m", "podium", *podium_args]


def launch(nproc: int, podium_args: list[str], rendezvous: Rendezvous = Rendezvous()) -> int:
    """Run the ranks and wait; the exit status is torchrun's (non-zero if any rank failed)."""
    env = {**os.environ, WORKER_ENV: "1"}
    return subprocess.run(torchrun_argv(nproc, podium_args, rendezvous), env=env).returncode


def join() -> tuple[Distribution, str]:
    """Join the process group torchrun prepared; returns this rank's Distribution and its torch device."""
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend, device = "nccl", f"cuda:{local_rank}"
    else:
        backend, device = "gloo", "cpu"
    dist.init_process_group(backend=backend)
    return Distribution(rank=dist.get_rank(), world_size=dist.get_world_size(), barrier=dist.barrier), device


def leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
