"""The training workload declaration: what a workload is, as data; the harness (`podium.training`) owns the clock.

A workload names its datasets, model builder, optimizer recipe (and which hyperparameters closed division lets a
submitter tune), quality target, evaluation cadence, budget and MLPerf identity. The training loop itself is a
`Program`, built per run from the declaration and a `RunSpec`; the harness drives it block by block.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from podium.core.errors import ConfigError, RuleViolation
# Direction, Division and Precision are the shared vocabulary's; imported from here too, as before.
from podium.core.vocabulary import Direction, Division, Precision


class CadenceUnit(enum.Enum):
    """What evaluation cadence and budget count: epochs (`epoch_num` in the log) or samples (`samples_count`)."""

    EPOCHS = "epochs"
    SAMPLES = "samples"


@dataclass(frozen=True)
class QualityTarget:
    """The quality a run must reach; logged as `eval_accuracy` whatever the metric (MLPerf convention).

    `parts`: the further targets of an evaluation that answers several numbers, logged as one dict (Mask R-CNN's
    {"BBOX": box mAP, "SEGM": mask mAP}, closed_maskrcnn.yaml): such an evaluation holds `metric` and every part,
    and reaches the target when each reaches its own."""

    metric: str
    target: float
    direction: Direction = Direction.HIGHER
    parts: Mapping[str, float] = field(default_factory=dict)

    def reached(self, value: float | Mapping[str, float]) -> bool:
        if isinstance(value, Mapping):
            targets = {self.metric: self.target, **self.parts}
            return all(k in value and self._reaches(float(value[k]), t) for k, t in targets.items())
        return self._reaches(value, self.target)

    def headline(self, value: float | Mapping[str, float]) -> float:
        """The one number a run record keeps of an evaluation: `metric`'s part of a dict, else the value."""
        return float(value[self.metric]) if isinstance(value, Mapping) else float(value)

    def _reaches(self, value: float, target: float) -> bool:
        if not math.isfinite(value):
            return False
        return value >= target if self.direction is Direction.HIGHER else value <= target


@dataclass(frozen=True)
class EvalCadence:
    """Evaluate every `every` units, the first time after `first` units (default `every`)."""

    unit: CadenceUnit
    every: int
    first: int | None = None

    def boundaries(self, limit: int) -> list[int]:
        """Unit counts at which evaluations happen, up to and including `limit` (the budget)."""
        points, at = [], self.first or self.every
        while at < limit:
            points.append(at)
            at += self.every
        return points + [limit]


@dataclass(frozen=True)
class Rule:
    """A closed-division constraint on a tunable hyperparameter; `text` cites where the rule comes from."""

    text: str
    allows: Callable[[Any, Mapping[str, Any]], bool]   # (value, all resolved hyperparameters) -> ok


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, named by its mllog key (e.g. `opt_base_learning_rate`), with its reference value."""

    name: str
    value: Any
    tunable: bool = False           # closed division may change it
    rule: Rule | None = None        # constraint on a tuned value (closed division)
    logged: bool = True             # written to the mllog (False for Podium-only knobs)


@dataclass(frozen=True)
class Recipe:
    """Optimizer recipe: `opt_name`, batch per rank, accumulation, hyperparameters, default precision."""

    optimizer: str
    per_rank_batch_size: int
    hyperparameters: tuple[Hyperparameter, ...]
    gradient_accumulation_steps: int = 1
    precision: Precision = Precision.FP32

    def resolve(self, overrides: Mapping[str, Any], division: Division) -> dict[str, Any]:
        """Reference values with `overrides` applied; RuleViolation for what `division` forbids."""
        known = {h.name: h for h in self.hyperparameters}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(f"unknown hyperparameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        for name, value in overrides.items():
            _check_type(known[name], value)
        resolved = {h.name: overrides.get(h.name, h.value) for h in self.hyperparameters}
        if division is Division.CLOSED:
            for h in self.hyperparameters:
                _check_closed(h, resolved[h.name], resolved)
        return resolved


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(h: Hyperparameter, value: Any) -> None:
    """An override of a numeric hyperparameter must be a finite number (any division): a NaN learning rate or
    a string where a number belongs would only fail inside every run, after the previous results were gone."""
    if _is_number(h.value) and not (_is_number(value) and math.isfinite(value)):
        raise ConfigError(f"hyperparameter {h.name} must be a finite number, got {value!r}", key=h.name)
    if isinstance(h.value, bool) and not isinstance(value, bool):
        raise ConfigError(f"hyperparameter {h.name} must be true or false, got {value!r}", key=h.name)


def _check_closed(h: Hyperparameter, value: Any, resolved: Mapping[str, Any]) -> None:
    if not h.tunable and value != h.value:
        raise RuleViolation(f"closed division: {h.name} is fixed at {h.value!r}, got {value!r}",
                            rule="training rules §Hyperparameters: only the listed parameters may be tuned")
    if h.rule is not None and not h.rule.allows(value, resolved):
        raise RuleViolation(f"closed division: {h.name}={value!r} is not allowed", rule=h.rule.text)


@dataclass(frozen=True)
class MLPerfIdentity:
    """How the logs name the benchmark: `submission_benchmark`, the ruleset, and Podium rule files if any.

    `rules` is None for benchmarks the official checker knows; otherwise Podium's rule files for this
    benchmark (`closed_<name>.yaml`, `open_<name>.yaml`) ship under `podium/training/rules/training_<ruleset>/`.
    """

    benchmark: str
    ruleset: str
    own_rules: bool = False


@dataclass(frozen=True)
class ReferenceConvergence:
    """Reference runs' epochs (or samples) to converge at one global batch size: the RCP of this workload."""

    global_batch_size: int
    to_converge: tuple[float, ...]


@dataclass(frozen=True)
class RunSpec:
    """Everything a Program needs for one run; built by the harness."""

    seed: int
    hyperparameters: Mapping[str, Any]
    per_rank_batch_size: int
    gradient_accumulation_steps: int = 1
    precision: Precision = Precision.FP32
    rank: int = 0
    world_size: int = 1
    run_index: int = 0
    compile: bool = False
    device: str = "cpu"
    loader_workers: int | None = None   # data-loading worker processes per rank; None: the workload's default

    @property
    def global_batch_size(self) -> int:
        return self.per_rank_batch_size * self.world_size * self.gradient_accumulation_steps


class Program(Protocol):
    """One run's training program. The harness calls: build, load_data, then train/evaluate per block.

    `build` is untimed init: it may construct the model and optimizer but must not touch the dataset.
    `load_data` runs on the clock (training rules §Data set: the clock starts before the data is touched).
    """

    def build(self) -> None: ...

    def load_data(self) -> None: ...

    def train(self, samples: int) -> float:
        """Train on the next `samples` training samples (across ranks); return the mean loss."""
        ...

    def evaluate(self) -> float | Mapping[str, float]:
        """The quality now: one number, or a dict of the parts `QualityTarget.parts` names (logged as is)."""
        ...

    def save(self, directory: Path) -> list[Path]:
        """Write the trained model (state dict, ONNX) under `directory`; return the files written."""
        ...

    # Optional: `data_loading() -> dict | None`, the training feed's measure (`podium.workloads.feed.FeedStats`
    # as JSON), which the harness keeps in the run's record; `close()`, called when the run has ended (stops the
    # feed's worker processes).


@dataclass(frozen=True)
class DataLayout:
    """The official on-disk layout a workload reads from `podium train --data-path`.

    `bind(workload, path)` is the workload reading that path: its sample counts and `datasets` opened there (it
    lists the layout, refusing a wrong one in one line naming the path, but reads no sample: training rules
    §Data set). `generate(root, **options)` writes small data in the same layout, for tests and the tiny suite.
    """

    description: str
    bind: Callable[[Workload, Path], Workload]
    generate: Callable[..., Path]


@dataclass(frozen=True)
class Workload:
    """A training workload, declared as data. A new workload is one small file in `podium/workloads/`."""

    name: str
    summary: str
    identity: MLPerfIdentity
    quality: QualityTarget
    cadence: EvalCadence
    budget: int                                  # in cadence units: epochs or samples
    recipe: Recipe
    train_samples: int
    eval_samples: int
    program: Callable[[Workload, RunSpec], Program]
    datasets: Callable[[], Any] | None = None    # () -> (train, eval) splits, read inside load_data
    model: Callable[[], Any] | None = None       # () -> an untrained model
    input_shape: tuple[int, ...] | None = None   # one sample's shape: lets init warm up without the data
    prepare: Callable[[], None] | None = None    # untimed setup that does not touch the data (imports)
    reference: ReferenceConvergence | None = None
    runs: int | None = None                      # None: MLPerf's count for the benchmark
    extra_log: Mapping[str, Any] = field(default_factory=dict)  # fixed keys logged at init
    run_log: Callable[[RunSpec], Mapping[str, Any]] | None = None   # keys logged at init that the run decides
    init_events: tuple[tuple[str, Any, Mapping[str, Any]], ...] = ()   # (key, value, metadata) logged at init
    data: DataLayout | None = None               # the layout `--data-path` names; None: the workload brings its data
    bound_to: Path | None = None                 # the path `data.bind` read

    def with_data(self, path: Path | None) -> Workload:
        """This workload reading `path` (`--data-path`); a ConfigError naming the layout when one is needed and
        none was given, or when a path is given to a workload that brings its own data."""
        if self.data is None:
            if path is not None:
                raise ConfigError(f"workload {self.name} brings its own data: drop --data-path", key="--data-path")
            return self
        if path is None:
            raise ConfigError(f"workload {self.name} needs --data-path: {self.data.description} "
                              f"(`podium train {self.name} --generate-data DIR` writes a small one)",
                              key="--data-path")
        return self.data.bind(self, Path(path))
