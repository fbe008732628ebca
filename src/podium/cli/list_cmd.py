"""`podium list workloads`: what can be trained, with its MLPerf identity, quality target and the data it reads."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list what exists")
    p.add_argument("what", choices=["workloads"], help="what to list")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from podium.workloads import WORKLOADS

    rows = []
    for name in WORKLOADS.names():
        w = WORKLOADS.get(name)
        sign = ">=" if w.quality.direction.value == "higher" else "<="
        rows.append((name, f"{w.identity.benchmark} {w.identity.ruleset}",
                     f"{w.quality.metric} {sign} {w.quality.target:g}", w.summary))
    widths = [max(len(r[i]) for r in rows + [("workload", "benchmark", "target", "")]) for i in range(3)]
    print(f"{'workload':<{widths[0]}}  {'benchmark':<{widths[1]}}  {'target':<{widths[2]}}  summary")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    print()
    for name in WORKLOADS.names():
        layout = WORKLOADS.get(name).data
        print(f"{name}: " + (f"--data-path {layout.description}" if layout else "brings its own data"))
    return 0
