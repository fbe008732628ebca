"""Accuracy of an accuracy run: read `mlperf_log_accuracy.json`, score it, write `accuracy.txt` and `accuracy.json`.

The responses are read from LoadGen's accuracy log and decoded with the run's declared `ResponseEncoding`, never
recovered by regex from printed text (reference/inference_suite.md §2.2). They are scored by the task's metric,
looked up by name in `podium.metrics.METRICS` (the metrics training uses too): decoded a chunk at a time, in qsl
order, and fed to the metric as they are decoded, so that the decoded outputs of a 50,000-sample run are never
all in memory. `accuracy.txt` carries the official script's line for that metric (what the submission checker
parses), and `accuracy.json` the same numbers as data (both written atomically, with the mode every result file
gets). Failures raise `AccuracyError(PodiumError)`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import PodiumError, SUTError
from podium.core.files import atomic_write, atomic_write_json, ensure_dir
from podium.datasets.base import Dataset
from podium.inference.encoding import ResponseEncoding
from podium.metrics import METRICS, Metric, MetricInputError, Score

# accuracy.json format changes (loaders accept every version):
#   1: metric, value (raw), value_reported (5 significant figures), units, good, total, missing, target, passed
ACCURACY_SCHEMA_VERSION = 1
REPORTED_SIGNIFICANT_FIGURES = 5  # inference rules: accuracy is reported to 5 significant figures, half to even
CHUNK_SAMPLES = 4096  # responses decoded and scored at a time, at most
CHUNK_BYTES = 256 << 20  # ... and as many as hold this many response bytes (3D U-Net's are whole volumes)
LOG_FORMAT = 'a JSON list of {"seq_id", "qsl_idx", "data": <hex>} as LoadGen writes it'


class AccuracyError(PodiumError):
    """The accuracy log is unreadable, incomplete or does not fit the dataset or the response encoding."""


@dataclass(frozen=True)
class AccuracyResult(Score):
    """A metric's score over one accuracy run, with the samples the log lacked (scored only with allow_missing)."""

    missing_indices: tuple[int, ...] = ()

    @property
    def value_reported(self) -> float:
        return round_significant(self.value, REPORTED_SIGNIFICANT_FIGURES)


def round_significant(value: float, digits: int) -> float:
    """`value` rounded to `digits` significant figures, ties to even (on its shortest decimal form)."""
    if value == 0 or not math.isfinite(value):
        return value
    exact = Decimal(repr(float(value)))
    quantum = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    return float(exact.quantize(quantum, rounding=ROUND_HALF_EVEN))


def read_accuracy_log(path: Path | str) -> dict[int, bytes]:
    """qsl index -> response bytes; a sample logged more than once keeps its first response (as the scripts)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise AccuracyError(f"{path}: cannot read the accuracy log ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AccuracyError(f"{path}: not valid JSON ({e}); expected {LOG_FORMAT}") from None
    if not isinstance(entries, list):
        raise AccuracyError(f"{path}: top level is {type(entries).__name__}; expected {LOG_FORMAT}")
    responses: dict[int, bytes] = {}
    for k, entry in enumerate(entries):
        qsl_idx, data = _entry(path, k, entry)
        responses.setdefault(qsl_idx, data)
    return responses


def _entry(path: Path, k: int, entry: Any) -> tuple[int, bytes]:
    if not isinstance(entry, dict) or "qsl_idx" not in entry or "data" not in entry:
        raise AccuracyError(f"{path}: entry {k} is {json.dumps(entry)[:80]}; expected {LOG_FORMAT}")
    qsl_idx, data = entry["qsl_idx"], entry["data"]
    if isinstance(qsl_idx, bool) or not isinstance(qsl_idx, int) or qsl_idx < 0:
        raise AccuracyError(f"{path}: entry {k}: qsl_idx {qsl_idx!r} is not a non-negative integer")
    try:
        return qsl_idx, bytes.fromhex(data)
    except (TypeError, ValueError):
        raise AccuracyError(f"{path}: entry {k} (qsl_idx {qsl_idx}): data is not hex bytes") from None


def evaluate(metric: str, log_path: Path | str, dataset: Dataset, encoding: ResponseEncoding, *,
             allow_missing: bool = False) -> AccuracyResult:
    """Score the accuracy log at `log_path` with the metric called `metric`.

    An accuracy run covers the whole dataset once (inference rules), so a sample absent from the log is an
    AccuracyError naming how many are missing; `allow_missing` scores the rest and records the missing ones.
    """
    scorer = METRICS.get(metric)
    raw = read_accuracy_log(log_path)
    missing = _check_coverage(log_path, raw, dataset, allow_missing)
    labels = dataset.labels()
    indices = sorted(raw)
    for chunk in _chunks(indices, raw):
        outputs = [_decode(log_path, i, raw[i], encoding) for i in chunk]
        _update(scorer, log_path, chunk, outputs, labels[chunk])
    score = scorer.compute()
    return AccuracyResult(score.metric, score.value, score.units, score.good, score.total, score.details,
                          missing_indices=missing)


def _chunks(indices: list[int], raw: Mapping[int, bytes]) -> Iterator[list[int]]:
    """`indices` in order, cut into chunks of at most CHUNK_SAMPLES responses and about CHUNK_BYTES bytes (a
    response larger than that is a chunk of its own)."""
    chunk: list[int] = []
    size = 0
    for i in indices:
        if chunk and (len(chunk) == CHUNK_SAMPLES or size + len(raw[i]) > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += len(raw[i])
    if chunk:
        yield chunk


def _check_coverage(log_path: Path | str, raw: Mapping[int, bytes], dataset: Dataset,
                    allow_missing: bool) -> tuple[int, ...]:
    """The dataset's qsl indices absent from the log; an AccuracyError for indices beyond the dataset, and for
    absent ones unless `allow_missing`."""
    total = dataset.total_sample_count
    beyond = sorted(i for i in raw if i >= total)
    if beyond:
        raise AccuracyError(f"{log_path}: qsl_idx {beyond[:5]} beyond the dataset's {total} samples "
                            f"({dataset.name}); was the log written with another dataset or count?")
    missing = tuple(i for i in range(total) if i not in raw)
    if missing and not allow_missing:
        raise AccuracyError(f"{log_path}: {len(missing)} of {total} samples have no response (first: "
                            f"{list(missing[:5])}); an accuracy run must cover the whole dataset once")
    return missing


def _update(scorer: Metric, log_path: Path | str, chunk: list[int], outputs: list[np.ndarray],
            labels: np.ndarray) -> None:
    """Feed one chunk of decoded responses to the metric; a response it refuses is named by its qsl index."""
    try:
        scorer.update(outputs, labels)
    except MetricInputError as e:
        where = "" if e.sample is None else f"qsl_idx {chunk[e.sample]}: "
        raise AccuracyError(f"{log_path}: {where}{e}") from None


def _decode(log_path: Path | str, qsl_idx: int, data: bytes, encoding: ResponseEncoding) -> np.ndarray:
    try:
        return encoding.decode(data)
    except SUTError as e:
        raise AccuracyError(f"{log_path}: qsl_idx {qsl_idx}: {e}") from None


def passed(result: AccuracyResult, target: float | None) -> bool | None:
    """Whether the reported value meets `target` (None when there is no target)."""
    if target is None:
        return None
    value = result.value_reported
    return value >= target if METRICS.get(result.metric).higher_is_better else value <= target


def write_accuracy(directory: Path | str, result: AccuracyResult, target: float | None) -> tuple[Path, Path]:
    """Write accuracy.txt (the official line) and accuracy.json into `directory`; return both paths."""
    directory = ensure_dir(directory)
    line = METRICS.get(result.metric).summary_line(result)
    record = {"schema_version": ACCURACY_SCHEMA_VERSION, "metric": result.metric, "value": result.value,
              "value_reported": result.value_reported, "units": result.units, "good": result.good,
              "total": result.total, "missing": len(result.missing_indices), "target": target,
              "passed": passed(result, target)}
    if result.details:
        record["details"] = dict(result.details)
    txt, js = directory / "accuracy.txt", directory / "accuracy.json"
    atomic_write(txt, line + "\n")
    atomic_write_json(js, record)
    return txt, js
