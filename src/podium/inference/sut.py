"""What every runner is built from: the model it loads, its config, the batch queue and the base runner.

A runner is the system under test the load generator drives (`podium.inference.runners` has the inline and
thread-pool runners, `podium.inference.workers` the process pool). They share this module's parts, so both
import it and neither imports the other's module back.

A runner completes through a `Completer` (Podium's engine or the official LoadGen). Whatever goes wrong on a
batch's way fails the run through the engine at once and never ends a model instance's thread; after a failed
batch, further queries are refused (`SUTError`). Batches belong to the pass that issued them: when that pass
ends, batches still queued are dropped and late outputs of batches in flight are dropped and counted
(`late_samples`), never completed into the next pass.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from podium.core.errors import ConfigError, SUTError
from podium.core.vocabulary import RunnerKind
from podium.inference.backends import BACKENDS, BackendOptions, LoadedModel
from podium.inference.backends.base import IONames
from podium.inference.completion import Completer, LateCompletion
from podium.inference.tasks import POSTPROCESSORS, PREDICTORS, GraphForm, resolve


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to load one model instance, in this process or another (picklable).

    `forms` are the task's graph forms (or the one the command line gave), tried in order on the loaded model;
    `predictor`, when set, serves batches instead of "run the graph, then post-process".
    """

    backend: str
    path: str
    options: BackendOptions = field(default_factory=BackendOptions)
    torch_model: str | None = None  # "module:function" for state dicts
    forms: tuple[GraphForm, ...] = (GraphForm("logits", "argmax"),)
    predictor: str | None = None  # a name in PREDICTORS
    io_names: IONames | None = None  # a PyTorch model's input name(s) and output names
    example_input: np.ndarray | None = None  # one batch for the untimed warm-up

    def load(self) -> ServedModel:
        from pathlib import Path

        factory = resolve(self.torch_model) if self.torch_model else None
        # "module:attribute" names a backend factory outside the registry (importable in worker processes too)
        backend = resolve(self.backend)() if ":" in self.backend else BACKENDS.get(self.backend)
        model = backend.load(Path(self.path), self.options, model_factory=factory, example_input=self.example_input,
                             **({"io_names": self.io_names} if self.io_names else {}))
        try:
            return ServedModel(model, self._form(model), self.predictor)
        except BaseException:
            model.close()
            raise

    def _form(self, model: LoadedModel) -> GraphForm:
        """The first form whose outputs the model has (and whose class count its first output has)."""
        tried = []
        for form in self.forms:
            if not set(form.outputs) <= set(model.output_names):
                tried.append(f"{form.name} (outputs {', '.join(form.outputs)})")
                continue
            model.select(form.outputs)
            width = self._width(model)
            if form.classes is None or width == form.classes:
                return form
            tried.append(f"{form.name} ({form.classes} classes; the graph answers {width})")
        raise ConfigError(f"the model's outputs ({', '.join(model.output_names)}) fit none of the forms of this "
                          f"benchmark: {'; '.join(tried)}; name them with --outputs and --postprocess",
                          path=self.path, key="outputs")

    def _width(self, model: LoadedModel) -> int | None:
        """The last dimension of the first output read: as declared, or as answered on the example batch."""
        shape = model.output_shape(model.fetch[0])
        if (shape is None or not shape or shape[-1] is None) and self.example_input is not None:
            shape = model.run(self.example_input[:1])[0].shape
        return None if not shape or shape[-1] is None else int(shape[-1])


class ServedModel:
    """A loaded model and how it answers a batch: the graph form's outputs through its post-processor, or the
    task's predictor. What the runners hold, one per model instance."""

    def __init__(self, model: LoadedModel, form: GraphForm, predictor: str | None = None) -> None:
        self.model, self.form = model, form
        if predictor is not None:
            predict = PREDICTORS.get(predictor)
            self.respond: Callable[[Any, Sequence[int]], Any] = lambda samples, indices: predict(model, samples,
                                                                                                   indices)
        else:
            post, run = POSTPROCESSORS.get(form.postprocess), model.run
            self.respond = lambda samples, indices: post(run(samples), indices)

    def describe(self) -> dict[str, Any]:
        return {**self.model.describe(), "graph_form": self.form.describe()}

    def close(self) -> None:
        self.model.close()


@dataclass(frozen=True)
class RunnerConfig:
    """How samples are grouped and served: batch size, wait for a fuller batch, model instances."""

    kind: RunnerKind = RunnerKind.POOL  # the text ("inline", "pool", "processes") is taken too
    batch_size: int = 1
    max_wait_us: int = 0  # how long a partial batch waits for more samples (0: take what is queued)
    instances: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RunnerKind.parse(self.kind))  # frozen: the text to its member, once
        for name, least in (("batch_size", 1), ("max_wait_us", 0), ("instances", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"runner {name} must be an integer >= {least}, not {value!r}", key=name)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "batch_size": self.batch_size, "max_wait_us": self.max_wait_us,
                "instances": self.instances}


class BatchQueue:
    """Samples waiting for a model instance. Single samples are gathered into batches on `take`; a large
    query (Offline) is split into full batches when it is put. `generation` counts the passes: a batch is
    taken with the generation it was put in, and `new_generation` drops what is still queued."""

    def __init__(self, max_batch: int, max_wait_ns: int) -> None:
        self.max_batch, self.max_wait_ns = max(1, max_batch), max(0, max_wait_ns)
        self._items: deque[tuple[Any, Any]] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self.generation = 0

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

    def new_generation(self) -> int:
        """Start a new pass: drop the samples still queued (returns how many) and bump `generation`."""
        with self._cv:
            self.generation += 1
            return self._drop()

    def close(self) -> None:
        """No more batches: instances waiting in `take` get None; nothing queued is served any more."""
        with self._cv:
            self._closed = True
            self._drop()
            self._cv.notify_all()

    def _drop(self) -> int:
        dropped = sum(1 if isinstance(i, int) else len(i) for i, _ in self._items)
        self._items.clear()
        return dropped

    def take(self) -> tuple[Sequence[int], list[int]] | None:
        """The next batch (ids, QSL indices), waiting for one; None once closed."""
        batch = self.next_batch()
        return None if batch is None else batch[:2]

    def next_batch(self) -> tuple[Sequence[int], list[int], int] | None:
        """As `take`, with the generation the batch was queued in."""
        with self._cv:
            while not self._items:
                if self._closed:
                    return None
                self._cv.wait(0.1)
            first = self._items.popleft()
            ids, indices = first if not isinstance(first[0], int) else self._gather(first)
            return ids, indices, self.generation

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


class BaseRunner:
    """What all runners share: the dataset, post-processing, the completer, the failed state, and the gate
    that keeps a batch of one pass out of the next."""

    name = "PodiumRunner"
    queue: BatchQueue | None = None

    def __init__(self, spec: ModelSpec, dataset: Any, completer: Completer, config: RunnerConfig) -> None:
        self.spec, self.dataset, self.completer, self.config = spec, dataset, completer, config
        self.failed = False
        self.late_samples = 0  # samples dropped because their pass had ended: late outputs, batches still queued
        self._gate = threading.Lock()  # held while completing, and while a pass ends
        self._generation = 0  # this runner's passes (a runner without a queue counts its own)

    @property
    def generation(self) -> int:
        return self.queue.generation if self.queue is not None else self._generation

    def _serve(self, model: ServedModel, ids: Sequence[int], indices: list[int], generation: int) -> None:
        """Predict one batch and complete it; any failure on the way fails the pass, never the thread."""
        try:
            outputs = model.respond(self.dataset.get_samples(indices), indices)
        except KeyboardInterrupt:  # Ctrl-C / SIGTERM on the engine's thread (inline): the run is aborted
            raise
        except BaseException as e:  # noqa: BLE001 - every failure is reported with its samples
            self._fail_batch(ids, e, generation)
            return
        self._complete(ids, outputs, generation)

    def _complete(self, ids: Sequence[int], outputs: Any, generation: int) -> None:
        with self._gate:
            if generation != self.generation:
                self._late(len(ids))
                return
            try:
                self.completer.complete(ids, outputs)
            except LateCompletion:
                self._late(len(ids))
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # noqa: BLE001 - e.g. outputs the task's encoding cannot hold
                self._fail_locked(ids, e)

    def _fail_batch(self, ids: Sequence[int], error: BaseException, generation: int) -> None:
        with self._gate:
            if generation != self.generation:  # a batch of a pass that ended: nothing to fail any more
                self._late(len(ids))
                return
            self._fail_locked(ids, error)

    def _fail_locked(self, ids: Sequence[int], error: BaseException) -> None:
        self.failed = True
        try:
            self.completer.fail(ids, error)
        except Exception as e:  # noqa: BLE001 - the thread must live on: the run is failed already
            print(f"podium: could not report a failed batch to the load generator: {type(e).__name__}: {e}",
                  file=sys.stderr, flush=True)

    def _late(self, n: int, what: str = "outputs of") -> None:
        """Count (and say once) samples dropped because their pass had ended; the record has the count.
        Called with the gate held."""
        if not self.late_samples:
            print(f"podium: dropped the {what} {n} samples whose pass had ended (the run's record counts them "
                  "as late_samples)", file=sys.stderr, flush=True)
        self.late_samples += n

    def end_pass(self) -> None:
        """The engine is done with the current pass: queued batches are dropped, later outputs too."""
        with self._gate:
            if self.queue is None:
                self._generation += 1
                return
            dropped = self.queue.new_generation()
            if dropped:
                self._late(dropped, "queued batches of")

    def _refuse_if_failed(self) -> None:
        if self.failed:
            raise SUTError("the runner stopped after a failed batch; see the run's errors")

    def flush_queries(self) -> None:
        pass

    def samples_loaded(self) -> None:
        """The engine loaded a sample set for a new pass (process runners copy it to shared memory): nothing
        of an earlier pass may reach it, even when that pass ended without unloading (an engine error)."""
        self.end_pass()

    def samples_unloaded(self) -> None:
        """The engine unloads a pass's samples: that pass has ended (both engines unload after the wait)."""
        self.end_pass()

    def describe(self) -> dict[str, Any]:
        return self.config.describe()


class QueueFed(BaseRunner):
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
