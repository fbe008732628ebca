"""Shared helpers for the training tests: scripted workloads with faults, campaigns without the checker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from podium.training.campaign import Campaign, CampaignConfig
from podium.workloads import WORKLOADS
from podium.workloads.scripted import Curve, Fault, scripted


def scripted_resnet(faults: dict[int, tuple[Fault, int]] | None = None, curve: Curve | None = None):
    """The scripted ResNet-50 workload, optionally with faults {run index: (fault, block)} or another curve."""
    w = WORKLOADS.get("scripted-resnet50")
    curve = curve or Curve(start=0.05, end=0.7620, converge_at=35.0, jitter=0.04)
    return replace(w, program=scripted(curve, faults=faults or {}))


def quick_config(tmp_path: Path, **kwargs) -> CampaignConfig:
    base = dict(runs=3, seed=11, out=tmp_path, check_compliance=False, save_models=False)
    return CampaignConfig(**{**base, **kwargs})


@pytest.fixture
def run_campaign(tmp_path):
    def run(workload, **kwargs):
        campaign = Campaign(workload, quick_config(tmp_path, **kwargs))
        return campaign, campaign.run()
    return run
