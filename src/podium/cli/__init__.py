"""The `podium` command line: one small `cmd_<name>` per subcommand; PodiumErrors print as one line."""

from __future__ import annotations

import argparse
import sys

from podium import __version__
from podium.core.errors import PodiumError


# One module `podium.cli.<name>_cmd` per subcommand, each with `register(sub)`; imported when the parser is built.
COMMANDS = ("run", "infer", "loadgen", "train", "list", "results", "report", "system", "submission", "check")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = argparse.ArgumentParser(prog="podium", description="MLPerf-style benchmarking.")
    p.add_argument("--version", action="version", version=f"podium {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"podium.cli.{name}_cmd").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PodiumError as e:
        print(f"podium: error: {e}", file=sys.stderr)
        return 130 if type(e).__name__ == "RunAborted" else 2
    except KeyboardInterrupt:
        print("podium: interrupted", file=sys.stderr)
        return 130
