"""`podium list`: what can be trained (`workloads`: MLPerf identity, quality target, the data it reads) and what can
be served (`benchmarks`: the rounds that carry each inference benchmark, its scenarios and target, and the model
file and dataset layout it needs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.benchmarks.benchmark import Benchmark

WHAT = ("workloads", "benchmarks")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list what can be trained and served")
    p.add_argument("what", nargs="?", choices=WHAT, help="workloads (training) or benchmarks (inference); "
                   "default: both")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    chosen = (args.what,) if args.what else WHAT
    if "workloads" in chosen:
        list_workloads()
    if "benchmarks" in chosen:
        if len(chosen) > 1:
            print()
        list_benchmarks()
    return 0


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(len(header) - 1)]
    for row in (header, *rows):
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) + "  " + row[-1])


def list_workloads() -> None:
    from podium.workloads import WORKLOADS

    rows = []
    for name in WORKLOADS.names():
        w = WORKLOADS.get(name)
        sign = ">=" if w.quality.direction.value == "higher" else "<="
        rows.append((name, f"{w.identity.benchmark} {w.identity.ruleset}",
                     f"{w.quality.metric} {sign} {w.quality.target:g}", w.summary))
    _table(("workload", "benchmark", "target", "summary"), rows)
    print()
    for name in WORKLOADS.names():
        layout = WORKLOADS.get(name).data
        print(f"{name}: " + (f"--data-path {layout.description}" if layout else "brings its own data"))


def list_benchmarks() -> None:
    """One row per inference benchmark (`podium infer NAME`): the rounds that carry it, the scenarios and target of
    the newest, then what its --model and --dataset-path take."""
    from podium.inference.tasks import TASKS

    rows, needs = [], []
    for name in TASKS.names():
        task = TASKS.get(name)
        carried = _rounds_of(name)
        if not carried:
            continue
        newest = carried[-1][1]
        rows.append((name, _span([r for r, _ in carried]), _scenarios(newest), _target(newest), newest.model))
        needs.append((name, task))
    _table(("benchmark", "rounds", "scenarios (newest round)", "target", "model"), rows)
    print()
    for name, task in needs:
        backend = f" on {' or '.join(task.backends)}" if task.backends else ""
        print(f"{name}:\n  --model {task.model_needs()}{backend}\n  --dataset-path {task.dataset_needs()}")


def _rounds_of(name: str) -> list[tuple[str, Benchmark]]:
    """(round, Benchmark) of every round that has `name` as its own benchmark, oldest first."""
    from podium.benchmarks import get_round, rounds

    found = []
    for r in rounds():
        own = next((b for b in get_round(r).benchmarks if b.name == name), None)
        if own is not None:
            found.append((r, own))
    return found


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]} ({len(names)})"


def _scenarios(bench: Benchmark) -> str:
    parts = []
    for category in ("datacenter", "edge"):
        required = bench.scenarios(category)
        if required:
            parts.append(f"{category[0].upper()}: {','.join(s.value for s in required)}")
    return "; ".join(parts) or "any (the submitter's choice)"


def _target(bench: Benchmark) -> str:
    levels = bench.targets
    units = bench.metric_units
    shown = []
    for level, bound in levels.items():
        if bound is None:
            shown.append(f"{level} % of the measured FP32 {bench.metric}")
        elif isinstance(bound, tuple):
            shown.append(f"{bench.metric} in {bound}")
        else:
            shown.append(f"{bench.metric} >= {bound:.5g}{units}")
    return " / ".join(shown)
