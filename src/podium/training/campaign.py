"""A training campaign: N timed runs with distinct recorded seeds, the checks after each, the olympic score.

Settings are validated before any run starts (closed-division rules refuse a bad hyperparameter before init).
A failing run ends as aborted and the next one proceeds; Ctrl-C closes the current run as aborted, keeps the
finished ones, writes the record and raises RunAborted. Only rank 0 writes files.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podium.core.errors import CheckerUnavailable, RunAborted
from podium.training import compliance
from podium.training.convergence import ConvergenceVerdict, check_convergence
from podium.training.log_keys import Submission
from podium.training.mllog import MLLogWriter
from podium.training.run_record import CheckVerdict, RunObserver, RunRecord, SilentObserver
from podium.training.scoring import OlympicScore, Window, median_window, runs_required, score_runs
from podium.training.submission_layout import SubmissionLayout, system_description, write_json_atomic
from podium.training.timed_run import RunInterrupted, TimedRun
from podium.workloads.base import Division, Precision, RunSpec, Workload

# campaign.json format history (loaders accept every version):
#   1: first version (workload, benchmark, ruleset, division, runs[], score, convergence)
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CampaignConfig:
    """How to run a workload: run count, division, precision, seeds, where results go, which checks run."""

    runs: int | None = None                  # None: the benchmark's MLPerf count
    division: Division = Division.CLOSED
    precision: Precision | None = None       # None: the recipe's
    seed: int | None = None                  # run i uses seed + i; None: drawn from the OS
    out: Path = Path("podium-out/training")
    system: str = "cpu"
    org: str = "Podium"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    per_rank_batch_size: int | None = None
    compile: bool = False
    device: str = "cpu"                      # torch device of every rank ("cuda:<local rank>" under NCCL)
    check_compliance: bool = True            # run the official compliance checker after each run (if installed)
    save_models: bool = True


@dataclass(frozen=True)
class Distribution:
    """This process's place in a distributed run; `barrier` synchronizes all ranks."""

    rank: int = 0
    world_size: int = 1
    barrier: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class CampaignResult:
    """What a campaign produced: every run's record, the olympic score, the convergence verdict, the layout."""

    workload: str
    benchmark: str
    ruleset: str
    division: Division
    runs_required: int
    records: tuple[RunRecord, ...]
    score: OlympicScore
    convergence: ConvergenceVerdict | None
    layout: SubmissionLayout
    interrupted: bool = False
    window: Window | None = None     # M > N runs: the median window of N consecutive runs

    @property
    def submitted_score(self) -> OlympicScore:
        """The score to submit: the median window's with more runs than required, else the olympic score."""
        return self.window.score if self.window is not None else self.score

    def to_json(self) -> dict[str, Any]:
        conv = self.convergence
        return {
            "schema_version": SCHEMA_VERSION, "workload": self.workload, "benchmark": self.benchmark,
            "ruleset": self.ruleset, "division": self.division.value, "runs_required": self.runs_required,
            "interrupted": self.interrupted, "runs": [r.to_json() for r in self.records],
            "score": {"minutes": self.score.minutes, "kept_ms": list(self.score.kept_ms),
                      "non_converged": self.score.non_converged, "reason": self.score.reason},
            "median_window": None if self.window is None else {
                "first_run": self.window.first_index, "minutes": self.window.score.minutes},
            "convergence": None if conv is None else {
                "passed": conv.passed, "submission_mean": conv.submission_mean, "reference_mean": conv.reference.mean,
                "min_acceptable_mean": conv.reference.min_acceptable_mean, "scaling_factor": conv.scaling_factor,
                "message": conv.message},
        }


def seeds_for(config: CampaignConfig, count: int) -> list[int]:
    """Distinct seeds, one per run (closed division: seeds must be unique across runs, rules §Seeds)."""
    base = config.seed if config.seed is not None else secrets.randbelow(2**31 - count)
    return [base + i for i in range(count)]


def plan_specs(workload: Workload, config: CampaignConfig, dist: Distribution) -> list[RunSpec]:
    """One RunSpec per run; raises RuleViolation/ConfigError here, before any init."""
    hyperparameters = workload.recipe.resolve(config.overrides, config.division)
    count = config.runs or runs_required(workload.identity.benchmark, workload.runs)
    return [RunSpec(seed=seed, hyperparameters=hyperparameters,
                    per_rank_batch_size=config.per_rank_batch_size or workload.recipe.per_rank_batch_size,
                    gradient_accumulation_steps=workload.recipe.gradient_accumulation_steps,
                    precision=config.precision or workload.recipe.precision, rank=dist.rank,
                    world_size=dist.world_size, run_index=i, compile=config.compile,
                    device=config.device)
            for i, seed in enumerate(seeds_for(config, count))]


@dataclass
class Campaign:
    """Runs a workload N times and scores it."""

    workload: Workload
    config: CampaignConfig = field(default_factory=CampaignConfig)
    observer: RunObserver = field(default_factory=SilentObserver)
    dist: Distribution = field(default_factory=Distribution)

    def __post_init__(self) -> None:
        self.specs = plan_specs(self.workload, self.config, self.dist)
        self.layout = SubmissionLayout(self.config.out, self.config.system, self.workload.identity.benchmark)
        self.rules_config: Path | None = None
        self.result: CampaignResult | None = None   # set when the campaign ends, also when interrupted
        self._current: TimedRun | None = None

    @property
    def is_writer(self) -> bool:
        return self.dist.rank == 0

    def run(self) -> CampaignResult:
        self._prepare()
        records: list[RunRecord] = []
        for spec in self.specs:
            self.observer.run_started(spec.run_index, len(self.specs), spec.seed)
            try:
                record = self._one(spec)
            except RunInterrupted as stop:
                records.append(self._after(spec, stop.record))
                self.observer.run_finished(records[-1])
                self._finish(records, interrupted=True)
                raise RunAborted(f"interrupted during run {spec.run_index + 1}/{len(self.specs)}; "
                                 f"{len(records) - 1} finished runs kept in {self.layout.out}") from None
            records.append(self._after(spec, record))
            self.observer.run_finished(records[-1])
        return self._finish(records)

    def _prepare(self) -> None:
        if not self.is_writer:
            return
        self.layout.clear_results()
        desc = system_description(self.config.org, self.config.system, self.config.division,
                                  ranks_per_node=self.dist.world_size)
        write_json_atomic(self.layout.system_description, desc)
        if self.config.check_compliance and self.workload.identity.own_rules and compliance.checker_installed():
            self.rules_config = compliance.write_podium_rules(self.workload.identity.ruleset, self.layout.rules_dir)

    def _one(self, spec: RunSpec) -> RunRecord:
        log = MLLogWriter(self.layout.result_log(spec.run_index), enabled=self.is_writer,
                          root_dir=str(Path(__file__).parents[2]))
        submission = Submission(org=self.config.org, platform=self.config.system, division=self.config.division)
        run = TimedRun(self.workload, spec, submission, log, self.observer, self.dist.barrier)
        self._current = run
        return run.execute()

    def _after(self, spec: RunSpec, record: RunRecord) -> RunRecord:
        """Untimed work after run_stop: keep the model, run the compliance checker."""
        if not self.is_writer:
            return record
        record = replace(record, log_path=str(self.layout.result_log(spec.run_index)))
        if self.config.save_models and record.run_start_ms is not None and self._current is not None:
            program = self._current.program
            if program is not None:
                files = program.save(self.layout.model_dir(spec.run_index))
                record = replace(record, model_files=tuple(str(f) for f in files))
        if self.config.check_compliance and compliance.checker_installed():
            record = replace(record, compliance=self._check(Path(record.log_path or "")))
        return record

    def _check(self, log: Path) -> CheckVerdict:
        try:
            return compliance.check_log(log, self.workload.identity.ruleset, self.rules_config)
        except CheckerUnavailable as e:
            return CheckVerdict("compliance_checker", False, (str(e),))

    def _finish(self, records: list[RunRecord], interrupted: bool = False) -> CampaignResult:
        benchmark = self.workload.identity.benchmark
        required = runs_required(benchmark, self.workload.runs)
        result = CampaignResult(
            workload=self.workload.name, benchmark=benchmark, ruleset=self.workload.identity.ruleset,
            division=self.config.division, runs_required=required, records=tuple(records),
            score=score_runs(records, benchmark), convergence=self._convergence(records), layout=self.layout,
            interrupted=interrupted,
            window=median_window(records, required, benchmark) if len(records) > required else None)
        if self.is_writer:
            write_json_atomic(self.layout.campaign_record, result.to_json())
        self.result = result
        return result

    def _convergence(self, records: list[RunRecord]) -> ConvergenceVerdict | None:
        """The RCP-style check: closed division, a stored reference, and enough runs to drop two."""
        reference = self.workload.reference
        if self.config.division is not Division.CLOSED or reference is None or len(records) < 3:
            return None
        return check_convergence([r.to_converge if r.converged else None for r in records],
                                 reference.to_converge, self.workload.identity.benchmark)
