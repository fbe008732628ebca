"""What one timed run leaves behind (`RunRecord`), and the observer protocol that watches runs live.

Records are immutable; a campaign's summary (olympic score, convergence check) is derived from them and can be
recomputed from the raw values kept here.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class RunStatus(enum.Enum):
    """`run_stop` status, as logged (mllog constants SUCCESS / ABORTED)."""

    SUCCESS = "success"
    ABORTED = "aborted"


@dataclass(frozen=True)
class CheckVerdict:
    """One checker's judgement of one log or package: passed, and what it said when it did not."""

    tool: str
    passed: bool
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: where in training (epoch_num or samples_count), the metric, time since run_start."""

    progress: float
    value: float
    elapsed_ms: int


@dataclass(frozen=True)
class RunRecord:
    """One run: its seed, outcome, the logged run_start/run_stop times, evaluations, files and verdicts."""

    index: int
    seed: int
    status: RunStatus
    reason: str
    run_start_ms: int | None = None
    run_stop_ms: int | None = None
    evaluations: tuple[Evaluation, ...] = ()
    log_path: str | None = None
    model_files: tuple[str, ...] = ()
    compliance: CheckVerdict | None = None
    # The training feed's own measure (samples, samples_per_s, wait_s, wait_fraction: `podium.workloads.feed`),
    # for programs that load through one; None otherwise.
    data_loading: dict[str, Any] | None = None

    @property
    def converged(self) -> bool:
        return self.status is RunStatus.SUCCESS

    @property
    def duration_ms(self) -> int | None:
        """The score of this run: run_stop.time_ms - run_start.time_ms (training rules §Run results)."""
        if self.run_start_ms is None or self.run_stop_ms is None:
            return None
        return self.run_stop_ms - self.run_start_ms

    @property
    def to_converge(self) -> float | None:
        """Epochs (or samples) at the last evaluation: what the RCP checker reads ("epochs to converge")."""
        return self.evaluations[-1].progress if self.evaluations else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["duration_ms"] = self.duration_ms
        for evaluation in data["evaluations"]:   # strict JSON: a diverged metric is written as "nan" / "inf"
            if not math.isfinite(evaluation["value"]):
                evaluation["value"] = str(evaluation["value"])
        return data


class RunObserver(Protocol):
    """Live view of a campaign (the CLI's progress display implements it)."""

    def run_started(self, index: int, total: int, seed: int) -> None: ...

    def evaluated(self, index: int, evaluation: Evaluation) -> None: ...

    def run_finished(self, record: RunRecord) -> None: ...


@dataclass
class SilentObserver:
    """An observer that only keeps what it saw (tests use it)."""

    seen: list[tuple[str, Any]] = field(default_factory=list)

    def run_started(self, index: int, total: int, seed: int) -> None:
        self.seen.append(("started", index))

    def evaluated(self, index: int, evaluation: Evaluation) -> None:
        self.seen.append(("evaluated", evaluation))

    def run_finished(self, record: RunRecord) -> None:
        self.seen.append(("finished", record))
