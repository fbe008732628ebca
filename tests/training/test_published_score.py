"""campaign.json describes itself (issue 11, item 7): the quality target the runs had to reach, and the time to
train as published, computed by one rule (`convergence.score_scaling`) for every reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.results.layout import read_training
from podium.results.runs import rcp_scaling, training_target
from podium.training.convergence import published_minutes, score_scaling

from .conftest import scripted_resnet


@pytest.mark.parametrize(("passed", "factor", "scaling"), [(True, 1.25, 1.25), (True, 0.9, 1.0), (False, 1.25, 1.0),
                                                           (None, 1.25, 1.0), (True, None, 1.0), (True, True, 1.0)])
def test_the_rcp_scaling_applies_only_to_passing_faster_runs(passed, factor, scaling) -> None:
    assert score_scaling(passed, factor) == scaling
    assert rcp_scaling({"convergence": {"passed": passed, "scaling_factor": factor}}) == scaling
    assert published_minutes(2.0, passed, factor) == 2.0 * scaling
    assert published_minutes(None, passed, factor) is None


def test_campaign_json_records_its_quality_target_and_published_minutes(run_campaign) -> None:
    workload = scripted_resnet()
    _, result = run_campaign(workload)
    data = json.loads(result.layout.campaign_record.read_text())
    assert data["schema_version"] >= 3
    assert data["quality_target"] == {"metric": workload.quality.metric, "value": workload.quality.target,
                                      "direction": workload.quality.direction.value}
    assert data["published_minutes"] == result.published_minutes
    assert result.published_minutes == pytest.approx(result.submitted_score.minutes * rcp_scaling(data))


def test_readers_take_the_recorded_target_over_the_registry(run_campaign) -> None:
    """A target recorded in campaign.json wins over today's registry (which may have changed since)."""
    _, result = run_campaign(scripted_resnet())
    record = result.layout.campaign_record
    data = json.loads(record.read_text())
    data["quality_target"] = {"metric": "top1", "value": 0.5, "direction": "higher"}
    record.write_text(json.dumps(data))
    results_dir = Path(result.layout.results_dir)
    assert training_target(read_training(results_dir, results_dir)) == ("top1", 0.5)
    del data["quality_target"]  # a schema-2 record: the registry answers
    record.write_text(json.dumps(data))
    registry = training_target(read_training(results_dir, results_dir))
    assert registry is None or registry[1] != 0.5
