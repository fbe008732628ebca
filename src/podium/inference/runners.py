"""Runners: the systems under test that connect the load generator to a backend.

- `InlineRunner` predicts inside `issue_query`, on the engine's thread (SingleStream: one query at a time).
- `ThreadPoolRunner` batches samples from a queue (max batch size, max wait) into several model instances,
  one thread each; the runtimes release the GIL while they compute (MultiStream, Server, Offline).
- `ProcessPoolRunner` (`podium.inference.workers`) runs the instances in processes that read the loaded
  samples from shared memory, for pre/post-processing that would hold the GIL.

Every runner completes through a `Completer` (Podium's engine or the official LoadGen). After a batch failed,
further queries are refused (`SUTError`), which ends issuing at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.backends import BACKENDS, BackendOptions, LoadedModel
from podium.inference.completion import Completer
from podium.inference.tasks import POSTPROCESSORS, resolve


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to load one model instance, in this process or another (picklable)."""

    backend: str
    path: str
    options: BackendOptions = field(default_factory=BackendOptions)
    torch_model: str | None = None  # "module:function" for state dicts
    postprocess: str = "argmax"
    example_input: np.ndarray | None = None  # one batch for the untimed warm-up

    def load(self) -> LoadedModel:
        from pathlib import Path

        factory = resolve(self.torch_model) if self.torch_model else None
        # "module:attribute" names a backend factory outside the registry (importable in worker processes too)
        backend = resolve(self.backend)() if ":" in self.backend else BACKENDS.get(self.backend)
        return backend.load(Path(self.path), self.options, model_factory=factory, example_input=self.example_input)


@dataclass(frozen=True)
class RunnerConfig:
    """How samples are grouped and served: batch size, wait for a fuller batch, model instances."""

    kind: str = "pool"  # "inline" | "pool" (threads) | "processes"
    batch_size: int = 1
    max_wait_us: int = 0  # how long a partial batch waits for more samples (0: take what is queued)
    instances: int = 1

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "batch_size": self.batch_size, "max_wait_us": self.max_wait_us,
                "instances": self.instances}


class BatchQueue:
    """Samples waiting for a model instance. Single samples are gathered into batches on `take`; a large
    query (Offline) is split into full batches when it is put."""

    def __init__(self, max_batch: int, max_wait_ns: int) -> None:
        self.max_batch, self.max_wait_ns = max(1, max_batch), max(0, max_wait_ns)
        self._items: deque[tuple[Any, Any]] = deque()
        self._cv = threading.Condition()
        self._closed = False

    def put_one(self, i: int, index: int) -> None:
        with self._cv:
            self._items.append((i, index))
            self._cv.notify()

    def put_many(self, ids: Sequence[int], indices: list[int]) -> None:
        m = self.max_batch
        chunks = [(ids[k:k + m], indices[k:k + m]) for k in range(0, len(indices), m)]
        with self._cv:
            self._items.extend(chunks)
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def take(self) -> tuple[Sequence[int], list[int]] | None:
        """The next batch (ids, QSL indices), waiting for one; None once closed and drained."""
        with self._cv:
            while not self._items:
                if self._closed:
                    return None
                self._cv.wait(0.1)
            first = self._items.popleft()
            if not isinstance(first[0], int):
                return first
            return self._gather(first)

    def _gather(self, first: tuple[int, int]) -> tuple[list[int], list[int]]:
        ids, indices = [first[0]], [first[1]]
        items, deadline = self._items, time.perf_counter_ns() + self.max_wait_ns
        while len(ids) < self.max_batch:
            if items:
                if not isinstance(items[0][0], int):
                    break
                i, x = items.popleft()
                ids.append(i)
                indices.append(x)
                continue
            remaining = deadline - time.perf_counter_ns()
            if remaining <= 0 or self._closed:
                break
            self._cv.wait(remaining / 1e9)
        return ids, indices


class _Runner:
    """What all runners share: the dataset, post-processing, the completer, the failed state."""

    name = "PodiumRunner"

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        self.spec, self.dataset, self.completer, self.config = spec, dataset, completer, config
        self.postprocess = POSTPROCESSORS[spec.postprocess]
        self.failed = False

    def _serve(self, model: LoadedModel, ids: Sequence[int], indices: list[int]) -> None:
        try:
            outputs = self.postprocess(model.predict(self.dataset.get_samples(indices)))
        except BaseException as e:  # noqa: BLE001 - every failure is reported with its samples
            self.failed = True
            self.completer.fail(ids, e)
            return
        self.completer.complete(ids, outputs)

    def _refuse_if_failed(self) -> None:
        if self.failed:
            raise SUTError("the runner stopped after a failed batch; see the run's errors")

    def flush_queries(self) -> None:
        pass

    def samples_loaded(self) -> None:
        """The engine loaded a sample set (process runners copy it to shared memory)."""

    def samples_unloaded(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return self.config.describe()


class InlineRunner(_Runner):
    """Predicts on the engine's thread, one query at a time (SingleStream; a baseline for the others)."""

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        super().__init__(spec, dataset, completer, config)
        self.model: LoadedModel | None = None

    def start(self) -> None:
        self.model = self.spec.load()

    def stop(self) -> None:
        if self.model is not None:
            self.model.close()

    def issue_query(self, ids: Sequence[int], indices: list[int]) -> None:
        self._refuse_if_failed()
        m = self.config.batch_size
        for k in range(0, len(indices), m):
            self._serve(self.model, ids[k:k + m], indices[k:k + m])
            if self.failed:
                return

    def issue_one(self, i: int, index: int) -> None:
        self._refuse_if_failed()
        self._serve(self.model, (i,), [index])


class QueueFed(_Runner):
    """Runners whose model instances take batches from `self.queue` (a `BatchQueue`)."""

    queue: BatchQueue

    def issue_query(self, ids: Sequence[int], indices: list[int]) -> None:
        self._refuse_if_failed()
        if len(indices) == 1:
            self.queue.put_one(ids[0], indices[0])
        else:
            self.queue.put_many(ids, indices)

    def issue_one(self, i: int, index: int) -> None:
        self._refuse_if_failed()
        self.queue.put_one(i, index)


class ThreadPoolRunner(QueueFed):
    """`instances` model instances, one thread each, fed by a `BatchQueue`."""

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        super().__init__(spec, dataset, completer, config)
        self.queue = BatchQueue(config.batch_size, config.max_wait_us * 1000)
        self.models: list[LoadedModel] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.models = [self.spec.load() for _ in range(self.config.instances)]
        for k, model in enumerate(self.models):
            t = threading.Thread(target=self._work, args=(model,), name=f"podium-instance-{k}", daemon=True)
            t.start()
            self.threads.append(t)

    def _work(self, model: LoadedModel) -> None:
        take, serve = self.queue.take, self._serve
        while (batch := take()) is not None:
            serve(model, *batch)

    def stop(self) -> None:
        self.queue.close()
        for t in self.threads:
            t.join(timeout=30)
        for m in self.models:
            m.close()


def make_runner(spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> _Runner:
    """The runner `config.kind` names."""
    if config.kind == "inline":
        return InlineRunner(spec, dataset, completer, config)
    if config.kind == "pool":
        return ThreadPoolRunner(spec, dataset, completer, config)
    if config.kind == "processes":
        from podium.inference.workers import ProcessPoolRunner

        return ProcessPoolRunner(spec, dataset, completer, config)
    from podium.core.errors import UnknownNameError

    raise UnknownNameError(f"unknown runner {config.kind!r}; known: inline, pool, processes")
