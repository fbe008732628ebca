"""Readers of LoadGen log files in the official formats, Podium's and mlperf_loadgen's alike.

`read_detail` reads `mlperf_log_detail.txt` the way the submission checker does
(tools/submission/log_parser.py MLPerfLog): the first line must start with `:::MLLOG`, every line
with that marker is JSON after it, a key's value is its FIRST occurrence, and `num_errors` is the
logged `num_errors` entry when there is one, else the count of `is_error` lines.
`read_summary` reads the "Key : value" lines of `mlperf_log_summary.txt`; `read_accuracy` reads
`mlperf_log_accuracy.json`, including one cut short by a killed run.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["DetailLogContents", "read_accuracy", "read_detail", "read_mllog", "read_summary"]

MARKER = ":::MLLOG"


class DetailLogContents(dict[str, Any]):
    """Key -> value of its first occurrence, plus every entry of the file.

    `entries`: all parsed `:::MLLOG` objects in file order; `errors` / `warnings`: those flagged
    `is_error` / `is_warning`; `invalid_lines`: (line number, text) of marked lines that are not
    JSON (only when read with strict=False).
    """

    def __init__(self, entries: list[dict[str, Any]], invalid_lines: list[tuple[int, str]]) -> None:
        super().__init__()
        for entry in entries:
            self.setdefault(entry["key"], entry["value"])
        self.entries = entries
        self.invalid_lines = invalid_lines
        self.errors = [e for e in entries if e.get("metadata", {}).get("is_error")]
        self.warnings = [e for e in entries if e.get("metadata", {}).get("is_warning")]

    @property
    def num_errors(self) -> int:
        """As the checker counts: the `num_errors` entry if logged, else the `is_error` lines."""
        return int(self["num_errors"]) if "num_errors" in self else len(self.errors)

    def all(self, key: str) -> list[Any]:
        """The values of every occurrence of `key`, in file order."""
        return [e["value"] for e in self.entries if e["key"] == key]


def read_detail(path: str | os.PathLike[str], *, strict: bool = True) -> DetailLogContents:
    """Parse a detail log. strict: a marked line that is not JSON raises ValueError (the checker's
    default); otherwise it is skipped and recorded in `invalid_lines`."""
    entries, invalid = read_mllog(path, strict=strict, detail=True)
    return DetailLogContents(entries, invalid)


def read_mllog(path: str | os.PathLike[str], *, strict: bool = False,
               detail: bool = False) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Podium's one reader of `:::MLLOG {...}` lines: (the JSON objects, in file order; the marked lines
    that are not a JSON object, as (line number, text)).

    detail=True reads a LoadGen detail log as the submission checker does: the first line must start with
    the marker, and only lines that start with it count. Otherwise (a training result log, read as
    mlperf_logging's parser does) text before the marker is dropped: a launcher's prefix. strict: a marked line
    that is not JSON raises ValueError naming the file and line.
    """
    entries: list[dict[str, Any]] = []
    invalid: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip()
            if detail and number == 1 and not line.startswith(MARKER):
                raise ValueError(f"{path}:1: not a detail log: the first line does not start with {MARKER}")
            at = line.find(MARKER) if not detail else (0 if line.startswith(MARKER) else -1)
            if at < 0:
                continue
            try:
                entry = json.loads(line[at + len(MARKER):])
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                entries.append(entry)
            elif strict:
                raise ValueError(f"{path}:{number}: invalid {MARKER} line: {line[:200]}")
            else:
                invalid.append((number, line))
    return entries, invalid


def read_summary(path: str | os.PathLike[str]) -> dict[str, str]:
    """The "Key : value" lines of a summary, stripped, first occurrence kept.

    The key is the text before the first ':' ("SUT name", "Result is", "target_latency (ns)",
    "90.00 percentile latency (ns)"), the value the text after it ("VALID", "10009.40"). Early-
    stopping bullets keep their text without the leading "* ".
    """
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip()
            key = key[2:] if key.startswith("* ") else key
            out.setdefault(key, value.strip())
    return out


def read_accuracy(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of an accuracy log. A log without its closing `]` (a killed run) is read up to
    its last complete entry."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        entries: list[dict[str, Any]] = json.loads(text)
    except ValueError:
        cut = text.rfind("}")
        if not text.lstrip().startswith("["):
            raise
        entries = json.loads(text[: cut + 1] + "\n]") if cut >= 0 else []
    return entries
