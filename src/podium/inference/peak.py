"""Peak search: the highest Server QPS that is VALID.

Two methods. "loadgen" runs the engine's FindPeakPerformance mode (official semantics: it widens, then
bisects, checking only the latency bound). "bisect" is Podium's own search: every trial is a full performance
test under the full validity rules (minimum duration and queries, early stopping, latency bound); it doubles
or halves from the configured target QPS until it brackets the peak, then bisects until the bracket is within
`TOLERANCE`. It reports the highest valid QPS with its bracket, and the valid run at the peak becomes
performance/run_1.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.core.files import output_error
from podium.inference.plan import settings_for
from podium.inference.record import write_json
from podium.loadgen import logparse
from podium.loadgen.settings import Mode, Scenario

TOLERANCE = 0.02  # stop when hi / lo <= 1 + TOLERANCE
MAX_TRIALS = 12
PEAK_NAME = "podium_peak.json"
_FOUND = re.compile(r"Found peak performance field: ([0-9.eE+-]+)")


def search(session: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    p = session.plan
    if p.spec.scenario is not Scenario.SERVER:
        raise ConfigError("a peak search needs the Server scenario (--scenario Server)")
    peak_dir = p.files_dir / "find_peak"
    result = _loadgen(session, records, peak_dir) if p.spec.peak == "loadgen" else _bisect(session, records, peak_dir)
    write_json(peak_dir / PEAK_NAME, result)
    return result


def _loadgen(session: Any, records: list, peak_dir: Path) -> dict[str, Any]:
    r = session.run_test(Mode.FIND_PEAK, peak_dir)
    records.append(r)
    peak_qps = session.last_peak_qps  # the engine's result; the official engine's only says it in its log
    if peak_qps is None and session.plan.spec.engine == "official":
        detail = logparse.read_detail(peak_dir / "mlperf_log_detail.txt", strict=False)
        found = [float(m.group(1)) for e in detail.entries if (m := _FOUND.search(str(e.get("value"))))]
        peak_qps = found[-1] if found else None
    return {"schema_version": 1, "kind": "podium.inference.peak", "method": "loadgen",
            "peak_qps": peak_qps, "bracket_qps": None, "steps": []}


def _bisect(session: Any, records: list, peak_dir: Path) -> dict[str, Any]:

    base = settings_for(session.plan, Mode.PERFORMANCE)
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None

    def trial(qps: float) -> bool:
        nonlocal best
        outdir = peak_dir / f"step_{len(steps):02d}"
        r = session.run_test(Mode.PERFORMANCE, outdir, base.copy(server_target_qps=qps))
        records.append(r)
        ok = r["result"]["validity"] == "VALID" and not r["errors"]
        steps.append({"target_qps": qps, "validity": r["result"]["validity"], "achieved_qps": r["result"]["value"],
                      "p99_ns": r["latency_ns"].get("p99"), "reasons": r["result"]["reasons"], "dir": outdir.name})
        if ok and (best is None or qps > best["target_qps"]):
            best = {"target_qps": qps, "dir": outdir}
        return ok

    # Below this rate a run needs more than its minimum duration to issue its minimum query count: the
    # search does not go lower (a run there is slow, and it cannot pass early stopping any sooner).
    floor_qps = base.min_query_count / max(base.min_duration_ms / 1000, 1e-3)
    lo, hi = _bracket(trial, max(base.server_target_qps, floor_qps), floor_qps, steps, session)
    while lo and hi and hi / lo > 1 + TOLERANCE and len(steps) < MAX_TRIALS and not session.runner.failed:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if trial(mid) else (lo, mid)
    if best is not None:
        run_1 = session.plan.files_dir / "performance" / "run_1"
        shutil.rmtree(run_1, ignore_errors=True)
        try:
            shutil.copytree(best["dir"], run_1)
        except OSError as e:
            raise output_error(e, run_1) from e
    return {"schema_version": 1, "kind": "podium.inference.peak", "method": "bisect", "peak_qps": lo,
            "bracket_qps": [lo, hi], "tolerance": TOLERANCE, "steps": steps}


def _bracket(trial: Any, start: float, floor: float, steps: list,
             session: Any) -> tuple[float | None, float | None]:
    """(highest valid, lowest invalid) QPS: double from a valid start, halve from an invalid one, not below
    `floor` (then there is no valid QPS: lo is None)."""
    lo = hi = None
    q = start
    while len(steps) < MAX_TRIALS and not session.runner.failed and q >= floor * (1 - 1e-9):
        if trial(q):
            lo = q
            if hi is not None:
                break
            q *= 2
        else:
            hi = q
            if lo is not None or q == floor:
                break
            q = max(q / 2, floor)
    return lo, hi
