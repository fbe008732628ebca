"""Test settings: what a user requests (`TestSettings`) and what the engine runs (`EffectiveSettings`).

`TestSettings` has every field of `mlperf_loadgen.TestSettings` 6.0.17 with the same name and default
(Python-side names: `ttft_latency`/`tpot_latency` for the C++ `server_ttft_latency`/`server_tpot_latency`).
`derive()` ports `TestSettingsInternal`'s constructor (loadgen/test_settings_internal.cc): per-scenario
target QPS, samples per query, the Offline query size and the equal-issue SingleStream query count.
Durations are integers of milliseconds, latencies integers of nanoseconds, as in the official fields.

`derive()` refuses, with a one-line `ConfigError` naming the setting, every value the engine cannot run
as given (`check()`: non-finite or out-of-range numbers, an empty QSL, contradictory switches; then a
schedule that is empty or would not fit in memory, sized by `run_sizes` in the closed forms of
`schedule.generate_queries`), before the SUT or the QSL is touched. The official LoadGen 6.0.17 replaces
a negative QPS by 1 with a logged error, runs on with NaN, and crashes (std::bad_alloc, SIGSEGV, SIGFPE)
on a zero QPS or expected latency, an empty QSL or an empty schedule. A sample count above the QSL's
total is capped, as the official does, but with a logged warning.

The sizing is here rather than in `schedule` so that imports go one way (schedule -> settings ->
footprint) and this module stays free of numpy (`podium --help` imports it for the enums).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, SupportsInt, TypeGuard

from podium.core.errors import ConfigError, shown
from podium.loadgen.footprint import SAMPLE_BYTES, TOKEN_BYTES, ScheduleSize, check_fits
from podium.core.vocabulary import Scenario  # the engine's four scenarios; re-exported here

__all__ = [
    "EffectiveSettings",
    "LogSettings",
    "Mode",
    "QPS_SETTING",
    "Scenario",
    "SettingsIssue",
    "TestSettings",
    "check",
    "derive",
    "field_problem",
    "pass_size",
    "query_period_ns",
    "run_sizes",
]


class Mode(enum.Enum):
    """LoadGen test modes; values are the names the official logs print."""

    SUBMISSION = "SubmissionRun"
    ACCURACY = "AccuracyOnly"
    PERFORMANCE = "PerformanceOnly"
    FIND_PEAK = "FindPeakPerformance"

    @classmethod
    def parse(cls, text: str) -> Mode:
        aliases = {"submission": cls.SUBMISSION, "accuracy": cls.ACCURACY,
                   "performance": cls.PERFORMANCE, "find-peak": cls.FIND_PEAK,
                   "findpeak": cls.FIND_PEAK}
        low = text.lower()
        for m in cls:
            if low == m.value.lower():
                return m
        if low in aliases:
            return aliases[low]
        raise ValueError(f"unknown mode {text!r}; expected one of {', '.join(m.value for m in cls)}")


# The C++ enum order (test_settings.h); config files select modes by these numbers.
MODE_BY_NUMBER = {0: Mode.SUBMISSION, 1: Mode.ACCURACY, 2: Mode.PERFORMANCE, 3: Mode.FIND_PEAK}


@dataclass
class TestSettings:
    """Requested settings: field names and defaults of mlperf_loadgen 6.0.17's TestSettings."""

    __test__ = False  # not a pytest test class

    scenario: Scenario = Scenario.SINGLE_STREAM
    mode: Mode = Mode.PERFORMANCE
    single_stream_expected_latency_ns: float = 1_000_000
    single_stream_target_latency_percentile: float = 0.90
    multi_stream_expected_latency_ns: float = 8_000_000
    multi_stream_target_latency_percentile: float = 0.99
    multi_stream_samples_per_query: int = 8
    server_target_qps: float = 1.0
    server_target_latency_ns: int = 100_000_000
    server_target_latency_percentile: float = 0.99
    server_coalesce_queries: bool = False
    server_find_peak_qps_decimals_of_precision: int = 1
    server_find_peak_qps_boundary_step_size: float = 1.0
    server_max_async_queries: int = 0  # 0: unbounded
    server_num_issue_query_threads: int = 0
    offline_expected_qps: float = 1.0
    sample_concatenate_permutation: bool = False
    min_duration_ms: int = 10_000
    max_duration_ms: int = 0  # 0: unbounded
    min_query_count: int = 100
    max_query_count: int = 0  # 0: unbounded
    qsl_rng_seed: int = 0
    sample_index_rng_seed: int = 0
    schedule_rng_seed: int = 0
    accuracy_log_rng_seed: int = 0
    accuracy_log_probability: float = 0.0
    accuracy_log_sampling_target: int = 0
    test05: bool = False
    test05_qsl_rng_seed: int = 0
    test05_sample_index_rng_seed: int = 0
    test05_schedule_rng_seed: int = 0
    print_timestamps: bool = False
    performance_issue_unique: bool = False
    performance_issue_same: bool = False
    performance_issue_same_index: int = 0
    performance_sample_count_override: int = 0
    accuracy_sample_count_override: int = 0
    use_token_latencies: bool = False
    ttft_latency: int = 100_000_000  # ns; C++ server_ttft_latency
    tpot_latency: int = 100_000_000  # ns; C++ server_tpot_latency
    infer_token_latencies: bool = False
    token_latency_scaling_factor: int = 0  # no C++ initializer; 0 as seen from Python

    def copy(self, **changes: Any) -> TestSettings:  # Any: each field's own type (dataclasses.replace)
        return dataclasses.replace(self, **changes)


@dataclass
class LogSettings:
    """Where and how the run's log files are written (mlperf_loadgen LogSettings + LogOutputSettings)."""

    outdir: str = "."
    prefix: str = "mlperf_log_"
    suffix: str = ""
    prefix_with_datetime: bool = False
    copy_detail_to_stdout: bool = False
    copy_summary_to_stdout: bool = False
    enable_trace: bool = False  # Podium's default: the trace costs time and disk; the official's is True


@dataclass(frozen=True)
class SettingsIssue:
    """A problem found while deriving settings, logged as the official logs it (key, message)."""

    key: str  # e.g. "error_invalid_test_settings"
    message: str
    is_error: bool = True


@dataclass(frozen=True)
class EffectiveSettings:
    """What the engine runs: TestSettingsInternal. Names are the detail log's `effective_*` keys."""

    requested: TestSettings
    scenario: Scenario
    mode: Mode
    samples_per_query: int
    target_qps: float
    target_latency_ns: int
    target_latency_percentile: float
    max_async_queries: int
    target_duration_ms: int
    min_duration_ms: int
    max_duration_ms: int
    min_query_count: int
    max_query_count: int
    min_sample_count: int
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int
    accuracy_log_rng_seed: int
    accuracy_log_probability: float
    accuracy_log_sampling_target: int
    print_timestamps: bool
    performance_issue_unique: bool
    performance_issue_same: bool
    performance_issue_same_index: int
    performance_sample_count: int
    accuracy_sample_count: int
    sample_concatenate_permutation: bool
    use_token_latencies: bool
    ttft_latency_ns: int
    tpot_latency_ns: int
    infer_token_latencies: bool
    token_latency_scaling_factor: int
    issues: tuple[SettingsIssue, ...] = field(default=())

    def replace(self, **changes: Any) -> EffectiveSettings:  # Any: each field's own type
        return dataclasses.replace(self, **changes)

    @property
    def is_server(self) -> bool:
        return self.scenario is Scenario.SERVER


def _u64(x: float) -> int:
    """C++ `uint64_t(double)`: truncation toward zero."""
    return int(x)


def derive(requested: TestSettings, qsl_performance_count: int, qsl_total_count: int, *,
           checked: bool = True, memory_limit_bytes: int | None = None) -> EffectiveSettings:
    """The settings the engine runs (TestSettingsInternal), or a `ConfigError` naming the setting to fix.

    `check()` runs first, then the derived values are checked: a finite target QPS, the repeated sample
    inside the loaded set, and a schedule that is not empty and fits in `memory_limit_bytes` (default:
    3/4 of `footprint.available_memory_bytes()`). `checked=False` is the bare port: its `issues` carry the errors
    the official logs (a negative QPS replaced by 1, ...) instead of refusing them.
    """
    if checked:
        check(requested, qsl_performance_count, qsl_total_count)
    eff = _port(requested, qsl_performance_count, qsl_total_count)
    if checked:
        _check_derived(eff, qsl_total_count, memory_limit_bytes)
    return eff


def _capped(name: str, count: int, qsl_total_count: int, issues: list[SettingsIssue]) -> int:
    """A sample count above the QSL's total is capped (the official GenerateLoadableSets caps it too, but
    silently, and logs the uncapped value); Podium logs the cap as a warning and the capped value."""
    if count <= qsl_total_count:
        return count
    issues.append(SettingsIssue("warning_generic_message", f"{name} {count} exceeds the QSL's "
                                f"{qsl_total_count} samples: using {qsl_total_count}", is_error=False))
    return qsl_total_count


def _port(requested: TestSettings, qsl_performance_count: int, qsl_total_count: int) -> EffectiveSettings:
    """Port of TestSettingsInternal's constructor; `issues` carries what it would log as errors."""
    r = requested
    issues: list[SettingsIssue] = []
    spq, target_qps, max_async, target_latency_ns = 1, 1.0, 0, 0
    min_query_count, target_duration_ms = int(r.min_query_count), int(r.min_duration_ms)
    s = r.scenario
    if s is Scenario.SINGLE_STREAM:
        target_qps = 1e9 / r.single_stream_expected_latency_ns
        max_async, pct = 1, r.single_stream_target_latency_percentile
    elif s is Scenario.MULTI_STREAM:
        target_qps = 1e9 / r.multi_stream_expected_latency_ns
        max_async, pct = 1, r.multi_stream_target_latency_percentile
        spq = int(r.multi_stream_samples_per_query)
    elif s is Scenario.SERVER:
        if r.server_target_qps >= 0.0:
            target_qps = float(r.server_target_qps)
        else:
            issues.append(SettingsIssue("error_invalid_test_settings",
                                        "Invalid value for server_target_qps requested. requested: "
                                        f"{_g(r.server_target_qps)} using: {_g(target_qps)}"))
        target_latency_ns = int(r.server_target_latency_ns)
        pct, max_async = r.server_target_latency_percentile, int(r.server_max_async_queries)
    else:
        pct = 0.99  # unused in Offline; the official sets it to avoid a garbage value
        if r.offline_expected_qps >= 0.0:
            target_qps = float(r.offline_expected_qps)
        else:
            issues.append(SettingsIssue("error_invalid_test_settings",
                                        "Invalid value for offline_expected_qps requested. requested: "
                                        f"{_g(r.offline_expected_qps)} using: {_g(target_qps)}"))
        max_async = 1
    psc = _capped("performance_sample_count", int(r.performance_sample_count_override or qsl_performance_count),
                  qsl_total_count, issues)
    asc = _capped("accuracy_sample_count", int(r.accuracy_sample_count_override or qsl_total_count),
                  qsl_total_count, issues)
    if s is Scenario.OFFLINE:
        # kSlack = 1.1: generate enough samples for the SUT to outlast min_duration.
        target_sample_count = _u64(1.1 * (target_duration_ms / 1000.0) * target_qps)
        spq = psc if r.performance_issue_unique else max(min_query_count, target_sample_count)
        min_query_count, target_duration_ms = 1, 0
    if r.sample_concatenate_permutation and s is Scenario.SINGLE_STREAM:
        # Equal issue for SingleStream: 2x slack, then padded past the next multiple of the QSL's
        # performance count (adds a whole count when already a multiple, as the official does).
        expected = _u64(2.0 * (target_duration_ms / 1000.0) * target_qps)
        min_query_count = max(min_query_count, expected)
        min_query_count += qsl_performance_count - (min_query_count % qsl_performance_count)
    if r.performance_issue_same and r.performance_issue_same_index >= psc:
        issues.append(SettingsIssue(
            "error_invalid_test_settings",
            "Sample Idx to be repeated in performance_issue_same mode cannot be greater than loaded "
            f"performance_sample_count. performance_issue_same_index: {r.performance_issue_same_index} "
            f"performance_sample_count: {psc}"))
    if r.performance_issue_unique and r.performance_issue_same:
        issues.append(SettingsIssue(
            "error_invalid_test_settings",
            "Performance_issue_unique and performance_issue_same, both cannot be true at the same time. "
            f"performance_issue_unique: {int(r.performance_issue_unique)} "
            f"performance_issue_same: {int(r.performance_issue_same)}"))
    return EffectiveSettings(
        requested=r, scenario=s, mode=r.mode, samples_per_query=spq, target_qps=target_qps,
        target_latency_ns=target_latency_ns, target_latency_percentile=float(pct),
        max_async_queries=max_async, target_duration_ms=target_duration_ms,
        min_duration_ms=int(r.min_duration_ms), max_duration_ms=int(r.max_duration_ms),
        min_query_count=min_query_count, max_query_count=int(r.max_query_count),
        min_sample_count=min_query_count * spq,
        qsl_rng_seed=int(r.qsl_rng_seed), sample_index_rng_seed=int(r.sample_index_rng_seed),
        schedule_rng_seed=int(r.schedule_rng_seed), accuracy_log_rng_seed=int(r.accuracy_log_rng_seed),
        accuracy_log_probability=float(r.accuracy_log_probability),
        accuracy_log_sampling_target=int(r.accuracy_log_sampling_target),
        print_timestamps=bool(r.print_timestamps),
        performance_issue_unique=bool(r.performance_issue_unique),
        performance_issue_same=bool(r.performance_issue_same),
        performance_issue_same_index=int(r.performance_issue_same_index),
        performance_sample_count=psc, accuracy_sample_count=asc,
        sample_concatenate_permutation=bool(r.sample_concatenate_permutation),
        use_token_latencies=bool(r.use_token_latencies), ttft_latency_ns=int(r.ttft_latency),
        tpot_latency_ns=int(r.tpot_latency), infer_token_latencies=bool(r.infer_token_latencies),
        token_latency_scaling_factor=int(r.token_latency_scaling_factor), issues=tuple(issues))


def _g(x: float) -> str:
    """C++ ostream's default formatting of a double (`%g`, 6 significant digits)."""
    return f"{x:g}"


# ---- checks: every value refused before anything runs ---------------------------------------------------

_U64_MAX = (1 << 64) - 1
_DURATION_MAX_MS = (2**63 - 1) // 2_000_000  # 2 x min_duration must fit the int64 ns timeline (146 years)


@dataclass(frozen=True)
class _Rule:
    """The values a TestSettings field may hold."""

    kind: str  # "float" | "int" | "bool"
    low: float = 0
    high: float = _U64_MAX
    open_low: bool = False  # low itself refused
    open_high: bool = False

    def describe(self) -> str:
        if self.kind == "bool":
            return "True or False (or 0 or 1)"
        what, num = ("an integer", "{:,}") if self.kind == "int" else ("a finite number", "{:g}")
        low = num.format(self.low)
        if self.high in (_U64_MAX, math.inf):
            return f"{what} {'>' if self.open_low else '>='} {low}"
        return (f"{what} in {'(' if self.open_low else '['}{low}, {num.format(self.high)}"
                f"{')' if self.open_high else ']'}")


_POSITIVE = _Rule("float", 0, math.inf, open_low=True)
_FRACTION = _Rule("float", 0, 1, open_low=True, open_high=True)  # sorted[int(n * p)] must exist
_U64 = _Rule("int")
_DURATION = _Rule("int", 0, _DURATION_MAX_MS)
_BOOL = _Rule("bool")
# Every field but scenario and mode; a test checks that none is missing.
_RULES: dict[str, _Rule] = {
    "single_stream_expected_latency_ns": _Rule("float", 1, math.inf),  # < 1 ns: a zero query period
    "single_stream_target_latency_percentile": _FRACTION,
    "multi_stream_expected_latency_ns": _Rule("float", 1, math.inf),
    "multi_stream_target_latency_percentile": _FRACTION,
    "multi_stream_samples_per_query": _Rule("int", 1),
    "server_target_qps": _POSITIVE, "server_target_latency_ns": _U64,
    "server_target_latency_percentile": _FRACTION, "server_coalesce_queries": _BOOL,
    "server_find_peak_qps_decimals_of_precision": _Rule("int", 0, 15),  # a double holds ~15 digits
    "server_find_peak_qps_boundary_step_size": _POSITIVE, "server_max_async_queries": _U64,
    "server_num_issue_query_threads": _U64, "offline_expected_qps": _POSITIVE,
    "sample_concatenate_permutation": _BOOL, "min_duration_ms": _DURATION, "max_duration_ms": _DURATION,
    "min_query_count": _U64, "max_query_count": _U64, "qsl_rng_seed": _U64, "sample_index_rng_seed": _U64,
    "schedule_rng_seed": _U64, "accuracy_log_rng_seed": _U64, "accuracy_log_probability": _Rule("float", 0, 1),
    "accuracy_log_sampling_target": _U64, "test05": _BOOL, "test05_qsl_rng_seed": _U64,
    "test05_sample_index_rng_seed": _U64, "test05_schedule_rng_seed": _U64, "print_timestamps": _BOOL,
    "performance_issue_unique": _BOOL, "performance_issue_same": _BOOL, "performance_issue_same_index": _U64,
    "performance_sample_count_override": _U64, "accuracy_sample_count_override": _U64,
    "use_token_latencies": _BOOL, "ttft_latency": _U64, "tpot_latency": _U64, "infer_token_latencies": _BOOL,
    "token_latency_scaling_factor": _U64,
}


def _boolish(value: object) -> TypeGuard[SupportsInt]:
    """bool, numpy.bool_ (told by name: this module does not import numpy) or any integer."""
    return isinstance(value, numbers.Integral) or type(value).__name__ in ("bool_", "bool")


def _problem(rule: _Rule, value: object) -> bool:
    """True when `value` breaks `rule`."""
    if rule.kind == "bool":  # bool, numpy.bool_, or an integer 0 / 1
        return not (_boolish(value) and int(value) in (0, 1))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return True
    if rule.kind == "float":
        x = float(value)
    elif isinstance(value, numbers.Integral):
        x = int(value)
    else:  # an int setting given 1.5: it would be truncated
        return True
    if not math.isfinite(x):
        return True
    return x < rule.low or x > rule.high or (rule.open_low and x == rule.low) or (rule.open_high and x == rule.high)


def field_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be TestSettings field `name` (one line), or None when it can."""
    rule = _RULES.get(name)
    if rule is None or not _problem(rule, value):
        return None
    return f"{name} must be {rule.describe()}, not {shown(value)}"


def check(requested: TestSettings, qsl_performance_count: int, qsl_total_count: int) -> None:
    """Refuse with a one-line `ConfigError` (key = the setting) what cannot run as given: a number that is
    not finite or out of its range, an integer setting given a fraction, an empty QSL, contradictory
    switches. Nothing is replaced: the value the user gave runs, or nothing does."""
    r = requested
    if not isinstance(r.scenario, Scenario):
        raise ConfigError(f"scenario must be a Scenario (Scenario.parse(text)), not {shown(r.scenario)}",
                          key="scenario")
    if not isinstance(r.mode, Mode):
        raise ConfigError(f"mode must be a Mode (Mode.parse(text)), not {shown(r.mode)}", key="mode")
    for name in _RULES:
        problem = field_problem(name, getattr(r, name))
        if problem:
            raise ConfigError(problem, key=name)
    for name, count, low in (("total_sample_count", qsl_total_count, 1),
                             ("performance_sample_count", qsl_performance_count, 0)):
        if _problem(_Rule("int", low), count):
            raise ConfigError(f"the QSL's {name} must be an integer >= {low}, not {shown(count)}", key=name)
    if r.performance_issue_unique and r.performance_issue_same:
        raise ConfigError("performance_issue_unique and performance_issue_same cannot both be on "
                          "(the official LoadGen logs an error and runs the unique samples)",
                          key="performance_issue_same")
    if r.scenario is Scenario.SINGLE_STREAM and r.sample_concatenate_permutation and not qsl_performance_count:
        raise ConfigError("sample_concatenate_permutation in SingleStream pads the query count to a multiple "
                          "of the QSL's performance_sample_count, which is 0 (the official LoadGen dies of "
                          "SIGFPE)", key="sample_concatenate_permutation")


# The setting that sets each scenario's target QPS.
QPS_SETTING = {Scenario.SINGLE_STREAM: "single_stream_expected_latency_ns",
               Scenario.MULTI_STREAM: "multi_stream_expected_latency_ns",
               Scenario.SERVER: "server_target_qps", Scenario.OFFLINE: "offline_expected_qps"}


# ---- sizes: what each pass of a run will hold, before it is generated -----------------------------------

_HUGE = 1 << 62  # counts past this are over any limit: no need to carry them further
_FIX = {
    Scenario.SERVER: "lower server_target_qps, min_duration_ms or min_query_count",
    Scenario.OFFLINE: "lower offline_expected_qps, min_duration_ms or min_query_count",
    Scenario.SINGLE_STREAM: "raise single_stream_expected_latency_ns, or lower min_duration_ms or min_query_count",
    Scenario.MULTI_STREAM: "raise multi_stream_expected_latency_ns, or lower min_duration_ms, min_query_count "
                           "or multi_stream_samples_per_query",
}


def query_period_ns(qps: float) -> int:
    """ScheduleDistribution for SingleStream/MultiStream/Offline: duration_cast<ns>(1.0 / qps)."""
    return int((1.0 / qps) * 1e9)


def _count(x: float) -> int:
    return int(min(x, _HUGE))


def pass_size(s: EffectiveSettings, mode: Mode, distribution_end: int) -> ScheduleSize:
    """`schedule.generate_queries`' counts for a loaded set of `distribution_end` samples, in closed form (a
    Server query count is its expectation: the Poisson draws are not made)."""
    spq, scenario = s.samples_per_query, s.scenario
    size = distribution_end + (spq - 1 if scenario is Scenario.MULTI_STREAM else 0)  # the padded set
    per_sample = SAMPLE_BYTES + (TOKEN_BYTES if s.use_token_latencies else 0)

    def made(queries: float, samples: float, key: str) -> ScheduleSize:
        return ScheduleSize(_count(queries), _count(samples), per_sample, f"{scenario.value} {mode.value} "
                            "schedule", _FIX[scenario], key)

    if mode is Mode.ACCURACY:  # every loaded sample once (Offline: one query and a remainder)
        return made(2 if scenario is Scenario.OFFLINE else size // spq, size, "accuracy_sample_count_override")
    if scenario is Scenario.OFFLINE:
        padded = spq % size if s.sample_concatenate_permutation else 0
        return made(1, spq + (size - padded if padded else 0), QPS_SETTING[scenario])
    if s.performance_issue_unique:
        return made(size // spq, size // spq * spq, "performance_sample_count_override")
    gen_ns = (1 if scenario is Scenario.SERVER else 2) * s.target_duration_ms * 1_000_000
    if gen_ns == 0:
        queries = 0.0
    elif scenario is Scenario.SERVER:
        queries = gen_ns / 1e9 * s.target_qps + 1
    else:
        queries = -(-gen_ns // max(query_period_ns(s.target_qps), 1)) + 1
    minimum = s.min_query_count
    if s.sample_concatenate_permutation:  # equal issue: whole passes over the loaded set
        queries, minimum = (-(-_count(x) // size) * size for x in (queries, minimum))
    n = max(_count(queries), minimum)
    return made(n, n * spq, QPS_SETTING[scenario])


def run_sizes(s: EffectiveSettings, qsl_total_count: int) -> list[ScheduleSize]:
    """The performance pass (first, when the mode has one), the largest accuracy pass and the shuffle of
    the QSL indices that `schedule.loadable_sets` cuts them from. FindPeakPerformance's later passes are sized as
    they come."""
    psc, sizes, shuffled = s.performance_sample_count, [], 0
    if s.mode is not Mode.ACCURACY:
        count = min(psc, qsl_total_count) if psc else qsl_total_count
        sizes.append(pass_size(s, Mode.PERFORMANCE, count))
        shuffled = count
    if s.mode in (Mode.ACCURACY, Mode.SUBMISSION):
        count = min(s.accuracy_sample_count, qsl_total_count)
        size = pass_size(s, Mode.ACCURACY, min(psc, count) if psc else count)
        fix = "lower accuracy_sample_count_override or performance_sample_count_override"
        sizes.append(dataclasses.replace(size, fix=fix))
        shuffled = max(shuffled, count)
    fix = "lower performance_sample_count_override / accuracy_sample_count_override, or use a smaller QSL"
    sizes.append(ScheduleSize(0, shuffled, SAMPLE_BYTES, "shuffle of the QSL indices", fix,
                              "accuracy_sample_count_override"))
    return sizes


def _check_derived(eff: EffectiveSettings, qsl_total_count: int, memory_limit_bytes: int | None) -> None:
    name = QPS_SETTING[eff.scenario]
    if not (math.isfinite(eff.target_qps) and eff.target_qps > 0):
        raise ConfigError(f"{name} = {shown(getattr(eff.requested, name))} gives a target QPS of "
                          f"{eff.target_qps:g}", key=name)
    if eff.performance_issue_same and eff.performance_issue_same_index >= eff.performance_sample_count:
        raise ConfigError(f"performance_issue_same_index {eff.performance_issue_same_index} is outside the "
                          f"{eff.performance_sample_count} loaded samples (performance_sample_count)",
                          key="performance_issue_same_index")
    if eff.performance_issue_unique and eff.performance_sample_count == 0:
        raise ConfigError("performance_issue_unique issues each of performance_sample_count samples once, "
                          "and performance_sample_count is 0", key="performance_sample_count_override")
    sizes = run_sizes(eff, qsl_total_count)
    if eff.mode is not Mode.ACCURACY and sizes[0].samples == 0:  # the official crashes on an empty schedule
        if eff.scenario is Scenario.OFFLINE:
            raise ConfigError("the Offline query would have no sample: min_query_count is 0 and 1.1 x "
                              "offline_expected_qps x min_duration_ms is below one", key="min_query_count")
        raise ConfigError("min_duration_ms and min_query_count are both 0: the schedule would be empty",
                          key="min_query_count")
    check_fits(max(sizes, key=lambda z: z.bytes), memory_limit_bytes)
