"""What one inference run leaves behind: `podium_run.json` beside the LoadGen logs, and its headline metric.

The record is derived from the LoadGen detail log (so runs of either engine are recorded the same way) plus
what only the harness knows: backend, runner, model, dataset, response encoding, accuracy, timings.

schema_version history:
  1 — first version (issue 4).
  2 — `status` ("finished", "failed", "aborted") and `signal` (the signal that aborted the run, or null);
      `settings` holds the effective settings LoadGen logged (its effective_* keys without the prefix) and
      `settings_requested` what the harness asked for; `late_samples` (outputs dropped after their pass ended).
"""

from __future__ import annotations

import json
import math
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.files import atomic_write_json
from podium.loadgen.settings import Scenario

SCHEMA_VERSION = 2
RECORD_NAME = "podium_run.json"

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
    """Quantiles and a histogram of per-sample latencies (for reports; the raw values stay in the trace)."""
    lat = np.asarray(latencies_ns, dtype=np.int64)
    lat = lat[lat > 0]
    if lat.size == 0:
        return {}
    q = np.quantile(lat, QUANTILES, method="lower")
    hi = float(np.quantile(lat, 0.999, method="lower")) or float(lat.max())
    counts, edges = np.histogram(np.minimum(lat, hi), bins=HISTOGRAM_BINS, range=(float(lat.min()), hi))
    return {"latency_quantiles": {"q": list(QUANTILES), "latency_ns": [int(v) for v in q]},
            "latency_histogram": {"edges_ns": [float(e) for e in edges], "counts": [int(c) for c in counts],
                                  "clipped_at_ns": hi}}


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


def read_record(path: Path) -> dict[str, Any]:
    """A podium_run.json of any schema version written so far."""
    data = json.loads(Path(path).read_text("utf-8"))
    if data.get("schema_version", 0) > SCHEMA_VERSION:
        print(f"warning: {path} has schema_version {data['schema_version']}, newer than this Podium",
              file=sys.stderr)
    return data
