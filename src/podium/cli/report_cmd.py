"""`podium report DIR... -o report.html`: one self-contained HTML report that works offline.

Exit status: 0; 1 when some result could not be read (each named on stderr and at the top of the report; the
others are shown); 2 when nothing could be read or the report cannot be written."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report (tables, latency plots, peak "
                                      "search, training curves, systems)")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run trees or submission trees")
    p.add_argument("-o", "--out", type=Path, metavar="FILE",
                   help="where to write it (default: report.html in the first DIR that exists)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from podium.cli.results_cmd import report_unreadable
    from podium.results import report, tables

    results = tables.load(args.dirs)
    folder = next(d for d in args.dirs if d.is_dir())   # one exists: load() read something
    print(report.write(results, args.out or folder / "report.html"))
    return report_unreadable(results)
