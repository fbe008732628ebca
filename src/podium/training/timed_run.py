"""One timed run, per MLPerf Training's rules: untimed init within budget, then the clock, then stop at target.

Order (training rules §Run results, §Data set): cache_clear; init_start; submission, seed and hyperparameter keys;
the model is built (untimed, budget 30 min closed / 4 h open, checked); init_stop; run_start, before anything
touches the dataset; data load, training and evaluation all on the clock; run_stop at the first evaluation that
reaches the target (status success) or when the budget runs out (aborted). Score = run_stop - run_start.
"""

from __future__ import annotations

import gc
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from podium.core import signals
from podium.core.errors import InitBudgetExceeded, NonFiniteLoss
from podium.training.log_keys import Submission, run_keys, submission_keys
from podium.training.mllog import MLLogWriter
from podium.training.run_record import Evaluation, RunObserver, RunRecord, RunStatus, SilentObserver
from podium.workloads.base import CadenceUnit, Program, RunSpec, Workload


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM inside a run: the run was closed as aborted; its record and the signal travel with it."""

    def __init__(self, record: RunRecord, signum: int) -> None:
        super().__init__(signals.describe(signum))
        self.record = record
        self.signum = signum


def clear_caches() -> None:
    """What a process can flush by itself before a run (training rules §Cache: no data may stay in RAM).

    The OS page cache needs root (`sync; echo 3 > /proc/sys/vm/drop_caches`); run Podium under a wrapper that
    does it when the dataset is large enough to matter.
    """
    gc.collect()


@dataclass
class TimedRun:
    """Drives one Program through one run and writes its mllog; `sync` is a barrier across ranks."""

    workload: Workload
    spec: RunSpec
    submission: Submission
    log: MLLogWriter
    observer: RunObserver = field(default_factory=SilentObserver)
    sync: Callable[[], None] = lambda: None
    program: Program | None = None
    _evaluations: list[Evaluation] = field(default_factory=list)

    def execute(self) -> RunRecord:
        """Run to target or budget; failures end the run as aborted and are recorded, never raised."""
        try:
            status, reason = self._timed()
        except KeyboardInterrupt as e:
            self._interrupted(signals.signum_of(e))
        except (NonFiniteLoss, InitBudgetExceeded) as e:
            status, reason = RunStatus.ABORTED, str(e)
        except Exception as e:     # a failing run must not take the others down; keep its story
            stop = signals.received()
            if stop is not None:   # e.g. a peer rank that the same signal stopped: this run was stopped too
                self._interrupted(stop)
            last = traceback.extract_tb(e.__traceback__)[-1]
            status, reason = RunStatus.ABORTED, f"{type(e).__name__}: {e} ({last.filename}:{last.lineno})"
        return self._close(status, reason)

    def _interrupted(self, signum: int) -> NoReturn:
        """Close the run as aborted, naming the signal; no barrier: the other ranks may have stopped elsewhere."""
        record = self._close(RunStatus.ABORTED, signals.describe(signum), sync=False)
        raise RunInterrupted(record, signum) from None

    def _timed(self) -> tuple[RunStatus, str]:
        program = self._init()
        self.sync()
        self.log.start("run_start")
        program.load_data()
        for first, last in self._blocks():
            loss = self._train_block(program, first, last)
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"non-finite training loss {loss} in block ending at {last}")
            signals.raise_if_received()   # a stop swallowed during the block (see podium.core.signals)
            if self._evaluate(program, first, last):
                return RunStatus.SUCCESS, "target reached"
            signals.raise_if_received()
        return RunStatus.ABORTED, f"budget of {self.workload.budget} {self.workload.cadence.unit.value} exhausted"

    def _init(self) -> Program:
        clear_caches()
        self.log.event("cache_clear", True)
        init_start_ms = self.log.start("init_start")
        for key, value in submission_keys(self.workload, self.submission) + run_keys(self.workload, self.spec):
            self.log.event(key, value)
        for key, value, metadata in self.workload.init_events:   # e.g. SSD's weights_initialization per tensor
            self.log.event(key, value, metadata=dict(metadata))
        if self.workload.prepare is not None:
            self.workload.prepare()
        program = self.program = self.workload.program(self.workload, self.spec)
        program.build()
        self.sync()
        init_stop_ms = self.log.end("init_stop")
        budget_ms = self.submission.division.init_budget_ms
        if init_stop_ms - init_start_ms >= budget_ms:
            self.log.start("run_start")   # the clock starts when the budget is exceeded (§Data set)
            raise InitBudgetExceeded(f"initialization took {init_stop_ms - init_start_ms} ms; the "
                                     f"{self.submission.division.value} budget is {budget_ms} ms")
        return program

    def _blocks(self) -> list[tuple[int, int]]:
        """(first, last) unit of each block: epochs numbered from 1, samples counted from 0."""
        bounds = self.workload.cadence.boundaries(self.workload.budget)
        if self.workload.cadence.unit is CadenceUnit.EPOCHS:
            return [(a + 1, b) for a, b in zip([0] + bounds[:-1], bounds)]
        return list(zip([0] + bounds[:-1], bounds))

    def _train_block(self, program: Program, first: int, last: int) -> float:
        if self.workload.cadence.unit is CadenceUnit.SAMPLES:
            self.log.start("block_start", metadata={"samples_count": first})
            loss = program.train(last - first)
            return loss
        self.log.start("block_start", metadata={"first_epoch_num": first, "epoch_count": last - first + 1})
        losses = []
        for epoch in range(first, last + 1):
            signals.raise_if_received()
            self.log.start("epoch_start", metadata={"epoch_num": epoch})
            losses.append(program.train(self.workload.train_samples))
            self.log.end("epoch_stop", metadata={"epoch_num": epoch})
        return sum(losses) / len(losses)

    def _evaluate(self, program: Program, first: int, last: int) -> bool:
        at = {"samples_count": last} if self.workload.cadence.unit is CadenceUnit.SAMPLES else {"epoch_num": last}
        self.log.start("eval_start", metadata=at)
        value = program.evaluate()
        now_ms = self.log.event("eval_accuracy", value, metadata=at)
        self.log.end("eval_stop", metadata=at)
        end = {"samples_count": last} if "samples_count" in at else {"first_epoch_num": first}
        self.log.end("block_stop", metadata=end)
        evaluation = Evaluation(progress=last, value=self.workload.quality.headline(value),
                                elapsed_ms=now_ms - self.log.last_time_ms["run_start"])
        self._evaluations.append(evaluation)
        self.observer.evaluated(self.spec.run_index, evaluation)
        return self.workload.quality.reached(value)

    def _close(self, status: RunStatus, reason: str, sync: bool = True) -> RunRecord:
        """Log run_stop (if the clock started) and build the record."""
        start_ms = self.log.last_time_ms.get("run_start")
        stop_ms = None
        if start_ms is not None:
            if sync:
                self.sync()
            stop_ms = self.log.end("run_stop", metadata={"status": status.value})
        self.log.close()
        loading = getattr(self.program, "data_loading", None)   # optional in the Program protocol
        return RunRecord(index=self.spec.run_index, seed=self.spec.seed, status=status, reason=reason,
                         run_start_ms=start_ms, run_stop_ms=stop_ms, evaluations=tuple(self._evaluations),
                         data_loading=loading() if callable(loading) else None)
