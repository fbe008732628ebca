"""The `ssd` workload (SSD-ResNet34 300x300, ruleset 1.1.0): its COCO 2017 training layout is read or refused in one
line naming the path; a tiny version of it, through the CLI (`--generate-data`, then `--data-path`), trains from
scratch to the benchmark's target, mAP 0.23, and its log (with the weights_initialization lines) passes the official
checker under training_1.1.0, closed division, unmodified; a forbidden hyperparameter in the log fails the checker.

The tiny version changes only sizes and what closed division lets a submitter tune: the same network at 300x300
(ResNet-34's depth, the same blocks, heads and default boxes) with fewer channels, for 1 category (2 classes with the
background); the generated data holds 32 training and 16 validation images of one shape, 0.3 to 0.6 of the image a
side, and lists only its category; batch 8 (4 steps an epoch, `model_bn_span` 8); `opt_base_learning_rate` 0.01
and `opt_learning_rate_warmup_steps` 20 (the v1.1 hyperparameter table lets both be tuned), the reference's other
values (weight decay 5e-4, decay at epochs 40 and 50, `max_samples` 1); evaluated every 5 epochs, within the budget
of 70 epochs, as the benchmark is. With the seeds tried it reaches the target in 30 to 50 epochs (120 to 200 steps
of about 0.17 s on one core).
"""

from __future__ import annotations

import dataclasses
import functools
import re

import pytest

from podium.core.errors import ConfigError
from podium.workloads import WORKLOADS, ssd
from podium.workloads.base import Workload
from tests.training.tiny_cli import events, result_log, train_through_cli

pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

BATCH = 8
TINY_DATA = dict(train=32, val=16, size=(300, 300), drawn=1, objects=(1, 1), extent=(0.3, 0.6),
                 every_category=False)
# Tuned, as closed division lets a submitter tune them (training rules v1.1 hyperparameter table).
TUNED = {"opt_base_learning_rate": 0.01, "opt_learning_rate_warmup_steps": 20, "model_bn_span": BATCH}


def tiny(workload: Workload) -> Workload:
    """The tiny version: the narrow network for 2 classes, the CI batch, its generated data."""
    assert workload.data is not None
    data = dataclasses.replace(workload.data, generate=functools.partial(ssd.generate, **TINY_DATA))
    return dataclasses.replace(workload, model=functools.partial(ssd.narrow_model, classes=2), data=data,
                               recipe=dataclasses.replace(workload.recipe, per_rank_batch_size=BATCH))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`podium train ssd --generate-data DIR`, then `--data-path DIR`, of the tiny version: the output folder."""
    return train_through_cli("ssd", tiny, tmp_path_factory.mktemp("coco"), tmp_path_factory.mktemp("out"),
                             TUNED)


def test_a_wrong_layout_is_refused_in_one_line_naming_the_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        WORKLOADS.get("ssd").with_data(tmp_path)
    assert str(tmp_path / "train2017") in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "train2017").mkdir()
    with pytest.raises(ConfigError, match="instances_train2017.json"):
        WORKLOADS.get("ssd").with_data(tmp_path)


def test_binding_counts_the_annotated_images(tmp_path):
    from podium.datasets.coco_training import generate

    bound = WORKLOADS.get("ssd").with_data(generate(tmp_path, train=6, val=3))
    assert (bound.train_samples, bound.eval_samples, bound.bound_to) == (6, 3, tmp_path)


def test_the_tiny_version_reaches_the_target_through_the_cli(trained):
    log = result_log(trained)
    accuracies = [e["value"] for e in events(log, "eval_accuracy")]
    assert accuracies[-1] >= ssd.TARGET_MAP > max(accuracies[:-1], default=0.0), accuracies
    assert [e["metadata"]["status"] for e in events(log, "run_stop")] == ["success"]
    assert [e["metadata"]["epoch_num"] for e in events(log, "eval_accuracy")][:2] == [5, 10]
    assert [e["value"] for e in events(log, "train_samples")] == [32]
    assert [e["value"] for e in events(log, "eval_samples")] == [16]


def test_the_official_checker_passes_the_log_closed_1_1_0(trained):
    from podium.training.compliance import check_log

    verdict = check_log(result_log(trained), "1.1.0")
    assert verdict.passed and not verdict.messages, verdict.messages
    assert len(events(result_log(trained), "weights_initialization")) == len(ssd.WEIGHTS_INITIALIZATION)


def test_the_loss_falls(tmp_path):
    """The program itself on generated data: the mean loss of the last steps is below that of the first."""
    from podium.core.vocabulary import Division
    from podium.datasets.coco_training import generate
    from podium.workloads.base import RunSpec

    workload = tiny(WORKLOADS.get("ssd").with_data(generate(tmp_path, **{**TINY_DATA, "train": 8, "val": 2})))
    hp = workload.recipe.resolve({**TUNED, "model_bn_span": 4}, Division.CLOSED)
    program = workload.program(workload, RunSpec(seed=5, hyperparameters=hp, per_rank_batch_size=4,
                                                 loader_workers=0))
    program.build()
    program.load_data()
    losses = [program.train(8) for _ in range(4)]   # two steps each
    assert losses[-1] < 0.9 * losses[0], losses


def test_a_forbidden_hyperparameter_fails_the_official_checker(trained, tmp_path):
    from podium.training.compliance import check_log

    text = result_log(trained).read_text()
    forged = tmp_path / "forged.txt"
    forged.write_text(re.sub(r'("key": "max_samples", "value": )1', r"\g<1>7", text))
    verdict = check_log(forged, "1.1.0")
    assert not verdict.passed
    assert any("max_samples" in m for m in verdict.messages), verdict.messages


def test_the_recipe_refuses_a_forbidden_change_in_closed_division():
    from podium.core.errors import RuleViolation
    from podium.workloads.base import Division

    recipe = WORKLOADS.get("ssd").recipe
    with pytest.raises(RuleViolation, match="opt_learning_rate_decay_boundary_epochs"):
        recipe.resolve({"opt_learning_rate_decay_boundary_epochs": [41, 50]}, Division.CLOSED)
    assert recipe.resolve({"opt_learning_rate_decay_boundary_epochs": [44, 55]}, Division.CLOSED)
