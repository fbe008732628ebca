"""Which init-time keys a run's mllog carries, per ruleset: one table, not one hard-coded list per version.

Sources: mlperf-logging 4.1.68 `training_<ruleset>/common.yaml` and `closed_common.yaml` (read, measured in
shared/reference/training.md §3.3): `submission_status` is required up to 4.0.0 and gone after; the nine
precision/parallelism/config disclosure keys are optional in 6.0.0 and mandatory from 6.1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podium.workloads.base import Division, RunSpec, Workload


def ruleset_tuple(ruleset: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ruleset.split("."))


@dataclass(frozen=True)
class Submission:
    """Who submits on what: the `submission_*` values (`status` is the ≤ 4.0 log spelling: onprem, cloud, ...)."""

    org: str = "Podium"
    platform: str = "cpu"
    status: str = "onprem"
    division: Division = Division.CLOSED


def submission_keys(workload: Workload, submission: Submission) -> list[tuple[str, Any]]:
    """`submission_*` keys; the division first, because it sets the init budget the checker applies at
    `init_stop` (a division logged later leaves the budget at 0: reference §3.4)."""
    keys: list[tuple[str, Any]] = [
        ("submission_division", submission.division.value),
        ("submission_benchmark", workload.identity.benchmark),
        ("submission_org", submission.org),
        ("submission_platform", submission.platform),
    ]
    if ruleset_tuple(workload.identity.ruleset) <= (4, 0, 0):
        keys.append(("submission_status", submission.status))
    return keys


def run_keys(workload: Workload, spec: RunSpec) -> list[tuple[str, Any]]:
    """Seed, batch, sample counts, optimizer and hyperparameters, fixed extras, and the 6.x disclosure keys."""
    logged = {h.name for h in workload.recipe.hyperparameters if h.logged}
    keys: list[tuple[str, Any]] = [
        ("seed", spec.seed),
        ("global_batch_size", spec.global_batch_size),
        ("gradient_accumulation_steps", spec.gradient_accumulation_steps),
        ("train_samples", workload.train_samples),
        ("eval_samples", workload.eval_samples),
        ("opt_name", workload.recipe.optimizer),
    ]
    keys += [(name, value) for name, value in spec.hyperparameters.items() if name in logged]
    keys += list(workload.extra_log.items())
    if workload.run_log is not None:
        keys += list(workload.run_log(spec).items())
    if ruleset_tuple(workload.identity.ruleset) >= (6, 0, 0):
        keys += disclosure_keys(workload, spec)
    return keys


def disclosure_keys(workload: Workload, spec: RunSpec) -> list[tuple[str, Any]]:
    """The 6.1 mandatory disclosure: precisions, parallelism degrees (data-parallel only: all 1), config."""
    precision = spec.precision.mllog_name
    return [
        ("lowest_numerical_precision_in_linear", precision),
        ("lowest_numerical_precision_in_attn", precision),
        ("lowest_numerical_precision_in_comm", "fp32"),   # DDP all-reduces fp32 gradients
        ("tensor_parallelism", 1),
        ("pipeline_parallelism", 1),
        ("context_parallelism", 1),
        ("expert_parallelism", 1),
        ("micro_batch_size", spec.per_rank_batch_size),   # per rank, per accumulation step
        ("config_filename", f"podium.workloads:{workload.name}"),
    ]
