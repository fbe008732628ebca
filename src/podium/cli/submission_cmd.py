"""`podium submission build`: MLPerf submission packages (inference and training layouts) from run directories.

Exit status: 0 built; 2 refused or failed (one line: an invalid run, an org the logs contradict, a package that
exists, a destination that cannot be written), and then no package is left under its final name."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submission", help="assemble an MLPerf submission tree from run directories")
    ssub = p.add_subparsers(dest="submission_command", required=True)
    b = ssub.add_parser(
        "build", help="copy runs into <out>/<division>/<org>/ (inference and/or training layout)",
        description="Assemble the MLPerf submission layout from Podium run directories: results/, systems/ "
                    "(submitter and division set), READMEs, accuracy logs truncated with their sha256 in "
                    "accuracy.txt. With both inference and training runs the packages go to <out>/inference/ "
                    "and <out>/training/. Short runs and runs not valid for submission are refused.")
    b.add_argument("runs", nargs="+", help="run directories (each with results/ and systems/, or podium run's "
                                           "output with inference/ and training/)")
    b.add_argument("--org", help="submitting organization (the <org> directory and `submitter`); default: the "
                   "one the runs logged (training logs' submission_org, else the systems' submitter). An org the "
                   "training logs contradict is refused: rerun with `podium run --org ORG`")
    b.add_argument("--division", required=True, choices=["closed", "open"])
    b.add_argument("--out", required=True, help="where the packages go")
    b.add_argument("--system-type", choices=["datacenter", "edge", "datacenter,edge"],
                   help="set system_type in the system descriptions (it decides the required scenarios)")
    b.add_argument("--availability", choices=["available", "preview", "rdi"],
                   help="set the systems' status (training spelling for training packages)")
    b.add_argument("--allow-invalid", action="store_true", help="build even from short or invalid runs")
    b.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from podium.results.submission import build_submission

    result = build_submission(args.runs, args.out, args.org, args.division, system_type=args.system_type,
                              availability=args.availability, allow_invalid=args.allow_invalid)
    for note in result.notes:
        print(f"note: {note}")
    for finding in result.findings:
        print(finding)
    for package in result.packages:
        print(f"built {package}")
    print(f"next: podium check {args.out}")
    return 0
