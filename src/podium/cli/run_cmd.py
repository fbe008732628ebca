"""`podium run`: the main job. For now a null-SUT run of every scenario with a printed summary."""

from __future__ import annotations

import argparse
import os

from podium.cli.loadgen_cmd import calibrated_offline_qps, null_settings, run_null
from podium.loadgen.results import PerformanceSummary
from podium.loadgen.settings import Mode, Scenario


# Offline runs of a null SUT hold ~30 bytes per sample in RAM; half a second keeps that under 1 GB.
OFFLINE_NULL_DURATION_MS = 500


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the suite (now: the load generator's null-SUT cycle)")
    p.add_argument("--out", default="podium-out", help="where results go (default: ./podium-out)")
    p.add_argument("--min-duration-ms", type=int, default=1000, help="per scenario")
    p.set_defaults(func=cmd_run)


def headline(s: PerformanceSummary | None) -> str:
    """The scenario's metric as the submission checker reads it."""
    if s is None:
        return "-"
    if s.scenario is Scenario.SERVER:
        return f"completed samples/s {s.completed_samples_per_sec:,.1f}"
    if s.scenario is Scenario.OFFLINE:
        return f"samples/s {s.samples_per_second:,.1f}"
    if s.scenario is Scenario.SINGLE_STREAM:
        return f"early-stopping p90 latency {s.early_stopping_latency_ss_ns / 1e3:,.1f} µs"
    return f"early-stopping p99 query latency {s.early_stopping_latency_ms_ns / 1e3:,.1f} µs"


def cmd_run(args: argparse.Namespace) -> int:
    rows, ok = [], True
    for scenario in Scenario:
        outdir = os.path.join(args.out, "loadgen-null", scenario.value)
        qps, duration_ms = None, args.min_duration_ms
        if scenario is Scenario.OFFLINE:  # a null SUT needs tens of millions of samples per second
            qps, duration_ms = calibrated_offline_qps(), min(duration_ms, OFFLINE_NULL_DURATION_MS)
        settings = null_settings(scenario, Mode.PERFORMANCE, target_qps=qps, min_duration_ms=duration_ms)
        run = run_null(settings, outdir)
        metric = headline(run.result.summary)
        rows.append((scenario.value, run.result.validity, metric, f"{run.wall_s:.1f} s", outdir))
        ok &= run.result.valid
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print("Podium null-SUT run of every scenario (the engine's own overhead)")
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0 if ok else 1
