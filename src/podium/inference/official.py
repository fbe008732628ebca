"""The same runner under the official LoadGen (`mlperf_loadgen`, the `official` extra), for results produced by it.

Settings are Podium's `TestSettings` copied field by field (the names are the official ones); the runner
completes through `OfficialCompleter`. The official LoadGen has no way for a SUT to fail a run: failed batches
are recorded by the completer and the harness marks the run failed.

The official LoadGen applies an `audit.config` it finds in the current directory, silently changing the run. It
is given the audit.config asked for (`--audit-config`), or else the path of a file that cannot exist, so that a
stray ./audit.config never applies (the official tool has no way to say "none").
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.loadgen.settings import Mode, Scenario, TestSettings

_MODES = {Mode.SUBMISSION: "SubmissionRun", Mode.ACCURACY: "AccuracyOnly", Mode.PERFORMANCE: "PerformanceOnly",
          Mode.FIND_PEAK: "FindPeakPerformance"}


def official_settings(lg: Any, s: TestSettings) -> Any:
    """A `mlperf_loadgen.TestSettings` equal to `s`."""
    out = lg.TestSettings()
    for f in dataclasses.fields(s):
        value = getattr(s, f.name)
        if isinstance(value, Scenario):
            value = getattr(lg.TestScenario, value.value)
        elif isinstance(value, Mode):
            value = getattr(lg.TestMode, _MODES[value])
        setattr(out, f.name, value)
    return out


def run_official(runner: Any, library: Any, settings: TestSettings, outdir: Path,
                 audit_config: Path | None = None) -> list[str]:
    """Run one test under the official LoadGen; returns errors seen by the harness (none: the log has them)."""
    try:
        import mlperf_loadgen as lg
    except ImportError:
        raise ConfigError("--engine official needs the official LoadGen: pip install 'podium[official]' "
                          "(mlcommons-loadgen)") from None

    def issue(samples: list) -> None:
        runner.issue_query([q.id for q in samples], [q.index for q in samples])

    sut = lg.ConstructSUT(issue, runner.flush_queries)
    qsl = lg.ConstructQSL(library.total_sample_count, library.performance_sample_count,
                          library.load_samples, library.unload_samples)
    log = lg.LogSettings()
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    try:
        with tempfile.TemporaryDirectory(prefix="podium-no-audit-") as empty:
            audit = str(Path(audit_config).resolve()) if audit_config else str(Path(empty) / "audit.config")
            lg.StartTestWithLogSettings(sut, qsl, official_settings(lg, settings), log, audit)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return []
