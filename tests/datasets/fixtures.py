"""Helpers of the dataset tests."""

from __future__ import annotations

from pathlib import Path


def files_under(path: Path) -> list[Path]:
    """Every file below `path`, sorted (none when it does not exist)."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
