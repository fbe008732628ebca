"""podium.loadgen: an MLPerf LoadGen equivalent in pure Python (numpy and the standard library only).

The native API: build `TestSettings`, hand a SUT (`issue_query(ids, indices)`, `flush_queries()`) and a
sample library to `run()`, complete samples from any thread with `complete(ids, data)`, read the
`RunResult`. `podium.loadgen.compat` is the drop-in for the official `mlperf_loadgen` module.
"""

from podium.loadgen.null_sut import NullQSL, NullSUT
from podium.loadgen.results import PerformanceSummary
from podium.loadgen.session import (
    RunOptions,
    RunResult,
    SampleLibrary,
    SystemUnderTest,
    complete,
    completion_bound_s,
    fail,
    first_token,
    progress,
    run,
)
from podium.loadgen.settings import EffectiveSettings, LogSettings, Mode, Scenario, TestSettings

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
