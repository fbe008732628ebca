"""The metric base: a quality measure that accumulates batch by batch, and the score it computes.

The shape is torchmetrics' `Metric`: `update(predictions, targets)` per batch, `compute()` at the end, `reset()`
to start over, `merge(other)` to add another metric's state (another rank's, another worker's). A metric keeps only
a small, fixed-size state (counts, sums), never the outputs themselves. Inputs are numpy arrays, or anything
`numpy.asarray` takes (a CPU tensor); a metric says what one prediction is. A prediction it cannot score raises
`MetricInputError` naming its position in the batch, so that the caller can name the sample.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from podium.core.errors import PodiumError

if TYPE_CHECKING:
    from typing import Self

    import numpy.typing as npt


class MetricInputError(PodiumError):
    """A prediction or target a metric cannot score; `sample` is its position in the batch given to `update`."""

    def __init__(self, message: str, *, sample: int | None = None) -> None:
        super().__init__(message)
        self.sample = sample


@dataclass(frozen=True)
class Score:
    """What `Metric.compute` returns: the value (raw, in `units`) and, for metrics that count, how many samples
    were good out of `total`; `details` holds sub-scores (e.g. per-class AP), raw."""

    metric: str
    value: float
    units: str
    good: int | None
    total: int
    details: Mapping[str, float] = field(default_factory=dict)


class Metric(abc.ABC):
    """One quality metric, accumulating. Subclasses set `name`, `units` and `higher_is_better` and implement the
    five methods; `__init__` starts empty (through `reset`)."""

    name: ClassVar[str]
    units: ClassVar[str]
    higher_is_better: ClassVar[bool]

    def __init__(self) -> None:
        self.reset()

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every update: the state of a new metric."""

    @abc.abstractmethod
    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add one batch: `predictions[i]` is scored against `targets[i]`."""

    @abc.abstractmethod
    def compute(self) -> Score:
        """The score over every batch so far (the state is kept: more updates may follow)."""

    @abc.abstractmethod
    def merge(self, other: Self) -> None:
        """Add the state of `other` (the same metric, fed other batches) to this one."""

    @abc.abstractmethod
    def summary_line(self, score: Score) -> str:
        """The line the official accuracy script prints for this metric (what the submission checker parses)."""
