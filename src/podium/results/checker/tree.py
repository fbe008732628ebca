"""The trees `podium check` reads, and the views rules get of their parts.

A *package* is a directory holding `systems/` and `results/`: either a submission (`<division>/<org>/`, its
division and organization known from the path) or a Podium run directory (`podium infer`, `podium train`).
`find_packages` accepts a package itself, a folder of divisions (`closed/`, `open/`, `network/`), or the output of
`podium run` / `podium submission build` with `inference/` and `training/` folders. Folders whose name starts
with "." (`.podium/` staging and partial runs, a submission being built) are never read.

    results/<system>/<benchmark>/<scenario>/    inference (ScenarioResult; BenchmarkResults per benchmark)
    results/<system>/<benchmark>/result_*.txt   training (TrainingResults)
    systems/<system>.json                       SystemEntry

Views read files lazily and once. A file that is absent reads as None (the required-files rule reports it); a file
that exists but cannot be parsed raises `UnreadableFile`, which the engine turns into one error finding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.loadgen.logparse import DetailLogContents, read_accuracy, read_detail, read_summary

DIVISIONS = ("closed", "open", "network")
PERFORMANCE = Path("performance") / "run_1"
ACCURACY = Path("accuracy")
MAX_ACCURACY_LOG_BYTES = 10 * 1024   # a truncated accuracy log's limit (constants.py MAX_ACCURACY_LOG_SIZE)


class UnreadableFile(Exception):
    """A file exists but cannot be parsed; `path` names it."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        super().__init__(f"cannot read: {why}")


@dataclass(frozen=True)
class Package:
    """systems/ + results/ under `root`; `division`/`org` come from the path of a submission tree."""

    root: Path
    division: str | None = None
    org: str | None = None

    @property
    def is_submission(self) -> bool:
        return self.division is not None

    def benchmark_dirs(self) -> list[tuple[str, Path]]:
        """(system, results/<system>/<benchmark>) for every benchmark directory."""
        results = self.root / "results"
        return [(s.name, b) for s in subdirs(results) for b in subdirs(s)]

    def system_ids(self) -> list[str]:
        described = {p.stem for p in (self.root / "systems").glob("*.json") if not p.name.startswith(".")}
        return sorted(described | {s.name for s in subdirs(self.root / "results")})


def subdirs(path: Path) -> list[Path]:
    """The folders in `path`, except those whose name starts with "." (a run's staging or partial files, a
    submission build in progress or killed): they are no part of the results."""
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_training_dir(benchmark_dir: Path) -> bool:
    return any(benchmark_dir.glob("result_*.txt"))


def find_packages(root: Path) -> list[Package]:
    """Every package under `root` (see the module docstring); ConfigError when there is none."""
    found = _packages(root.resolve())
    if not found:
        raise ConfigError("no results found: expected systems/ and results/, or closed|open|network/<org>/ "
                          "below it", path=str(root))
    return found


def _packages(root: Path) -> list[Package]:
    if (root / "results").is_dir() or (root / "systems").is_dir():
        if root.parent.name in DIVISIONS:
            return [Package(root, root.parent.name, root.name)]
        return [Package(root)]
    found = [Package(org, division, org.name)
             for division in DIVISIONS for org in subdirs(root / division)]
    for kind in ("inference", "training"):
        if (root / kind).is_dir():
            found += _packages(root / kind)
    return found


def read_json(path: Path) -> Any:
    """A JSON file, None when absent, UnreadableFile when not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UnreadableFile(path, f"not JSON ({e})") from None


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
            data = read_json(self.package.root / "systems" / f"{system}.json")
        except UnreadableFile:
            return None
        return data if isinstance(data, dict) else None

    def division(self, system: str) -> str | None:
        """The path's division (submission trees), else the system description's."""
        if self.package.division:
            return self.package.division
        desc = self.system_desc(system) or {}
        return str(desc["division"]).lower() if desc.get("division") else None


@dataclass
class ScenarioResult:
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
        return self._read(directory / "mlperf_log_detail.txt", lambda p: read_detail(p))

    def summary(self, directory: Path) -> dict[str, str] | None:
        return self._read(directory / "mlperf_log_summary.txt", read_summary)

    def record(self, directory: Path) -> dict[str, Any] | None:
        """podium_run.json of a run directory."""
        data = self._read(directory / "podium_run.json", read_json)
        return data if isinstance(data, dict) else None

    def accuracy_json(self) -> dict[str, Any] | None:
        data = self._read(self.acc_dir / "accuracy.json", read_json)
        return data if isinstance(data, dict) else None

    def accuracy_lines(self) -> list[str] | None:
        path = self.acc_dir / "accuracy.txt"
        return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else None

    def accuracy_entries(self) -> list[dict[str, Any]] | None:
        """Entries of a complete accuracy log; None when absent or truncated (not JSON any more)."""
        path = self.acc_dir / "mlperf_log_accuracy.json"
        key = f"entries:{path}"
        if key not in self._cache:
            try:
                self._cache[key] = read_accuracy(path) if path.is_file() else None
            except ValueError:
                self._cache[key] = None
        return self._cache[key]

    def compliance_dirs(self) -> list[Path]:
        return [d for d in subdirs(self.path) if d.name.startswith("TEST")]

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
class BenchmarkResults:
    """results/<system>/<benchmark>/ of an inference result: its scenarios."""

    ctx: PackageContext
    system: str
    benchmark_name: str
    path: Path
    benchmark: Any = None
    problem: str | None = None     # why `benchmark` is None although the round is known

    @property
    def scenarios(self) -> list[str]:
        return [d.name for d in subdirs(self.path)]


@dataclass
class SystemEntry:
    """systems/<system>.json (perhaps absent) and what the results say about its use."""

    ctx: PackageContext
    system: str
    path: Path
    used_for_training: bool = False
    used_for_inference: bool = False


@dataclass
class TrainingResults:
    """results/<system>/<benchmark>/ of a training result: its result_*.txt logs, parsed once."""

    ctx: PackageContext
    system: str
    benchmark_name: str
    path: Path

    @property
    def logs(self) -> list[Path]:
        return sorted(self.path.glob("result_*.txt"), key=lambda p: (len(p.name), p.name))

    @cached_property
    def parsed(self) -> dict[Path, list[dict[str, Any]]]:
        return {p: read_mllog(p) for p in self.logs}

    @property
    def campaign(self) -> dict[str, Any] | None:
        """Podium's campaign.json when the package is a run directory (submission trees do not carry it)."""
        try:
            data = read_json(self.ctx.package.root / "podium" / self.system / self.benchmark_name / "campaign.json")
        except UnreadableFile:
            return None
        return data if isinstance(data, dict) else None


def read_mllog(path: Path) -> list[dict[str, Any]]:
    """The `:::MLLOG {...}` entries of a training log; lines that are not JSON are skipped (the compliance
    checker reports them)."""
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        _, sep, payload = line.partition(":::MLLOG ")
        if not sep:
            continue
        try:
            entries.append(json.loads(payload))
        except ValueError:
            continue
    return entries
