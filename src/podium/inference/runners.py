"""Runners: the systems under test that connect the load generator to a backend.

- `InlineRunner` predicts inside `issue_query`, on the engine's thread (SingleStream: one query at a time).
- `ThreadPoolRunner` batches samples from a queue (max batch size, max wait) into several model instances,
  one thread each; the runtimes release the GIL while they compute (MultiStream, Server, Offline).
- `ProcessPoolRunner` (`podium.inference.workers`) runs the instances in processes that read the loaded
  samples from shared memory, for pre/post-processing that would hold the GIL.

What they share (the model spec, the runner config, the batch queue, failure and pass handling) is in
`podium.inference.sut`, which the process pool imports too: runners -> workers -> sut, never back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from podium.core.vocabulary import RunnerKind
from podium.inference.completion import Completer
# The parts every runner shares live in `podium.inference.sut`; imported from here too, as before.
from podium.inference.sut import BaseRunner, BatchQueue, ModelSpec, QueueFed, RunnerConfig, ServedModel

__all__ = ["BaseRunner", "BatchQueue", "InlineRunner", "ModelSpec", "QueueFed", "RunnerConfig", "ServedModel",
           "ThreadPoolRunner", "make_runner"]


class InlineRunner(BaseRunner):
    """Predicts on the engine's thread, one query at a time (SingleStream; a baseline for the others)."""

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        super().__init__(spec, dataset, completer, config)
        self.model: ServedModel | None = None

    def start(self) -> None:
        self.model = self.spec.load()

    def stop(self) -> None:
        if self.model is not None:
            self.model.close()

    def issue_query(self, ids: Sequence[int], indices: list[int]) -> None:
        self._refuse_if_failed()
        m, generation = self.config.batch_size, self.generation
        for k in range(0, len(indices), m):
            self._serve(self.model, ids[k:k + m], indices[k:k + m], generation)
            if self.failed:
                return

    def issue_one(self, i: int, index: int) -> None:
        self._refuse_if_failed()
        self._serve(self.model, (i,), [index], self.generation)


class ThreadPoolRunner(QueueFed):
    """`instances` model instances, one thread each, fed by a `BatchQueue`."""

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        super().__init__(spec, dataset, completer, config)
        self.queue = BatchQueue(config.batch_size, config.max_wait_us * 1000)
        self.models: list[ServedModel] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.models = [self.spec.load() for _ in range(self.config.instances)]
        for k, model in enumerate(self.models):
            t = threading.Thread(target=self._work, args=(model,), name=f"podium-instance-{k}", daemon=True)
            t.start()
            self.threads.append(t)

    def _work(self, model: ServedModel) -> None:
        take, serve = self.queue.next_batch, self._serve
        while (batch := take()) is not None:
            serve(model, *batch)

    def stop(self) -> None:
        self.queue.close()
        for t in self.threads:
            t.join(timeout=30)
        for m in self.models:
            m.close()


def make_runner(spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> BaseRunner:
    """The runner `config.kind` names."""
    if config.kind is RunnerKind.PROCESSES:
        from podium.inference.workers import ProcessPoolRunner  # multiprocessing, only when asked for

        return ProcessPoolRunner(spec, dataset, completer, config)
    kinds: dict[RunnerKind, type[BaseRunner]] = {RunnerKind.INLINE: InlineRunner, RunnerKind.POOL: ThreadPoolRunner}
    return kinds[config.kind](spec, dataset, completer, config)
