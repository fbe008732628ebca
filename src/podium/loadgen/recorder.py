"""What a test writes, in the order the official LoadGen writes it: detail log, accuracy log, trace, summary.

The `Recorder` is the session's only route to the log files (podium.loadgen.logfiles holds the formats).
Everything is written as it happens and flushed, so a run killed half-way leaves readable logs; the
summary is written once at the end, atomically. The trace is assembled after the run from the passes'
arrays, never on the hot path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypedDict

import numpy as np
from numpy.typing import NDArray

from podium.loadgen import logfiles
from podium.loadgen import schedule as _schedule
from podium.loadgen.clock import now_ns
from podium.loadgen.issuer import PassOutcome
from podium.loadgen.results import PerformanceSummary, detail_result_entries, failed_reason
from podium.loadgen.settings import EffectiveSettings, LogSettings, Mode, Scenario, TestSettings
from podium.loadgen.summary_file import summary_text


class _Named(Protocol):
    """What the recorder reads of the SUT (session.SystemUnderTest): the name it logs."""

    name: str


class _Counted(Protocol):
    """What the recorder reads of the sample library (session.SampleLibrary): the name and counts it logs."""

    name: str
    total_sample_count: int
    performance_sample_count: int


class _TracePart(TypedDict):
    """One pass, kept for the trace written at the end."""

    sched: _schedule.QuerySchedule
    outcome: PassOutcome
    seq_base: int
    server: bool


@dataclass(frozen=True)
class Recorded:
    """What the logs hold at the end of a test."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    paths: dict[str, str]


class Recorder:
    """Writes one test's log files; a context manager that always closes them."""

    def __init__(self, log: LogSettings, sut: _Named, qsl: _Counted) -> None:
        self.log_settings, self.sut, self.qsl = log, sut, qsl
        self.datetime = logfiles.test_datetime()
        self.paths = logfiles.log_paths(log, self.datetime)
        self.origin_ns = now_ns()
        self.origin_epoch_ns = time.time_ns()
        self.detail = logfiles.DetailLog(self.paths.detail, origin_ns=self.origin_ns, clock=now_ns,
                                         copy_to_stdout=log.copy_detail_to_stdout)
        self.accuracy: logfiles.AccuracyLog | None = None
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._summary: PerformanceSummary | None = None
        self._trace_parts: list[_TracePart] = []
        self._pending_tokens: dict[int, bytes] = {}

    def __enter__(self) -> Recorder:
        t0 = now_ns()
        self.sut_name = str(self.sut.name)
        name_ns = now_ns() - t0
        for key, value in logfiles.version_entries() + logfiles.run_entries(
                test_datetime=self.datetime, sut_name=self.sut_name, get_sut_name_duration_ns=name_ns,
                qsl_name=self.qsl.name, qsl_reported_total_count=self.qsl.total_sample_count,
                qsl_reported_performance_count=self.qsl.performance_sample_count):
            self.detail.log(key, value)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.accuracy is not None:
            self.accuracy.close()
        else:
            _empty_accuracy_log(self.paths.accuracy)
        self.detail.close()

    # ---- messages -----------------------------------------------------------------------------

    def error(self, key: str, message: str) -> None:
        self.errors.append(message)
        self.detail.error(key, message, stacklevel=2)

    def warning(self, key: str, message: str) -> None:
        self.warnings.append(message)
        self.detail.warning(key, message, stacklevel=2)

    def message(self, text: str) -> None:
        self.detail.log("generic_message", text, stacklevel=2)

    def settings_logged(self, requested: TestSettings, eff: EffectiveSettings) -> None:
        for issue in eff.issues:
            (self.error if issue.is_error else self.warning)(issue.key, issue.message)
        for key, value in logfiles.requested_entries(requested) + logfiles.effective_entries(eff):
            self.detail.log(key, value)
        tokens = eff.use_token_latencies
        self.accuracy = logfiles.AccuracyLog(self.paths.accuracy, use_tokens=tokens,
                                             needs_first_token=tokens and eff.scenario is not Scenario.OFFLINE)

    # ---- passes -------------------------------------------------------------------------------

    def loaded_set(self, samples: NDArray[np.int64]) -> None:
        self.detail.log("loaded_qsl_set", samples.tolist())

    def generated(self, sched: _schedule.QuerySchedule) -> None:
        self.detail.log("generated_query_count", sched.query_count)
        self.detail.log("generated_samples_per_query", sched.samples_per_query)
        self.detail.log("generated_query_duration", sched.duration_ns)

    def accuracy_log_mask(self, eff: EffectiveSettings, mode: Mode, sched: _schedule.QuerySchedule,
                          seq_base: int) -> NDArray[np.bool_] | None:
        """Which responses of a performance pass are logged (audit sampling); None when none are."""
        if mode is Mode.ACCURACY or not (eff.accuracy_log_probability or eff.accuracy_log_sampling_target):
            return None
        return _schedule.accuracy_log_mask(eff, sched, seq_base)

    def accuracy_sink(self, seq_id: int, qsl_idx: int, data: bytes, n_tokens: int | None) -> None:
        if self.accuracy is not None:
            token_data = self._pending_tokens.pop(seq_id, None)
            self.accuracy.append(seq_id, qsl_idx, data, n_tokens or 0, token_data)

    def token_sink(self, seq_id: int, data: bytes) -> None:
        self._pending_tokens[seq_id] = data

    def pass_done(self, eff: EffectiveSettings, mode: Mode, sched: _schedule.QuerySchedule,
                  o: PassOutcome, seq_base: int) -> None:
        for key, text in o.messages:
            if key.startswith("error"):
                self.error(key, text)
            else:
                self.message(text)
        if mode is Mode.PERFORMANCE and o.ran_out_of_generated_queries and not o.interrupted:
            self.error("error_runtime", "Ending early: Ran out of generated queries to issue before the "
                       "minimum query count and test duration were reached. Please update the relevant "
                       "expected latency or target qps in the TestSettings so they are more accurate.")
        for key in _LOGGER_COUNTERS:
            self.detail.log(key, 0)
        done = o.done_ns[o.done_ns > 0]
        end = int(done.max()) if done.size else o.start_ns
        begin_epoch = self.origin_epoch_ns + (o.start_ns - self.origin_ns)
        self.detail.log("power_begin", logfiles.power_datetime(begin_epoch))
        self.detail.log("power_end", logfiles.power_datetime(begin_epoch + end - o.start_ns))
        if self.log_settings.enable_trace:
            self._trace_parts.append(_TracePart(sched=sched, outcome=o, seq_base=seq_base,
                                                server=eff.scenario is Scenario.SERVER))

    def performance_summary(self, summary: PerformanceSummary) -> None:
        """The result section of the detail log (results.cc LogDetail); the summary file comes at the end."""
        self._summary = summary
        for key, value in detail_result_entries(summary):
            if key == "num_errors":
                value = self.detail.num_errors
            self.detail.log(key, value)

    def finish(self, eff: EffectiveSettings, summary: PerformanceSummary | None,
               failures: tuple[str, ...] = ()) -> Recorded:
        """The summary file, last; a failure the logged result does not show gets its own verdict lines."""
        if self.accuracy is not None:
            self.accuracy.flush()
        if failures and (self._summary is None or not set(failures) <= set(self._summary.failures)):
            # No result section was logged (accuracy mode, a run stopped before one), or it came first.
            self.detail.log("result_validity", "INVALID")
            self.detail.log("result_invalid_reason", failed_reason(failures))
        text = summary_text(summary, self.sut_name, self.warnings, self.errors, settings=eff, failures=failures)
        logfiles.write_summary(self.paths.summary, text, copy_to_stdout=self.log_settings.copy_summary_to_stdout)
        paths = {"summary": str(self.paths.summary), "detail": str(self.paths.detail),
                 "accuracy": str(self.paths.accuracy)}
        if self._trace_parts:
            self._write_trace()
            paths["trace"] = str(self.paths.trace)
        elif not self.paths.trace.exists():
            self.paths.trace.touch()  # the official layout always has the file, empty when tracing is off
        return Recorded(tuple(self.errors), tuple(self.warnings), paths)

    def _write_trace(self) -> None:
        parts = [_trace_arrays(p["sched"], p["outcome"], p["seq_base"], self.origin_ns) for p in self._trace_parts]
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        logfiles.write_trace(self.paths.trace, scheduled_ns=cat["sched"], issued_ns=cat["issued"],
                             complete_ns=cat["done"], sample_index=cat["index"], query_seq=cat["qseq"],
                             first_sample_seq=self._trace_parts[0]["seq_base"],
                             origin_epoch_ns=self.origin_epoch_ns,
                             server=any(p["server"] for p in self._trace_parts))


_LOGGER_COUNTERS = (
    "logger_swap_request_slots_retry_count", "logger_swap_request_slots_retry_retry_count",
    "logger_swap_request_slots_retry_reencounter_count", "logger_start_reading_entries_retry_count",
    "logger_tls_total_log_cas_fail_count", "logger_tls_total_swap_buffers_slot_retry_count",
)  # the official's log-contention counters; Podium's logging has no contention, so they are 0


def _trace_arrays(sched: _schedule.QuerySchedule, o: PassOutcome, seq_base: int,
                  origin_ns: int) -> dict[str, NDArray[np.int64]]:
    """Per-sample arrays (ns since the log origin) of one pass, for the trace."""
    n = o.samples_issued
    if sched.query_offsets is None:
        qseq = np.arange(n, dtype=np.int64) // max(sched.samples_per_query, 1)
    else:
        qseq = np.searchsorted(sched.query_offsets, np.arange(n), side="right") - 1
    return {"sched": o.scheduled_ns[qseq] - origin_ns, "issued": o.issued_ns[qseq] - origin_ns,
            "done": np.where(o.done_ns > 0, o.done_ns - origin_ns, -1), "index": sched.sample_index[:n],
            "qseq": qseq}


def _empty_accuracy_log(path: Path) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write("[\n]\n")
