"""`digits`: scikit-learn's bundled 8x8 handwritten digits, a small ResNet, SGD; converges on a CPU in seconds.

Composed of shared parts: the `digits` dataset's fixed split (`podium.datasets.digits`: 1442 training images,
355 held out), the `digits` model (`podium.models.digits`) and the `top1` metric (`podium.metrics`, named by the
quality target). The target (top-1 >= 0.98 within 16 epochs) is set from reference runs (see
`REFERENCE_EPOCHS`): a correct implementation converged in 20 of 20 seeds (3 to 6 epochs); broken ones do not:
shuffled labels and a 100x learning rate each converged in 0 of 3 seeds within the budget
(`bench/training_overhead.py --broken`).
"""

from __future__ import annotations

from typing import Any

from podium.datasets.digits import EVAL_SAMPLES, TRAIN_SAMPLES, import_loader, load_splits
from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, ReferenceConvergence, Rule, Workload)
from podium.workloads.classification import ClassificationProgram

# Epochs to converge of 20 reference runs (seeds 1000..1019, fp32, global batch 32, 1 process, torch 2.13 CPU;
# `podium train digits --runs 20 --seed 1000 --division open`): the RCP of this workload. All 20 converged.
REFERENCE_EPOCHS = (3, 5, 4, 4, 5, 4, 5, 3, 5, 4, 5, 3, 4, 6, 3, 4, 5, 3, 4, 4)

def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


@WORKLOADS.register("digits")
def digits() -> Workload:
    model = MODELS.get("digits")
    return Workload(
        name="digits",
        summary="8x8 handwritten digits (scikit-learn), small ResNet, SGD; top-1 >= 0.98",
        identity=MLPerfIdentity(benchmark="digits", ruleset="6.1.0", own_rules=True),
        quality=QualityTarget(metric="top1", target=0.98, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=1),
        budget=16,
        recipe=Recipe(optimizer="sgd", per_rank_batch_size=32, hyperparameters=(
            Hyperparameter("opt_base_learning_rate", 0.1, tunable=True,
                           rule=Rule("podium digits rules: opt_base_learning_rate > 0", _positive)),
            Hyperparameter("opt_learning_rate_warmup_epochs", 1, tunable=True),
            Hyperparameter("sgd_momentum", 0.9),
            Hyperparameter("opt_weight_decay", 5e-4),
            Hyperparameter("label_smoothing", 0.0),
        )),
        train_samples=TRAIN_SAMPLES,
        eval_samples=EVAL_SAMPLES,
        program=ClassificationProgram,
        datasets=load_splits,
        model=model.build,
        input_shape=model.input_shape,
        prepare=import_loader,
        reference=ReferenceConvergence(global_batch_size=32, to_converge=REFERENCE_EPOCHS),
        runs=5,
    )
