"""`podium run`: the main job. For now a null-SUT run of every scenario with a printed summary."""

from __future__ import annotations

import argparse
import os

from podium.cli.loadgen_cmd import null_settings, run_null
from podium.loadgen.settings import Mode, Scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the suite (now: the load generator's null-SUT cycle)")
    p.add_argument("--out", default="podium-out", help="where results go (default: ./podium-out)")
    p.add_argument("--min-duration-ms", type=int, default=1000, help="per scenario")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    rows, ok = [], True
    for scenario in Scenario:
        outdir = os.path.join(args.out, "loadgen-null", scenario.value)
        run = run_null(null_settings(scenario, Mode.PERFORMANCE, min_duration_ms=args.min_duration_ms), outdir)
        s = run.result.summary
        metric = f"{s.metric_name}: {s.metric_value:,.2f}" if s is not None else "-"
        rows.append((scenario.value, run.result.validity, metric, f"{run.wall_s:.1f} s", outdir))
        ok &= run.result.valid
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print("Podium null-SUT run of every scenario (the engine's own overhead)")
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0 if ok else 1
