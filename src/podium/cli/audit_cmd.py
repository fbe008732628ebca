"""`podium audit TEST01|TEST04|TEST05 WORKLOAD [infer options]`: a compliance audit of a result in --out."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """The options are those of `podium infer` that made the result being audited (--scenario, --model,
--dataset-path, --out, --system, runner and backend options): the audit serves the same model the same way,
with the official audit.config of the test, and writes results/<system>/<benchmark>/<scenario>/TEST0x/ beside
the result's runs (its logs and verify_performance.txt; TEST01 also accuracy/ and verify_accuracy.txt).
TEST01 needs the accuracy run (--mode accuracy or submission) and every test the performance run.

exit status: 0 when the audit passes, 1 when it fails, 2 on an error."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="run a compliance audit (TEST01, TEST04, TEST05) of a result",
                       description="Run a compliance audit of an inference result and write its compliance folder.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test", type=str.upper, help="TEST01 (accuracy in performance mode), TEST04 (no caching of "
                   "repeated samples) or TEST05 (alternative seeds; rounds before v5.0)")
    p.add_argument("workload", help="the benchmark (as for podium infer)")
    p.add_argument("options", nargs=argparse.REMAINDER, help="the options of podium infer (--scenario is required)")
    p.set_defaults(func=cmd_audit)


def infer_spec(workload: str, options: list[str]) -> Any:
    """The InferenceSpec `podium infer WORKLOAD OPTIONS` would run (its parser, its checks)."""
    from podium.cli import build_parser
    from podium.cli.infer_cmd import spec_from_args

    return spec_from_args(build_parser().parse_args(["infer", workload, *options]))


def cmd_audit(args: argparse.Namespace) -> int:
    from podium.inference.audit import run_listed

    passed = True
    for line, ok in run_listed(infer_spec(args.workload, list(args.options)), (args.test,)):
        print(line)
        passed = passed and ok
    return 0 if passed else 1
