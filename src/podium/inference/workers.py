"""Model instances in worker processes, reading the loaded samples from shared memory.

For pre/post-processing in Python that would hold the GIL, each instance runs in its own process. The
engine's loaded sample set is copied once into a `multiprocessing.shared_memory` block; a batch crosses the
process boundary as row numbers one way and post-processed outputs the other. A dispatcher thread per worker
sends it batches from the shared `BatchQueue` and watches the process: a worker that dies mid-run fails the
run at once (its samples are named), it does not hang it.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.completion import Completer
from podium.inference.sut import BatchQueue, ModelSpec, QueueFed, RunnerConfig

# How often a dispatcher waiting for a reply checks that its worker is alive.
_POLL_S = 0.05
# A worker must load its model within this time.
START_TIMEOUT_S = 300.0


def _worker_main(conn: Connection, spec: ModelSpec) -> None:
    """A worker process: load the model, then answer requests until told to stop."""
    try:
        model = spec.load()
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
        return
    conn.send(("ready", model.describe()))
    shm: SharedMemory | None = None
    samples: np.ndarray | None = None
    while True:
        msg = conn.recv()
        if msg[0] == "batch":
            try:
                conn.send(("ok", model.respond(samples[msg[1]], msg[2])))
            except BaseException as e:  # noqa: BLE001 - the parent fails the run with it
                conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
        elif msg[0] == "attach":
            samples = None
            if shm is not None:
                shm.close()
            shm = SharedMemory(name=msg[1])
            samples = np.ndarray(msg[2], dtype=msg[3], buffer=shm.buf)
            conn.send(("attached",))
        elif msg[0] == "stop":
            samples = None
            if shm is not None:
                shm.close()
            model.close()
            return


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, ctx: Any, spec: ModelSpec, k: int) -> None:
        self.k = k
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, spec), name=f"podium-worker-{k}", daemon=True)
        self.proc.start()
        child.close()
        self.lock = threading.Lock()

    def request(self, msg: tuple, timeout_s: float | None = None) -> tuple:
        """Send `msg` and wait for the reply; SUTError when the process dies or the wait times out."""
        with self.lock:
            try:
                self.conn.send(msg)
            except (BrokenPipeError, OSError):
                raise self._died() from None
            return self.reply(timeout_s)

    def reply(self, timeout_s: float | None = None) -> tuple:
        waited = 0.0
        while not self.conn.poll(_POLL_S):
            waited += _POLL_S
            if not self.proc.is_alive():
                raise self._died()
            if timeout_s is not None and waited >= timeout_s:
                raise SUTError(f"worker process {self.k} (pid {self.proc.pid}) did not answer in {timeout_s:g} s")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise self._died() from None

    def _died(self) -> SUTError:
        self.proc.join(timeout=1)
        return SUTError(f"worker process {self.k} (pid {self.proc.pid}) exited with code {self.proc.exitcode}")


class ProcessPoolRunner(QueueFed):
    """`instances` worker processes fed by a `BatchQueue`; samples in shared memory."""

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        super().__init__(spec, dataset, completer, config)
        self.queue = BatchQueue(config.batch_size, config.max_wait_us * 1000)
        self.workers: list[_Worker] = []
        self.threads: list[threading.Thread] = []
        self.shm: SharedMemory | None = None
        self.row_of: dict[int, int] = {}
        self.worker_info: list[dict[str, Any]] = []

    def start(self) -> None:
        ctx = mp.get_context("spawn")  # fork would copy the runtimes' thread pools into the children
        self.workers = [_Worker(ctx, self.spec, k) for k in range(self.config.instances)]
        for w in self.workers:
            reply = w.reply(START_TIMEOUT_S)
            if reply[0] != "ready":
                self.stop()
                raise SUTError(f"worker process {w.k} could not load the model: {reply[1]}")
            self.worker_info.append(reply[1])
        for w in self.workers:
            t = threading.Thread(target=self._dispatch, args=(w,), name=f"podium-dispatch-{w.k}", daemon=True)
            t.start()
            self.threads.append(t)

    def samples_loaded(self) -> None:
        """Copy the dataset's loaded samples into one shared block and attach every worker to it."""
        super().samples_loaded()
        array, self.row_of = self.dataset.loaded_array()
        self._release_shm()
        self.shm = SharedMemory(create=True, size=max(1, array.nbytes))
        np.ndarray(array.shape, dtype=array.dtype, buffer=self.shm.buf)[...] = array
        for w in self.workers:
            w.request(("attach", self.shm.name, array.shape, array.dtype), START_TIMEOUT_S)

    def samples_unloaded(self) -> None:
        super().samples_unloaded()
        self.row_of = {}

    def _release_shm(self) -> None:
        if self.shm is not None:
            self.shm.close()
            self.shm.unlink()
            self.shm = None

    def _dispatch(self, w: _Worker) -> None:
        """Send `w` batches until the queue closes; a batch that fails fails the pass, a dead worker the run."""
        take = self.queue.next_batch
        while (batch := take()) is not None:
            ids, indices, generation = batch
            try:
                rows = np.fromiter((self.row_of[i] for i in indices), dtype=np.int64, count=len(indices))
            except KeyError as e:  # samples not loaded (a batch of a pass whose samples were unloaded)
                self._fail_batch(ids, SUTError(f"sample {e.args[0]} is not loaded"), generation)
                continue
            try:
                reply = w.request(("batch", rows, indices))
            except BaseException as e:  # noqa: BLE001 - a dead worker fails the run, naming the samples
                self._instance_lost(ids, e)
                return
            if reply[0] == "ok":
                self._complete(ids, reply[1], generation)
            else:
                self._fail_batch(ids, SUTError(f"worker process {w.k}: {reply[1]}"), generation)

    def _instance_lost(self, ids: Sequence[int], error: BaseException) -> None:
        """A worker process died: whatever pass its batch was of, the runner is short of an instance now."""
        with self._gate:
            self._fail_locked(ids, error)

    def stop(self) -> None:
        self.queue.close()
        for t in self.threads:
            t.join(timeout=30)
        for w in self.workers:
            if w.proc.is_alive():
                try:
                    w.conn.send(("stop",))
                except OSError:
                    pass
            w.proc.join(timeout=10)
            if w.proc.is_alive():
                w.proc.kill()
        self._release_shm()

    def describe(self) -> dict[str, Any]:
        return {**self.config.describe(), "worker_pids": [w.proc.pid for w in self.workers]}
