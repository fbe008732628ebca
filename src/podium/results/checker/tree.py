"""The views rules get of a tree's parts, and what they need beyond the tree.

The trees themselves are found by `podium.results.layout.find_packages` (a package: a submission's
`<division>/<org>/` or a Podium run directory) and walked by `podium.results.layout.benchmark_dirs`:

    results/<system>/<benchmark>/<scenario>/    inference (ScenarioView; BenchmarkView per benchmark)
    results/<system>/<benchmark>/result_*.txt   training (TrainingView)
    systems/<system>.json                       SystemView

Views read files lazily and once. A file that is absent reads as None (the required-files rule reports it); a file
that exists but cannot be parsed raises `UnreadableFile`, which the engine turns into one error finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from podium.core.layout import (MEASUREMENTS, audits_beside_results, compliance_mirror, measurements_file,
                                measurements_mirror, podium_mirror)
from podium.loadgen.logparse import DetailLogContents, read_accuracy, read_detail, read_summary
from podium.results.layout import (ACCURACY, ACCURACY_JSON, ACCURACY_LOG, ACCURACY_TXT, DETAIL_LOG, PERFORMANCE,
                                   RUN_RECORD, SUMMARY_LOG, Package, UnreadableFile, campaign_record,
                                   compliance_dirs, read_json, read_mllog, read_object, read_run_record, scenario_dirs,
                                   system_description, training_logs)

__all__ = ["BenchmarkView", "Environment", "PackageContext", "ScenarioView", "SystemView", "TrainingView"]


@dataclass
class Environment:
    """What the rules need beyond the tree: the round (given or recorded), the registry, official tools."""

    round_name: str | None = None                              # --round; else each package's recorded round
    resolve_round: Callable[[str], Any] | None = None           # name -> round object (podium.benchmarks)
    training_info: Callable[[str], Any] | None = None           # benchmark -> TrainingInfo (training_rules)
    official_tools: bool = True                                 # run mlperf_logging's checkers when installed


@dataclass
class PackageContext:
    """A package with its round: `round` is None when unknown or not resolvable (the engine says why once)."""

    package: Package
    env: Environment
    round_name: str | None = None
    round: Any = None

    def system_desc(self, system: str) -> dict[str, Any] | None:
        try:
            return read_object(system_description(self.package.root, system))
        except UnreadableFile:
            return None

    def division(self, system: str) -> str | None:
        """The path's division (submission trees), else the system description's."""
        if self.package.division:
            return self.package.division
        desc = self.system_desc(system) or {}
        return str(desc["division"]).lower() if desc.get("division") else None


@dataclass
class ScenarioView:
    """One results/<system>/<benchmark>/<scenario>/ directory and its round's benchmark entry."""

    ctx: PackageContext
    system: str
    benchmark_name: str
    path: Path
    benchmark: Any = None          # the registry's benchmark (None: unknown round or benchmark)
    level: str | None = None       # accuracy level from the directory name ("99.9")
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scenario(self) -> str:
        return self.path.name

    @property
    def perf_dir(self) -> Path:
        return self.path / PERFORMANCE

    @property
    def acc_dir(self) -> Path:
        return self.path / ACCURACY

    @property
    def closed(self) -> bool:
        return self.ctx.division(self.system) in ("closed", "network")

    def detail(self, directory: Path) -> DetailLogContents | None:
        return self._read(directory / DETAIL_LOG, lambda p: read_detail(p))

    def summary(self, directory: Path) -> dict[str, str] | None:
        return self._read(directory / SUMMARY_LOG, read_summary)

    def record(self, directory: Path) -> Mapping[str, Any] | None:
        """podium_run.json of a run directory (a submission keeps it under podium/: `records_path`)."""
        return self._read(self.records_path(directory / RUN_RECORD), read_run_record)

    def accuracy_json(self) -> dict[str, Any] | None:
        data = self._read(self.records_path(self.acc_dir / ACCURACY_JSON), read_json)
        return data if isinstance(data, dict) else None

    def records_path(self, path: Path) -> Path:
        """Where Podium's record `path` (beside a run's logs in a run tree) is: in a submission package, at the
        same place under podium/ (`podium_mirror`); where a package from an older build kept it, else."""
        if not self.ctx.package.is_submission:
            return path
        mirrored = podium_mirror(path, self.ctx.package.root)
        return mirrored if mirrored.is_file() or not path.is_file() else path

    def accuracy_lines(self) -> list[str] | None:
        path = self.acc_dir / ACCURACY_TXT
        return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else None

    def accuracy_entries(self) -> list[dict[str, Any]] | None:
        """Entries of a complete accuracy log; None when absent or truncated (not JSON any more)."""
        path = self.acc_dir / ACCURACY_LOG
        key = f"entries:{path}"
        if key not in self._cache:
            try:
                self._cache[key] = read_accuracy(path) if path.is_file() else None
            except ValueError:
                self._cache[key] = None
        return self._cache[key]

    def compliance_dirs(self) -> list[Path]:
        """The scenario's audits (TEST01, ...) where its tree keeps them (`audit_home`)."""
        return compliance_dirs(self.audit_home)

    @property
    def audit_home(self) -> Path:
        """Where the scenario's audits belong: the scenario folder in a run tree and in a package of v6.0
        onwards, its place under compliance/ in a package of an earlier round (the checker's COMPLIANCE_PATH)."""
        return self.path if self._current_layout else compliance_mirror(self.path, self.ctx.package.root)

    @property
    def measurements_path(self) -> Path:
        """The scenario's measurements file: measurements.json in the scenario folder (run trees, packages of
        v6.0 onwards), else <system>_podium_<scenario>.json at its place under measurements/ (MEASUREMENTS_PATH);
        user.conf and README.md lie beside it."""
        if self._current_layout:
            return self.path / MEASUREMENTS
        return measurements_mirror(self.path, self.ctx.package.root) / measurements_file(self.system, self.scenario)

    @property
    def _current_layout(self) -> bool:
        """A run tree, or a package of v6.0 onwards: audits and measurements in the scenario folder."""
        from podium.results.system import round_key   # not at import: results.system imports the checker

        return not self.ctx.package.is_submission or audits_beside_results(round_key(self.ctx.round_name or "current"))

    def misplaced_audits(self) -> list[Path]:
        """Audits of a package's scenario found at the place its round's checker does not read."""
        package = self.ctx.package
        if not package.is_submission:
            return []
        other = compliance_mirror(self.path, package.root) if self.audit_home == self.path else self.path
        return compliance_dirs(other)

    def _read(self, path: Path, reader: Callable[[Path], Any]) -> Any:
        key = str(path)
        if key not in self._cache:
            if not path.is_file():
                self._cache[key] = None
            else:
                try:
                    self._cache[key] = reader(path)
                except UnreadableFile:
                    raise
                except (ValueError, UnicodeDecodeError, KeyError) as e:
                    raise UnreadableFile(path, str(e)) from None
        return self._cache[key]


@dataclass
class BenchmarkView:
    """results/<system>/<benchmark>/ of an inference result: its scenarios."""

    ctx: PackageContext
    system: str
    benchmark_name: str
    path: Path
    benchmark: Any = None
    problem: str | None = None     # why `benchmark` is None although the round is known

    @property
    def scenarios(self) -> list[str]:
        return [d.name for d in scenario_dirs(self.path)]


@dataclass
class SystemView:
    """systems/<system>.json (perhaps absent) and what the results say about its use."""

    ctx: PackageContext
    system: str
    path: Path
    used_for_training: bool = False
    used_for_inference: bool = False


@dataclass
class TrainingView:
    """results/<system>/<benchmark>/ of a training result: its result_*.txt logs, parsed once."""

    ctx: PackageContext
    system: str
    benchmark_name: str
    path: Path

    @property
    def logs(self) -> list[Path]:
        return training_logs(self.path)

    @cached_property
    def parsed(self) -> dict[Path, list[dict[str, Any]]]:
        return {p: read_mllog(p) for p in self.logs}

    @property
    def campaign(self) -> dict[str, Any] | None:
        """Podium's campaign.json when the package is a run directory (submission trees do not carry it)."""
        try:
            return read_object(campaign_record(self.ctx.package.root, self.system, self.benchmark_name))
        except UnreadableFile:
            return None

