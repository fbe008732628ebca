"""The run's log files, in the official LoadGen formats: detail log, accuracy JSON, trace, summary.

What lives here (facts from loadgen/logging.{h,cc}, loadgen.cc StartTest/LogOutputs, version.cc,
test_settings_internal.cc LogRequestedTestSettings/LogEffectiveSettings):

- `format_value`: a value as the official `ArgValueTransform` + `ostream <<` prints it;
- `DetailLog`: `mlperf_log_detail.txt`, one `:::MLLOG {...}` line per event, flushed per line;
- `header_entries` / `write_header`: the ordered keys from `loadgen_version` to `effective_*`;
- `AccuracyLog`: `mlperf_log_accuracy.json`, streamed in completion order, thread-safe;
- `write_trace`: an optional Chrome trace written after the run from the engine's arrays;
- `log_paths`, `write_summary`: output naming (outdir created) and the atomic summary write.

Podium writes VALID JSON where the official does not: strings are JSON-escaped (the official quotes
them raw, so a `"` or newline in a message breaks its line), non-finite doubles print as
`Infinity`/`NaN` (the official's `%g` prints `inf`/`nan`, which `json.loads` rejects), empty lists and
dicts print `[]`/`{}` (the official's vector/map printers emit `]`/`}`), and the trace is valid JSON.
Every other value (numbers, booleans, arrays, strings without quotes, backslashes or control
characters) prints byte-for-byte as the official prints it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

import podium
from podium.core.files import atomic_write
from podium.loadgen.settings import EffectiveSettings, LogSettings, Scenario, TestSettings

__all__ = [
    "AccuracyLog",
    "COMPATIBLE_LOADGEN_VERSION",
    "DetailLog",
    "LogPaths",
    "effective_entries",
    "format_value",
    "header_entries",
    "loadgen_version",
    "log_paths",
    "power_datetime",
    "requested_entries",
    "run_entries",
    "test_datetime",
    "version_entries",
    "write_header",
    "write_summary",
    "write_trace",
]

COMPATIBLE_LOADGEN_VERSION = "6.0.17"  # the mlcommons-loadgen whose formats and semantics Podium reproduces
_U64 = 1 << 64


# ---------------------------------------------------------------------------------------------- values

def format_value(value: Any) -> str:
    """A detail-log value as JSON text, byte-equal to the official wherever the official is valid JSON.

    bool -> true/false (ArgValueTransform(bool)); int -> plain; float -> ostream default = `%g`
    (6 significant digits, so 1e6 -> `1e+06` and 1.0 -> `1`); str -> quoted and JSON-escaped;
    list/tuple/ndarray -> `[a,b]` without spaces (the vector<size_t> printer); dict -> `{"k":v}`
    without spaces (the map<string,string> printer; Podium formats values by type).
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _format_double(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(format_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{format_value(v)}"
                              for k, v in value.items()) + "}"
    if hasattr(value, "value") and isinstance(value.value, str):  # Scenario, Mode: their official names
        return json.dumps(value.value, ensure_ascii=False)
    raise TypeError(f"cannot log a value of type {type(value).__name__}: {value!r}")


def _format_double(x: float) -> str:
    if math.isfinite(x):
        return f"{x:g}"  # Python's "g" = C's "%g" = ostream's default for a double
    # Deviation: the official prints inf/nan (invalid JSON); Python's json module reads these.
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _time_ms(ns: int) -> str:
    """ns since the log origin as the official prints it: `ns/1e6 "." %06d` (clamped at 0)."""
    ns = max(0, int(ns))
    return f"{ns // 1_000_000}.{ns % 1_000_000:06d}"


# ------------------------------------------------------------------------------------------ detail log

class DetailLog:
    """`mlperf_log_detail.txt`: one `:::MLLOG` JSON line per event, flushed per line, thread-safe.

    `metadata.file`/`line_no` name the Python caller (basename of its source file and its line), the
    analogue of the official's `__FILE__`/`__LINE__`; `tid` is the calling thread's native id.
    Times are `clock()` readings (ns) minus `origin_ns`, the log origin (official: StartLogging).
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str], *, origin_ns: int | None = None,
                 clock: Callable[[], int] = time.monotonic_ns, copy_to_stdout: bool = False) -> None:
        if isinstance(target, (str, os.PathLike)):
            self._out: IO[str] = open(target, "w", encoding="utf-8", newline="\n",  # noqa: SIM115
                                      errors="backslashreplace")
            self._owns_out = True
        else:
            self._out, self._owns_out = target, False
        self._clock = clock
        self.origin_ns = clock() if origin_ns is None else int(origin_ns)
        self.copy_to_stdout = copy_to_stdout
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.num_errors = 0
        self.num_warnings = 0

    def log(self, key: str, value: Any, *, at_ns: int | None = None, event_type: str = "POINT_IN_TIME",
            stacklevel: int = 1) -> None:
        """Write one event. `at_ns` is a `clock()` reading (default: now); `stacklevel` picks the
        caller named in the metadata, as in the `logging` module.

        The official writes "POINT_IN_TIME" for every event, power_begin/power_end included (its
        LogIntervalStart/End only forward to LogDetail); pass INTERVAL_START/END only to depart from it.
        """
        self._write(key, value, at_ns, event_type, False, False, sys._getframe(stacklevel))

    def error(self, key: str, value: Any, *, at_ns: int | None = None, stacklevel: int = 1) -> None:
        """An event with `is_error: true`, counted in `num_errors` (MLPERF_LOG_ERROR)."""
        self._write(key, value, at_ns, "POINT_IN_TIME", True, False, sys._getframe(stacklevel))

    def warning(self, key: str, value: Any, *, at_ns: int | None = None, stacklevel: int = 1) -> None:
        """An event with `is_warning: true`, counted in `num_warnings` (MLPERF_LOG_WARNING)."""
        self._write(key, value, at_ns, "POINT_IN_TIME", False, True, sys._getframe(stacklevel))

    def _write(self, key: str, value: Any, at_ns: int | None, event_type: str, is_error: bool,
               is_warning: bool, frame: FrameType) -> None:
        # Same key order and spacing as logging.h AsyncLog::LogDetail.
        when = self._clock() if at_ns is None else at_ns
        line = (f':::MLLOG {{"key": {json.dumps(key, ensure_ascii=False)}, "value": {format_value(value)}, '
                f'"time_ms": {_time_ms(when - self.origin_ns)}, "namespace": "mlperf::logging", '
                f'"event_type": {json.dumps(event_type)}, "metadata": {{'
                f'"is_error": {format_value(is_error)}, "is_warning": {format_value(is_warning)}, '
                f'"file": {json.dumps(os.path.basename(frame.f_code.co_filename))}, '
                f'"line_no": {frame.f_lineno}, "pid": {self._pid}, "tid": {threading.get_native_id()}}}}}\n')
        with self._lock:
            self.num_errors += is_error
            self.num_warnings += is_warning
            self._out.write(line)
            self._out.flush()  # a killed run still leaves a readable log
            if self.copy_to_stdout:
                sys.stdout.write(line)

    def log_num_errors(self) -> None:
        """The `num_errors` entry closing a performance run's result section (results.cc)."""
        self._write("num_errors", self.num_errors, None, "POINT_IN_TIME", False, False, sys._getframe(1))

    def close(self) -> None:
        with self._lock:
            if self._owns_out and not self._out.closed:
                self._out.close()

    def __enter__(self) -> DetailLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -------------------------------------------------------------------------------------------- header

def loadgen_version() -> str:
    """Podium's `loadgen_version`: its own name and version, and the official version it matches.

    The submission checker never reads `loadgen_version` from a `:::MLLOG` log (it maps it only for
    `:::ENDPTS` logs), so Podium names itself instead of passing as an official build.
    """
    return f"podium {podium.__version__} (mlperf_loadgen {COMPATIBLE_LOADGEN_VERSION} compatible)"


def _package_sha1s() -> dict[str, str]:
    """sha1 of every engine source file, keyed "/<path>" like the official `loadgen_file_sha1`."""
    root = Path(__file__).parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".conf"))
    return {"/" + p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest() for p in files}


def version_entries() -> list[tuple[str, Any]]:
    """version.cc LogLoadgenVersion. The git/build fields are "NA", as in an official build made
    outside git; "NA" status means no `error_uncommitted_loadgen_changes`."""
    return [("loadgen_version", loadgen_version()), ("loadgen_build_date_local", "NA"),
            ("loadgen_build_date_utc", "NA"), ("loadgen_git_commit_date", "NA"),
            ("loadgen_git_log_message", "NA"), ("loadgen_git_status_message", "NA"),
            ("loadgen_file_sha1", _package_sha1s())]


def run_entries(*, test_datetime: str, sut_name: str, get_sut_name_duration_ns: int, qsl_name: str,
                qsl_reported_total_count: int, qsl_reported_performance_count: int) -> list[tuple[str, Any]]:
    """loadgen.cc StartTest: the entries after the version block, one per argument of the same name.
    The checker reads `sut_name` ("Network SUT" in the network division) and
    `qsl_reported_total_count` (accuracy coverage)."""
    return [("test_datetime", test_datetime), ("sut_name", sut_name),
            ("get_sut_name_duration_ns", int(get_sut_name_duration_ns)), ("qsl_name", qsl_name),
            ("qsl_reported_total_count", int(qsl_reported_total_count)),
            ("qsl_reported_performance_count", int(qsl_reported_performance_count))]


def _u64(x: Any) -> int:
    return int(x) % _U64  # the official field is uint64_t


def _str(x: Any) -> str:
    return x.value if hasattr(x, "value") else str(x)


# (TestSettings attribute, C++ type as printed): test_settings_internal.cc LogRequestedTestSettings,
# whose keys are "requested_" + the attribute; the C++ types are those of test_settings.h.
_REQUESTED_BY_SCENARIO: dict[Scenario, tuple[tuple[str, Callable[[Any], Any]], ...]] = {
    Scenario.SINGLE_STREAM: (("single_stream_expected_latency_ns", float),
                             ("single_stream_target_latency_percentile", float)),
    Scenario.MULTI_STREAM: (("multi_stream_expected_latency_ns", float),
                            ("multi_stream_target_latency_percentile", float),
                            ("multi_stream_samples_per_query", _u64)),
    Scenario.SERVER: (("server_target_qps", float), ("server_target_latency_ns", _u64),
                      ("server_target_latency_percentile", float), ("server_coalesce_queries", bool),
                      ("server_find_peak_qps_decimals_of_precision", int),
                      ("server_find_peak_qps_boundary_step_size", float), ("server_max_async_queries", _u64),
                      ("server_num_issue_query_threads", _u64)),
    Scenario.OFFLINE: (("offline_expected_qps", float),),
}
_REQUESTED_COMMON = (
    ("min_duration_ms", _u64), ("max_duration_ms", _u64), ("min_query_count", _u64),
    ("max_query_count", _u64), ("qsl_rng_seed", _u64), ("sample_index_rng_seed", _u64),
    ("schedule_rng_seed", _u64), ("accuracy_log_rng_seed", _u64), ("accuracy_log_probability", float),
    ("accuracy_log_sampling_target", _u64), ("print_timestamps", bool), ("performance_issue_unique", bool),
    ("performance_issue_same", bool), ("performance_issue_same_index", _u64),
    ("performance_sample_count_override", _u64), ("accuracy_sample_count_override", _u64),
    ("sample_concatenate_permutation", bool))

# LogEffectiveSettings: (EffectiveSettings attribute, C++ type). The checker reads effective_scenario,
# the three *_rng_seed, performance_sample_count, accuracy_sample_count, sample_concatenate_permutation,
# min_duration_ms, min_query_count, samples_per_query, target_latency_ns.
_EFFECTIVE = (
    ("samples_per_query", _u64), ("target_qps", float), ("target_latency_ns", int),
    ("target_latency_percentile", float), ("max_async_queries", _u64), ("target_duration_ms", int),
    ("min_duration_ms", int), ("max_duration_ms", int), ("min_query_count", _u64),
    ("max_query_count", _u64), ("min_sample_count", _u64), ("qsl_rng_seed", _u64),
    ("sample_index_rng_seed", _u64), ("schedule_rng_seed", _u64), ("accuracy_log_rng_seed", _u64),
    ("accuracy_log_probability", float), ("accuracy_log_sampling_target", _u64), ("print_timestamps", bool),
    ("performance_issue_unique", bool), ("performance_issue_same", bool),
    ("performance_issue_same_index", _u64), ("performance_sample_count", _u64),
    ("accuracy_sample_count", _u64), ("sample_concatenate_permutation", bool))


def requested_entries(requested: TestSettings) -> list[tuple[str, Any]]:
    """The `requested_*` block. `requested` must be the settings after audit.config and test05
    overrides (the official logs those). The checker reads `requested_use_token_latencies`."""
    r = requested
    out: list[tuple[str, Any]] = [("requested_scenario", _str(r.scenario)), ("requested_test_mode", _str(r.mode))]
    for attr, conv in _REQUESTED_BY_SCENARIO[r.scenario] + _REQUESTED_COMMON:
        out.append((f"requested_{attr}", conv(getattr(r, attr))))
    if r.use_token_latencies:
        out.append(("requested_use_token_latencies", True))
        if r.scenario is not Scenario.OFFLINE:
            out += [("requested_server_ttft_latency", _u64(r.ttft_latency)),
                    ("requested_server_tpot_latency", _u64(r.tpot_latency))]
    return out


def effective_entries(eff: EffectiveSettings) -> list[tuple[str, Any]]:
    """The `effective_*` block (no token fields: the official logs none)."""
    out: list[tuple[str, Any]] = [("effective_scenario", _str(eff.scenario)),
                                  ("effective_test_mode", _str(eff.mode))]
    return out + [(f"effective_{attr}", conv(getattr(eff, attr))) for attr, conv in _EFFECTIVE]


def header_entries(eff: EffectiveSettings, **run: Any) -> list[tuple[str, Any]]:
    """Every header entry in the official order: version, run (`run_entries` keywords), requested,
    effective. Errors and warnings that the official logs in between are written by `write_header`."""
    return version_entries() + run_entries(**run) + requested_entries(eff.requested) + effective_entries(eff)


def write_header(log: DetailLog, eff: EffectiveSettings, *, warnings: Sequence[str] = (), **run: Any) -> None:
    """Log the header as StartTest does: version, run entries, `warnings` (audit.config / test05
    messages, key `warning_generic_message`), the settings issues of `derive` (logged by the
    official TestSettingsInternal constructor), then requested_* and effective_*."""
    for key, value in version_entries() + run_entries(**run):
        log.log(key, value, stacklevel=2)
    for message in warnings:
        log.warning("warning_generic_message", message, stacklevel=2)
    for issue in eff.issues:
        (log.error if issue.is_error else log.warning)(issue.key, issue.message, stacklevel=2)
    for key, value in requested_entries(eff.requested) + effective_entries(eff):
        log.log(key, value, stacklevel=2)


# ------------------------------------------------------------------------------------------ accuracy

class AccuracyLog:
    """`mlperf_log_accuracy.json`, streamed in completion order; `append` is safe from any thread.

    Format (logging.cc LogAccuracy): `[`, entries `\\n{ "seq_id" : S, "qsl_idx" : I, "data" : "HEX" }`
    joined by `,`, then `\\n]\\n`; uppercase hex. Token runs add `"token_count" : n`, and when the
    first token is tracked (every scenario but Offline) `"token_data" : "HEX"` before it (`""` when
    the first token sent no data). Nothing is written per entry unless `append` is called.
    """

    def __init__(self, path: str | os.PathLike[str], *, use_tokens: bool = False,
                 needs_first_token: bool = False) -> None:
        self._out = open(path, "w", encoding="ascii", newline="\n")  # noqa: SIM115
        self._out.write("[")
        self._fmt = ('"seq_id" : %d, "qsl_idx" : %d, "data" : "%s"'
                     + ((', "token_data" : "%s"' if needs_first_token else "") + ', "token_count" : %d'
                        if use_tokens else "") + " }")
        self._tokens, self._first = use_tokens, use_tokens and needs_first_token
        self._lock = threading.Lock()
        self.count = 0

    def append(self, seq_id: int, qsl_idx: int, data: Any, n_tokens: int = 0, token_data: Any = None) -> None:
        """One response: `data` is any bytes-like object (bytes, bytearray, memoryview, ndarray)."""
        args: tuple[Any, ...] = (int(seq_id), int(qsl_idx), _hex(data))
        if self._first:
            args += (_hex(token_data) if token_data is not None else "",)
        if self._tokens:
            args += (int(n_tokens),)
        text = self._fmt % args
        with self._lock:
            self._out.write(",\n{ " if self.count else "\n{ ")
            self._out.write(text)
            self.count += 1

    def flush(self) -> None:
        with self._lock:
            self._out.flush()

    def close(self) -> None:
        with self._lock:
            if not self._out.closed:
                self._out.write("\n]\n")
                self._out.close()

    def __enter__(self) -> AccuracyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hex(data: Any) -> str:
    raw = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
    return raw.hex().upper()


# --------------------------------------------------------------------------------------------- trace

_TRACE_CHUNK = 1 << 16  # samples formatted per write: bounds the memory of the text


def write_trace(path: str | os.PathLike[str], *, scheduled_ns: NDArray[np.int64], issued_ns: NDArray[np.int64],
                complete_ns: NDArray[np.int64], sample_index: NDArray[np.int64], query_seq: NDArray[np.int64],
                first_sample_seq: int = 0, origin_epoch_ns: int = 0, server: bool = False,
                pid: int | None = None) -> None:
    """A Chrome trace of every sample, written after the run (valid JSON; the official's is not).

    Per-sample int64 arrays (sample sequence order), times in ns since the trace origin:
    `scheduled_ns` and `issued_ns` of the sample's query, `complete_ns` of the sample. Each sample
    gets the official's async `b`/`e` pair "Sample" (ts = scheduled, completion) with args
    sample_seq, query_seq, sample_idx, issue_start_ns, complete_ns (both relative to scheduled);
    Server adds the "Latency" counter {issue_delay, issue_to_done}. Timestamps are µs with 3 decimals,
    computed from integers (exact). Events are in sample order, not completion order. A sample with
    `complete_ns < 0` (never completed) gets no events, as in the official. `origin_epoch_ns` is the
    trace origin on the wall clock, in ns (printed as `otherData.ts` in µs).
    """
    pid = os.getpid() if pid is None else int(pid)
    # The official's event texts (logging.h ChromeTracer), sample-major: [counter,] begin, end.
    row_format = (('{"name":"Latency","ph": "C","pid":%(p)d,"ts":%%d.%%03d,'
                   '"args":{ "issue_delay":%%d,"issue_to_done":%%d}},\n' if server else "")
                  + '{"name":"Sample","cat":"default","ph":"b","pid":%(p)d,"id":%%d,"ts":%%d.%%03d,"args":{'
                  '"sample_seq":%%d,"query_seq":%%d,"sample_idx":%%d,"issue_start_ns":%%d,"complete_ns":%%d}},\n'
                  '{"name":"Sample","cat":"default","ph":"e", "pid":%(p)d,"id":%%d,"ts":%%d.%%03d},\n'
                  ) % {"p": pid}
    arrays = [np.asarray(a, dtype=np.int64) for a in (scheduled_ns, issued_ns, complete_ns, sample_index, query_seq)]
    with open(path, "w", encoding="ascii", newline="\n") as out:
        out.write('{"traceEvents":[\n')
        for lo in range(0, len(arrays[0]), _TRACE_CHUNK):
            chunk = [a[lo:lo + _TRACE_CHUNK] for a in arrays]
            out.write("".join(row_format % row for row in _trace_rows(first_sample_seq + lo, server, *chunk)))
        origin_ns = int(origin_epoch_ns)
        out.write('{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns",\n"otherData":{\n'
                  f'"ts":{origin_ns // 1000}.{origin_ns % 1000:03d},\n'
                  f'"version":{json.dumps(loadgen_version())}\n}}\n}}\n')


def _trace_rows(first_seq: int, server: bool, sched: NDArray[np.int64], issued: NDArray[np.int64],
                done: NDArray[np.int64], idx: NDArray[np.int64], qseq: NDArray[np.int64]) -> Iterable[tuple[int, ...]]:
    """The %-format arguments of each completed sample's events, built column-wise with numpy."""
    seq = np.arange(first_seq, first_seq + len(sched), dtype=np.int64)
    kept = done >= 0
    if not kept.all():
        seq, sched, issued, done, idx, qseq = (a[kept] for a in (seq, sched, issued, done, idx, qseq))
    sched = np.maximum(sched, 0)
    s_us, s_frac = (x.tolist() for x in np.divmod(sched, 1000))
    d_us, d_frac = (x.tolist() for x in np.divmod(np.maximum(done, sched), 1000))
    seqs = seq.tolist()
    delay, latency = (issued - sched).tolist(), (done - sched).tolist()
    columns = [seqs, s_us, s_frac, seqs, qseq.tolist(), idx.tolist(), delay, latency, seqs, d_us, d_frac]
    if server:
        columns = [s_us, s_frac, delay, (done - issued).tolist(), *columns]
    return zip(*columns)


# ------------------------------------------------------------------------------------- files & naming

@dataclass(frozen=True)
class LogPaths:
    """The four output files of one run."""

    summary: Path
    detail: Path
    accuracy: Path
    trace: Path


def log_paths(settings: LogSettings, test_datetime: str, *, create: bool = True) -> LogPaths:
    """`<outdir>/<prefix>[<datetime>_]{summary,detail}<suffix>.txt`, `{accuracy,trace}<suffix>.json`
    (loadgen.cc LogOutputs). The directory is created when missing (the official aborts)."""
    stem = settings.prefix + (test_datetime + "_" if settings.prefix_with_datetime else "")
    base = Path(settings.outdir)
    paths = LogPaths(*(base / f"{stem}{name}{settings.suffix}{ext}" for name, ext in
                       (("summary", ".txt"), ("detail", ".txt"), ("accuracy", ".json"), ("trace", ".json"))))
    if create:
        paths.summary.parent.mkdir(parents=True, exist_ok=True)  # the prefix may hold a subdirectory
    return paths


def write_summary(path: str | os.PathLike[str], text: str, *, copy_to_stdout: bool = False) -> None:
    """`mlperf_log_summary.txt`, atomically; optionally echoed (LogOutputSettings.copy_summary_to_stdout)."""
    atomic_write(path, text)  # readers see the old summary or the whole new one
    if copy_to_stdout:
        sys.stdout.write(text)


def test_datetime(epoch_s: float | None = None) -> str:
    """`test_datetime` and the file-name datetime: "%FT%TZ" of LOCAL time, the official's quirk
    (utils.cc CurrentDateTimeISO8601: the Z does not mean UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.localtime(time.time() if epoch_s is None else epoch_s))


test_datetime.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def power_datetime(epoch_ns: int) -> str:
    """`power_begin`/`power_end`: UTC "%m-%d-%Y %H:%M:%S.mmm" (utils.cc DateTimeStringForPower)."""
    seconds, ns = divmod(int(epoch_ns), 1_000_000_000)
    return time.strftime("%m-%d-%Y %H:%M:%S", time.gmtime(seconds)) + f".{ns // 1_000_000:03d}"
