"""Performance results: what a run measured (`RawRun`) and what the official reports of it
(`PerformanceSummary`), ported from loadgen/results.cc PerformanceSummary.

`summarize()` does what ProcessLatencies, ProcessTokenLatencies, MinDurationMet, MinQueriesMet,
PerfConstraintsMet and EarlyStopping compute; `detail_result_entries()` lists the detail log's result
section (LogDetail) in the official order with the official value types. The summary file's text
lives in `summary_file`. C++ arithmetic is kept where it shows: percentiles index
`sorted[size_t(n * p)]` (a double multiply), means are integer divisions of an int64 sum by a
size_t, `n - 1` wraps when n is 0, and doubles divide by zero to inf or nan instead of raising.

A run that failed (`failures`: samples missing or completed twice, a SUT error, a signal) is INVALID
whatever the rules say, its statistics cover the completed samples only, and its rates are never
negative, inf or nan. The official reports such runs VALID; Podium deliberately does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from typing import Any

import numpy as np
from numpy.typing import NDArray

from podium.loadgen import early_stopping as es
from podium.loadgen.settings import EffectiveSettings, Scenario

__all__ = [
    "LatencyStats",
    "PercentileEntry",
    "PerformanceSummary",
    "RawRun",
    "detail_result_entries",
    "double_to_string",
    "failed_reason",
    "summarize",
]

PERCENTILES = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)  # results.h latency_percentiles
MULTI_STREAM_PERCENTILE = 0.99  # results.cc EarlyStopping: SingleStream's second estimate
N_TOKEN_INVALID = -(2**63)  # logging.cc nTokenInvalid: a sample never completed
_U64 = 2**64
_NS_PER_S = 1e9  # std::nano::den


@dataclass(frozen=True)
class RawRun:
    """What the engine measured in one performance pass (results.h PerformanceResult), times in ns.

    `final_query_*_ns` are offsets from the pass's start (the official divides them by 1e9).
    `tokens_per_sample` holds the n_tokens reported per sample (values <= 1 count as the official's
    0); `time_per_output_token_ns` may be given, else it is derived as logging.cc derives it.
    Latencies are those of completed samples; `queries_incomplete` counts the issued queries with a
    sample that never completed, and `failures` says why the run failed (empty: it did not).
    """

    scenario: Scenario
    settings: EffectiveSettings
    sample_latencies_ns: NDArray[np.int64]
    query_latencies_ns: NDArray[np.int64] | None
    queries_issued: int
    max_latency_ns: int
    final_query_scheduled_ns: int
    final_query_issued_ns: int
    final_query_all_done_ns: int
    first_token_latencies_ns: NDArray[np.int64] | None = None
    tokens_per_sample: NDArray[np.int64] | None = None
    ran_out_of_generated_queries: bool = False
    time_per_output_token_ns: NDArray[np.int64] | None = None
    queries_incomplete: int = 0
    failures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.scenario is not self.settings.scenario:
            raise ValueError(f"RawRun scenario {self.scenario} != settings {self.settings.scenario}")


@dataclass(frozen=True)
class PercentileEntry:
    """results.h PercentileEntry: the latency at one percentile (query latency: MultiStream)."""

    percentile: float
    sample_latency_ns: int = 0
    query_latency_ns: int = 0


@dataclass(frozen=True)
class LatencyStats:
    """min / max / integer mean and percentiles of one sorted latency array."""

    min_ns: int = 0
    max_ns: int = 0
    mean_ns: int = 0
    target: int = 0  # at settings.target_latency_percentile
    percentiles: tuple[int, ...] = (0,) * len(PERCENTILES)


@dataclass(frozen=True)
class PerformanceSummary:
    """Every value results.cc reports for a performance run (summary file and detail log)."""

    settings: EffectiveSettings
    sample_count: int
    query_count: int
    overlatency_query_count: int
    samples: LatencyStats  # per-sample latencies
    queries: LatencyStats  # per-query latencies (MultiStream only, else zeros)
    # Seconds as the official's doubles: PerformanceResult's max_latency and final_query_*_time.
    max_latency_s: float
    final_query_scheduled_s: float
    final_query_issued_s: float
    final_query_all_done_s: float
    min_duration_met: bool
    min_queries_met: bool
    perf_constraints_met: bool
    early_stopping_met: bool
    min_duration_recommendation: str
    perf_constraints_recommendation: str
    early_stopping_recommendation: str  # lines joined by "\n", as the summary prints them
    early_stopping_ttft_recommendation: str = ""
    early_stopping_tpot_recommendation: str = ""
    early_stopping_latency_ss_ns: int = 0
    early_stopping_latency_ms_ns: int = 0
    # Token metrics (use_token_latencies).
    token_count: int = 0
    overlatency_first_token_count: int = 0
    first_tokens: LatencyStats = LatencyStats()
    time_per_output_token: LatencyStats = LatencyStats()
    failures: tuple[str, ...] = ()  # why the run failed beyond the rules: it is INVALID for these

    @property
    def scenario(self) -> Scenario:
        return self.settings.scenario

    @property
    def valid(self) -> bool:
        return (self.min_duration_met and self.min_queries_met and self.perf_constraints_met
                and self.early_stopping_met and not self.failures)

    @property
    def result_validity(self) -> str:
        return "VALID" if self.valid else "INVALID"

    @property
    def has_perf_constraints(self) -> bool:
        return self.scenario is Scenario.SERVER

    @property
    def target_percentile(self) -> float:
        return self.settings.target_latency_percentile

    def latency_percentiles(self) -> tuple[PercentileEntry, ...]:
        return tuple(PercentileEntry(p, s, q) for p, s, q in
                     zip(PERCENTILES, self.samples.percentiles, self.queries.percentiles))

    # ---- metrics: the official's double expressions, in its operand order
    def _per(self, amount: float, seconds: float) -> float:
        """amount / seconds as the official divides; a failed run that completed nothing reports 0."""
        if self.failures and (self.sample_count == 0 or seconds <= 0):
            return 0.0
        return _div(amount, seconds)

    @property
    def qps_with_loadgen_overhead(self) -> float:  # SingleStream
        return self._per(_size_t(self.sample_count - 1), self.final_query_issued_s)

    @property
    def qps_without_loadgen_overhead(self) -> float:  # SingleStream
        return self._per(1, self.samples.mean_ns / _NS_PER_S)

    @property
    def scheduled_samples_per_sec(self) -> float:  # Server
        # The schedule's rate: over the samples issued (those completed, unless some never did).
        issued = self.query_count if self.failures else self.sample_count
        return self._per(_size_t(issued - 1), self.final_query_scheduled_s)

    @property
    def completed_samples_per_sec(self) -> float:  # Server
        return self._per(_size_t(self.sample_count - 1), self.final_query_all_done_s)

    @property
    def samples_per_second(self) -> float:  # Offline
        return self._per(self.sample_count, self.max_latency_s)

    @property
    def tokens_per_second(self) -> float:  # Offline, token mode
        return self._per(self.token_count, self.max_latency_s)

    @property
    def completed_tokens_per_second(self) -> float:  # token mode, not Offline
        return self._per(self.token_count, self.final_query_all_done_s)

    @property
    def token_throughput_with_loadgen_overhead(self) -> float:  # token mode, not Offline
        return self._per(self.token_count, self.final_query_issued_s)

    @property
    def tokens_per_second_without_loadgen_overhead(self) -> float:
        """The summary's "TPS w/o loadgen overhead": tokens / (mean latency in s * samples)."""
        return self._per(self.token_count, (self.samples.mean_ns / _NS_PER_S) * self.sample_count)

    @property
    def token_throughput_per_ns(self) -> float:
        """The detail log's result_token_throughput: tokens / (mean latency in *ns* * samples)."""
        return self._per(self.token_count, _size_t(self.samples.mean_ns * self.sample_count))

    @property
    def inferred_completed_tokens_per_second(self) -> float:  # Server, infer_token_latencies
        scaled = _size_t((self.sample_count - 1) * self.settings.token_latency_scaling_factor)
        return self._per(scaled, self.final_query_all_done_s)

    @property
    def inferred_tokens_per_second(self) -> float:  # Offline, infer_token_latencies
        scaled = _size_t(self.settings.token_latency_scaling_factor * self.sample_count)
        return self._per(scaled, self.max_latency_s)


def double_to_string(value: float, precision: int = 2) -> str:
    """utils.cc DoubleToString: std::fixed with `precision` decimals."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.{precision}f}"


def _size_t(x: int) -> int:
    """C++ size_t/uint64 arithmetic: wraps modulo 2**64."""
    return x % _U64


def _div(a: float, b: float) -> float:
    """C++ double division: x/0 is +-inf, 0/0 is the x86 default nan (sign bit set)."""
    a, b = float(a), float(b)
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return -math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _mean(total: int, count: int) -> int:
    """int64 sum / size_t count: an unsigned division, then back to int64 (QuerySampleLatency)."""
    q = _size_t(total) // count
    return q - _U64 if q >= 2**63 else q


def _pick(sorted_ns: NDArray[np.int64], count: int, p: float) -> int:
    """sorted[count * p] with the index a size_t of the double product (clamped: the official reads
    past the end for p >= 1, which is undefined)."""
    return int(sorted_ns[min(int(float(count) * p), len(sorted_ns) - 1)])


def _stats(sorted_ns: NDArray[np.int64], count: int, target_p: float) -> LatencyStats:
    if not len(sorted_ns):
        return LatencyStats()
    total = int(sorted_ns.sum(dtype=np.int64))  # int64 accumulation, wrapping as in C++
    return LatencyStats(int(sorted_ns[0]), int(sorted_ns[-1]), _mean(total, count),
                        _pick(sorted_ns, count, target_p),
                        tuple(_pick(sorted_ns, count, p) for p in PERCENTILES))


def _sorted(a: NDArray[np.int64] | None) -> NDArray[np.int64]:
    return np.sort(np.asarray(a if a is not None else (), dtype=np.int64))


def _valid_tokens(raw: RawRun) -> NDArray[np.int64]:
    """n_tokens as logging.cc stores them: <= 1 is an error recorded as 0; never-set stays invalid."""
    n = np.asarray(raw.tokens_per_sample if raw.tokens_per_sample is not None else (), np.int64)
    return np.where((n > 1) | (n == N_TOKEN_INVALID), n, 0)


def _tpot(raw: RawRun, n_tokens: NDArray[np.int64]) -> NDArray[np.int64]:
    """logging.cc RecordSampleCompletion: (latency - ttft) / (n_tokens - 1), C++ integer division."""
    if raw.time_per_output_token_ns is not None:
        return np.asarray(raw.time_per_output_token_ns, np.int64)
    ttft = np.asarray(raw.first_token_latencies_ns if raw.first_token_latencies_ns is not None
                      else (), np.int64)
    m = min(len(ttft), len(n_tokens), len(raw.sample_latencies_ns))
    num = np.asarray(raw.sample_latencies_ns, np.int64)[:m] - ttft[:m]
    den = n_tokens[:m] - 1
    den = np.where(den == 0, 1, den)  # unreachable for recorded samples (n_tokens is 0 or > 1)
    q = np.abs(num) // np.abs(den)
    tpot: NDArray[np.int64] = np.where((num < 0) != (den < 0), -q, q)
    return tpot


@dataclass(frozen=True)
class _EarlyStopping:
    met: bool
    text: str
    estimate_ss: int = 0
    estimate_ms: int = 0


def summarize(raw: RawRun) -> PerformanceSummary:
    """The official PerformanceSummary of one performance run (results.cc)."""
    s = raw.settings
    samples = _sorted(raw.sample_latencies_ns)
    n = len(samples)
    p = s.target_latency_percentile
    # ProcessLatencies returns before setting anything (query_count included) without samples.
    query_count = raw.queries_issued if n else 0
    overlatency = 0
    if n and s.scenario is Scenario.SERVER:
        overlatency = n - int(np.searchsorted(samples, s.target_latency_ns + 1, side="left"))
    multi = s.scenario is Scenario.MULTI_STREAM and n
    queries = _sorted(raw.query_latencies_ns if multi else None)
    token = _token_fields(raw, n) if (s.use_token_latencies and n) else {}
    es_fields = _early_stopping_fields(raw, samples, queries, token)
    sample_stats = _stats(samples, n, p)
    duration_met, duration_rec = _min_duration_met(raw)
    perf_met, perf_rec = _perf_constraints_met(s, sample_stats, token)
    return PerformanceSummary(
        settings=s, sample_count=n, query_count=query_count, overlatency_query_count=overlatency,
        samples=sample_stats, queries=_stats(queries, raw.queries_issued, p),
        max_latency_s=raw.max_latency_ns / _NS_PER_S,
        final_query_scheduled_s=raw.final_query_scheduled_ns / _NS_PER_S,
        final_query_issued_s=raw.final_query_issued_ns / _NS_PER_S,
        final_query_all_done_s=raw.final_query_all_done_ns / _NS_PER_S,
        min_duration_met=duration_met, min_duration_recommendation=duration_rec,
        min_queries_met=raw.queries_issued >= s.min_query_count and n >= s.min_sample_count,
        perf_constraints_met=perf_met, perf_constraints_recommendation=perf_rec, failures=tuple(raw.failures),
        **es_fields, **{k: v for k, v in token.items() if not k.startswith("_")})


def _early_stopping_fields(raw: RawRun, samples: NDArray[np.int64], queries: NDArray[np.int64],
                           token: dict[str, Any]) -> dict[str, Any]:
    """LogSummary/LogDetail's EarlyStopping calls: one, or TPOT then (if met) TTFT in token mode.

    Queries with a sample that never completed have no latency to judge: they are left out of the
    count (with all completed, it is the official's queries issued).
    """
    s = raw.settings
    n_queries = raw.queries_issued - raw.queries_incomplete
    if not s.use_token_latencies:
        one = _early_stopping(s, n_queries, samples, queries, s.target_latency_ns)
        return dict(early_stopping_met=one.met, early_stopping_recommendation=one.text,
                    early_stopping_latency_ss_ns=one.estimate_ss, early_stopping_latency_ms_ns=one.estimate_ms)
    ttft, tpot = token.get("_ttft", _sorted(None)), token.get("_tpot", _sorted(None))
    tpot_es = _early_stopping(s, n_queries, tpot, queries, s.tpot_latency_ns)
    ttft_es = (_early_stopping(s, n_queries, ttft, queries, s.ttft_latency_ns)
               if tpot_es.met else _EarlyStopping(False, ""))  # `&&` skips the TTFT call
    last = ttft_es if tpot_es.met else tpot_es  # the estimates the later call left behind
    return dict(early_stopping_met=tpot_es.met and ttft_es.met, early_stopping_recommendation="",
                early_stopping_ttft_recommendation=ttft_es.text,
                early_stopping_tpot_recommendation=tpot_es.text,
                early_stopping_latency_ss_ns=last.estimate_ss, early_stopping_latency_ms_ns=last.estimate_ms)


def _token_fields(raw: RawRun, n: int) -> dict[str, Any]:
    """results.cc ProcessTokenLatencies (means divide by the sample count, not the array size)."""
    s = raw.settings
    n_tokens = _valid_tokens(raw)
    fields: dict[str, Any] = {"token_count": int(n_tokens[n_tokens != N_TOKEN_INVALID].sum())}
    ttft = _sorted(raw.first_token_latencies_ns)
    if not len(ttft):
        return fields
    tpot = _sorted(_tpot(raw, n_tokens))
    p = s.target_latency_percentile
    fields.update(first_tokens=_stats(ttft, n, p), time_per_output_token=_stats(tpot, n, p),
                  _ttft=ttft, _tpot=tpot)
    if s.scenario is Scenario.SERVER:
        fields["overlatency_first_token_count"] = len(ttft) - int(
            np.searchsorted(ttft, s.target_latency_ns + 1, side="left"))
    return fields


def _min_duration_met(raw: RawRun) -> tuple[bool, str]:
    """results.cc MinDurationMet: the scenario's time base against min_duration."""
    s = raw.settings
    min_duration_s = s.min_duration_ms / 1e3  # duration<double> of milliseconds
    sc = s.scenario
    if sc is Scenario.OFFLINE:
        met = raw.max_latency_ns / _NS_PER_S >= min_duration_s
    elif sc is Scenario.SERVER:
        met = raw.final_query_scheduled_ns / _NS_PER_S >= min_duration_s
    else:
        met = raw.final_query_issued_ns / _NS_PER_S >= min_duration_s
    if met:
        return True, ""
    return False, {
        Scenario.SINGLE_STREAM: "Decrease the expected latency so the loadgen pre-generates more queries.",
        Scenario.MULTI_STREAM: "Decrease the expected latency so the loadgen pre-generates more queries.",
        Scenario.SERVER: "Increase the target QPS so the loadgen pre-generates more queries.",
        Scenario.OFFLINE: "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.",
    }[sc]


def _perf_constraints_met(s: EffectiveSettings, samples: LatencyStats, token: dict[str, Any]) -> tuple[bool, str]:
    """results.cc PerfConstraintsMet: only Server has a latency bound (TTFT and TPOT in token mode)."""
    if s.scenario is not Scenario.SERVER:
        return True, ""
    if not s.use_token_latencies:
        if samples.target > s.target_latency_ns:
            return False, "Reduce target QPS to improve latency."
        return True, ""
    rec, met = "", True
    if token.get("first_tokens", LatencyStats()).target > s.ttft_latency_ns:
        rec, met = "TTFT constrain not met: Reduce target QPS to improve latency.", False
    if token.get("time_per_output_token", LatencyStats()).target > s.tpot_latency_ns:
        tpot = "TPOT constrain not met: Reduce target QPS to improve latency."
        rec, met = (rec + "\n * " + tpot if rec else tpot), False
    return met, rec


def _early_stopping(s: EffectiveSettings, queries_issued: int, latencies: NDArray[np.int64],
                    query_latencies: NDArray[np.int64], target_latency_ns: int) -> _EarlyStopping:
    """results.cc EarlyStopping; `latencies` sorted. A fresh finder per call, as the official's."""
    find = es.MinPassingQueriesFinder()
    p = s.target_latency_percentile
    t: int | None  # Server: latencies over the bound; else the queries to discard (None: too few queries)
    if s.scenario is Scenario.SERVER:
        t = len(latencies) - int(np.searchsorted(latencies, target_latency_ns, side="right"))
        h = find(t, p, es.TOLERANCE, es.CONFIDENCE)
        if queries_issued >= h + t:
            return _EarlyStopping(True, " * Run successful.")
        return _EarlyStopping(False, (
            f" * Run unsuccessful.\n * Processed {queries_issued} queries.\n"
            f" * Would need to run at least {h + t - queries_issued} more queries,\n"
            " with the run being successful if every additional\n query were under latency."))
    if s.scenario is Scenario.OFFLINE:
        return _EarlyStopping(True, "")
    estimates = query_latencies if s.scenario is Scenario.MULTI_STREAM else latencies
    h_min, t = es.minimum_queries_and_discards(find, queries_issued, p)
    if t is None:
        return _EarlyStopping(False, (f" * Only processed {queries_issued} queries.\n"
                                      f" * Need to process at least {h_min + 1} queries for early stopping."))
    estimate = _at(estimates, queries_issued - t)
    text = (f" * Processed at least {h_min + 1} queries ({queries_issued}).\n"
            f" * Would discard {t - 1} highest latency queries.\n"
            f" * Early stopping {double_to_string(p * 100, 1)}th percentile estimate: {estimate}")
    if s.scenario is Scenario.MULTI_STREAM:
        return _EarlyStopping(True, text, estimate_ms=estimate)
    # SingleStream also estimates the 99th percentile (to infer MultiStream from SingleStream).
    ms_p = MULTI_STREAM_PERCENTILE
    h_min, t = es.minimum_queries_and_discards(find, queries_issued, ms_p)
    if t is None:
        return _EarlyStopping(True, text + (
            f"\n * Not enough queries processed for {double_to_string(ms_p * 100, 1)}th percentile\n"
            f" early stopping estimate (would need to process at\n least {h_min + 1} total queries)."),
            estimate_ss=estimate)
    ms_estimate = _at(latencies, queries_issued - t)
    return _EarlyStopping(True, text + (f"\n * Early stopping {double_to_string(ms_p * 100, 1)}"
                                        f"th percentile estimate: {ms_estimate}"),
                          estimate_ss=estimate, estimate_ms=ms_estimate)


def _at(sorted_ns: NDArray[np.int64], i: int) -> int:
    """sorted[i]; the official reads out of bounds when fewer latencies than queries were recorded."""
    return int(sorted_ns[i]) if 0 <= i < len(sorted_ns) else 0


def detail_result_entries(summary: PerformanceSummary, num_errors: int = 0) -> list[tuple[str, object]]:
    """The detail log's result section in results.cc LogDetail's order, ending with `num_errors`.

    Value types follow the C++ ones: int for integers (size_t, int64 latencies), float for doubles
    (printed %g), bool, str. `num_errors` is the logger's error count at that point (a placeholder
    here unless given).
    """
    s, sc = summary.settings, summary.scenario
    out: list[tuple[str, object]] = [("result_validity", summary.result_validity)]
    if summary.has_perf_constraints:
        out.append(("result_perf_constraints_met", summary.perf_constraints_met))
    out += [("result_min_duration_met", summary.min_duration_met),
            ("result_min_queries_met", summary.min_queries_met),
            ("early_stopping_met", summary.early_stopping_met)]
    if not summary.valid:
        out.append(("result_invalid_reason", _invalid_reason(summary)))
    if not s.use_token_latencies:
        out.append(("early_stopping_result", summary.early_stopping_recommendation.replace("\n", " ")))
    else:
        out += [("early_stopping_ttft_result", summary.early_stopping_ttft_recommendation.replace("\n", " ")),
                ("early_stopping_tpot_result", summary.early_stopping_tpot_recommendation.replace("\n", " "))]
    out.append(("result_query_count", summary.query_count))
    if sc is Scenario.SERVER:
        out.append(("result_overlatency_query_count", summary.overlatency_query_count))
    out += _scenario_entries(summary)
    out += _latency_entries("result_", "_percentile_latency_ns", summary.samples)
    if s.use_token_latencies:
        out += _token_entries(summary)
    if s.infer_token_latencies and sc is Scenario.SERVER:
        out.append(("result_inferred_completed_tokens_per_second",
                    summary.inferred_completed_tokens_per_second))
    elif s.infer_token_latencies and sc is Scenario.OFFLINE:
        out.append(("result_inferred_tokens_per_second", summary.inferred_tokens_per_second))
    out.append(("num_errors", num_errors))
    return out


def _invalid_reason(summary: PerformanceSummary) -> str:
    if summary.failures:  # the rules were not the problem: say what failed instead
        return failed_reason(summary.failures)
    reason = ""
    if not summary.perf_constraints_met:
        reason += summary.perf_constraints_recommendation + " "
    if not summary.min_duration_met:
        reason += summary.min_duration_recommendation + " "
    if not summary.min_queries_met:
        reason += "The test exited early, before enough queries were issued."
    return reason.replace("\n", " ")


def failed_reason(failures: tuple[str, ...] | list[str]) -> str:
    """The detail log's result_invalid_reason (and the summary's) for a run that failed."""
    return "The run failed: " + "; ".join(failures) + "."


def _latency_entries(prefix: str, suffix: str, stats: LatencyStats) -> list[tuple[str, object]]:
    entries: list[tuple[str, object]] = [(f"{prefix}min_latency_ns", stats.min_ns),
                                         (f"{prefix}max_latency_ns", stats.max_ns),
                                         (f"{prefix}mean_latency_ns", stats.mean_ns)]
    return entries + [
        (f"{prefix}{double_to_string(p * 100)}{suffix}", v) for p, v in zip(PERCENTILES, stats.percentiles)]


def _scenario_entries(summary: PerformanceSummary) -> list[tuple[str, object]]:
    sc = summary.scenario
    if sc is Scenario.SINGLE_STREAM:
        return [("result_qps_with_loadgen_overhead", summary.qps_with_loadgen_overhead),
                ("result_qps_without_loadgen_overhead", summary.qps_without_loadgen_overhead),
                ("early_stopping_latency_ss", summary.early_stopping_latency_ss_ns),
                ("early_stopping_latency_ms", summary.early_stopping_latency_ms_ns)]
    if sc is Scenario.MULTI_STREAM:
        q = summary.queries
        entries: list[tuple[str, object]] = [("result_min_query_latency_ns", q.min_ns),
                                             ("result_max_query_latency_ns", q.max_ns),
                                             ("result_mean_query_latency_ns", q.mean_ns)]
        return entries + [
            (f"result_{double_to_string(p * 100)}_percentile_per_query_latency_ns", v)
            for p, v in zip(PERCENTILES, q.percentiles)] + [
            ("early_stopping_latency_ms", summary.early_stopping_latency_ms_ns)]
    if sc is Scenario.SERVER:
        return [("result_scheduled_samples_per_sec", summary.scheduled_samples_per_sec),
                ("result_completed_samples_per_sec", summary.completed_samples_per_sec)]
    return [("result_samples_per_second", summary.samples_per_second)]


def _token_entries(summary: PerformanceSummary) -> list[tuple[str, object]]:
    if summary.scenario is Scenario.OFFLINE:
        return [("result_tokens_per_second", summary.tokens_per_second)]
    ft, tp = summary.first_tokens, summary.time_per_output_token
    return (_latency_entries("result_first_token_", "_percentile_latency_ns", ft)
            + [("result_token_throughput_with_loadgen_overhead",
                summary.token_throughput_with_loadgen_overhead),
               ("result_token_throughput", summary.token_throughput_per_ns)]
            + [(f"result_time_per_output_token_{double_to_string(p * 100)}_percentile_ns", v)
               for p, v in zip(PERCENTILES, tp.percentiles)]
            + [("result_time_to_output_token_min", tp.min_ns),
               ("result_time_to_output_token_max", tp.max_ns),
               ("result_time_to_output_token_mean", tp.mean_ns),
               ("result_completed_tokens_per_second", summary.completed_tokens_per_second)])
