"""A training campaign: N timed runs with distinct recorded seeds, the checks after each, the olympic score.

Settings are validated before any run starts (closed-division rules refuse a bad hyperparameter before init).
A failing run ends as aborted and the next one proceeds. The writer (rank 0) holds the output folder for the
whole campaign (`outdir.exclusive`: one campaign per folder) and writes the benchmark's results, record and
models into staging folders that replace the previous ones only when the campaign finishes. Ctrl-C or SIGTERM
closes the current run as aborted, keeps the finished ones, writes the record marked aborted with the signal
under `<out>/.podium/partial/`, leaves the previous results as they were and raises RunAborted.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podium.core import outdir, signals
from podium.core.errors import CheckerUnavailable, ConfigError, RunAborted
from podium.core.files import atomic_write_json
from podium.training import compliance
from podium.training.convergence import ConvergenceVerdict, check_convergence, published_minutes
from podium.training.log_keys import Submission
from podium.training.mllog import MLLogWriter
from podium.training.run_record import CheckVerdict, RunObserver, RunRecord, RunStatus, SilentObserver
from podium.training.scoring import OlympicScore, Window, median_window, runs_required, score_runs
from podium.training.submission_layout import StagedLayout, SubmissionLayout, system_description
from podium.training.timed_run import RunInterrupted, TimedRun
from podium.workloads.base import Division, Precision, QualityTarget, RunSpec, Workload

# campaign.json format history (loaders accept every version):
#   1: first version (workload, benchmark, ruleset, division, runs[], score, convergence)
#   2: `status` ("complete" or "aborted") and `stop_signal` (the signal's name, e.g. "SIGTERM", or null);
#      a non-finite evaluation value is written as a string ("nan", "inf")
#   3: `quality_target` ({metric, value, direction}: what the runs had to reach, so readers need not look the
#      workload up in a registry that may have changed) and `published_minutes` (the submitted score times
#      the RCP scaling, `convergence.score_scaling`)
#   4: `distribution` ({nodes, ranks_per_node, world_size, accelerators_per_node, device, slurm_job_id}: where
#      the ranks ran)
#   5: `runs[].data_loading` ({samples, batches, wait_s, busy_s, wait_fraction, samples_per_s} of the training
#      feed, or null): how fast the data came and how long training waited for it
SCHEMA_VERSION = 5


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
    loader_workers: int | None = None        # data-loading processes per rank; None: the feed's default


@dataclass(frozen=True)
class Distribution:
    """This process's place in a distributed run; `barrier` synchronizes all ranks."""

    rank: int = 0
    world_size: int = 1
    barrier: Callable[[], None] = lambda: None
    nodes: int = 1                        # nodes the ranks run on (world_size / ranks per node)
    slurm_job_id: str | None = None       # the Slurm job the ranks run in, if any

    @property
    def ranks_per_node(self) -> int:
        return max(1, self.world_size // max(1, self.nodes))

    def to_json(self, device: str) -> dict[str, Any]:
        """What campaign.json records of where the ranks ran (`device`: rank 0's torch device)."""
        return {"nodes": self.nodes, "ranks_per_node": self.ranks_per_node, "world_size": self.world_size,
                "accelerators_per_node": self.ranks_per_node if device.startswith("cuda") else 0,
                "device": device, "slurm_job_id": self.slurm_job_id}


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
    stop_signal: int | None = None   # the signal that stopped the campaign (SIGINT, SIGTERM)
    quality: QualityTarget | None = None  # the target every run had to reach
    distribution: dict[str, Any] | None = None   # where the ranks ran (`Distribution.to_json`)

    @property
    def published_minutes(self) -> float | None:
        """The submitted score times the RCP scaling (None when there is no valid score)."""
        conv = self.convergence
        return published_minutes(self.submitted_score.minutes, conv is not None and conv.passed,
                                 None if conv is None else conv.scaling_factor)

    @property
    def submitted_score(self) -> OlympicScore:
        """The score to submit: the median window's with more runs than required, else the olympic score."""
        return self.window.score if self.window is not None else self.score

    def relocated(self, layout: SubmissionLayout) -> CampaignResult:
        """This result with its files' paths in `layout` (the final folders, or partial/)."""
        records = tuple(replace(r, log_path=self.layout.moved(r.log_path, layout),
                                model_files=tuple(self.layout.moved(f, layout) or f for f in r.model_files))
                        for r in self.records)
        return replace(self, records=records, layout=layout)

    def to_json(self) -> dict[str, Any]:
        conv = self.convergence
        stop = None if self.stop_signal is None else signal.Signals(self.stop_signal).name
        return {
            "schema_version": SCHEMA_VERSION, "workload": self.workload, "benchmark": self.benchmark,
            "ruleset": self.ruleset, "division": self.division.value, "runs_required": self.runs_required,
            "status": "aborted" if self.interrupted else "complete", "stop_signal": stop,
            "interrupted": self.interrupted, "runs": [r.to_json() for r in self.records],
            "quality_target": None if self.quality is None else {
                "metric": self.quality.metric, "value": self.quality.target,
                "direction": self.quality.direction.value},
            "published_minutes": self.published_minutes, "distribution": self.distribution,
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


def check_config(config: CampaignConfig) -> None:
    """Refuse impossible numbers before anything runs (`--runs 0` used to mean the default count)."""
    for name, value, least in (("runs", config.runs, 1), ("per_rank_batch_size", config.per_rank_batch_size, 1),
                               ("seed", config.seed, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}", key=name)
    for name, text in (("system", config.system), ("org", config.org)):
        if not text.strip() or "/" in text or text in (".", ".."):
            raise ConfigError(f"{name} must be a name (not empty, no '/'), got {text!r}", key=name)


def plan_specs(workload: Workload, config: CampaignConfig, dist: Distribution) -> list[RunSpec]:
    """One RunSpec per run; raises RuleViolation/ConfigError here, before any init."""
    check_config(config)
    hyperparameters = workload.recipe.resolve(config.overrides, config.division)
    count = config.runs or runs_required(workload.identity.benchmark, workload.runs)
    return [RunSpec(seed=seed, hyperparameters=hyperparameters,
                    per_rank_batch_size=config.per_rank_batch_size or workload.recipe.per_rank_batch_size,
                    gradient_accumulation_steps=workload.recipe.gradient_accumulation_steps,
                    precision=config.precision or workload.recipe.precision, rank=dist.rank,
                    world_size=dist.world_size, run_index=i, compile=config.compile,
                    device=config.device, loader_workers=config.loader_workers)
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
        self._write = self.layout                   # where files go while the campaign runs (staging)
        self._running: int | None = None            # index of the run in progress

    @property
    def is_writer(self) -> bool:
        return self.dist.rank == 0

    def run(self) -> CampaignResult:
        """Run every spec and score them; the previous results are replaced only if the campaign finishes."""
        if not self.is_writer:
            result = self._campaign(self.layout)
            self.result = result
            if result.interrupted:
                raise RunAborted(self._stop_message(result, None), result.stop_signal)
            return result
        with outdir.exclusive(self.config.out):
            stage = StagedLayout(self.layout, models=self.config.save_models)
            try:
                result = self._campaign(stage.layout)
                if not result.interrupted:
                    return self._commit(result, stage)
            except BaseException:
                stage.abandon()     # an unexpected failure: its files are kept, the previous results stay
                raise
            raise self._keep(result, stage)

    def _campaign(self, write: SubmissionLayout) -> CampaignResult:
        """The runs, written into `write`; a stop (Ctrl-C, SIGTERM) ends it with the runs so far."""
        self._write = write
        self._prepare()
        records: list[RunRecord] = []
        try:
            for spec in self.specs:
                signals.raise_if_received()     # a stop swallowed between runs
                self._running = spec.run_index
                self._record(spec, records)
                self._running = None
        except KeyboardInterrupt as e:
            return self._result(records, stop_signal=signals.signum_of(e))
        return self._result(records)

    def _record(self, spec: RunSpec, records: list[RunRecord]) -> None:
        """One run, its record appended as soon as it exists, then the untimed work after it."""
        try:
            self.observer.run_started(spec.run_index, len(self.specs), spec.seed)
            record = self._one(spec)
        except KeyboardInterrupt as stop:   # in the run (closed as aborted), or just before it began
            record = stop.record if isinstance(stop, RunInterrupted) else RunRecord(
                spec.run_index, spec.seed, RunStatus.ABORTED, signals.describe(signals.signum_of(stop)))
            records.append(replace(record, log_path=self._log_path(spec)))
            self.observer.run_finished(records[-1])
            raise
        records.append(replace(record, log_path=self._log_path(spec)))
        records[-1] = self._after(spec, records[-1])
        self.observer.run_finished(records[-1])

    def _commit(self, result: CampaignResult, stage: StagedLayout) -> CampaignResult:
        """Write the record and swap the new results in for the previous ones."""
        self.result = result.relocated(self.layout)
        atomic_write_json(stage.layout.campaign_record, self.result.to_json())
        with signals.deferred():    # never stop between the two renames of a swap
            self._write_system_description()
            stage.commit()
        return self.result

    def _keep(self, result: CampaignResult, stage: StagedLayout) -> RunAborted:
        """A stopped campaign: its files and its record, marked aborted, go to partial/; the previous stay."""
        where = stage.abandon()
        self.result = result.relocated(where)
        if where.record_at is not None:
            atomic_write_json(where.campaign_record, self.result.to_json())
        return RunAborted(self._stop_message(result, where), result.stop_signal)

    def _stop_message(self, result: CampaignResult, where: SubmissionLayout | None) -> str:
        total, stopped = len(self.specs), signals.describe(result.stop_signal)
        runs = len(result.records)
        at = f"during run {self._running + 1}/{total}" if self._running is not None else f"after run {runs}/{total}"
        if where is None:
            return f"{stopped} {at}"
        finished = sum(1 for r in result.records if r.reason != stopped)
        kept = where.record_dir if where.record_at is not None else where.results_dir
        return (f"{stopped} {at}; {finished} finished run(s) and the record are in "
                f"{_partial_root(kept, self.layout)}; the previous results in {self.layout.out} are unchanged")

    def _prepare(self) -> None:
        if not self.is_writer:
            return
        if self.config.check_compliance and self.workload.identity.own_rules and compliance.checker_installed():
            self.rules_config = compliance.write_podium_rules(self.workload.identity.ruleset, self.layout.rules_dir)

    def _write_system_description(self) -> None:
        desc = system_description(self.config.org, self.config.system, self.config.division,
                                  nodes=self.dist.nodes, ranks_per_node=self.dist.ranks_per_node,
                                  accelerator=_accelerator(self.config.device))
        atomic_write_json(self.layout.system_description, desc)

    def _log_path(self, spec: RunSpec) -> str | None:
        log = self._write.result_log(spec.run_index)
        return str(log) if self.is_writer and log.exists() else None

    def _one(self, spec: RunSpec) -> RunRecord:
        log = MLLogWriter(self._write.result_log(spec.run_index), enabled=self.is_writer,
                          root_dir=str(Path(__file__).parents[2]))
        submission = Submission(org=self.config.org, platform=self.config.system, division=self.config.division)
        run = TimedRun(self.workload, spec, submission, log, self.observer, self.dist.barrier)
        self._current = run
        try:
            return run.execute()
        finally:   # the feed's worker processes end with the run, not when the program is collected
            close = getattr(run.program, "close", None)   # optional in the Program protocol
            if callable(close):
                close()

    def _after(self, spec: RunSpec, record: RunRecord) -> RunRecord:
        """Untimed work after run_stop: keep the model, run the compliance checker."""
        if not self.is_writer:
            return record
        if self.config.save_models and record.run_start_ms is not None and self._current is not None:
            program = self._current.program
            if program is not None:
                files = program.save(self._write.model_dir(spec.run_index))
                record = replace(record, model_files=tuple(str(f) for f in files))
        if self.config.check_compliance and compliance.checker_installed():
            record = replace(record, compliance=self._check(Path(record.log_path or "")))
        return record

    def _check(self, log: Path) -> CheckVerdict:
        try:
            return compliance.check_log(log, self.workload.identity.ruleset, self.rules_config)
        except CheckerUnavailable as e:
            return CheckVerdict("compliance_checker", False, (str(e),))

    def _result(self, records: list[RunRecord], stop_signal: int | None = None) -> CampaignResult:
        benchmark = self.workload.identity.benchmark
        required = runs_required(benchmark, self.workload.runs)
        return CampaignResult(
            workload=self.workload.name, benchmark=benchmark, ruleset=self.workload.identity.ruleset,
            division=self.config.division, runs_required=required, records=tuple(records),
            score=score_runs(records, benchmark), convergence=self._convergence(records), layout=self._write,
            interrupted=stop_signal is not None, stop_signal=stop_signal, quality=self.workload.quality,
            distribution=self.dist.to_json(self.config.device),
            window=median_window(records, required, benchmark) if len(records) > required else None)

    def _convergence(self, records: list[RunRecord]) -> ConvergenceVerdict | None:
        """The RCP-style check: closed division, a stored reference, and enough runs to drop two."""
        reference = self.workload.reference
        if self.config.division is not Division.CLOSED or reference is None or len(records) < 3:
            return None
        return check_convergence([r.to_converge if r.converged else None for r in records],
                                 reference.to_converge, self.workload.identity.benchmark)


def _accelerator(device: str) -> str | None:
    """The accelerator's name when the ranks train on one (a CUDA device), else None."""
    if not device.startswith("cuda"):
        return None
    import torch

    return str(torch.cuda.get_device_name(torch.device(device)))


def _partial_root(kept: Path, layout: SubmissionLayout) -> Path:
    """partial/<run id>/ of a folder kept there (or the folder itself, left in staging)."""
    partial = layout.out / outdir.STATE_DIR / "partial"
    return next((p for p in kept.parents if p.parent == partial), kept)

