"""Reading the files of a results tree: JSON records, `podium_run.json`, training mllogs.

A file that is absent reads as None; one that exists but cannot be parsed raises `UnreadableFile`, naming it.
LoadGen's logs (detail, summary, accuracy) are read by the engine's parser, `podium.loadgen.logparse`, which
follows the official checker's rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.inference.record import MalformedRecord, PeakRecord, RunRecord, read_peak, read_record
from podium.loadgen import logparse

__all__ = ["UnreadableFile", "first_entries", "read_json", "read_mllog", "read_object", "read_peak_record",
           "read_run_record"]

class UnreadableFile(Exception):
    """A file exists but cannot be parsed; `path` names it and `why` says what is wrong."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"cannot read: {why}")


def read_json(path: Path) -> Any:
    """A JSON file, None when absent, UnreadableFile when not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UnreadableFile(path, f"not JSON ({e})") from None


def read_object(path: Path) -> dict[str, Any] | None:
    """A JSON object (campaign.json, accuracy.json, a system description); None when absent or not an object."""
    data = read_json(path)
    return data if isinstance(data, dict) else None


def read_run_record(path: Path) -> RunRecord | None:
    """An inference run record, `podium_run.json`, of any schema version, through its one loader
    (`podium.inference.record.read_record`); None when absent, UnreadableFile when it is not a run record this
    Podium reads. Every reader of run records in podium.results goes through here."""
    if not path.is_file():
        return None
    try:
        return read_record(path)
    except MalformedRecord as e:   # the folder's files hold what Podium does not expect
        raise UnreadableFile(path.parent, f"unexpected content ({e.why})") from None
    except ConfigError as e:
        raise UnreadableFile(path, str(e).removeprefix(f"{path}: ")) from None


def read_peak_record(path: Path) -> PeakRecord | None:
    """A peak search's record, `find_peak/podium_peak.json`, through its one loader
    (`podium.inference.record.read_peak`); None when absent, UnreadableFile when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return read_peak(path)
    except MalformedRecord as e:
        raise UnreadableFile(path.parent, f"unexpected content ({e.why})") from None
    except ConfigError as e:
        raise UnreadableFile(path, str(e).removeprefix(f"{path}: ")) from None


def read_mllog(path: Path) -> list[dict[str, Any]]:
    """The entries of a training log, in log order: the JSON object after `:::MLLOG ` on each line that has one.

    Text before the marker is dropped, as mlperf_logging's parser does (a launcher's prefix); a line whose
    payload is not a JSON object is skipped (the compliance checker reports it). Read by Podium's one MLLOG
    reader, `podium.loadgen.logparse.read_mllog`, which reads LoadGen's detail logs too.
    """
    return logparse.read_mllog(path)[0]


def first_entries(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first entry of each key (`run_start`, `run_stop`, `global_batch_size`, ...): the one that counts."""
    first: dict[str, dict[str, Any]] = {}
    for e in entries:
        first.setdefault(str(e.get("key")), e)
    return first
