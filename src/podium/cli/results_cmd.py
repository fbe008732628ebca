"""`podium results DIR...`: the summary table of run trees, written as CSV, Markdown or JSON, with comparisons.

Exit status: 0; 1 when some result could not be read (each named on stderr; the others are shown); 2 when
nothing could be read or an argument is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from podium.core.errors import ConfigError

if TYPE_CHECKING:
    from podium.results.comparison import Comparison
    from podium.results.tables import Results

COMPARE_HELP = (
    "--compare A B: compare A against B (\"A is N x B\": A/B for throughput, B/A for latency and time to train, "
    "geometric mean over the benchmark-scenarios valid in both). A and B are configuration labels as printed in the "
    "Configuration column (<system>/<backend>/<runner>(settings)), directories (every result under one), "
    "system ids, or a part of a label that names one configuration. Without A B: each DIR against the first "
    "when several DIRs are given, else each configuration against the first one that ran the same "
    "benchmark and scenario (the default, printed whenever two configurations share one).")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="summary table of results, with comparisons between configurations",
                       description="Print the official summary columns of every result under DIR..., "
                                   "normalized per accelerator, and comparisons between configurations.")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run trees (podium run / infer / train "
                   "output) or submission trees")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write every column as CSV (the checker's order)")
    p.add_argument("--md", type=Path, metavar="FILE", help="write the table and comparisons as Markdown")
    p.add_argument("--json", type=Path, metavar="FILE", help="write rows and comparisons as JSON")
    p.add_argument("--compare", nargs="*", metavar="NAME", help=COMPARE_HELP)
    p.set_defaults(func=cmd_results)


def pick_comparisons(results: Results, selectors: list[str] | None) -> list[Comparison]:
    """The comparisons asked for: the default ones, or A against B."""
    from podium.results.comparison import compare, default_comparisons, select

    if not selectors:
        return default_comparisons(results)
    if len(selectors) != 2:
        raise ConfigError(f"--compare takes two names (A B), got {len(selectors)}: {' '.join(selectors)}")
    comparison = compare(select(results, selectors[0]), select(results, selectors[1]))
    if not comparison.cells:
        raise ConfigError(f"{selectors[0]!r} and {selectors[1]!r} ran no benchmark and scenario in common")
    return [comparison]


def cmd_results(args: argparse.Namespace) -> int:
    from podium.results import tables

    results = tables.load(args.dirs)
    comparisons = pick_comparisons(results, args.compare)
    print(tables.format_text(results, comparisons), end="")
    if args.compare is not None and not comparisons:
        print("\nnothing to compare: no two configurations ran the same benchmark and scenario")
    for path in tables.write_tables(results, comparisons, csv_path=args.csv, md_path=args.md,
                                    json_path=args.json):
        print(f"wrote {path}")
    return report_unreadable(results)


def report_unreadable(results: Results) -> int:
    """One line on stderr per result that could not be read; the exit status: 1 when there is one, else 0."""
    for u in results.unreadable:
        print(f"podium: cannot read {u}", file=sys.stderr)
    return 1 if results.unreadable else 0
