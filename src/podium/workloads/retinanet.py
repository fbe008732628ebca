"""`retinanet`: MLPerf Training's object detection (light weight) from v2.0: RetinaNet ResNeXt50-32x4d FPN on the
OpenImages MLPerf subset at 800x800, Adam; COCO mAP >= 0.340 (ruleset 5.1.0, the newest round with it).

Recipe (mlcommons/training single_stage_detector/ssd, retired in v6.0: train.py defaults, engine.py, model/
retinanet.py; config_DGXA100_001x08x032.sh for the batch of 32 per GPU):
`opt_base_learning_rate` 1e-4, `opt_learning_rate_warmup_epochs` 1, `opt_learning_rate_warmup_factor` 1e-3,
`opt_weight_decay` 0, Adam (`opt_name` adam); focal loss alpha 0.25, gamma 2; L1 box loss; matcher IoU 0.5/0.4
with low-quality matches; random horizontal flip; evaluation every epoch (training rules v5.1 §Quality measure:
"Every 1 epoch"); budget: train.py's 26 epochs; 5 runs (rules §Number of runs). Closed division may tune what the
v5.1 hyperparameter table lists for ssd (global_batch_size, opt_learning_rate_warmup_epochs (integer >= 0),
opt_learning_rate_warmup_factor, opt_base_learning_rate; opt_weight_decay is fixed at 0), and the official
checker (compliance_checker/training_5.1.0/closed_retinanet.yaml) checks the logged values. The reference starts
from an ImageNet-pretrained backbone (scripts/download_backbone.sh); Podium ships no weights and starts from the
reference's random initialization.

Data: `--data-path` names the layout of `podium.datasets.openimages_training` (train/ and validation/, each with
data/ and labels/openimages-mlperf.json); `--generate-data DIR` writes a small one. The model is
`podium.models.retinanet` (the inference definition, official module names); the program is in the private
module `_retinanet_training` (torch imported when a run builds it).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, DataLayout, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   Precision, QualityTarget, Recipe, Rule, RunSpec, Workload)

NAME = "retinanet"
TARGET_MAP = 0.34
BATCH = 32               # per GPU (config_DGXA100_001x08x032.sh)
BUDGET_EPOCHS = 26       # train.py --epochs
TRAIN_IMAGES, EVAL_IMAGES = 1_170_301, 24_781  # README, "the MLPerf subset"
RUNS = 5


def _non_negative_integer(value: Any, _: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _non_negative(value: Any, _: Any) -> bool:
    return isinstance(value, (int, float)) and value >= 0


RECIPE = Recipe(optimizer="adam", per_rank_batch_size=BATCH, precision=Precision.FP32, hyperparameters=(
    Hyperparameter("opt_base_learning_rate", 1e-4, tunable=True,
                   rule=Rule("training rules v5.1 hyperparameters (ssd): unconstrained; checker: >= 0",
                             _non_negative)),
    Hyperparameter("opt_learning_rate_warmup_epochs", 1, tunable=True,
                   rule=Rule("training rules v5.1 hyperparameters (ssd): integer >= 0", _non_negative_integer)),
    Hyperparameter("opt_learning_rate_warmup_factor", 1e-3, tunable=True,
                   rule=Rule("training rules v5.1 hyperparameters (ssd): unconstrained; checker: >= 0",
                             _non_negative)),
    Hyperparameter("opt_weight_decay", 0.0),   # rules: 0
))


def program(workload: Workload, spec: RunSpec) -> Any:
    from podium.workloads._retinanet_training import RetinaNetProgram

    return RetinaNetProgram(workload, spec)


def bind(workload: Workload, path: Path) -> Workload:
    """The workload reading the layout at `path`: its splits counted from the annotation files."""
    from podium.datasets.openimages_training import open_openimages

    train, evaluation = open_openimages(path)
    return replace(workload, train_samples=len(train), eval_samples=len(evaluation), bound_to=path,
                   datasets=functools.partial(open_openimages, path))


def generate(root: Path, **options: Any) -> Path:
    from podium.datasets.openimages_training import generate as write

    return write(Path(root), **options)


def narrow_model(image_size: int = 128, planes: tuple[int, int, int, int] = (16, 16, 32, 64),
                 channels: int = 32, classes: int = 264) -> Any:
    """A narrow RetinaNet of the same family for tests: `podium.models.retinanet`'s heads, anchors and
    post-processing on a ResNeXt of one block per stage and a `channels`-wide pyramid, at `image_size`, for
    `classes` categories (ids 0..classes-1)."""
    from podium.models.retinanet import CONFIG
    from podium.workloads._detection_nets import NarrowRetinaNet

    return NarrowRetinaNet(replace(CONFIG, classes=classes), (image_size, image_size), planes, channels)


LAYOUT = ("MLPerf's OpenImages subset: <DIR>/train/data/*.jpg, <DIR>/train/labels/openimages-mlperf.json, "
          "<DIR>/validation/data/*.jpg, <DIR>/validation/labels/openimages-mlperf.json")


@WORKLOADS.register(NAME)
def retinanet() -> Workload:
    model = MODELS.get("retinanet")
    return Workload(
        name=NAME,
        summary=f"RetinaNet ResNeXt50-FPN on OpenImages-MLPerf 800x800, Adam; COCO mAP >= {TARGET_MAP}",
        identity=MLPerfIdentity(benchmark="retinanet", ruleset="5.1.0"),
        quality=QualityTarget(metric="coco-map", target=TARGET_MAP, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=1),
        budget=BUDGET_EPOCHS,
        recipe=RECIPE,
        train_samples=TRAIN_IMAGES,
        eval_samples=EVAL_IMAGES,
        program=program,
        model=model.build,
        input_shape=model.input_shape,
        runs=RUNS,
        data=DataLayout(description=LAYOUT, bind=bind, generate=generate),
    )
