"""Test settings: what a user requests (`TestSettings`) and what the engine runs (`EffectiveSettings`).

`TestSettings` has every field of `mlperf_loadgen.TestSettings` 6.0.17 with the same name and default
(Python-side names: `ttft_latency`/`tpot_latency` for the C++ `server_ttft_latency`/`server_tpot_latency`).
`derive()` ports `TestSettingsInternal`'s constructor (loadgen/test_settings_internal.cc): per-scenario
target QPS, samples per query, the Offline query size and the equal-issue SingleStream query count.
Durations are integers of milliseconds, latencies integers of nanoseconds, as in the official fields.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

__all__ = [
    "EffectiveSettings",
    "LogSettings",
    "Mode",
    "Scenario",
    "SettingsIssue",
    "TestSettings",
    "derive",
]


class Scenario(enum.Enum):
    """MLPerf inference scenarios; values are the names the official logs print."""

    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    SERVER = "Server"
    OFFLINE = "Offline"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        for s in cls:
            if text.replace("-", "").replace("_", "").lower() == s.value.lower():
                return s
        raise ValueError(f"unknown scenario {text!r}; expected one of {', '.join(s.value for s in cls)}")


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

    def copy(self, **changes: object) -> TestSettings:
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

    def replace(self, **changes: object) -> EffectiveSettings:
        return dataclasses.replace(self, **changes)

    @property
    def is_server(self) -> bool:
        return self.scenario is Scenario.SERVER


def _u64(x: float) -> int:
    """C++ `uint64_t(double)`: truncation toward zero."""
    return int(x)


def derive(requested: TestSettings, qsl_performance_count: int, qsl_total_count: int) -> EffectiveSettings:
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
    psc = int(r.performance_sample_count_override or qsl_performance_count)
    asc = int(r.accuracy_sample_count_override or qsl_total_count)
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
