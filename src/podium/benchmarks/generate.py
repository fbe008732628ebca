"""Write the files generated from the registry: the engine's mlperf.conf and docs/benchmarks.md.

    python -m podium.benchmarks.generate            write both files
    python -m podium.benchmarks.generate --check    exit 1, naming the stale files, if either differs

The shipped mlperf.conf is the round whose seeds mlcommons-loadgen 6.0.17 embeds (v6.1: LoadGen 6.0.16
took the v6.1 seeds; the v6.0 round's file is the same but for its seeds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podium.benchmarks.catalogue import get_round
from podium.core.files import atomic_write
from podium.benchmarks.docs import render_docs
from podium.benchmarks.mlperf_conf import render_mlperf_conf

__all__ = ["SHIPPED_CONF_ROUND", "generated_files", "main"]

SHIPPED_CONF_ROUND = "v6.1"  # the round of mlcommons-loadgen 6.0.17's embedded mlperf.conf
_PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE.parents[2]


def generated_files(root: Path = REPO_ROOT) -> dict[Path, str]:
    """Path -> the text it must hold."""
    return {
        _PACKAGE.parent / "loadgen" / "data" / "mlperf.conf": render_mlperf_conf(get_round(SHIPPED_CONF_ROUND)),
        root / "docs" / "benchmarks.md": render_docs(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m podium.benchmarks.generate",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing them")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (for docs/)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files(args.root).items():
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            atomic_write(path, text)
            print(f"wrote {path}")
    if args.check and stale:
        print("stale (run python -m podium.benchmarks.generate):", *map(str, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
