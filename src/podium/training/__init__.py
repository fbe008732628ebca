"""podium.training: MLPerf Training's time-to-train harness — timed runs, mllog, olympic scoring, checks.

    from podium.training import Campaign, CampaignConfig
    from podium.workloads import WORKLOADS

    result = Campaign(WORKLOADS.get("digits"), CampaignConfig(runs=5, seed=1)).run()
    print(result.score.minutes)
"""

from __future__ import annotations

from podium.training.campaign import Campaign, CampaignConfig, CampaignResult, Distribution
from podium.training.run_record import CheckVerdict, Evaluation, RunRecord, RunStatus
from podium.training.scoring import OlympicScore, median_window, olympic_score, score_runs

__all__ = [
    "Campaign", "CampaignConfig", "CampaignResult", "CheckVerdict", "Distribution", "Evaluation", "OlympicScore",
    "RunRecord", "RunStatus", "median_window", "olympic_score", "score_runs",
]
