"""`podium report DIR... -o report.html`: one self-contained HTML report that works offline."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report (tables, latency plots, peak "
                                      "search, training curves, systems)")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run trees or submission trees")
    p.add_argument("-o", "--out", type=Path, metavar="FILE", help="where to write it (default: DIR/report.html)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from podium.results.report import write_report

    print(write_report(args.dirs, args.out or args.dirs[0] / "report.html"))
    return 0
