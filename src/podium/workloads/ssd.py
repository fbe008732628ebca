"""`ssd`: MLPerf Training's object detection (light weight) up to v1.1: SSD-ResNet34 at 300x300 on COCO 2017, SGD
with momentum; COCO mAP >= 0.23 (ruleset 1.1.0: from v2.0 the benchmark named "ssd" is RetinaNet, and v1.1 is the
last round whose rule files, compliance_checker/training_1.1.0/closed_ssd.yaml, describe this network).

Recipe (mlcommons/training single_stage_detector/ssd before the v2.0 change, commit 8baca745^: train.py,
run_and_time.sh, config_DGX1_32.sh, config_DGX1_singlenode.sh): batch 32 per GPU; `opt_base_learning_rate`
2.5e-3 at a global batch of 32 (the reference scales it by global batch / 32: set it with --set when the global
batch differs); SGD momentum 0.9; `opt_weight_decay` 5e-4; `opt_learning_rate_decay_boundary_epochs` [40, 50]
(x0.1 each); `opt_learning_rate_warmup_factor` 0; `opt_learning_rate_warmup_steps` 300 (config_DGX1_singlenode.sh:
"300 iterations"; the checker requires one >= 1); `max_samples` (SSDCropping's tries) 1; `model_bn_span` = the
batch per rank; evaluation every 5 epochs (training rules v1.1 §Quality measure, train.py --val-interval 5);
budget 70 epochs (run_and_time.sh NUMEPOCHS); 5 runs. Closed division may tune what the v1.1 hyperparameter table
lists for ssd: global_batch_size, model_bn_span (integer >= 1), opt_learning_rate_warmup_factor (integer >= 0),
opt_learning_rate_warmup_steps (integer >= 1), opt_weight_decay, opt_base_learning_rate, max_samples (1 or 50),
opt_learning_rate_decay_boundary_epochs ([40, 50] x (1 + k/10)). The v1.1 checker also requires one
`weights_initialization` line per tensor of the MXNet reference's names (`WEIGHTS_INITIALIZATION`), logged from
the workload's `init_events`. The reference starts from an ImageNet-pretrained ResNet-34 (README
"ResNet-34 pretrained weights"); Podium ships no weights and starts from torchvision's initialization.

Data: `--data-path` names COCO 2017 as `podium.datasets.coco_training` reads it; `--generate-data DIR` writes a
small one. The network is `_detection_nets.SSD300` (on `podium.models._ssd_resnet34_net`'s trunk and blocks:
`podium.models.ssd_resnet34` is the 1200x1200 inference variant); the program is in `_ssd_training`.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, DataLayout, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Rule, RunSpec, Workload)

NAME = "ssd"
TARGET_MAP = 0.23
BATCH = 32
EVAL_EVERY_EPOCHS = 5
BUDGET_EPOCHS = 70
TRAIN_IMAGES, EVAL_IMAGES = 117_266, 5_000  # train2017 images with annotations; val2017
RUNS = 5
INPUT_SHAPE = (3, 300, 300)


def _integer_at_least(low: int) -> Any:
    return lambda v, _: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _decay_boundaries(value: Any, _: Any) -> bool:
    """[40, 50] x (1 + k/10) for one integer k (training rules v1.1 hyperparameters)."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
        return False
    k = 10 * (value[0] / 40.0 - 1)
    return abs(k - round(k)) < 1e-9 and abs(value[1] - 50 * (1 + round(k) / 10)) < 1e-9


V11 = "training rules v1.1 hyperparameters (ssd)"
RECIPE = Recipe(optimizer="sgd", per_rank_batch_size=BATCH, hyperparameters=(
    Hyperparameter("opt_base_learning_rate", 2.5e-3, tunable=True),
    Hyperparameter("opt_weight_decay", 5e-4, tunable=True),
    Hyperparameter("opt_learning_rate_warmup_steps", 300, tunable=True,
                   rule=Rule(f"{V11}: integer >= 1", _integer_at_least(1))),
    Hyperparameter("opt_learning_rate_warmup_factor", 0, tunable=True,
                   rule=Rule(f"{V11}: integer >= 0", _integer_at_least(0))),
    Hyperparameter("opt_learning_rate_decay_boundary_epochs", [40, 50], tunable=True,
                   rule=Rule(f"{V11}: [40, 50] * (1 + k/10) for some integer k", _decay_boundaries)),
    Hyperparameter("max_samples", 1, tunable=True, rule=Rule(f"{V11}: 1 or 50", lambda v, _: v in (1, 50))),
    Hyperparameter("model_bn_span", BATCH, tunable=True, rule=Rule(f"{V11}: integer >= 1", _integer_at_least(1))),
))


def _weight_names() -> tuple[str, ...]:
    """The tensors closed_ssd.yaml (v1.1) requires a `weights_initialization` line for: the MXNet reference's
    names of the same network (ResNet-34 stem and stages 1-3 with their projection convolutions, five additional
    blocks, six predictors; each predictor one convolution where this network has a loc and a conf one)."""
    trunk = "ssd0_resnetmlperf0_"
    names = [f"{trunk}conv0_weight", f"{trunk}batchnorm0_gamma", f"{trunk}batchnorm0_beta"]
    for stage, convs in ((1, 6), (2, 9), (3, 13)):  # 2 per basic block, + 1 projection in stages 2 and 3
        for k in range(convs):
            names += [f"{trunk}stage{stage}_conv{k}_weight", f"{trunk}stage{stage}_batchnorm{k}_gamma",
                      f"{trunk}stage{stage}_batchnorm{k}_beta"]
    for k in range(5):
        names += [f"ssd0_expand_trans_conv{k}_{p}" for p in ("weight", "bias")]
        names += [f"ssd0_expand_conv{k}_{p}" for p in ("weight", "bias")]
    for k in range(6):
        names += [f"ssd0_convpredictor{k}_conv0_{p}" for p in ("weight", "bias")]
    return tuple(names)


WEIGHTS_INITIALIZATION = tuple(("weights_initialization", None, {"tensor": name}) for name in _weight_names())


def build_model() -> Any:
    """SSD-ResNet34 300x300, 81 classes, untrained."""
    from podium.workloads._detection_nets import SSD300

    return SSD300()


def narrow_model(widths: tuple[int, int, int] = (8, 16, 32), channels: tuple[int, ...] = (32, 64, 64, 32, 32, 32),
                 middles: tuple[int, ...] = (32, 32, 16, 16, 16), classes: int = 81) -> Any:
    """The same network (ResNet-34's depth, the same blocks, heads and default boxes) with fewer channels, and
    `classes` (background and the annotation file's categories), for tests: its weights_initialization lines name
    the same tensors."""
    from podium.workloads._detection_nets import SSD300

    return SSD300(classes=classes, widths=widths, channels=channels, middles=middles)


def program(workload: Workload, spec: RunSpec) -> Any:
    from podium.workloads._ssd_training import SSDProgram

    return SSDProgram(workload, spec)


def bind(workload: Workload, path: Path) -> Workload:
    """The workload reading COCO 2017 at `path`: its splits counted from the annotation files."""
    from podium.datasets.coco_training import open_coco

    train, evaluation = open_coco(path)
    return replace(workload, train_samples=len(train), eval_samples=len(evaluation), bound_to=path,
                   datasets=functools.partial(open_coco, path))


def generate(root: Path, **options: Any) -> Path:
    from podium.datasets.coco_training import generate as write

    return write(Path(root), **options)


LAYOUT = ("COCO 2017: <DIR>/annotations/instances_train2017.json, <DIR>/train2017/*.jpg, "
          "<DIR>/annotations/instances_val2017.json, <DIR>/val2017/*.jpg")


@WORKLOADS.register(NAME)
def ssd() -> Workload:
    return Workload(
        name=NAME,
        summary=f"SSD-ResNet34 300x300 on COCO 2017, SGD momentum; COCO mAP >= {TARGET_MAP}",
        identity=MLPerfIdentity(benchmark="ssd", ruleset="1.1.0"),
        quality=QualityTarget(metric="coco-map-inv", target=TARGET_MAP, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=EVAL_EVERY_EPOCHS),
        budget=BUDGET_EPOCHS,
        recipe=RECIPE,
        train_samples=TRAIN_IMAGES,
        eval_samples=EVAL_IMAGES,
        program=program,
        model=build_model,
        input_shape=INPUT_SHAPE,
        runs=RUNS,
        data=DataLayout(description=LAYOUT, bind=bind, generate=generate),
        init_events=WEIGHTS_INITIALIZATION,  # logged between init_start and init_stop (closed_ssd.yaml, v1.1)
    )
