"""A drop-in for the official `mlperf_loadgen` module: `import podium.loadgen.compat as lg`.

Same names, positional signatures and defaults as mlperf_loadgen 6.0.17 (bindings/python_api.cc), so SUT
code written for the official LoadGen runs unchanged on Podium's engine. Differences, all deliberate:
- completions may come from any thread, as in the official; a completion with an unknown or repeated id
  raises `SUTError` in the caller (the official corrupts memory);
- a missing output directory is created (the official aborts the process);
- the trace, when enabled, is valid JSON;
- `StartTest*` raise `podium.core.errors.PodiumError` subclasses for a SUT that raised or never completed
  samples, after the logs are written; a Ctrl-C raises `RunAborted` (logs flushed);
- the wait for completions is bounded (the official waits forever): by the engine's
  `completion_bound_s`, derived from each pass's expected length, or by PODIUM_COMPLETION_TIMEOUT_S
  (seconds) when set; a run with a sample missing or completed twice is INVALID (the official: VALID).
"""

from __future__ import annotations

import enum
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from podium.loadgen import session as _session
from podium.loadgen.clock import now_ns as _now_ns
from podium.loadgen.issue_loops import IssueFn, IssueOneFn, Prepare
from podium.loadgen.ledger import Response, ResponseCallback
from podium.loadgen.settings import LogSettings as _NativeLogSettings
from podium.loadgen.settings import Mode as _Mode
from podium.loadgen.settings import Scenario as _Scenario
from podium.loadgen.settings import TestSettings as _NativeTestSettings

__all__ = [
    "ConstructFastSUT", "ConstructQDL", "ConstructQSL", "ConstructSUT", "DestroyFastSUT", "DestroyQDL",
    "DestroyQSL", "DestroySUT", "FirstTokenComplete", "LogOutputSettings", "LogSettings", "LoggingMode",
    "QuerySample", "QuerySampleResponse", "QuerySamplesComplete", "StartTest", "StartTestWithLogSettings",
    "TestMode", "TestScenario", "TestSettings", "VectorQuerySample", "VectorQuerySampleResponse",
]


IssueCallback = Callable[[list["QuerySample"]], object]  # ConstructSUT's issue_cb(query_samples)
FastIssueCallback = Callable[[list[int], list[int]], object]  # ConstructFastSUT's (response ids, QSL indices)
FlushCallback = Callable[[], object]
LoadCallback = Callable[[list[int]], object]  # load/unload samples to RAM (QSL indices)
NameCallback = Callable[[], str]


class TestScenario(enum.Enum):
    __test__ = False
    SingleStream = _Scenario.SINGLE_STREAM
    MultiStream = _Scenario.MULTI_STREAM
    Server = _Scenario.SERVER
    Offline = _Scenario.OFFLINE


class TestMode(enum.Enum):
    __test__ = False
    SubmissionRun = _Mode.SUBMISSION
    AccuracyOnly = _Mode.ACCURACY
    PerformanceOnly = _Mode.PERFORMANCE
    FindPeakPerformance = _Mode.FIND_PEAK


class LoggingMode(enum.Enum):
    AsyncPoll = 0
    EndOfTestOnly = 1
    Synchronous = 2


class QuerySample:
    """`QuerySample(id, index)`: id is the opaque response id to complete, index the QSL index."""

    __slots__ = ("id", "index")

    def __init__(self, id: int = 0, index: int = 0) -> None:  # noqa: A002 - the official's name
        self.id = id
        self.index = index

    def __repr__(self) -> str:
        return f"QuerySample(id={self.id}, index={self.index})"


class QuerySampleResponse:
    """`QuerySampleResponse(id, data, size[, n_tokens])`: data is an address; read only when logged."""

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(self, id: int = 0, data: int = 0, size: int = 0, n_tokens: int = 0) -> None:  # noqa: A002
        self.id = id
        self.data = data
        self.size = size
        self.n_tokens = n_tokens

    def __repr__(self) -> str:
        return f"QuerySampleResponse(id={self.id}, data={self.data}, size={self.size}, n_tokens={self.n_tokens})"


class VectorQuerySample(list["QuerySample"]):
    """The official binds std::vector<QuerySample>; a list serves wherever one is accepted."""


class VectorQuerySampleResponse(list["QuerySampleResponse"]):
    """The official binds std::vector<QuerySampleResponse>; a list serves wherever one is accepted."""


class TestSettings(_NativeTestSettings):
    """mlperf_loadgen.TestSettings: the native fields, with the official enum types and FromConfig."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__()
        self.scenario = TestScenario.SingleStream  # type: ignore[assignment]
        self.mode = TestMode.PerformanceOnly  # type: ignore[assignment]

    def FromConfig(self, path: str, model: str, scenario: str, conf_type: int = 1) -> int:  # noqa: N802
        from podium.loadgen import config

        updated = _native_settings(self)
        code = config.from_config_compat(updated, path, model, scenario, conf_type, state=_config_state())
        for f in _FIELDS:
            if f not in ("scenario", "mode"):
                setattr(self, f, getattr(updated, f))
        self.mode = TestMode(updated.mode)  # type: ignore[assignment]
        return code


class LogOutputSettings:
    def __init__(self) -> None:
        self.outdir = "."
        self.prefix = "mlperf_log_"
        self.suffix = ""
        self.prefix_with_datetime = False
        self.copy_detail_to_stdout = False
        self.copy_summary_to_stdout = False


class LogSettings:
    def __init__(self) -> None:
        self.log_output = LogOutputSettings()
        self.log_mode = LoggingMode.AsyncPoll
        self.log_mode_async_poll_interval_ms = 1000
        self.enable_trace = True  # the official default


_FIELDS = [f for f in _NativeTestSettings.__dataclass_fields__]
_CONFIG_STATE: Any = None  # the process-level FromConfig state, as the official keeps one


def _config_state() -> Any:
    global _CONFIG_STATE
    if _CONFIG_STATE is None:
        from podium.loadgen import config

        _CONFIG_STATE = config.ConfigState()
    return _CONFIG_STATE
_objects: dict[int, Any] = {}
_handles = itertools.count(0x5000)
_objects_lock = threading.Lock()


def _native_settings(s: TestSettings) -> _NativeTestSettings:
    values = {f: getattr(s, f) for f in _FIELDS}
    values["scenario"] = s.scenario.value if isinstance(s.scenario, TestScenario) else s.scenario
    values["mode"] = s.mode.value if isinstance(s.mode, TestMode) else s.mode
    return _NativeTestSettings(**values)


def _native_log(ls: LogSettings) -> _NativeLogSettings:
    o = ls.log_output
    return _NativeLogSettings(outdir=o.outdir, prefix=o.prefix, suffix=o.suffix,
                              prefix_with_datetime=o.prefix_with_datetime,
                              copy_detail_to_stdout=o.copy_detail_to_stdout,
                              copy_summary_to_stdout=o.copy_summary_to_stdout, enable_trace=ls.enable_trace)


def _register(obj: Any) -> int:
    with _objects_lock:
        h = next(_handles)
        _objects[h] = obj
    return h


def _destroy(handle: int) -> None:
    with _objects_lock:
        _objects.pop(handle, None)


class _PySUT:
    """Adapts `issue_cb(list[QuerySample])` to the engine's `issue_query(ids, indices)`."""

    def __init__(self, issue_cb: IssueCallback, flush_cb: FlushCallback, name: str = "PySUT") -> None:
        self.name = name
        self.flush_queries = flush_cb
        self.name_cb: NameCallback | None = None  # ConstructQDL's: the name, asked for at StartTest

        def issue_query(ids: Sequence[int], indices: list[int], _qs: type[QuerySample] = QuerySample,
                        _cb: IssueCallback = issue_cb) -> None:
            _cb(list(map(_qs, ids, indices)))

        def issue_one(i: int, index: int, _qs: type[QuerySample] = QuerySample, _cb: IssueCallback = issue_cb) -> None:
            _cb([_qs(i, index)])

        self.issue_query, self.issue_one = issue_query, issue_one
        # Offline: the QuerySample list is built with the pre-generated schedule, before the clock.
        self.prepare: Prepare = (lambda ids, indices: list(map(QuerySample, ids, indices)),
                                 cast(Callable[[object], None], issue_cb))


class _PyFastSUT:
    def __init__(self, issue_cb: FastIssueCallback, flush_cb: FlushCallback) -> None:
        self.name = "PyFastSUT"

        def issue_query(ids: Sequence[int], indices: list[int]) -> None:
            issue_cb(list(ids), indices)  # the official passes lists

        def issue_one(i: int, index: int) -> None:
            issue_cb([i], [index])

        self.issue_query: IssueFn = issue_query
        self.issue_one: IssueOneFn = issue_one
        self.prepare: Prepare = (lambda ids, indices: (list(ids), indices), lambda a: _fast_issue(issue_cb, a))
        self.flush_queries = flush_cb


class _PyQSL:
    def __init__(self, total: int, performance: int, load_cb: LoadCallback, unload_cb: LoadCallback) -> None:
        self.name = "PyQSL"
        self.total_sample_count = int(total)
        self.performance_sample_count = int(performance)
        self.load_samples = load_cb
        self.unload_samples = unload_cb


def _fast_issue(issue_cb: FastIssueCallback, arguments: object) -> None:
    ids, indices = cast(tuple[list[int], list[int]], arguments)  # what _PyFastSUT.prepare built
    issue_cb(ids, indices)


def ConstructSUT(issue_cb: IssueCallback, flush_queries_cb: FlushCallback) -> int:  # noqa: N802
    return _register(_PySUT(issue_cb, flush_queries_cb))


def ConstructFastSUT(fast_issue_cb: FastIssueCallback, flush_queries_cb: FlushCallback) -> int:  # noqa: N802
    return _register(_PyFastSUT(fast_issue_cb, flush_queries_cb))


def ConstructQDL(issue_cb: IssueCallback, flush_queries_cb: FlushCallback,  # noqa: N802
                 name_cb: NameCallback) -> int:
    """A query dispatch library (network SUT proxy): its name comes from `name_cb()`."""
    sut = _PySUT(issue_cb, flush_queries_cb)
    sut.name_cb = name_cb
    return _register(sut)


def ConstructQSL(total_sample_count: int, performance_sample_count: int,  # noqa: N802
                 load_samples_to_ram_cb: LoadCallback, unload_samples_from_ram_cb: LoadCallback) -> int:
    return _register(_PyQSL(total_sample_count, performance_sample_count, load_samples_to_ram_cb,
                            unload_samples_from_ram_cb))


DestroySUT = DestroyFastSUT = DestroyQDL = DestroyQSL = _destroy


def StartTest(sut: int, qsl: int, test_settings: TestSettings,  # noqa: N802
              audit_config_filename: str = "audit.config") -> None:
    StartTestWithLogSettings(sut, qsl, test_settings, LogSettings(), audit_config_filename)


def StartTestWithLogSettings(sut: int, qsl: int, test_settings: TestSettings,  # noqa: N802
                             log_settings: LogSettings, audit_config_filename: str = "audit.config") -> None:
    s, q = _objects[sut], _objects[qsl]
    name_cb = getattr(s, "name_cb", None)
    if name_cb is not None:
        s.name = name_cb()
    audit = audit_config_filename if os.path.exists(audit_config_filename) else None
    _session.run(s, q, _native_settings(test_settings), _native_log(log_settings),
                 options=_session.RunOptions(audit_config=audit, completion_timeout_s=_completion_timeout_s(),
                                             config_state=_config_state(), compat=True,
                                             raise_on_failure=True))


def _completion_timeout_s() -> float | None:
    """PODIUM_COMPLETION_TIMEOUT_S in seconds; None when unset (the engine derives each pass's bound)."""
    text = os.environ.get("PODIUM_COMPLETION_TIMEOUT_S", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        from podium.core.errors import ConfigError

        raise ConfigError(f"PODIUM_COMPLETION_TIMEOUT_S={text!r}: expected a positive number of seconds")
    return value


def QuerySamplesComplete(responses: Sequence[Response], response_cb: ResponseCallback | None = None,  # noqa: N802
                         _active: _session._Active = _session.ACTIVE, _now: Callable[[], int] = _now_ns) -> None:
    """Complete samples (any thread); the completion time is the time of this call."""
    _active.complete_responses(_now(), responses, response_cb)


def FirstTokenComplete(responses: Sequence[Response], response_cb: ResponseCallback | None = None) -> None:  # noqa: N802
    t = _now_ns()
    p = _session.ACTIVE.pass_
    if p is not None:
        p.first_tokens(t, responses, response_cb)
