"""What the training tests of the full vision workloads share: a tiny version trained through `podium train`
itself (`--generate-data`, then `--data-path`), and the events of its MLLOG result log, read by Podium's one MLLOG
reader (`podium.loadgen.logparse.read_mllog`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from podium.cli import main
from podium.loadgen.logparse import read_mllog
from podium.workloads import WORKLOADS
from podium.workloads.base import Workload


def train_through_cli(name: str, tiny: Callable[[Workload], Workload], data: Path, out: Path,
                      tuned: Mapping[str, Any]) -> Path:
    """`podium train NAME --generate-data DATA`, then `--data-path DATA` (one run, seed 3, `tuned` set with
    --set), with the registry answering `tiny(workload)` for NAME: the output folder. (Its exit code is 1: one run
    has no olympic score, rules §Scoring.)"""
    real_get = WORKLOADS.get
    patch = pytest.MonkeyPatch()
    patch.setattr(WORKLOADS, "get", lambda wanted: tiny(real_get(wanted)) if wanted == name else real_get(wanted))
    try:
        assert main(["train", name, "--generate-data", str(data)]) == 0
        argv = ["train", name, "--data-path", str(data), "--runs", "1", "--seed", "3", "--out", str(out),
                "--no-models", "--workers", "1"]
        for key, value in tuned.items():
            argv += ["--set", f"{key}={value}"]
        main(argv)
    finally:
        patch.undo()
    return out


def result_log(out: Path) -> Path:
    return next(out.rglob("result_0.txt"))


def events(log: Path, key: str) -> list[dict[str, Any]]:
    """The log's events of `key`, in order."""
    entries, _ = read_mllog(log)
    return [e for e in entries if e.get("key") == key]
