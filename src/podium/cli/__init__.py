"""The `podium` command line: one small `cmd_<name>` per subcommand; PodiumErrors print as one line."""

from __future__ import annotations

import argparse
import sys

from podium import __version__
from podium.core.errors import PodiumError


def build_parser() -> argparse.ArgumentParser:
    from podium.cli import loadgen_cmd, run_cmd
    from podium.cli import list_cmd, train_cmd

    p = argparse.ArgumentParser(prog="podium", description="MLPerf-style benchmarking.")
    p.add_argument("--version", action="version", version=f"podium {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run_cmd.register(sub)
    loadgen_cmd.register(sub)
    train_cmd.register(sub); list_cmd.register(sub)
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
