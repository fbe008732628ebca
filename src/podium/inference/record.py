"""What one inference run leaves behind: `podium_run.json` beside the LoadGen logs, and its headline metric.

The record is derived from the LoadGen detail log (so runs of either engine are recorded the same way) plus
what only the harness knows: backend, runner, model, dataset, response encoding, accuracy, timings. It is a
`RunRecord` (frozen), written by `write_record` and read back by `read_record`, which takes every schema
version ever written and refuses a newer one (pyperf's habit). A peak search leaves a `PeakRecord` beside its
runs, in `podium_peak.json`, written by `write_peak` and read by `read_peak`. `to_dict()` is each record's
JSON form, key for key what the file holds.

podium_run.json schema_version history:
  1 — first version (issue 4). `settings` held four of the settings the harness asked for.
  2 — `status` ("finished", "failed", "aborted") and `signal` (the signal that aborted the run, or null);
      `settings` holds the effective settings LoadGen logged (its effective_* keys without the prefix) and
      `settings_requested` what the harness asked for; `late_samples` (outputs dropped after their pass ended).

podium_peak.json schema_version history:
  1 — first version (issue 4): method, peak_qps, bracket_qps, tolerance (bisect), steps.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import platform
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from podium.core.errors import ConfigError
from podium.core.files import atomic_write_json
from podium.core.vocabulary import Engine, PeakMethod, Scenario
from podium.core.layout import PEAK_RECORD, RUN_RECORD
from podium.inference.encoding import ResponseEncoding
from podium.loadgen.settings import Mode

SCHEMA_VERSION = 2  # of podium_run.json
RECORD_NAME = RUN_RECORD  # the names a results tree gives them: podium.core.layout
PEAK_SCHEMA_VERSION = 1
PEAK_NAME = PEAK_RECORD
RUN_KIND, PEAK_KIND = "podium.inference.run", "podium.inference.peak"

# The detail-log key each scenario is ranked by (the submission checker's result fields) and its units.
HEADLINE = {
    Scenario.SINGLE_STREAM: ("early_stopping_latency_ss", "Latency (ms)"),
    Scenario.MULTI_STREAM: ("early_stopping_latency_ms", "Latency (ms)"),
    Scenario.SERVER: ("result_completed_samples_per_sec", "Queries/s"),
    Scenario.OFFLINE: ("result_samples_per_second", "Samples/s"),
}
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.97, 0.99, 0.999, 1.0)
HISTOGRAM_BINS = 40


@dataclass(frozen=True)
class Headline:
    """A scenario's result as ranked: the detail-log key, its value in the units shown, the units."""

    key: str
    value: float | None
    units: str

    def text(self) -> str:
        if self.value is None:
            return "-"
        return f"{self.value:,.3f} ms" if self.units.startswith("Latency") else f"{self.value:,.1f} {self.units}"


def headline(scenario: Scenario, detail: dict[str, Any]) -> Headline:
    """The scenario's metric from a detail log; latencies converted from ns to ms."""
    key, units = HEADLINE[scenario]
    raw = detail.get(key)
    # A failed pass can log a rate of inf or NaN (nothing completed, or no time measured): that is no result.
    if raw is None or isinstance(raw, (str, bool)) or not math.isfinite(float(raw)):
        return Headline(key, None, units)
    return Headline(key, float(raw) / 1e6 if units.startswith("Latency") else float(raw), units)


def latency_shape(latencies_ns: np.ndarray) -> dict[str, Any]:
    """Quantiles and a histogram of per-sample latencies as the record's JSON keys ({} without latencies)."""
    quantiles, histogram = latency_distribution(latencies_ns)
    if quantiles is None or histogram is None:
        return {}
    return {"latency_quantiles": _plain(quantiles), "latency_histogram": _plain(histogram)}


def latency_distribution(latencies_ns: np.ndarray) -> tuple[LatencyQuantiles | None, LatencyHistogram | None]:
    """Quantiles and a histogram of per-sample latencies (for reports; the raw values stay in the trace)."""
    lat = np.asarray(latencies_ns, dtype=np.int64)
    lat = lat[lat > 0]
    if lat.size == 0:
        return None, None
    q = np.quantile(lat, QUANTILES, method="lower")
    hi = float(np.quantile(lat, 0.999, method="lower")) or float(lat.max())
    counts, edges = np.histogram(np.minimum(lat, hi), bins=HISTOGRAM_BINS, range=(float(lat.min()), hi))
    return (LatencyQuantiles(QUANTILES, tuple(int(v) for v in q)),
            LatencyHistogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts), hi))


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    from importlib import metadata

    from podium import __version__

    out = {"podium": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform()}
    for dist in ("onnxruntime", "torch", "mlcommons-loadgen"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: Any) -> Path:
    """Atomic, strict JSON, FILE_MODE: a crash leaves the old file or the new one, never half of one."""
    return atomic_write_json(path, data, default=_jsonable)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON: {type(v).__name__}")


class _JSONView(Mapping[str, Any]):
    """A record read as its JSON object too (`record["status"]`), so code written when records were dicts
    keeps working; new code reads the attributes. The object is built once per record, on the first read."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_dict()

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


class Status(enum.StrEnum):
    """How a test ended: it ran to its end (VALID or not), something failed, or a signal stopped it."""

    FINISHED = "finished"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class ModelFile:
    """The model file a run served, with its digest."""

    path: str
    sha256: str
    random_weights: bool = False  # --model random: the benchmark's model with random weights (performance only)


@dataclass(frozen=True)
class RequestedSettings:
    """What the harness asked the engine for (config files and overrides applied; audit.config not yet).
    Schema 1 recorded the first four only."""

    min_duration_ms: int
    min_query_count: int
    server_target_qps: float
    server_target_latency_ns: int
    offline_expected_qps: float | None = None
    audit_config: str | None = None
    completion_timeout_s: float | None = None


@dataclass(frozen=True)
class Result:
    """A performance test's result as ranked: the detail-log key, its value and units, the validity and why."""

    metric: str
    value: float | None
    units: str
    validity: str  # "VALID" or "INVALID", as LoadGen says it
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class LatencySummary:
    """The detail log's per-sample latency statistics, in ns; a statistic the log lacks is None."""

    mean: int | None = None
    p50: int | None = None
    p90: int | None = None
    p99: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class LatencyQuantiles:
    q: tuple[float, ...]
    latency_ns: tuple[int, ...]


@dataclass(frozen=True)
class LatencyHistogram:
    edges_ns: tuple[float, ...]
    counts: tuple[int, ...]
    clipped_at_ns: float


@dataclass(frozen=True)
class FailedBatch:
    """A batch that failed: its first sample ids (20 at most), how many samples it held, the error."""

    sample_ids: tuple[int, ...]
    samples: int
    error: str


@dataclass(frozen=True)
class Accuracy:
    """An accuracy test's score against its target. A run whose accuracy log could not be scored has no
    units, good or total (nor those keys in the file)."""

    metric: str
    value: float | None
    target: float | None
    passed: bool
    units: str | None = None
    good: int | None = None
    total: int | None = None

    @property
    def scored(self) -> bool:
        return self.units is not None


@dataclass(frozen=True)
class RunRecord(_JSONView):
    """podium_run.json: one LoadGen test of one inference run. Open descriptions (a backend's, a runner's, a
    dataset's, LoadGen's effective settings, versions) stay mappings: each producer says what it has."""

    system_id: str
    round: str
    benchmark: str
    scenario: Scenario
    mode: Mode
    engine: Engine = Engine.PODIUM
    status: Status = Status.FINISHED
    signal: str | None = None
    short: bool = False
    valid_for_submission: bool = True
    backend: Mapping[str, Any] = field(default_factory=dict)
    runner: Mapping[str, Any] = field(default_factory=dict)
    model: ModelFile | None = None
    dataset: Mapping[str, Any] = field(default_factory=dict)
    response_encoding: ResponseEncoding | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # effective, as LoadGen logged them
    settings_requested: RequestedSettings | None = None
    result: Result | None = None  # None for an accuracy test
    latency_ns: LatencySummary = LatencySummary()
    errors: tuple[str, ...] = ()
    failed_batches: tuple[FailedBatch, ...] = ()
    started_at: str | None = None
    wall_s: float | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    latency_quantiles: LatencyQuantiles | None = None  # performance tests on Podium's engine
    latency_histogram: LatencyHistogram | None = None
    late_samples: int = 0
    accuracy: Accuracy | None = None  # accuracy tests that finished
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        """Nothing failed, and the test met its bar: VALID, or the accuracy target."""
        if self.errors:
            return False
        if self.mode is Mode.ACCURACY:
            return self.accuracy is not None and self.accuracy.passed
        return self.result is not None and self.result.validity == "VALID"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of podium_run.json, keys in the order the file has them."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version, "kind": RUN_KIND, "system_id": self.system_id,
            "round": self.round, "benchmark": self.benchmark, "scenario": self.scenario.value,
            "mode": self.mode.name.lower(), "engine": self.engine.value, "status": self.status.value,
            "signal": self.signal, "short": self.short, "valid_for_submission": self.valid_for_submission,
            "backend": dict(self.backend), "runner": dict(self.runner), "model": _plain(self.model),
            "dataset": dict(self.dataset),
            "response_encoding": None if self.response_encoding is None else self.response_encoding.describe(),
            "settings": dict(self.settings), "settings_requested": _plain(self.settings_requested),
            "result": _plain(self.result), "latency_ns": _plain(self.latency_ns, drop_none=True),
            "errors": list(self.errors), "failed_batches": [_plain(f) for f in self.failed_batches],
            "started_at": self.started_at, "wall_s": self.wall_s, "versions": dict(self.versions)}
        if self.latency_quantiles is not None:
            out["latency_quantiles"] = _plain(self.latency_quantiles)
        if self.latency_histogram is not None:
            out["latency_histogram"] = _plain(self.latency_histogram)
        out["late_samples"] = self.late_samples
        if self.accuracy is not None:
            out["accuracy"] = _accuracy_dict(self.accuracy)
        return out


@dataclass(frozen=True)
class PeakStep:
    """One trial of a bisecting peak search: a full performance test at `target_qps`, in folder `dir`."""

    target_qps: float
    validity: str
    achieved_qps: float | None
    p99_ns: int | None
    reasons: tuple[str, ...]
    dir: str


@dataclass(frozen=True)
class PeakRecord(_JSONView):
    """podium_peak.json: the highest VALID Server QPS a peak search found (None: none), how it searched."""

    method: PeakMethod
    peak_qps: float | None
    bracket_qps: tuple[float | None, float | None] | None = None  # bisect: (highest valid, lowest invalid)
    tolerance: float | None = None  # bisect: hi / lo at which it stopped
    steps: tuple[PeakStep, ...] = ()
    schema_version: int = PEAK_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "kind": PEAK_KIND, "method": self.method.value,
                               "peak_qps": self.peak_qps,
                               "bracket_qps": None if self.bracket_qps is None else list(self.bracket_qps)}
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        out["steps"] = [_plain(s) for s in self.steps]
        return out


def _plain(value: Any, *, drop_none: bool = False) -> Any:
    """A record part as JSON: dataclass fields in order, tuples as lists (None fields left out on request)."""
    if value is None:
        return None
    out = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if v is None and drop_none:
            continue
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _accuracy_dict(a: Accuracy) -> dict[str, Any]:
    scored = {"units": a.units, "good": a.good, "total": a.total} if a.scored else {}
    return {"metric": a.metric, "value": a.value, **scored, "target": a.target, "passed": a.passed}


def write_record(path: Path, record: RunRecord) -> Path:
    return write_json(path, record.to_dict())


def write_peak(path: Path, record: PeakRecord) -> Path:
    return write_json(path, record.to_dict())


def read_record(path: Path) -> RunRecord:
    """A podium_run.json of any schema version written so far (fields a version lacks filled as its readers
    assumed); a ConfigError naming the file when it is newer than this Podium or not a run record."""
    data = _read_versioned(path, RUN_KIND, SCHEMA_VERSION)
    if data.get("schema_version", 1) == 1:
        data = _upgrade_run_1(data)
    return _parsed(path, run_record_from_dict, data)


def read_peak(path: Path) -> PeakRecord:
    """A podium_peak.json of any schema version written so far; a ConfigError naming the file as read_record."""
    return _parsed(path, peak_record_from_dict, _read_versioned(path, PEAK_KIND, PEAK_SCHEMA_VERSION))


def _read_versioned(path: Path, kind: str, known: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the record: {e}", path=str(path)) from e
    if not isinstance(data, dict) or data.get("kind", kind) != kind:
        raise ConfigError(f"not a {kind} record", path=str(path))
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > known:
        raise ConfigError(f"schema_version {version!r} is newer than this Podium reads (up to {known}): "
                          "upgrade Podium to read it", path=str(path))
    return data


_T = TypeVar("_T")


class MalformedRecord(ConfigError):
    """A record file that is JSON of the right kind and version but holds what no version of it holds (a string
    where a table belongs: edited by hand, or written by another tool); `why` says what, without the path."""

    def __init__(self, why: str, path: Path) -> None:
        self.why = why
        super().__init__(f"malformed record ({why})", path=str(path))


def _parsed(path: Path, parse: Callable[[dict[str, Any]], _T], data: dict[str, Any]) -> _T:
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as e:
        raise MalformedRecord(f"{type(e).__name__}: {e}", path) from e


def _upgrade_run_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 as schema 2: status from the errors (schema 1 marked no abort), no signal, its `settings` (what
    the harness asked for) as `settings_requested`, no effective settings, no late samples counted."""
    requested = data.get("settings")
    return {**data, "status": Status.FAILED if data.get("errors") else Status.FINISHED, "signal": None,
            "settings": {}, "settings_requested": requested or None, "late_samples": 0}


def run_record_from_dict(d: Mapping[str, Any]) -> RunRecord:
    """The record a podium_run.json object of the current schema holds; parts it lacks take their defaults."""
    get = d.get
    return RunRecord(
        system_id=str(d["system_id"]), round=str(d["round"]), benchmark=str(d["benchmark"]),
        scenario=Scenario(d["scenario"]), mode=Mode[str(d["mode"]).upper()], engine=Engine(get("engine", "podium")),
        status=Status(get("status", Status.FINISHED)), signal=get("signal"), short=bool(get("short", False)),
        valid_for_submission=bool(get("valid_for_submission", True)), backend=get("backend") or {},
        runner=get("runner") or {}, model=_part(ModelFile, get("model")), dataset=get("dataset") or {},
        response_encoding=(None if get("response_encoding") is None
                           else ResponseEncoding.from_description(d["response_encoding"])),
        settings=get("settings") or {}, settings_requested=_part(RequestedSettings, get("settings_requested")),
        result=_part(Result, get("result")), latency_ns=LatencySummary(**(get("latency_ns") or {})),
        errors=tuple(get("errors") or ()),
        failed_batches=tuple(_part(FailedBatch, f) for f in get("failed_batches") or ()),
        started_at=get("started_at"), wall_s=get("wall_s"), versions=get("versions") or {},
        latency_quantiles=_part(LatencyQuantiles, get("latency_quantiles")),
        latency_histogram=_part(LatencyHistogram, get("latency_histogram")),
        late_samples=int(get("late_samples", 0)), accuracy=_part(Accuracy, get("accuracy")),
        schema_version=int(get("schema_version", SCHEMA_VERSION)))


def peak_record_from_dict(d: Mapping[str, Any]) -> PeakRecord:
    bracket = d.get("bracket_qps")
    return PeakRecord(method=PeakMethod(d["method"]), peak_qps=d.get("peak_qps"),
                      bracket_qps=None if bracket is None else (bracket[0], bracket[1]),
                      tolerance=d.get("tolerance"), steps=tuple(_part(PeakStep, s) for s in d.get("steps") or ()),
                      schema_version=int(d.get("schema_version", PEAK_SCHEMA_VERSION)))


def _part(cls: type[_T], data: Mapping[str, Any] | None) -> Any:
    """A record part from its JSON object (lists as tuples); None stays None."""
    if data is None:
        return None
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
