"""The `podium` command line: one small `cmd_<name>` per subcommand; PodiumErrors print as one line."""

from __future__ import annotations

import argparse
import sys

from podium import __version__
from podium.core.errors import PodiumError


# One module `podium.cli.<name>_cmd` per subcommand, each with `register(sub)`; imported when the parser is built.
COMMANDS = ("run", "infer", "audit", "loadgen", "train", "list", "results", "report", "system", "submission",
            "check")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = argparse.ArgumentParser(prog="podium", description="MLPerf-style benchmarking.")
    p.add_argument("--version", action="version", version=f"podium {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"podium.cli.{name}_cmd").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Exit codes: 0 ok, 1 a result not VALID or a check failed, 2 an error (one line),
    130 / 143 stopped by SIGINT / SIGTERM (logs flushed, the run's record marked aborted)."""
    from podium.core import signals
    from podium.core.errors import RunAborted

    args = build_parser().parse_args(argv)
    with signals.handled():
        try:
            return int(args.func(args) or 0)
        except RunAborted as e:
            print(f"podium: {e}", file=sys.stderr)
            return signals.exit_code(e.signum)
        except PodiumError as e:
            print(f"podium: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            signum = signals.signum_of(e)
            print(f"podium: {signals.describe(signum)}", file=sys.stderr)
            return signals.exit_code(signum)
