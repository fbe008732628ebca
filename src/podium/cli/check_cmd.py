"""`podium check DIR`: run every registered rule over a run directory or submission tree; exit by worst finding."""

from __future__ import annotations

import argparse
import sys

EPILOG = """exit status: 0 when there are no findings or only notes (info), 1 when the worst finding is a
warning, 2 when there is an error (also for a tree that cannot be read at all).

DIR may be a run directory (systems/ + results/), a submission package (<division>/<org>/), a folder of
divisions, or the output of `podium run` / `podium submission build` (inference/ and training/ folders)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check results against the MLPerf rules (submission checker)",
                       description="Check inference and training results: required files, LoadGen errors, seeds, "
                                   "durations, query counts, latency bounds, accuracy, sample counts, scenarios, "
                                   "system descriptions, audit tests, tampering; training run counts, compliance, "
                                   "seeds and convergence.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", help="the tree to check")
    p.add_argument("--round", help="round to check against (default: the round the runs recorded)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--rule", dest="rules", action="append", default=[], metavar="ID",
                   help="run only this rule or group (inference, consistency, system, training); repeatable")
    p.add_argument("--no-official", action="store_true",
                   help="do not run mlperf_logging's compliance and RCP checkers (training)")
    p.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from podium.results.checker import all_rules, check_tree

    if args.list_rules:
        for r in all_rules():
            print(f"{r.id:<38} {r.scope.value:<9} {r.summary}")
        return 0
    if not args.dir:
        print("podium check: error: DIR is required (or --list-rules)", file=sys.stderr)
        return 2
    report = check_tree(args.dir, args.round, rules=args.rules, official_tools=not args.no_official)
    print(report.dumps() if args.json else report.format_text())
    return report.exit_code
