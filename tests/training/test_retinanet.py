"""The `retinanet` workload (ruleset 5.1.0): its OpenImages training layout is read or refused in one line naming
the path; a tiny version of it, through the CLI (`--generate-data`, then `--data-path`), trains from scratch to the
benchmark's target, mAP 0.34, and its log passes the official checker under training_5.1.0, closed division,
unmodified; a forbidden hyperparameter in the log fails the checker.

The tiny version changes only sizes and what closed division lets a submitter tune: a RetinaNet of the same family
(`podium.models.retinanet`'s heads, anchors, losses and post-processing on a one-block-per-stage ResNeXt with
frozen batch norm and a 64-channel pyramid) at 64x64 for 2 classes; the generated data holds 128 training and 32
validation images of 1 or 2 shapes of 2 colours, 0.4 to 0.7 of the image a side (the P3 anchors' 32 to 50 pixels);
batch 8 (16 steps an epoch); `opt_base_learning_rate` 1e-3 (the v5.1 hyperparameter table leaves it free) and the
reference's warmup (1 epoch from 1e-3 x base); evaluated every epoch, within the budget of 26 epochs, as the
benchmark is. With the seeds tried it reaches the target in 12 to 15 epochs (about 200 steps of 30 ms on one core;
trained on, it goes on to mAP 0.6).
"""

from __future__ import annotations

import dataclasses
import functools
import re

import pytest

from podium.core.errors import ConfigError
from podium.workloads import WORKLOADS, retinanet
from podium.workloads.base import Workload
from tests.training.tiny_cli import events, result_log, train_through_cli

pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

SIZE, BATCH, CLASSES = 64, 8, 2
TINY_DATA = dict(train=128, val=32, size=(SIZE, SIZE), classes=CLASSES, drawn=CLASSES, objects=(1, 2),
                 extent=(0.4, 0.7))
TINY_NET = dict(planes=(16, 16, 32, 64), channels=64, classes=CLASSES)
# Tuned, as closed division lets a submitter tune it (training rules v5.1 hyperparameter table).
TUNED = {"opt_base_learning_rate": 0.001}


def tiny(workload: Workload) -> Workload:
    """The tiny version: the narrow network at SIZE x SIZE, the CI batch, its generated data."""
    assert workload.data is not None
    data = dataclasses.replace(workload.data, generate=functools.partial(retinanet.generate, **TINY_DATA))
    return dataclasses.replace(workload, model=functools.partial(retinanet.narrow_model, SIZE, **TINY_NET),
                               input_shape=(3, SIZE, SIZE), data=data,
                               recipe=dataclasses.replace(workload.recipe, per_rank_batch_size=BATCH))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`podium train retinanet --generate-data DIR`, then `--data-path DIR`, of the tiny version: the output folder."""
    return train_through_cli("retinanet", tiny, tmp_path_factory.mktemp("openimages"), tmp_path_factory.mktemp("out"),
                             TUNED)


def test_a_wrong_layout_is_refused_in_one_line_naming_the_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        WORKLOADS.get("retinanet").with_data(tmp_path)
    assert str(tmp_path / "train" / "data") in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "train" / "data").mkdir(parents=True)
    with pytest.raises(ConfigError, match="train/labels/openimages-mlperf.json"):
        WORKLOADS.get("retinanet").with_data(tmp_path)


def test_binding_counts_the_listed_images(tmp_path):
    from podium.datasets.openimages_training import generate

    bound = WORKLOADS.get("retinanet").with_data(generate(tmp_path, train=5, val=3))
    assert (bound.train_samples, bound.eval_samples, bound.bound_to) == (5, 3, tmp_path)


def test_the_tiny_version_reaches_the_target_through_the_cli(trained):
    log = result_log(trained)
    accuracies = [e["value"] for e in events(log, "eval_accuracy")]
    assert accuracies[-1] >= retinanet.TARGET_MAP > max(accuracies[:-1], default=0.0), accuracies
    assert [e["metadata"]["status"] for e in events(log, "run_stop")] == ["success"]
    assert [e["value"] for e in events(log, "train_samples")] == [128]
    assert [e["value"] for e in events(log, "eval_samples")] == [32]


def test_the_official_checker_passes_the_log_closed_5_1_0(trained):
    from podium.training.compliance import check_log

    verdict = check_log(result_log(trained), "5.1.0")
    assert verdict.passed and not verdict.messages, verdict.messages


def test_a_forbidden_hyperparameter_fails_the_official_checker(trained, tmp_path):
    from podium.training.compliance import check_log

    text = result_log(trained).read_text()
    forged = tmp_path / "forged.txt"
    forged.write_text(re.sub(r'("key": "opt_weight_decay", "value": )0\.0', r"\g<1>0.0001", text))
    verdict = check_log(forged, "5.1.0")
    assert not verdict.passed
    assert any("opt_weight_decay" in m for m in verdict.messages), verdict.messages


def test_the_recipe_refuses_a_forbidden_change_in_closed_division():
    from podium.core.errors import RuleViolation
    from podium.workloads.base import Division

    recipe = WORKLOADS.get("retinanet").recipe
    with pytest.raises(RuleViolation, match="opt_weight_decay"):
        recipe.resolve({"opt_weight_decay": 1e-4}, Division.CLOSED)
    with pytest.raises(RuleViolation, match="opt_learning_rate_warmup_epochs"):
        recipe.resolve({"opt_learning_rate_warmup_epochs": 0.5}, Division.CLOSED)


def test_the_loss_falls(tmp_path):
    """The program itself on the tiny data: the loss after a few steps is below the first."""
    from podium.core.vocabulary import Division
    from podium.datasets.openimages_training import generate
    from podium.workloads.base import RunSpec

    data = generate(tmp_path, **{**TINY_DATA, "train": 8, "val": 2})
    workload = tiny(WORKLOADS.get("retinanet").with_data(data))
    hp = workload.recipe.resolve({**TUNED, "opt_learning_rate_warmup_epochs": 0}, Division.CLOSED)
    program = workload.program(workload, RunSpec(seed=5, hyperparameters=hp, per_rank_batch_size=4,
                                                 loader_workers=0))
    program.build()
    program.load_data()
    losses = [program.train(8) for _ in range(4)]   # two steps each
    assert losses[-1] < 0.9 * losses[0], losses
