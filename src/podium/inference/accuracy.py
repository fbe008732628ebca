"""Accuracy of an accuracy run: read `mlperf_log_accuracy.json`, score it, write `accuracy.txt` and `accuracy.json`.

The responses are read from LoadGen's accuracy log and decoded with the run's declared `ResponseEncoding`, never
recovered by regex from printed text (reference/inference_suite.md §2.2). An evaluator (one per metric, in the
`EVALUATORS` registry) gets the decoded responses by qsl index and the dataset, and returns an `AccuracyResult`;
`accuracy.txt` carries the official script's line for that metric (what the submission checker parses), and
`accuracy.json` the same numbers as data (both written atomically, with the mode every result file gets).
Failures raise `AccuracyError(PodiumError)`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from podium.core.errors import PodiumError, SUTError
from podium.core.files import atomic_write, atomic_write_json, ensure_dir
from podium.core.registry import Registry
from podium.inference.datasets.base import Dataset
from podium.inference.encoding import ResponseEncoding

# accuracy.json format changes (loaders accept every version):
#   1: metric, value (raw), value_reported (5 significant figures), units, good, total, missing, target, passed
ACCURACY_SCHEMA_VERSION = 1
REPORTED_SIGNIFICANT_FIGURES = 5  # inference rules: accuracy is reported to 5 significant figures, half to even
LOG_FORMAT = 'a JSON list of {"seq_id", "qsl_idx", "data": <hex>} as LoadGen writes it'


class AccuracyError(PodiumError):
    """The accuracy log is unreadable, incomplete or does not fit the dataset or the response encoding."""


@dataclass(frozen=True)
class AccuracyResult:
    """One metric over one accuracy run. `value` is raw (in `units`); `good` is None for metrics with no count."""

    metric: str
    value: float
    units: str
    good: int | None
    total: int
    missing_indices: tuple[int, ...] = ()
    details: Mapping[str, float] = field(default_factory=dict)  # sub-scores (e.g. per-class AP), raw

    @property
    def value_reported(self) -> float:
        return round_significant(self.value, REPORTED_SIGNIFICANT_FIGURES)


class Evaluator(Protocol):
    """Scores decoded responses against a dataset; `summary_line` is the official script's accuracy.txt line."""

    metric: str
    units: str
    higher_is_better: bool

    def score(self, responses: Mapping[int, np.ndarray], dataset: Dataset) -> AccuracyResult: ...

    def summary_line(self, result: AccuracyResult) -> str: ...


EVALUATORS: Registry[Evaluator] = Registry("accuracy evaluator", "podium.evaluators")


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
    """Score the accuracy log at `log_path` with the `metric` evaluator.

    An accuracy run covers the whole dataset once (inference rules), so a sample absent from the log is an
    AccuracyError naming how many are missing; `allow_missing` scores the rest and records the missing ones.
    """
    evaluator = EVALUATORS.get(metric)
    raw = read_accuracy_log(log_path)
    total = dataset.total_sample_count
    beyond = sorted(i for i in raw if i >= total)
    if beyond:
        raise AccuracyError(f"{log_path}: qsl_idx {beyond[:5]} beyond the dataset's {total} samples "
                            f"({dataset.name}); was the log written with another dataset or count?")
    missing = tuple(i for i in range(total) if i not in raw)
    if missing and not allow_missing:
        raise AccuracyError(f"{log_path}: {len(missing)} of {total} samples have no response (first: "
                            f"{list(missing[:5])}); an accuracy run must cover the whole dataset once")
    responses = {i: _decode(log_path, i, data, encoding) for i, data in raw.items()}
    try:
        result = evaluator.score(responses, dataset)
    except AccuracyError as e:
        raise AccuracyError(f"{log_path}: {e}") from None
    return replace(result, missing_indices=missing)


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
    return value >= target if EVALUATORS.get(result.metric).higher_is_better else value <= target


def write_accuracy(directory: Path | str, result: AccuracyResult, target: float | None) -> tuple[Path, Path]:
    """Write accuracy.txt (the official line) and accuracy.json into `directory`; return both paths."""
    directory = ensure_dir(directory)
    line = EVALUATORS.get(result.metric).summary_line(result)
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


class Top1:
    """Top-1 classification accuracy in %: each response is one predicted class id, compared with the label."""

    metric: str = "top1"
    units: str = "%"
    higher_is_better: bool = True

    def score(self, responses: Mapping[int, np.ndarray], dataset: Dataset) -> AccuracyResult:
        labels = dataset.labels()
        indices = sorted(responses)
        found = np.array([_class_id(i, responses[i]) for i in indices], dtype=np.int64)
        good = int(np.count_nonzero(found == labels[indices])) if indices else 0
        value = 100.0 * good / len(indices) if indices else 0.0
        return AccuracyResult(self.metric, value, self.units, good=good, total=len(indices))

    def summary_line(self, result: AccuracyResult) -> str:
        # The line of vision/classification_and_detection/tools/accuracy-imagenet.py.
        return f"accuracy={result.value:.3f}%, good={result.good}, total={result.total}"


def _class_id(qsl_idx: int, response: np.ndarray) -> int:
    """The class id in a response; like the reference script, a float id is truncated; a NaN never matches."""
    if response.size != 1 or response.dtype.kind not in "biuf":
        raise AccuracyError(f"qsl_idx {qsl_idx}: top1 expects one real class id per response, got "
                            f"{response.dtype} of shape {response.shape}")
    value = response.reshape(-1)[0]
    return int(value) if np.isfinite(value) else -1


@EVALUATORS.register("top1")
def _top1() -> Evaluator:
    return Top1()
