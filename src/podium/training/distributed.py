"""Distributed training: `podium train --nproc N` starts N rank processes on this node and supervises them.

Podium starts the ranks itself rather than through torchrun:
- torchrun's rendezvous store (a c10d TCPStore) listens on every interface, unauthenticated, even with
  `--standalone` or a 127.0.0.1 endpoint: torch (2.13) binds the wildcard address unless it is handed a socket
  that already listens. Here node 0's launcher binds that socket itself, on 127.0.0.1 for one node and on the
  HOST of `--rdzv-endpoint` for several, and on one node gloo and NCCL are told to use the loopback interface.
- a failing rank ends torchrun in a ChildFailedError traceback, and so does a campaign with no valid score
  (exit 1). Here the launcher waits for every rank, stops the others when one fails, and says in one line which
  rank failed and why (that rank's own error line); a campaign that ran exits 0 or 1 as on one process.

Multi-node: the same command on every node with `--nnodes N --node-rank R --rdzv-endpoint HOST:PORT`; node 0
hosts the store on HOST:PORT and every rank joins it (rank = node rank x nproc + local rank). Each rank trains a
DDP replica on its shard of every global batch (global batch = per-rank batch x world size x accumulation
steps, logged); only rank 0 writes logs and results. Signals: each rank runs in its own session, so that a
Ctrl-C reaches it once, forwarded by the launcher; a rank's stdin is a pipe from its launcher, and when the
launcher dies (even by kill -9) the rank stops as if sent SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from podium.core import signals
from podium.core.errors import ConfigError, TrainingError
from podium.training.campaign import Distribution

WORKER_ENV = "PODIUM_TRAIN_WORKER"
LOOPBACK = "127.0.0.1"
JOIN_TIMEOUT_S = 300    # how long a rank waits for node 0's store and for the other ranks
STOP_GRACE_S = 30       # after one rank failed, how long the others have to stop before SIGKILL
POLL_S = 0.1
ERROR_PREFIX = "podium: error: "
HELD_LINES = 200        # of a rank's stderr other than rank 0's, shown if that rank fails


def parse_endpoint(text: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv6 host in brackets) as (host, port); ConfigError naming --rdzv-endpoint otherwise."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--rdzv-endpoint must be HOST:PORT with a port in 1..65535, got {text!r}")
    return host, int(port)


@dataclass(frozen=True)
class Rendezvous:
    """Where the ranks meet: node 0's store. The defaults mean one node, on the loopback interface."""

    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None     # HOST:PORT of node 0's store (multi-node)

    @property
    def single_node(self) -> bool:
        return self.nnodes == 1

    def address(self) -> tuple[str, int]:
        """(host, port) node 0 listens on: 127.0.0.1 and a free port on one node, else the endpoint."""
        if self.endpoint is None:
            if not self.single_node:
                raise ConfigError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (where node 0 listens)")
            return LOOPBACK, 0
        return parse_endpoint(self.endpoint)


def in_worker() -> bool:
    """True inside a rank process that `podium train --nproc N` started."""
    return os.environ.get(WORKER_ENV) == "1" and "RANK" in os.environ


def launch(nproc: int, podium_args: list[str], rendezvous: Rendezvous = Rendezvous()) -> int:
    """Run `podium <podium_args>` as `nproc` ranks and wait: the campaign's exit status (0, or 1 for no valid
    score), 128 + signum when stopped by a signal; TrainingError naming the rank when one failed."""
    host, port = rendezvous.address()
    store = None
    if rendezvous.node_rank == 0:
        store, port = _host_store(host, port)
    world = nproc * rendezvous.nnodes
    ranks: list[_Rank] = []
    try:
        for local in range(nproc):
            env = _rank_env(rendezvous.node_rank * nproc + local, local, nproc, world, rendezvous, host, port)
            ranks.append(_Rank.start(int(env["RANK"]), podium_args, env))
        return _supervise(ranks, world)
    finally:
        for r in ranks:
            r.end()
        del store


def _host_store(host: str, port: int) -> tuple[Any, int]:
    """Node 0's store, on a socket bound here to `host` (torch alone would listen on every interface)."""
    import torch.distributed as dist

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} for the ranks: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} for the ranks: {e.strerror or e}") from None
    port = sock.getsockname()[1]
    store = dist.TCPStore(host, port, is_master=True, wait_for_workers=False, master_listen_fd=sock.detach())
    return store, port


def _rank_env(rank: int, local: int, nproc: int, world: int, rdzv: Rendezvous, host: str,
              port: int) -> dict[str, str]:
    env = {**os.environ, WORKER_ENV: "1", "RANK": str(rank), "LOCAL_RANK": str(local), "WORLD_SIZE": str(world),
           "LOCAL_WORLD_SIZE": str(nproc), "GROUP_RANK": str(rdzv.node_rank), "MASTER_ADDR": host,
           "MASTER_PORT": str(port)}
    if nproc > 1:
        env.setdefault("OMP_NUM_THREADS", "1")   # as torchrun: N ranks each using every core oversubscribe
    if rdzv.single_node:   # gloo and NCCL listen on the interface they choose; on one node, loopback only
        for var in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
            env.setdefault(var, _loopback_interface())
    return env


def _loopback_interface() -> str:
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), "lo")


@dataclass
class _Rank:
    """One rank process. Rank 0's stderr is relayed line by line; the others' is held (their warnings repeat
    rank 0's, and a peer's failure makes them fail too) and shown only if that rank is the one that failed."""

    rank: int
    process: subprocess.Popen[str]
    error: str = ""
    last: str = ""
    relay: threading.Thread | None = None
    held: deque[str] = field(default_factory=lambda: deque(maxlen=HELD_LINES))
    ended_at: float = float("inf")

    @classmethod
    def start(cls, rank: int, podium_args: list[str], env: dict[str, str]) -> _Rank:
        process = subprocess.Popen([sys.executable, "-m", "podium", *podium_args], env=env, text=True,
                                   stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        r = cls(rank, process)
        r.relay = threading.Thread(target=r._relay, name=f"podium-rank-{rank}-stderr", daemon=True)
        r.relay.start()
        return r

    def _relay(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            text = line.rstrip("\n")
            if text.startswith(ERROR_PREFIX) or (self.rank != 0 and text.startswith("podium: ")):
                self.error = text.removeprefix(ERROR_PREFIX).removeprefix("podium: ")   # for the summary
            elif self.rank == 0:
                sys.stderr.write(line)
                sys.stderr.flush()
            else:
                self.held.append(line)
            self.last = text.strip() or self.last

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is not None and self.ended_at == float("inf"):
            self.ended_at = time.monotonic()
        return code

    @property
    def failed(self) -> bool:
        """Ended without finishing its campaign: 0 and 1 (no valid score) are a campaign that ran."""
        code = self.poll()
        return code is not None and code not in (0, 1)

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def end(self) -> None:
        """Kill the rank if it still runs (the launcher is leaving) and collect what it said."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.relay is not None:
            self.relay.join(timeout=5)

    def failure(self, world: int) -> str:
        code = self.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        return f"rank {self.rank} of {world} failed ({how}): {self.error or self.last or 'no error message'}"


def _supervise(ranks: list[_Rank], world: int) -> int:
    """Wait for the ranks; forward a stop signal; when one rank fails, stop the others (SIGTERM, then SIGKILL)."""
    stop: int | None = None
    culprit: _Rank | None = None
    deadline = float("inf")
    while any(r.poll() is None for r in ranks):
        try:
            time.sleep(POLL_S)
            if culprit is None and stop is None:
                culprit = min((r for r in ranks if r.failed), key=lambda r: (r.ended_at, r.rank), default=None)
                if culprit is not None:
                    deadline = time.monotonic() + STOP_GRACE_S
                    for r in ranks:
                        r.signal(signal.SIGTERM)
            if time.monotonic() > deadline:
                for r in ranks:
                    r.signal(signal.SIGKILL)
        except KeyboardInterrupt as e:   # Ctrl-C or SIGTERM to the launcher: each rank stops its campaign
            stop = signals.signum_of(e)
            for r in ranks:
                r.signal(stop)
    for r in ranks:
        r.end()
    if stop is not None:
        return signals.exit_code(stop)    # rank 0 said where the runs so far are kept
    if culprit is not None:
        sys.stderr.writelines(culprit.held)    # its traceback, if it printed one
        raise TrainingError(culprit.failure(world))
    return ranks[0].process.returncode


def join() -> tuple[Distribution, str]:
    """Join the ranks through node 0's store; returns this rank's Distribution and its torch device."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    _stop_when_launcher_exits()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend, device = "nccl", f"cuda:{local_rank}"
    else:
        backend, device = "gloo", "cpu"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timedelta(seconds=JOIN_TIMEOUT_S))
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)
    nodes = max(1, world // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return Distribution(rank=rank, world_size=world, barrier=dist.barrier, nodes=nodes,
                        slurm_job_id=os.environ.get("SLURM_JOB_ID")), device


def agree(value: Any) -> Any:
    """Rank 0's `value` on every rank (each node's launcher draws its own seed when none is given)."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def leave(finished: bool = True) -> None:
    """Leave the process group; after a finished campaign, only once every rank is done (node 0's launcher
    hosts the store and exits with its ranks)."""
    import torch.distributed as dist

    if dist.is_initialized():
        if finished:
            try:
                dist.barrier()
            except RuntimeError:     # a peer is gone after its campaign ended: this rank's campaign ran
                pass
        dist.destroy_process_group()


def _stop_when_launcher_exits() -> None:
    """The launcher holds this rank's stdin open and never writes: end of file means it is gone."""
    stdin = sys.stdin

    def watch() -> None:
        try:
            while stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            return
        os.kill(os.getpid(), signal.SIGTERM)

    if stdin is not None:
        threading.Thread(target=watch, name="podium-launcher-watch", daemon=True).start()
