"""Results found on disk, read: inference runs and training runs, in Podium's run trees and in submission trees.

What one inference run is read from (`read_inference`; `<tree>` holds results/ and systems/):
    <scenario>/performance/run_1/mlperf_log_detail.txt     the result (read by `podium.loadgen.logparse`)
        ... podium_run.json beside it (optional: backend, runner, round, latency histogram),
        <scenario>/accuracy/accuracy.json (else the accuracy run's podium_run.json, else accuracy.txt),
        <scenario>/find_peak/podium_peak.json, <scenario>/measurements.json
What one training result is read from (`read_training`):
    <tree>/results/<system>/<benchmark>/result_<i>.txt     training mllogs
    <tree>/podium/<system>/<benchmark>/campaign.json        Podium's training record (score, convergence)
And both: <tree>/systems/<system>.json, the system description.

A result whose files cannot be read (a truncated podium_run.json, a detail log with garbage, a campaign.json
that is not JSON) is one `Unreadable` (path and why) in `scan(top)`; the other results are read all the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from podium.core.errors import ConfigError
from podium.loadgen.logparse import DetailLogContents, read_detail
from podium.results.layout.discovery import inference_run_dirs, training_logs, training_result_dirs
from podium.results.layout.files import (UnreadableFile, first_entries, read_mllog, read_object, read_peak_record,
                                         read_run_record)
from podium.core.layout import (ACCURACY, ACCURACY_JSON, ACCURACY_TXT, DETAIL_LOG, FIND_PEAK, MEASUREMENTS, PEAK_RECORD,
                                RUN_RECORD, campaign_record, podium_mirror, system_description)

__all__ = ["InferenceRun", "Scan", "TrainingLog", "TrainingRun", "Unreadable", "is_number", "read_accuracy_result",
           "read_inference", "read_training", "read_training_log", "scan"]


def is_number(value: Any) -> bool:
    """A finite int or float (JSON readers accept NaN and Infinity; a score or eval of NaN is no number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class InferenceRun:
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


@dataclass(frozen=True)
class TrainingRun:
    """One benchmark's training runs on one system, with Podium's campaign record when there is one."""

    root: Path
    source: Path
    system_id: str
    benchmark: str
    results_dir: Path
    logs: tuple[TrainingLog, ...]
    campaign: Mapping[str, Any] | None
    system: Mapping[str, Any]


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

    inference: tuple[InferenceRun, ...] = ()
    training: tuple[TrainingRun, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()


def scan(top: Path) -> Scan:
    """Every result under `top`; one that cannot be read is an `Unreadable` and the others are still read."""
    if not top.is_dir():
        return Scan(unreadable=(Unreadable(top, "no such directory" if not top.exists() else "not a directory"),))
    bad: list[Unreadable] = []
    inference = [r for d in inference_run_dirs(top) if (r := _guarded(read_inference, d, top, bad)) is not None]
    training = [t for d in training_result_dirs(top) if (t := _guarded(read_training, d, top, bad)) is not None]
    return Scan(tuple(inference), tuple(training), tuple(bad))


_Run = TypeVar("_Run", InferenceRun, TrainingRun)


def _guarded(read: Callable[[Path, Path], _Run], directory: Path, top: Path, bad: list[Unreadable]) -> _Run | None:
    """`read(directory, top)`, or None with the reason added to `bad`."""
    try:
        return read(directory, top)
    except UnreadableFile as e:
        bad.append(Unreadable(e.path, e.why))
    except ConfigError as e:
        bad.append(Unreadable(Path(e.path) if e.path else directory, str(e).removeprefix(f"{e.path}: ")))
    except OSError as e:
        bad.append(Unreadable(Path(e.filename or directory), e.strerror or str(e)))
    except UnicodeDecodeError as e:   # a UnicodeDecodeError has no file name and no strerror
        bad.append(Unreadable(directory, str(e)))
    return None


def read_inference(perf_dir: Path, source: Path) -> InferenceRun:
    """The result of one `.../<scenario>/performance/run_1/`; UnreadableFile or ConfigError naming the file
    that cannot be read."""
    scenario_dir, root = perf_dir.parents[1], perf_dir.parents[5]
    record = read_run_record(_record_path(perf_dir / RUN_RECORD, root)) or {}
    system_id = str(record.get("system_id") or perf_dir.parents[3].name)
    detail_path = perf_dir / DETAIL_LOG
    try:
        detail = read_detail(detail_path)
    except ValueError as e:   # "<path>:<line>: why"
        why = str(e).removeprefix(f"{detail_path}:")
        raise ConfigError(f"line {why}" if why[:1].isdigit() else why, path=str(detail_path)) from None
    return InferenceRun(
        root=root, source=source, system_id=system_id,
        benchmark=str(record.get("benchmark") or perf_dir.parents[2].name), scenario=scenario_dir.name,
        perf_dir=perf_dir, detail=detail, record=record,
        accuracy=read_accuracy_result(scenario_dir / ACCURACY, _record_path(scenario_dir / ACCURACY, root)),
        peak=read_peak_record(scenario_dir / FIND_PEAK / PEAK_RECORD),
        system=read_object(system_description(root, system_id)) or {},
        measurements=read_object(scenario_dir / MEASUREMENTS) or {})


def _record_path(path: Path, root: Path) -> Path:
    """`path`, or where a submission package keeps Podium's records: the same place under podium/."""
    mirrored = podium_mirror(path, root)
    return mirrored if not path.exists() and mirrored.exists() else path


def read_accuracy_result(acc_dir: Path, records: Path | None = None) -> dict[str, Any] | None:
    """accuracy.json, else the accuracy run's podium_run.json (both in `records`, default `acc_dir`), else
    accuracy.txt's first line (a tree from elsewhere: the official vision line `accuracy=98.592%, good=350,
    total=355`, which the checker reads)."""
    records = records or acc_dir
    data = read_object(records / ACCURACY_JSON)
    if data is not None:
        return data
    record = read_run_record(records / RUN_RECORD) or {}
    if record.get("accuracy"):
        return dict(record["accuracy"])
    try:
        first = (acc_dir / ACCURACY_TXT).read_text(encoding="utf-8", errors="replace").partition("\n")[0]
    except FileNotFoundError:
        return None
    m = re.match(r"accuracy=([-+.\d]+)%", first)
    return {"metric": "accuracy", "value": float(m.group(1)), "units": "%"} if m else None


def read_training_log(path: Path) -> TrainingLog:
    """First run_start/run_stop/global_batch_size, every eval_accuracy (`read_mllog`'s entries)."""
    entries = read_mllog(path)
    first = first_entries(entries)
    start = first.get("run_start", {}).get("time_ms")
    stop = first.get("run_stop")
    evals = tuple((int(e["time_ms"]) - start, float(e["value"])) for e in entries
                  if e.get("key") == "eval_accuracy" and start is not None and is_number(e.get("value")))
    gbs = first.get("global_batch_size", {}).get("value")
    m = re.search(r"(\d+)", path.stem)
    return TrainingLog(path, int(m.group(1)) if m else 0,
                       None if stop is None else (stop.get("metadata") or {}).get("status"), start,
                       None if stop is None else stop.get("time_ms"), evals, gbs if isinstance(gbs, int) else None)


def read_training(results_dir: Path, source: Path) -> TrainingRun:
    """The training result of one `<tree>/results/<system>/<benchmark>/`; UnreadableFile naming a
    campaign.json or system description that is not JSON."""
    root, system_id, benchmark = results_dir.parents[2], results_dir.parent.name, results_dir.name
    logs = sorted((read_training_log(p) for p in training_logs(results_dir)), key=lambda log: log.index)
    return TrainingRun(root, source, system_id, benchmark, results_dir, tuple(logs),
                       read_object(campaign_record(root, system_id, benchmark)),
                       read_object(system_description(root, system_id)) or {})
