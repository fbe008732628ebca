"""Results found on disk: inference results and training runs in Podium's run trees and in submission trees.

What is read (either layout; `<root>` is any folder holding results/ and systems/):
    <root>/results/<system>/<benchmark>/<scenario>/performance/run_1/mlperf_log_detail.txt   the result
        ... podium_run.json beside it (optional: backend, runner, round, latency histogram),
        <scenario>/accuracy/accuracy.json (else the accuracy run's podium_run.json, else accuracy.txt),
        <scenario>/find_peak/podium_peak.json, <scenario>/measurements.json
    <root>/results/<system>/<benchmark>/result_<i>.txt      training mllogs
    <root>/podium/<system>/<benchmark>/campaign.json        Podium's training record (score, convergence)
    <root>/systems/<system>.json                            the system description
Compliance runs (TEST0x/) are not results of their own and are skipped, and so is everything below a folder
whose name starts with "." (`.podium/staging/` and `.podium/partial/`: a run in progress or one that failed,
kept beside the results it did not replace; a submission build in progress).

A result whose files cannot be read (a truncated podium_run.json, a detail log with garbage, a campaign.json
that is not JSON) is one `Unreadable` (path and why) in `scan(top)`; the other results are read all the same.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.loadgen.logparse import DetailLogContents, read_detail

__all__ = ["InferenceResult", "Scan", "TrainingLog", "TrainingResult", "Unreadable", "find_inference",
           "find_training", "hidden", "int_field", "rcp_scaling", "read_accuracy", "read_mllog", "scan",
           "training_target"]


def _json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when the file is absent."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise ConfigError(f"not JSON: {e}", path=str(path)) from None
    return data if isinstance(data, dict) else None


def rcp_scaling(campaign: Mapping[str, Any] | None) -> float:
    """campaign.json's RCP score scaling: its factor when the runs passed the convergence check faster than
    the reference mean, else 1.0."""
    from podium.training.convergence import score_scaling

    conv = (campaign or {}).get("convergence") or {}
    factor = conv.get("scaling_factor")
    return score_scaling(conv.get("passed"), factor if _is_number(factor) else None)


def int_field(system: Mapping[str, Any], key: str, default: int) -> int:
    """A count from a system description (2, "2", "2 (SMT off)"); `default` when blank or absent."""
    m = re.match(r"\s*(\d+)", str(system.get(key, "")))
    return int(m.group(1)) if m else default


@dataclass(frozen=True)
class InferenceResult:
    """One performance result on disk and what surrounds it: podium_run.json, accuracy, peak search, system."""

    root: Path                  # the tree holding results/ and systems/
    source: Path                # the path it was found under (a `podium results` argument)
    system_id: str
    benchmark: str
    scenario: str               # the directory name, as the checker reads it
    perf_dir: Path              # .../<scenario>/performance/run_1
    detail: DetailLogContents
    record: Mapping[str, Any]   # podium_run.json ({} in a tree without one)
    accuracy: Mapping[str, Any] | None
    peak: Mapping[str, Any] | None
    system: Mapping[str, Any]
    measurements: Mapping[str, Any]

    @property
    def scenario_dir(self) -> Path:
        return self.perf_dir.parents[1]


def hidden(path: Path, top: Path) -> bool:
    """Whether `path` lies below a folder of `top` whose name starts with "." (staging, partial runs)."""
    try:
        parts = path.relative_to(top).parts
    except ValueError:
        return False
    return any(part.startswith(".") for part in parts[:-1])


@dataclass(frozen=True)
class Unreadable:
    """A result that could not be read: the file (or folder) at fault and why, for one line."""

    path: Path
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


@dataclass(frozen=True)
class Scan:
    """What one tree holds: the results read, and those that could not be."""

    inference: tuple[InferenceResult, ...] = ()
    training: tuple[TrainingResult, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()


def scan(top: Path) -> Scan:
    """Every result under `top`; one that cannot be read is an `Unreadable` and the others are still read."""
    if not top.is_dir():
        return Scan(unreadable=(Unreadable(top, "no such directory" if not top.exists() else "not a directory"),))
    bad: list[Unreadable] = []
    inference = [r for d in _inference_dirs(top) if (r := _guarded(read_inference, d, top, bad)) is not None]
    training = [t for d in _training_dirs(top) if (t := _guarded(read_training, d, top, bad)) is not None]
    return Scan(tuple(inference), tuple(training), tuple(bad))


def _guarded(read: Callable[[Path, Path], Any], directory: Path, top: Path, bad: list[Unreadable]) -> Any:
    """`read(directory, top)`, or None with the reason added to `bad`."""
    try:
        return read(directory, top)
    except ConfigError as e:
        bad.append(Unreadable(Path(e.path) if e.path else directory, str(e).removeprefix(f"{e.path}: ")))
    except (OSError, UnicodeDecodeError) as e:
        bad.append(Unreadable(Path(getattr(e, "filename", None) or directory), e.strerror or str(e)))
    return None


def find_inference(top: Path) -> list[InferenceResult]:
    """Every `<root>/results/<system>/<benchmark>/<scenario>/performance/run_1/` under `top` (not TEST0x ones);
    ConfigError on the first that cannot be read (`scan` reads the others)."""
    return [read_inference(d, top) for d in _inference_dirs(top)]


def _inference_dirs(top: Path) -> list[Path]:
    return sorted(p.parent for p in top.rglob("mlperf_log_detail.txt")
                  if p.parent.name == "run_1" and p.parents[1].name == "performance" and len(p.parents) > 6
                  and p.parents[5].name == "results" and not p.parents[2].name.startswith("TEST")
                  and not hidden(p, top))


def read_inference(perf_dir: Path, source: Path) -> InferenceResult:
    scenario_dir, root = perf_dir.parents[1], perf_dir.parents[5]
    record = _json(perf_dir / "podium_run.json") or {}
    system_id = str(record.get("system_id") or perf_dir.parents[3].name)
    detail_path = perf_dir / "mlperf_log_detail.txt"
    try:
        detail = read_detail(detail_path)
    except ValueError as e:   # "<path>:<line>: why"
        why = str(e).removeprefix(f"{detail_path}:")
        raise ConfigError(f"line {why}" if why[:1].isdigit() else why, path=str(detail_path)) from None
    return InferenceResult(
        root=root, source=source, system_id=system_id, benchmark=str(record.get("benchmark") or
                                                                     perf_dir.parents[2].name),
        scenario=scenario_dir.name, perf_dir=perf_dir, detail=detail, record=record,
        accuracy=read_accuracy(scenario_dir / "accuracy"),
        peak=_json(scenario_dir / "find_peak" / "podium_peak.json"),
        system=_json(root / "systems" / f"{system_id}.json") or {},
        measurements=_json(scenario_dir / "measurements.json") or {})


def read_accuracy(acc_dir: Path) -> dict[str, Any] | None:
    """accuracy.json, else the accuracy run's podium_run.json, else accuracy.txt's first line (a tree from
    elsewhere: the official vision line `accuracy=98.592%, good=350, total=355`, which the checker reads)."""
    data = _json(acc_dir / "accuracy.json")
    if data is not None:
        return data
    record = _json(acc_dir / "podium_run.json") or {}
    if record.get("accuracy"):
        return dict(record["accuracy"])
    try:
        first = (acc_dir / "accuracy.txt").read_text(encoding="utf-8", errors="replace").partition("\n")[0]
    except FileNotFoundError:
        return None
    m = re.match(r"accuracy=([-+.\d]+)%", first)
    return {"metric": "accuracy", "value": float(m.group(1)), "units": "%"} if m else None


@dataclass(frozen=True)
class TrainingLog:
    """One training run's mllog, reduced to what tables and plots need."""

    path: Path
    index: int
    status: str | None                       # run_stop's status; None when the run never stopped
    run_start_ms: int | None
    run_stop_ms: int | None
    evals: tuple[tuple[int, float], ...]     # (ms since run_start, eval_accuracy), in log order
    global_batch_size: int | None

    @property
    def duration_ms(self) -> int | None:
        """The run's score: run_stop.time_ms - run_start.time_ms (training rules §Run results)."""
        if self.run_start_ms is None or self.run_stop_ms is None:
            return None
        return self.run_stop_ms - self.run_start_ms


def read_mllog(path: Path) -> TrainingLog:
    """First run_start/run_stop, every eval_accuracy; text before `:::MLLOG ` is dropped as mllog's parser does."""
    entries: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            _, marker, tail = line.partition(":::MLLOG ")
            try:
                entries.append(json.loads(tail)) if marker else None
            except ValueError:
                continue
    first: dict[str, dict[str, Any]] = {}
    for e in entries:
        first.setdefault(str(e.get("key")), e)
    start = first.get("run_start", {}).get("time_ms")
    stop = first.get("run_stop")
    evals = tuple((int(e["time_ms"]) - start, float(e["value"])) for e in entries
                  if e.get("key") == "eval_accuracy" and start is not None and _is_number(e.get("value")))
    gbs = first.get("global_batch_size", {}).get("value")
    m = re.search(r"(\d+)", path.stem)
    return TrainingLog(path, int(m.group(1)) if m else 0, None if stop is None else
                       (stop.get("metadata") or {}).get("status"), start, None if stop is None else
                       stop.get("time_ms"), evals, gbs if isinstance(gbs, int) else None)


def _is_number(value: Any) -> bool:
    """A finite int or float (JSON readers accept NaN and Infinity; a score or eval of NaN is no number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TrainingResult:
    """One benchmark's training runs on one system, with Podium's campaign record when there is one."""

    root: Path
    source: Path
    system_id: str
    benchmark: str
    results_dir: Path
    logs: tuple[TrainingLog, ...]
    campaign: Mapping[str, Any] | None
    system: Mapping[str, Any]

    @property
    def scaling_factor(self) -> float:
        """The RCP score scaling (training.md §1.2): results/<system>/<benchmark>/scaling.json when the tree has
        one (the package checker writes it; reviewers may too), else campaign.json's convergence verdict; 1.0
        when neither says more. Published times to train are the olympic minutes times this factor."""
        written = _json(self.results_dir / "scaling.json")
        if written is not None and _is_number(written.get("scaling_factor")):
            return float(written["scaling_factor"])
        return rcp_scaling(self.campaign)

    def score_minutes(self) -> tuple[float | None, list[str]]:
        """campaign.json's submitted score (the median window's with more runs than required), else the
        olympic mean of the logs; and the reasons the result is not valid."""
        c = self.campaign
        if c is None:
            from podium.training.scoring import olympic_score, runs_required

            done = [log.duration_ms if log.status == "success" else None for log in self.logs]
            score = olympic_score(done, self.benchmark)
            short = len(self.logs) < runs_required(self.benchmark)
            return score.minutes, [x for x in (score.reason, short and f"{len(self.logs)} of "
                                               f"{runs_required(self.benchmark)} required runs") if x]
        score, window = c.get("score") or {}, c.get("median_window")
        minutes = window["minutes"] if window else score.get("minutes")
        reasons = [] if minutes is not None else [score.get("reason") or "no score"]
        if minutes is not None and not _is_number(minutes):
            minutes, reasons = None, [f"the score in campaign.json is {minutes!r}, not a number"]
        if len(c.get("runs", ())) < int(c.get("runs_required", 0)):
            reasons.append(f"{len(c['runs'])} of {c['runs_required']} required runs")
        conv = c.get("convergence") or {}
        if conv.get("passed") is False:
            reasons.append(f"convergence check failed: {conv.get('message', '')}".rstrip(": "))
        if c.get("interrupted"):
            reasons.append("campaign interrupted")
        return minutes, reasons


def find_training(top: Path) -> list[TrainingResult]:
    """Every `<root>/results/<system>/<benchmark>/` holding `result_<i>.txt` mllogs under `top`; ConfigError on
    the first that cannot be read (`scan` reads the others)."""
    return [read_training(d, top) for d in _training_dirs(top)]


def _training_dirs(top: Path) -> list[Path]:
    return sorted({p.parent for p in top.rglob("result_*.txt")
                   if len(p.parents) > 3 and p.parents[2].name == "results" and not hidden(p, top)})


def read_training(results_dir: Path, source: Path) -> TrainingResult:
    root, system_id, benchmark = results_dir.parents[2], results_dir.parent.name, results_dir.name
    logs = sorted((read_mllog(p) for p in results_dir.glob("result_*.txt")), key=lambda log: log.index)
    return TrainingResult(root, source, system_id, benchmark, results_dir, tuple(logs),
                          _json(root / "podium" / system_id / benchmark / "campaign.json"),
                          _json(root / "systems" / f"{system_id}.json") or {})


def training_target(t: TrainingResult) -> tuple[str, float] | None:
    """(metric, target) the campaign's runs had to reach: as campaign.json records it (schema 3), else from the
    workload registry (older records); None when unknown."""
    recorded = (t.campaign or {}).get("quality_target")
    if isinstance(recorded, dict) and isinstance(recorded.get("metric"), str) and _is_number(recorded.get("value")):
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

