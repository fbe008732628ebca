"""podium.loadgen: an MLPerf LoadGen equivalent in pure Python (numpy and the standard library only).

The native API: build `TestSettings`, hand a SUT (`issue_query(ids, indices)`, `flush_queries()`) and a
sample library to `run()`, complete samples from any thread with `complete(ids, data)`, read the
`RunResult`. `podium.loadgen.compat` is the drop-in for the official `mlperf_loadgen` module.

The names below are imported on first use (PEP 562), so that `podium --help`, and the command-line
modules that only need the `Scenario` and `Mode` enums from `podium.loadgen.settings`, start without
numpy and the engine. Once looked up, a name is an ordinary module attribute.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOME = {
    "NullQSL": "null_sut", "NullSUT": "null_sut", "PerformanceSummary": "results",
    "RunOptions": "session", "RunResult": "session", "SampleLibrary": "session", "SystemUnderTest": "session",
    "complete": "session", "completion_bound_s": "session", "fail": "session", "first_token": "session",
    "progress": "session", "run": "session",
    "EffectiveSettings": "settings", "LogSettings": "settings", "Mode": "settings", "Scenario": "settings",
    "TestSettings": "settings",
}

__all__ = [
    "EffectiveSettings",
    "LogSettings",
    "Mode",
    "NullQSL",
    "NullSUT",
    "PerformanceSummary",
    "RunOptions",
    "RunResult",
    "SampleLibrary",
    "Scenario",
    "SystemUnderTest",
    "TestSettings",
    "complete",
    "completion_bound_s",
    "fail",
    "first_token",
    "progress",
    "run",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'podium.loadgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"podium.loadgen.{home}"), name)
    globals()[name] = value  # later lookups are plain attribute reads (complete() is on the hot path)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from podium.loadgen.null_sut import NullQSL, NullSUT
    from podium.loadgen.results import PerformanceSummary
    from podium.loadgen.session import (RunOptions, RunResult, SampleLibrary, SystemUnderTest, complete,
                                        completion_bound_s, fail, first_token, progress, run)
    from podium.loadgen.settings import EffectiveSettings, LogSettings, Mode, Scenario, TestSettings
