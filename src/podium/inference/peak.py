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
from podium.core.vocabulary import Engine, PeakMethod
from podium.core.layout import FIND_PEAK, PERFORMANCE
from podium.inference.plan import settings_for
from podium.inference.record import PEAK_NAME, PeakRecord, PeakStep, RunRecord, write_peak
from podium.loadgen import logparse
from podium.loadgen.settings import Mode, Scenario

TOLERANCE = 0.02  # stop when hi / lo <= 1 + TOLERANCE
MAX_TRIALS = 12
_FOUND = re.compile(r"Found peak performance field: ([0-9.eE+-]+)")


def search(session: Any, records: list[RunRecord]) -> PeakRecord:
    p = session.plan
    if p.spec.scenario is not Scenario.SERVER:
        raise ConfigError("a peak search needs the Server scenario (--scenario Server)")
    peak_dir = p.files_dir / FIND_PEAK
    find = _loadgen if p.spec.peak is PeakMethod.LOADGEN else _bisect
    result = find(session, records, peak_dir)
    write_peak(peak_dir / PEAK_NAME, result)
    return result


def _loadgen(session: Any, records: list[RunRecord], peak_dir: Path) -> PeakRecord:
    r = session.run_test(Mode.FIND_PEAK, peak_dir)
    records.append(r)
    peak_qps = session.last_peak_qps  # the engine's result; the official engine's only says it in its log
    if peak_qps is None and session.plan.spec.engine is Engine.OFFICIAL:
        detail = logparse.read_detail(peak_dir / "mlperf_log_detail.txt", strict=False)
        found = [float(m.group(1)) for e in detail.entries if (m := _FOUND.search(str(e.get("value"))))]
        peak_qps = found[-1] if found else None
    return PeakRecord(PeakMethod.LOADGEN, peak_qps)


def _bisect(session: Any, records: list[RunRecord], peak_dir: Path) -> PeakRecord:
    base = settings_for(session.plan, Mode.PERFORMANCE)
    steps: list[PeakStep] = []
    best: tuple[float, Path] | None = None  # the highest valid target QPS, and its run's folder

    def trial(qps: float) -> bool:
        nonlocal best
        outdir = peak_dir / f"step_{len(steps):02d}"
        r = session.run_test(Mode.PERFORMANCE, outdir, base.copy(server_target_qps=qps))
        records.append(r)
        result = r.result
        ok = result.validity == "VALID" and not r.errors
        steps.append(PeakStep(qps, result.validity, result.value, r.latency_ns.p99, result.reasons, outdir.name))
        if ok and (best is None or qps > best[0]):
            best = (qps, outdir)
        return ok

    # Below this rate a run needs more than its minimum duration to issue its minimum query count: the
    # search does not go lower (a run there is slow, and it cannot pass early stopping any sooner).
    floor_qps = base.min_query_count / max(base.min_duration_ms / 1000, 1e-3)
    lo, hi = _bracket(trial, max(base.server_target_qps, floor_qps), floor_qps, steps, session)
    while lo and hi and hi / lo > 1 + TOLERANCE and len(steps) < MAX_TRIALS and not session.runner.failed:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if trial(mid) else (lo, mid)
    if best is not None:
        run_1 = session.plan.files_dir / PERFORMANCE
        shutil.rmtree(run_1, ignore_errors=True)
        try:
            shutil.copytree(best[1], run_1)
        except OSError as e:
            raise output_error(e, run_1) from e
    return PeakRecord(PeakMethod.BISECT, lo, (lo, hi), TOLERANCE, tuple(steps))


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
