"""Scripted workloads: no training, the eval metric follows a given curve; they drive the harness end to end.

`scripted-resnet50` (closed ResNet-50 v1.5, ruleset 4.0.0, LARS) and `scripted-llama31-8b` (closed Llama 3.1 8B,
ruleset 6.1.0) write logs with the real benchmarks' keys, hyperparameters, cadences and targets, so that the
official checkers can judge the harness's logs without a GPU cluster. `Fault`s make a run fail on purpose.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Rule, RunSpec, Workload)


@dataclass(frozen=True)
class Curve:
    """Metric against progress (epochs or samples): from `start` to `end` along a square-root ease, reached at
    `converge_at` x (1 + u x `jitter`), u uniform in [-1, 1] drawn from the run's seed."""

    start: float
    end: float
    converge_at: float
    jitter: float = 0.0

    def at(self, progress: float, seed: int) -> float:
        u = random.Random(seed).uniform(-1.0, 1.0)
        fraction = min(1.0, progress / (self.converge_at * (1 + u * self.jitter)))
        return self.start + (self.end - self.start) * math.sqrt(fraction)


class Fault(enum.Enum):
    """What a scripted run does wrong, at a given evaluation block."""

    NAN_LOSS = "nan_loss"
    EXCEPTION = "exception"
    INTERRUPT = "interrupt"     # as if the user pressed Ctrl-C


@dataclass
class ScriptedProgram:
    """A Program whose loss and eval metric are scripted; `faults` maps run index -> (fault, block index)."""

    workload: Workload
    spec: RunSpec
    curve: Curve
    faults: Mapping[int, tuple[Fault, int]] = field(default_factory=dict)
    seconds_per_block: float = 0.0
    _progress: float = 0.0
    _block: int = 0

    def build(self) -> None:
        pass

    def load_data(self) -> None:
        pass

    def train(self, samples: int) -> float:
        per_unit = 1 if self.workload.cadence.unit is CadenceUnit.SAMPLES else self.workload.train_samples
        self._progress += samples / per_unit
        self._block += 1
        if self.seconds_per_block:
            time.sleep(self.seconds_per_block)
        fault = self.faults.get(self.spec.run_index)
        if fault is not None and fault[1] == self._block:
            return self._fail(fault[0])
        return 1.0 / self._block

    def _fail(self, fault: Fault) -> float:
        if fault is Fault.EXCEPTION:
            raise RuntimeError(f"scripted failure in run {self.spec.run_index}, block {self._block}")
        if fault is Fault.INTERRUPT:
            raise KeyboardInterrupt
        return float("nan")

    def evaluate(self) -> float:
        return round(self.curve.at(self._progress, self.spec.seed), 5)

    def save(self, directory: Path) -> list[Path]:
        return []


def scripted(curve: Curve, **kwargs: Any) -> Any:
    """The `program` field of a scripted workload."""
    return partial(ScriptedProgram, curve=curve, **kwargs)


def _power_of_two_times_1e4(value: Any, _: Any) -> bool:
    return value > 0 and abs(round(math.log2(value / 1e-4)) - math.log2(value / 1e-4)) < 1e-5


@WORKLOADS.register("scripted-resnet50")
def scripted_resnet50() -> Workload:
    """Closed ResNet-50 v1.5 (ruleset 4.0.0), LARS at global batch 3264; converges near epoch 35."""
    lars = (
        Hyperparameter("lars_opt_base_learning_rate", 10.5, tunable=True),
        Hyperparameter("lars_opt_end_learning_rate", 0.0001),
        Hyperparameter("lars_opt_learning_rate_decay_poly_power", 2),
        Hyperparameter("lars_opt_learning_rate_decay_steps", 14523, tunable=True),
        Hyperparameter("lars_epsilon", 0.0),
        Hyperparameter("lars_opt_learning_rate_warmup_epochs", 2, tunable=True),
        Hyperparameter("lars_opt_momentum", 0.9),   # free only at batch >= 32k (training rules, ResNet)
        Hyperparameter("lars_opt_weight_decay", 5e-05, tunable=True, rule=Rule(
            "training rules §Hyperparameters (ResNet LARS): weight decay must be 1e-4 * 2^N",
            _power_of_two_times_1e4)),
    )
    return Workload(
        name="scripted-resnet50", summary="scripted: closed ResNet-50 v1.5 log (ruleset 4.0.0, LARS); no training",
        identity=MLPerfIdentity(benchmark="resnet", ruleset="4.0.0"),
        quality=QualityTarget(metric="top1", target=0.7590, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=4, first=3),
        budget=60,
        recipe=Recipe(optimizer="lars", per_rank_batch_size=3264, hyperparameters=lars),
        train_samples=1_281_167, eval_samples=50_000,
        program=scripted(Curve(start=0.05, end=0.7620, converge_at=35.0, jitter=0.04)),
        reference=None,   # the official RCPs (rcp_checker/training_4.0.0) are the reference
    )


def _decay_matches_warmup(value: Any, hp: Mapping[str, Any]) -> bool:
    return value == 1_200_000 - hp["opt_learning_rate_warmup_steps"]


@WORKLOADS.register("scripted-llama31-8b")
def scripted_llama31_8b() -> Workload:
    """Closed Llama 3.1 8B (ruleset 6.1.0) at global batch 32; log perplexity reaches 3.3 near 180k samples."""
    adamw = (
        Hyperparameter("opt_base_learning_rate", 1e-3, tunable=True),
        Hyperparameter("opt_end_learning_rate", 1e-4, tunable=True),
        Hyperparameter("opt_learning_rate_warmup_steps", 128, tunable=True),
        Hyperparameter("opt_learning_rate_decay_steps", 1_200_000 - 128, tunable=True, rule=Rule(
            "closed_llama31_8b.yaml: decay steps = 1,200,000 - warmup steps", _decay_matches_warmup)),
        Hyperparameter("opt_learning_rate_decay_schedule", "cosine with linear warmup"),
        Hyperparameter("opt_adamw_beta_1", 0.9),
        Hyperparameter("opt_adamw_beta_2", 0.95),
        Hyperparameter("opt_adamw_epsilon", 1e-05),
        Hyperparameter("opt_adamw_weight_decay", 0.1),
        Hyperparameter("opt_gradient_clip_norm", 1.0),
        Hyperparameter("max_sequence_length", 8192),
        Hyperparameter("max_steps", 1_200_000),
    )
    return Workload(
        name="scripted-llama31-8b", summary="scripted: closed Llama 3.1 8B log (ruleset 6.1.0); no training",
        identity=MLPerfIdentity(benchmark="llama31_8b", ruleset="6.1.0"),
        quality=QualityTarget(metric="log_perplexity", target=3.3, direction=Direction.LOWER),
        cadence=EvalCadence(CadenceUnit.SAMPLES, every=12_288),   # CEIL(12288 / GBS) x GBS at GBS 32
        budget=400_000,
        recipe=Recipe(optimizer="adamw", per_rank_batch_size=32, hyperparameters=adamw),
        train_samples=1_200_000 * 32, eval_samples=1024,
        program=scripted(Curve(start=10.5, end=3.28, converge_at=182_000.0, jitter=0.03)),
        reference=None,   # the official RCPs (rcp_checker/training_6.1.0) are the reference
    )
