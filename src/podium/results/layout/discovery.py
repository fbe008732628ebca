"""Finding results: the one walker of results trees and submission trees.

Two ways in, one set of rules (folders named ".*" are skipped everywhere; see `paths.hidden`):
- by shape, at any depth below a folder (`podium results`, `podium report`): `inference_run_dirs` finds every
  `.../results/<system>/<benchmark>/<scenario>/performance/run_1/` holding a detail log (not TEST0x ones), and
  `training_result_dirs` every `.../results/<system>/<benchmark>/` holding `result_<i>.txt`;
- by structure, from a tree's root (`podium check`, `podium submission build`): `find_packages` and `run_trees`
  find the trees, then `benchmark_dirs`, `scenario_dirs` and `contents` list what each holds.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from podium.core.errors import ConfigError
from podium.core.layout import (COMPLIANCE_PREFIX, DETAIL_LOG, DIVISIONS, KINDS, PERFORMANCE, RESULTS, RUN_RECORD,
                                SYSTEMS, TRAINING_LOGS, VERIFY_REPORTS, subdirs)

__all__ = ["Package", "ScenarioFolder", "TrainingFolder", "benchmark_dirs", "compliance_dirs", "compliance_verdicts",
           "contents", "find_packages", "inference_run_dirs", "is_training_dir", "run_records", "run_trees",
           "scenario_dirs", "training_logs", "training_result_dirs"]


# ---------------------------------------------------------------- by shape, at any depth

def _files(top: Path, pattern: str) -> Iterator[Path]:
    """Every file below `top` whose name matches `pattern`, not looking into folders named ".*" below `top`
    nor following links to folders."""
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in fnmatch.filter(files, pattern):
            yield Path(folder) / name


def inference_run_dirs(top: Path) -> list[Path]:
    """Every `<tree>/results/<system>/<benchmark>/<scenario>/performance/run_1/` with a detail log below `top`
    (or around it, when `top` lies inside a tree), compliance runs (TEST0x/) left out; sorted."""
    return sorted(p.parent for p in _files(top, DETAIL_LOG)
                  if p.parent.name == PERFORMANCE.name and p.parents[1].name == PERFORMANCE.parent.name
                  and len(p.parents) > 6 and p.parents[5].name == RESULTS
                  and not p.parents[2].name.startswith(COMPLIANCE_PREFIX))


def training_result_dirs(top: Path) -> list[Path]:
    """Every `<tree>/results/<system>/<benchmark>/` holding `result_<i>.txt` mllogs below `top`; sorted."""
    return sorted({p.parent for p in _files(top, TRAINING_LOGS) if len(p.parents) > 3 and p.parents[2].name == RESULTS})


# ---------------------------------------------------------------- by structure, from a tree's root

@dataclass(frozen=True)
class Package:
    """A tree (systems/ + results/) under `root`; `division`/`org` come from the path of a submission tree."""

    root: Path
    division: str | None = None
    org: str | None = None

    @property
    def is_submission(self) -> bool:
        return self.division is not None

    def benchmark_dirs(self) -> list[tuple[str, Path]]:
        """(system, results/<system>/<benchmark>) for every benchmark folder."""
        return benchmark_dirs(self.root)

    def system_ids(self) -> list[str]:
        """The systems described in systems/ or holding results."""
        described = {p.stem for p in (self.root / SYSTEMS).glob("*.json") if not p.name.startswith(".")}
        return sorted(described | {s.name for s in subdirs(self.root / RESULTS)})


def find_packages(root: Path) -> list[Package]:
    """Every package under `root`: `root` itself (systems/ or results/ in it; a submission when its parent is a
    division), a folder of divisions (`closed/<org>/`, ...), or an output with `inference/` and `training/`
    folders holding either. ConfigError when there is none."""
    found = _packages(root.resolve())
    if not found:
        raise ConfigError("no results found: expected systems/ and results/, or closed|open|network/<org>/ "
                          "below it", path=str(root))
    return found


def _packages(root: Path) -> list[Package]:
    if (root / RESULTS).is_dir() or (root / SYSTEMS).is_dir():
        if root.parent.name in DIVISIONS:
            return [Package(root, root.parent.name, root.name)]
        return [Package(root)]
    found = [Package(org, division, org.name) for division in DIVISIONS for org in subdirs(root / division)]
    for kind in KINDS:
        if (root / kind).is_dir():
            found += _packages(root / kind)
    return found


def run_trees(path: Path) -> list[Path]:
    """The run trees of a Podium run directory: `path` when it holds results/, else its inference/ and
    training/ folders that do (`podium run`'s output); [] when it is no run directory."""
    if (path / RESULTS).is_dir():
        return [path]
    return [path / kind for kind in KINDS if (path / kind / RESULTS).is_dir()]


def benchmark_dirs(tree: Path) -> list[tuple[str, Path]]:
    """(system, results/<system>/<benchmark>) for every benchmark folder of a tree."""
    return [(s.name, b) for s in subdirs(tree / RESULTS) for b in subdirs(s)]


def scenario_dirs(benchmark_dir: Path) -> list[Path]:
    """The scenario folders of an inference benchmark folder."""
    return subdirs(benchmark_dir)


def is_training_dir(benchmark_dir: Path) -> bool:
    """Whether a benchmark folder holds training logs (else it holds inference scenarios)."""
    return any(benchmark_dir.glob(TRAINING_LOGS))


def training_logs(benchmark_dir: Path) -> list[Path]:
    """The `result_<i>.txt` mllogs of a training benchmark folder, in run order (result_2 before result_10)."""
    return sorted(benchmark_dir.glob(TRAINING_LOGS), key=lambda p: (len(p.name), p.name))


def compliance_dirs(scenario: Path) -> list[Path]:
    """The compliance runs (TEST01, TEST04, ...) of a scenario folder."""
    return [d for d in subdirs(scenario) if d.name.startswith(COMPLIANCE_PREFIX)]


def compliance_verdicts(compliance_dir: Path) -> list[Path]:
    """The verify_*.txt reports of a compliance run (TEST01/verify_accuracy.txt, ...), sorted."""
    return sorted(compliance_dir.glob(VERIFY_REPORTS))


def run_records(tree: Path) -> list[Path]:
    """Every podium_run.json of a tree's scenarios: those one folder below a scenario (accuracy/, ...) first,
    then those of performance/run_1/, each group sorted."""
    scenarios = [s for _, b in benchmark_dirs(tree) for s in subdirs(b)]
    near = sorted(record for s in scenarios for d in subdirs(s) if (record := d / RUN_RECORD).is_file())
    perf = sorted(record for s in scenarios if (record := s / PERFORMANCE / RUN_RECORD).is_file())
    return near + perf


@dataclass(frozen=True)
class ScenarioFolder:
    """results/<system>/<benchmark>/<scenario>/ of the tree `tree`."""

    tree: Path
    system: str
    benchmark: str
    path: Path

    @property
    def scenario(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class TrainingFolder:
    """results/<system>/<benchmark>/ of training logs of the tree `tree`."""

    tree: Path
    system: str
    benchmark: str
    path: Path


def contents(tree: Path) -> tuple[list[ScenarioFolder], list[TrainingFolder]]:
    """What one tree holds: its inference scenario folders and its training benchmark folders."""
    inference: list[ScenarioFolder] = []
    training: list[TrainingFolder] = []
    for system, bench_dir in benchmark_dirs(tree):
        if is_training_dir(bench_dir):
            training.append(TrainingFolder(tree, system, bench_dir.name, bench_dir))
            continue
        inference += [ScenarioFolder(tree, system, bench_dir.name, s) for s in scenario_dirs(bench_dir)]
    return inference, training
