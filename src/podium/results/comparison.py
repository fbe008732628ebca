"""Comparisons between configurations: "A is N x B" on every benchmark and scenario both ran, and the geometric
mean across them ("system A is N x system B", MLPerf's way of summing up a pair of systems).

A side is a set of summary rows, at most one per (benchmark, scenario), named by what selected it
(`select`): a configuration label, a directory, a system id, or a unique part of a label. The ratio says how
many times better A is: A/B for throughput, B/A for latency and time to train. The geometric mean counts only
the benchmark-scenarios valid on both sides; per-unit ratios use the normalized results (per accelerator, or
per socket on systems without one).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.results.summary import Better, Results, Row, fmt

__all__ = ["Cell", "Comparison", "Side", "compare", "default_comparisons", "fmt_ratio", "select", "verdict"]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a name and its rows, at most one per (benchmark, scenario)."""

    name: str
    rows: tuple[Row, ...]

    def by_cell(self) -> dict[tuple[str, str], Row]:
        return {r.cell: r for r in self.rows}


@dataclass(frozen=True)
class Cell:
    """A (benchmark, scenario) both sides ran. `ratio` is how many times better A is than B."""

    a: Row
    b: Row

    @property
    def both_valid(self) -> bool:
        return self.a.valid and self.b.valid

    @property
    def ratio(self) -> float | None:
        return _speedup(self.a.value, self.b.value, self.a.better)

    @property
    def normalized_ratio(self) -> float | None:
        return _speedup(self.a.normalized, self.b.normalized, self.a.better)


def _speedup(a: float | None, b: float | None, better: Better) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if better is Better.HIGHER else b / a


def _geomean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return math.exp(sum(math.log(v) for v in kept) / len(kept)) if kept else None


@dataclass(frozen=True)
class Comparison:
    """A against B on every (benchmark, scenario) both have; the geometric mean over those valid in both."""

    a: Side
    b: Side
    cells: tuple[Cell, ...]

    @property
    def counted(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.both_valid and c.ratio is not None)

    @property
    def geomean(self) -> float | None:
        return _geomean(c.ratio for c in self.counted)

    @property
    def geomean_normalized(self) -> float | None:
        return _geomean(c.normalized_ratio for c in self.counted)

    NOTE = "(ratios: A/B for throughput, B/A for latency and time to train; above 1 means A is better)"

    def lines(self) -> tuple[list[str], list[list[str]], str]:
        """Header, body and the geometric-mean line, as text cells."""
        head = ["Model", "Scenario", "A", "B", "Units", "A is Nx B", "per unit", "both valid"]
        body = [[x.a.benchmark, x.a.scenario, fmt(x.a.value), fmt(x.b.value), x.a.units, fmt_ratio(x.ratio),
                 fmt_ratio(x.normalized_ratio), "yes" if x.both_valid else "no"] for x in self.cells]
        g, per_unit = self.geomean, self.geomean_normalized
        if g is None:
            return head, body, "geometric mean: no benchmark-scenario valid in both"
        gline = f"geometric mean over {len(self.counted)} benchmark-scenario(s) valid in both: {verdict(g)}"
        return head, body, gline + (f" ({fmt_ratio(per_unit)} per unit)" if per_unit else "")

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a.name, "b": self.b.name, "geomean": self.geomean,
                "geomean_normalized": self.geomean_normalized, "counted": len(self.counted), "cells": [
                    {"benchmark": x.a.benchmark, "scenario": x.a.scenario, "units": x.a.units, "a": x.a.value,
                     "b": x.b.value, "ratio": x.ratio, "normalized_ratio": x.normalized_ratio,
                     "both_valid": x.both_valid, "better": x.a.better.value} for x in self.cells]}


def fmt_ratio(ratio: float | None) -> str:
    """314x, 2.06x, 0.48x, 0.0045x."""
    if ratio is None:
        return "-"
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def verdict(ratio: float) -> str:
    """"A is 2.06x B", and for a ratio under 1 also the other way round: "A is 0.10x B (B is 10.00x A)"."""
    return f"A is {fmt_ratio(ratio)} B" + (f" (B is {fmt_ratio(1 / ratio)} A)" if ratio < 1 else "")


def compare(a: Side, b: Side) -> Comparison:
    """A against B where both ran; a side that names a directory is shown by its configuration label when the
    rows compared share one."""
    cells_b = b.by_cell()
    cells = tuple(Cell(ra, cells_b[ra.cell]) for ra in a.rows if ra.cell in cells_b)
    return Comparison(_renamed(a, [c.a for c in cells]), _renamed(b, [c.b for c in cells]), cells)


def _renamed(side: Side, compared: Sequence[Row]) -> Side:
    labels = {r.label for r in compared}
    return Side(labels.pop(), side.rows) if len(labels) == 1 else side


def _side(name: str, rows: Sequence[Row]) -> Side:
    counts: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        counts.setdefault(r.cell, []).append(r.label)
    for (bench, scen), labels in counts.items():
        if len(labels) > 1:
            raise ConfigError(f"{name!r} holds {len(labels)} results for {bench} {scen} ({', '.join(labels)}); "
                              "name one configuration label instead")
    return Side(name, tuple(rows))


def select(results: Results, selector: str) -> Side:
    """The rows `selector` names: a configuration label, a directory, a system id, or a unique part of a label."""
    rows = results.rows
    exact = [r for r in rows if r.label == selector]
    if exact:
        return _side(selector, exact)
    if os.path.isdir(selector):
        where = Path(selector).resolve()
        under = [r for r in rows if where == r.location.resolve() or where in r.location.resolve().parents]
        if under:
            return _side(_dir_name(selector, under), under)
    by_system = [r for r in rows if r.columns.get("Platform") == selector]
    if by_system:
        return _side(selector, by_system)
    matching = sorted({r.label for r in rows if selector in r.label})
    if len(matching) == 1:
        return _side(matching[0], [r for r in rows if r.label == matching[0]])
    hint = matching or difflib.get_close_matches(selector, results.labels, n=3, cutoff=0.3)
    raise ConfigError(f"{selector!r} names no single configuration; "
                      f"{'it matches' if matching else 'labels are'}: {', '.join(hint or results.labels)}")


def _dir_name(path: str, rows: Sequence[Row]) -> str:
    labels = {r.label for r in rows}
    return labels.pop() if len(labels) == 1 else path


def default_comparisons(results: Results) -> list[Comparison]:
    """Each directory against the first when several were given, else each configuration against the same
    configuration in an earlier tree, or else the first one that ran some of the same (benchmark, scenario)s."""
    groups: dict[str, list[Row]] = {}
    if len(results.paths) > 1:
        for p in results.paths:
            groups[str(p)] = [r for r in results.rows if r.source == p]
    if len(groups) < 2 or any(len({r.cell for r in g}) != len(g) for g in groups.values()):
        groups = {label: [r for r in results.rows if r.label == label] for label in results.labels}
    sides = [Side(_dir_name(name, rows) if name not in results.labels else name, tuple(rows))
             for name, rows in groups.items() if rows]
    out = []
    for i, side in enumerate(sides[1:], start=1):
        # the baseline: the same configuration in an earlier tree when there is one (its label but for
        # `@<tree>`), else the first side before this one that ran something this one ran
        earlier = sorted(sides[:i], key=lambda base: _configuration(base.name) != _configuration(side.name))
        pairs = (compare(side, base) for base in earlier)
        out += [c for c in pairs if c.cells][:1]
    return out


def _configuration(label: str) -> str:
    """A label without the `@<tree>` that tells the same configuration in two trees apart."""
    return label.rsplit("@", 1)[0]
