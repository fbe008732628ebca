"""`tiny-segmentation`: generated KiTS-layout volumes, the tiny 3D U-Net, Adam; mean composite DICE >= 0.85.

Composed of shared parts: the tiny suite's generated KiTS 2019 volumes (`podium.datasets.tiny`: 16 training and 8
eval cases of 32 voxels a side, every other case 48 deep, written by `podium.datasets.kits19`'s generator and read
back by its loader), the `tiny-unet3d` model and the `dice` metric, the 3D U-Net benchmark's. Training takes
16-voxel patches, half of them centred on a tumour; an evaluation every 80 patches (10 steps) scores the whole eval
volumes. The target is set from runs of this recipe (2 CPU threads, torch 2.x CPU): seeds 0 to 4 and 10 to 29 all
reached 0.85, within 560 to 880 patches (70 to 110 steps, about a second each on an idle 2-core machine), and a
composite of 0.9+ follows within a few evaluations; the budget of 4000 patches is over four times the slowest run.
No RCP (`reference`), as for `tiny-detection`: the suite's 3 runs give the convergence check too little to go on.
The data is generated before the clock (`prepare`: making the data set is not touching it) and read on it.
"""

from __future__ import annotations

import functools
from typing import Any

from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Rule, Workload)
from podium.workloads.segmentation import SegmentationProgram

NAME = "tiny-segmentation"
MODEL = "tiny-unet3d"
TARGET_DICE = 0.85
BATCH = 8
EVAL_EVERY_SAMPLES = 80
BUDGET_SAMPLES = 4000
TRAIN_CASES, EVAL_CASES = 16, 8
PATCH_VOXELS = 16


def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


def generate_splits() -> None:
    """Write the train and eval volumes into the cache if they are not there (untimed)."""
    from podium.datasets.tiny import SEGMENTATION

    for split in ("train", "eval"):
        SEGMENTATION.split(split)


Case = tuple[Any, Any]


def load_splits() -> tuple[list[Case], list[Case]]:
    """(train, eval): (image (1, D, H, W) float32, label (D, H, W) uint8) per case, read by the kits19 loader."""
    from podium.datasets.tiny import SEGMENTATION

    return read_cases(SEGMENTATION.split("train")), read_cases(SEGMENTATION.split("eval"))


def read_cases(folder: Any) -> list[Case]:
    """Every case of a KiTS-layout folder, through the `kits19` dataset (its images and its labels)."""
    import numpy as np

    from podium.datasets import DATASETS

    dataset = DATASETS.get("kits19")(folder)
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    images = dataset.get_samples(indices)
    return [(image, np.asarray(label)) for image, label in zip(images, dataset.labels(), strict=True)]


@WORKLOADS.register(NAME)
def tiny_segmentation() -> Workload:
    model = MODELS.get(MODEL)
    return Workload(
        name=NAME,
        summary=f"generated KiTS-layout volumes, tiny 3D U-Net, Adam; mean DICE >= {TARGET_DICE}",
        identity=MLPerfIdentity(benchmark=NAME, ruleset="6.1.0", own_rules=True),
        quality=QualityTarget(metric="dice", target=TARGET_DICE, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.SAMPLES, every=EVAL_EVERY_SAMPLES),
        budget=BUDGET_SAMPLES,
        recipe=Recipe(optimizer="adam", per_rank_batch_size=BATCH, hyperparameters=(
            Hyperparameter("opt_base_learning_rate", 0.02, tunable=True,
                           rule=Rule("podium tiny-segmentation rules: opt_base_learning_rate > 0", _positive)),
            Hyperparameter("opt_learning_rate_warmup_steps", 0, tunable=True),
            Hyperparameter("patch_voxels", PATCH_VOXELS),
            Hyperparameter("oversampling", 0.5),
            Hyperparameter("loss_class_weights", [1.0, 10.0, 10.0]),
        )),
        train_samples=TRAIN_CASES,
        eval_samples=EVAL_CASES,
        program=functools.partial(SegmentationProgram, model=model),
        datasets=load_splits,
        model=model.build,
        input_shape=(1, PATCH_VOXELS, PATCH_VOXELS, PATCH_VOXELS),
        prepare=generate_splits,
        runs=3,
    )
