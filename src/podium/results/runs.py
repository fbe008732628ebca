"""What a found result scores: a training result's time to train, its RCP scaling and its quality target, and
the counts read from system descriptions. The results themselves are found and read by
`podium.results.layout` (`InferenceRun`, `TrainingRun`, `scan`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from podium.core.errors import ConfigError
from podium.results.layout import SCALING_FILE, TrainingRun, UnreadableFile, is_number, read_object

__all__ = ["int_field", "rcp_scaling", "scaling_factor", "score_minutes", "training_target"]


def rcp_scaling(campaign: Mapping[str, Any] | None) -> float:
    """campaign.json's RCP score scaling: its factor when the runs passed the convergence check faster than
    the reference mean, else 1.0."""
    from podium.training.convergence import score_scaling

    conv = (campaign or {}).get("convergence") or {}
    factor = conv.get("scaling_factor")
    return score_scaling(conv.get("passed"), factor if is_number(factor) else None)


def int_field(system: Mapping[str, Any], key: str, default: int) -> int:
    """A count from a system description (2, "2", "2 (SMT off)"); `default` when blank or absent."""
    m = re.match(r"\s*(\d+)", str(system.get(key, "")))
    return int(m.group(1)) if m else default


def scaling_factor(t: TrainingRun) -> float:
    """The RCP score scaling (training.md §1.2): results/<system>/<benchmark>/scaling.json when the tree has
    one (the package checker writes it; reviewers may too), else campaign.json's convergence verdict; 1.0
    when neither says more. Published times to train are the olympic minutes times this factor."""
    try:
        written = read_object(t.results_dir / SCALING_FILE)
    except UnreadableFile as e:   # one line naming it, as for any result file that cannot be read
        raise ConfigError(e.why, path=str(e.path)) from None
    if written is not None and is_number(written.get("scaling_factor")):
        return float(written["scaling_factor"])
    return rcp_scaling(t.campaign)


def score_minutes(t: TrainingRun) -> tuple[float | None, list[str]]:
    """campaign.json's submitted score (the median window's with more runs than required), else the
    olympic mean of the logs; and the reasons the result is not valid."""
    c = t.campaign
    if c is None:
        return _logged_score_minutes(t)
    score, window = c.get("score") or {}, c.get("median_window")
    minutes = window["minutes"] if window else score.get("minutes")
    reasons = [] if minutes is not None else [score.get("reason") or "no score"]
    if minutes is not None and not is_number(minutes):
        minutes, reasons = None, [f"the score in campaign.json is {minutes!r}, not a number"]
    if len(c.get("runs", ())) < int(c.get("runs_required", 0)):
        reasons.append(f"{len(c['runs'])} of {c['runs_required']} required runs")
    conv = c.get("convergence") or {}
    if conv.get("passed") is False:
        reasons.append(f"convergence check failed: {conv.get('message', '')}".rstrip(": "))
    if c.get("interrupted"):
        reasons.append("campaign interrupted")
    return minutes, reasons


def _logged_score_minutes(t: TrainingRun) -> tuple[float | None, list[str]]:
    """The olympic mean of the logs (a tree without campaign.json) and why it is not valid."""
    from podium.training.scoring import olympic_score, runs_required

    done = [log.duration_ms if log.status == "success" else None for log in t.logs]
    score = olympic_score(done, t.benchmark)
    short = len(t.logs) < runs_required(t.benchmark)
    return score.minutes, [x for x in (score.reason, short and f"{len(t.logs)} of "
                                       f"{runs_required(t.benchmark)} required runs") if x]


def training_target(t: TrainingRun) -> tuple[str, float] | None:
    """(metric, target) the campaign's runs had to reach: as campaign.json records it (schema 3), else from the
    workload registry (older records); None when unknown."""
    recorded = (t.campaign or {}).get("quality_target")
    if isinstance(recorded, dict) and isinstance(recorded.get("metric"), str) and is_number(recorded.get("value")):
        return recorded["metric"], float(recorded["value"])
    name = (t.campaign or {}).get("workload")
    if not name:
        return None
    from podium.core.errors import PodiumError
    from podium.workloads import WORKLOADS

    try:
        quality = WORKLOADS.get(str(name)).quality
    except PodiumError:
        return None
    return quality.metric, quality.target
