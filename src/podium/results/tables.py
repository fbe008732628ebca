"""Summary tables: the rows of every result found (`podium.results.summary`), with comparisons between
configurations (`podium.results.comparison`) appended, rendered as aligned text, CSV, Markdown and JSON.

CSV and JSON carry every column, in the checker's order; the printed table and the Markdown show a few.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podium.core.files import atomic_write, dumps_json
from podium.results.comparison import Comparison
from podium.results.summary import (COLUMNS, OFFICIAL_COLUMNS, Better, Kind, Results, Row, config_label, fmt, load,
                                    normalize)

__all__ = [
    "COLUMNS", "OFFICIAL_COLUMNS", "Better", "Kind", "Results", "Row", "config_label", "fmt", "format_text", "load",
    "normalize", "to_csv", "to_json", "to_markdown", "write_tables", "write_text_atomic",
]

# tables JSON format history (loaders accept every version):
#   1: first version (columns, rows, comparisons)
SCHEMA_VERSION = 1

# What the printed table and the Markdown show; CSV and JSON carry every column.
DISPLAY_COLUMNS = ("Configuration", "Model", "Scenario", "Settings", "Result", "Units", "NormalizedResult",
                   "NormalizedUnits", "Accuracy", "Validity")


def display_rows(rows: Sequence[Row]) -> list[list[str]]:
    return [[fmt(r.columns.get(c, "")) for c in DISPLAY_COLUMNS] for r in rows]


def _aligned(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    return ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body]]


def format_text(results: Results, comparisons: Sequence[Comparison]) -> str:
    lines = _aligned(DISPLAY_COLUMNS, display_rows(results.rows))
    for c in comparisons:
        head, body, gline = c.lines()
        lines += ["", f"A = {c.a.name}", f"B = {c.b.name}", c.NOTE, *_aligned(head, body), gline]
    return "\n".join(lines) + "\n"


def to_csv(results: Results) -> str:
    """Every column, quoted as the checker writes its summary.csv."""
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([[r.columns.get(c, "") for c in COLUMNS] for r in results.rows])
    return out.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(map(_md_cell, line)) + " |" for line in [head, ["---"] * len(head), *body]]


def to_markdown(results: Results, comparisons: Sequence[Comparison]) -> str:
    lines = ["# Results", "", *_md_table(DISPLAY_COLUMNS, display_rows(results.rows))]
    for c in comparisons:
        head, body, gline = c.lines()
        lines += ["", f"## {_md_cell(c.a.name)} (A) vs {_md_cell(c.b.name)} (B)", "", c.NOTE, "",
                  *_md_table(head, body), "", _md_cell(gline)]
    return "\n".join(lines) + "\n"


def to_json(results: Results, comparisons: Sequence[Comparison]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "podium.results.summary", "columns": list(COLUMNS),
            "rows": [{c: r.columns.get(c, "") for c in COLUMNS} for r in results.rows],
            "comparisons": [c.to_json() for c in comparisons]}


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` atomically with the result files' mode (`podium.core.files.atomic_write`); an OSError is
    an OutputError naming `path`."""
    return atomic_write(path, text)


def write_tables(results: Results, comparisons: Sequence[Comparison], *, csv_path: Path | None = None,
                 md_path: Path | None = None, json_path: Path | None = None) -> list[Path]:
    """Write the requested formats; returns the paths written."""
    written = []
    if csv_path:
        written.append(write_text_atomic(csv_path, to_csv(results)))
    if md_path:
        written.append(write_text_atomic(md_path, to_markdown(results, comparisons)))
    if json_path:
        written.append(write_text_atomic(json_path, dumps_json(to_json(results, comparisons))))
    return written
