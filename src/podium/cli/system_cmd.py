"""`podium system`: capture this machine into systems/<id>.json; `podium system validate FILE`: check one."""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("system", help="describe this machine (MLPerf systems/<id>.json) or validate a description",
                       description="Capture this machine's CPU, memory, storage, OS, accelerators and software "
                                   "into MLPerf's system description fields, write <out>/systems/<id>.json and "
                                   "validate it. Fields Podium cannot detect are written as \"N/A\": edit them "
                                   "by hand or with --set.")
    p.add_argument("--id", dest="system_id", help="system id: the file name and results/<id>/ (default: host name)")
    p.add_argument("--out", default=".", help="directory that gets systems/<id>.json (default: .)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="set a field, e.g. --set submitter=ACME --set system_type=edge (repeatable)")
    p.add_argument("--round", default="v6.1", help="round whose required fields are checked (default v6.1)")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the JSON instead of writing it")
    p.set_defaults(func=cmd_system)
    ssub = p.add_subparsers(dest="system_command")
    v = ssub.add_parser("validate", help="check a system description's fields for a round")
    v.add_argument("file", help="a systems/<id>.json")
    v.add_argument("--round", dest="validate_round", default="v6.1", help="round (default v6.1)")
    v.add_argument("--training", action="store_true", help="check it as a training description (33 fields)")
    v.add_argument("--json", action="store_true", help="findings as JSON")
    v.set_defaults(func=cmd_validate)


def default_system_id() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname().split(".")[0]) or "system"


def cmd_system(args: argparse.Namespace) -> int:
    from podium.results import system as sysdesc

    system_id = args.system_id or default_system_id()
    try:
        desc = sysdesc.apply_settings(sysdesc.capture(system_id), args.settings)
    except ValueError as e:
        print(f"podium: error: {e}", file=sys.stderr)
        return 2
    if args.print_only:
        print(json.dumps(desc, indent=2, sort_keys=True))
        return 0
    path = sysdesc.write(Path(args.out) / "systems" / f"{system_id}.json", desc)
    print(f"wrote {path}")
    return _report(sysdesc.validate(desc, args.round, path=str(path)), as_json=False)


def cmd_validate(args: argparse.Namespace) -> int:
    from podium.results import system as sysdesc

    try:
        desc = sysdesc.load(args.file)
    except (OSError, ValueError) as e:
        print(f"podium: error: {args.file}: {e}", file=sys.stderr)
        return 2
    usage = sysdesc.Usage.TRAINING if args.training else sysdesc.Usage.INFERENCE
    return _report(sysdesc.validate(desc, args.validate_round, usage, path=args.file), as_json=args.json)


def _report(findings: list, as_json: bool) -> int:
    from podium.results.checker.finding import exit_code

    if as_json:
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        for f in findings:
            print(f)
        if not findings:
            print("valid")
    return exit_code(findings)
