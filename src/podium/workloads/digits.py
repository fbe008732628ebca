"""`digits`: scikit-learn's bundled 8x8 handwritten digits, a small ResNet, SGD; converges on a CPU in seconds.

Real data with no download (1797 images shipped inside scikit-learn). The train/eval split is fixed and does not
depend on any RNG: for each class, every fifth image (in file order) is held out for evaluation (355 images).
The target (top-1 >= 0.98 within 16 epochs) is set from reference runs (see `REFERENCE_EPOCHS`): a correct
implementation converged in 20 of 20 seeds (3 to 6 epochs); broken ones do not: shuffled labels and a 100x
learning rate each converged in 0 of 3 seeds within the budget (`bench/training_overhead.py --broken`).
"""

from __future__ import annotations

from typing import Any

from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, ReferenceConvergence, Rule, Workload)
from podium.workloads.classification import ClassificationProgram

EVAL_EVERY_NTH = 5
TRAIN_SAMPLES = 1442
EVAL_SAMPLES = 355
# Epochs to converge of 20 reference runs (seeds 1000..1019, fp32, global batch 32, 1 process, torch 2.13 CPU;
# `podium train digits --runs 20 --seed 1000 --division open`): the RCP of this workload. All 20 converged.
REFERENCE_EPOCHS = (3, 5, 4, 4, 5, 4, 5, 3, 5, 4, 5, 3, 4, 6, 3, 4, 5, 3, 4, 4)


def load_splits() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """((x_train, y_train), (x_eval, y_eval)): float32 images (N, 1, 8, 8) in [0, 1], int64 labels."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = data.target.astype(np.int64)
    held_out = np.zeros(len(y), dtype=bool)
    for label in range(10):
        held_out[np.flatnonzero(y == label)[EVAL_EVERY_NTH - 1::EVAL_EVERY_NTH]] = True
    return (x[~held_out], y[~held_out]), (x[held_out], y[held_out])


def import_loader() -> None:
    """Import scikit-learn's loader during untimed init: importing code is not touching the data."""
    import sklearn.datasets  # noqa: F401


def small_resnet(width: int = 32, classes: int = 10) -> Any:
    """A ResNet for 8x8 inputs: stem, two residual stages (8x8 then 4x4), global pooling, linear head."""
    from torch import nn

    class Block(nn.Module):
        """Two 3x3 convolutions with batch norm, plus a (projected) skip connection."""

        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x: Any) -> Any:
            return (self.body(x) + self.skip(x)).relu()

    return nn.Sequential(
        nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        Block(width, width, 1), Block(width, 2 * width, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


@WORKLOADS.register("digits")
def digits() -> Workload:
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
        model=small_resnet,
        input_shape=(1, 8, 8),
        prepare=import_loader,
        reference=ReferenceConvergence(global_batch_size=32, to_converge=REFERENCE_EPOCHS),
        runs=5,
    )
