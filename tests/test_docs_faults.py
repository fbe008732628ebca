"""docs/faults.md names a test for every fault: each named test module and function exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _named_tests() -> list[tuple[str, str | None]]:
    """(test file below tests/, function or None) for each code span of the table's test column."""
    out: list[tuple[str, str | None]] = []
    current: str | None = None
    for span in re.findall(r"`([^`]+)`", (ROOT / "docs" / "faults.md").read_text("utf-8")):
        m = re.fullmatch(r"([a-z_/]+\.py)(?:::(\w+))?(?:\[.*\])?", span)
        if m:
            current = m.group(1)
            out.append((current, m.group(2)))
        elif span.startswith("::") and current is not None:
            out.append((current, span[2:].split("[")[0]))
    return out


def test_every_test_the_fault_table_names_exists() -> None:
    named = _named_tests()
    assert len(named) > 80
    missing = []
    for module, function in named:
        path = ROOT / "tests" / module
        if not path.is_file():
            missing.append(module)
            continue
        defined = {n.name for n in ast.walk(ast.parse(path.read_text("utf-8"))) if isinstance(n, ast.FunctionDef)}
        if function is not None and function not in defined:
            missing.append(f"{module}::{function}")
    assert missing == []
