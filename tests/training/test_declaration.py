"""Workload declarations: closed-division rules refuse before init; the registry suggests near names."""

from __future__ import annotations

import pytest

from podium.core.errors import ConfigError, RuleViolation, UnknownNameError
from podium.workloads import WORKLOADS
from podium.workloads.base import CadenceUnit, Division, EvalCadence


def test_registry_lists_builtins_and_suggests_nearest_names():
    assert {"digits", "scripted-resnet50", "scripted-llama31-8b"} <= set(WORKLOADS.names())
    with pytest.raises(UnknownNameError) as err:
        WORKLOADS.get("digit")
    assert "did you mean 'digits'" in str(err.value) and "known:" in str(err.value)


def test_closed_division_refuses_a_fixed_hyperparameter_naming_the_rule():
    recipe = WORKLOADS.get("digits").recipe
    with pytest.raises(RuleViolation) as err:
        recipe.resolve({"opt_weight_decay": 0.01}, Division.CLOSED)
    assert "opt_weight_decay is fixed" in str(err.value) and "§Hyperparameters" in err.value.rule


def test_closed_division_checks_a_tuned_value_against_its_rule():
    recipe = WORKLOADS.get("scripted-resnet50").recipe
    assert recipe.resolve({"lars_opt_weight_decay": 4e-4}, Division.CLOSED)["lars_opt_weight_decay"] == 4e-4
    with pytest.raises(RuleViolation, match="1e-4 \\* 2\\^N"):
        recipe.resolve({"lars_opt_weight_decay": 3e-5}, Division.CLOSED)


def test_rules_may_depend_on_other_hyperparameters():
    recipe = WORKLOADS.get("scripted-llama31-8b").recipe
    with pytest.raises(RuleViolation, match="decay steps"):
        recipe.resolve({"opt_learning_rate_warmup_steps": 256}, Division.CLOSED)
    ok = recipe.resolve({"opt_learning_rate_warmup_steps": 256,
                         "opt_learning_rate_decay_steps": 1_200_000 - 256}, Division.CLOSED)
    assert ok["opt_learning_rate_decay_steps"] == 1_199_744


def test_open_division_accepts_any_value_but_not_unknown_names():
    recipe = WORKLOADS.get("digits").recipe
    assert recipe.resolve({"opt_weight_decay": 0.01}, Division.OPEN)["opt_weight_decay"] == 0.01
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        recipe.resolve({"weight_decay": 0.01}, Division.OPEN)


def test_cadence_boundaries_end_at_the_budget():
    assert EvalCadence(CadenceUnit.EPOCHS, every=4, first=3).boundaries(13) == [3, 7, 11, 13]
    assert EvalCadence(CadenceUnit.SAMPLES, every=10).boundaries(30) == [10, 20, 30]


def test_init_budgets_per_division():
    assert Division.CLOSED.init_budget_ms == 30 * 60_000
    assert Division.OPEN.init_budget_ms == 4 * 60 * 60_000


def test_podium_rule_file_holds_the_declared_target():
    from podium.training.compliance import RULES_SOURCE

    w = WORKLOADS.get("digits")
    text = (RULES_SOURCE / "training_6.1.0" / "closed_digits.yaml").read_text()
    assert f"v['value'] >= {w.quality.target}" in text
    assert f"== {w.train_samples}" in text and f"== {w.eval_samples}" in text


def test_a_target_of_several_parts_is_reached_when_each_part_is():
    """Mask R-CNN's evaluation answers {"BBOX": box mAP, "SEGM": mask mAP}; both must reach their targets."""
    from podium.workloads.base import QualityTarget

    target = QualityTarget(metric="BBOX", target=0.377, parts={"SEGM": 0.339})
    assert target.reached({"BBOX": 0.38, "SEGM": 0.34})
    assert not target.reached({"BBOX": 0.38, "SEGM": 0.33})
    assert not target.reached({"BBOX": 0.38})                       # a part missing is not reached
    assert not target.reached({"BBOX": float("nan"), "SEGM": 0.4})
    assert target.headline({"BBOX": 0.38, "SEGM": 0.34}) == 0.38 and target.headline(0.5) == 0.5
