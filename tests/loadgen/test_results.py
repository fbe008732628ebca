"""results.summarize, detail_result_entries and summary_text on constructed runs (no official needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from podium.loadgen import early_stopping as es
from podium.loadgen.results import (
    RawRun,
    _div,
    _mean,
    detail_result_entries,
    double_to_string,
    summarize,
)
from podium.loadgen.settings import Scenario, TestSettings, derive
from podium.loadgen.summary_file import footer, ostream_double, summary_text


def _raw(scenario: Scenario, latencies, queries: int | None = None, **kw) -> RawRun:
    req = TestSettings(scenario=scenario, **{"min_duration_ms": 1000, **kw.pop("settings", {})})
    eff = derive(req, 100, 100)
    lat = np.asarray(latencies, dtype=np.int64)
    args = dict(scenario=scenario, settings=eff, sample_latencies_ns=lat, query_latencies_ns=None,
                queries_issued=len(lat) if queries is None else queries, max_latency_ns=int(lat.max()),
                final_query_scheduled_ns=2_000_000_000, final_query_issued_ns=2_000_000_000,
                final_query_all_done_ns=2_500_000_000)
    args.update(kw)
    return RawRun(**args)


def test_percentiles_index_sorted_by_truncated_double_product():
    lat = np.arange(1000, 0, -1) * 10  # 10 .. 10000, unsorted
    s = summarize(_raw(Scenario.SINGLE_STREAM, lat))
    assert s.samples.percentiles == tuple(int(sorted(lat)[int(1000 * p)]) for p in
                                          (0.5, 0.9, 0.95, 0.97, 0.99, 0.999))
    assert s.samples.target == sorted(lat)[900]
    assert (s.samples.min_ns, s.samples.max_ns) == (10, 10000)


def test_mean_is_integer_division_of_an_unsigned_sum():
    s = summarize(_raw(Scenario.SINGLE_STREAM, [1, 2, 2]))
    assert s.samples.mean_ns == 1  # 5 // 3
    assert _mean(-3, 2) == 2**63 - 2  # a negative sum divides as uint64
    assert _mean(-3, 1) == -3  # and wraps back to int64


def test_cpp_double_division():
    assert _div(5, 0) == math.inf and _div(-5, 0.0) == -math.inf
    nan = _div(0, 0)
    assert math.isnan(nan) and math.copysign(1, nan) < 0
    assert ostream_double(nan) == "-nan" and double_to_string(nan) == "-nan"


def test_ostream_and_fixed_formatting():
    assert [ostream_double(x) for x in (1.5e6, 0.99, 198340.47, 1e-5, 0.0)] == \
        ["1.5e+06", "0.99", "198340", "1e-05", "0"]
    assert double_to_string(0.999 * 100) == "99.90" and double_to_string(0.9 * 100, 1) == "90.0"
    assert double_to_string(math.inf) == "inf"


def test_single_stream_early_stopping_estimate_discards_t_minus_one():
    lat = np.arange(1, 1001) * 100
    s = summarize(_raw(Scenario.SINGLE_STREAM, lat))
    find = es.MinPassingQueriesFinder(fast=False)
    h_min, t = es.minimum_queries_and_discards(find, 1000, 0.9)
    _, t99 = es.minimum_queries_and_discards(find, 1000, 0.99)
    assert s.early_stopping_latency_ss_ns == lat[1000 - t]
    assert s.early_stopping_latency_ms_ns == lat[1000 - t99]
    assert s.early_stopping_recommendation.splitlines() == [
        f" * Processed at least {h_min + 1} queries (1000).", f" * Would discard {t - 1} highest latency queries.",
        f" * Early stopping 90.0th percentile estimate: {lat[1000 - t]}",
        f" * Early stopping 99.0th percentile estimate: {lat[1000 - t99]}"]


def test_single_stream_too_few_queries():
    s = summarize(_raw(Scenario.SINGLE_STREAM, np.arange(63) + 1))
    assert not s.early_stopping_met and s.early_stopping_latency_ss_ns == 0
    assert s.early_stopping_recommendation == (" * Only processed 63 queries.\n"
                                               " * Need to process at least 64 queries for early stopping.")
    s = summarize(_raw(Scenario.SINGLE_STREAM, np.arange(100) + 1))
    assert s.early_stopping_met and s.early_stopping_latency_ms_ns == 0
    assert s.early_stopping_recommendation.endswith(
        "\n * Not enough queries processed for 99.0th percentile\n early stopping estimate "
        "(would need to process at\n least 662 total queries).")


def test_server_overlatency_early_stopping_and_rates():
    lat = np.full(2000, 1000)
    lat[:30] = 10**9  # 30 queries over the 100 ms bound: the 99th percentile too
    s = summarize(_raw(Scenario.SERVER, lat))
    assert s.overlatency_query_count == 30
    h = es.MinPassingQueriesFinder()(30, 0.99, 0.0, 0.99)
    assert s.early_stopping_met == (2000 >= h + 30) is False
    assert s.completed_samples_per_sec == 1999 / 2.5 and s.scheduled_samples_per_sec == 1999 / 2.0
    entries = detail_result_entries(s, num_errors=3)
    assert entries[-1] == ("num_errors", 3)
    keys = [k for k, _ in entries]
    assert keys[:6] == ["result_validity", "result_perf_constraints_met", "result_min_duration_met",
                        "result_min_queries_met", "early_stopping_met", "result_invalid_reason"]
    assert "result_overlatency_query_count" in keys
    d = dict(entries)
    assert type(d["result_overlatency_query_count"]) is int
    assert type(d["result_completed_samples_per_sec"]) is float
    assert d["result_invalid_reason"] == "Reduce target QPS to improve latency. "


def test_server_run_unsuccessful_text():
    lat = np.full(500, 1000)
    lat[:50] = 10**9
    s = summarize(_raw(Scenario.SERVER, lat))
    h = es.MinPassingQueriesFinder()(50, 0.99, 0.0, 0.99)
    assert s.early_stopping_recommendation == (
        f" * Run unsuccessful.\n * Processed 500 queries.\n * Would need to run at least {h + 50 - 500} "
        "more queries,\n with the run being successful if every additional\n query were under latency.")
    detail = dict(detail_result_entries(s))
    assert "\n" not in detail["early_stopping_result"]


def test_offline_rate_and_duration():
    s = summarize(_raw(Scenario.OFFLINE, np.arange(1, 5001) * 100_000,
                       settings=dict(min_duration_ms=1000, offline_expected_qps=5000), queries=1))
    assert s.samples_per_second == 5000 / 0.5
    assert not s.min_duration_met and s.early_stopping_met and s.early_stopping_recommendation == ""
    assert summary_text(s, "SUT", 0, 0).splitlines()[6] == "Samples per second: 10000"


def test_multistream_uses_query_latencies():
    q = np.arange(700, 0, -1) * 1000
    raw = _raw(Scenario.MULTI_STREAM, np.repeat(q, 8) - 5, queries=700, query_latencies_ns=q)
    s = summarize(raw)
    assert s.queries.target == sorted(q)[int(700 * 0.99)]
    assert s.queries.mean_ns == int(q.sum()) // 700
    text = summary_text(s, "SUT", 0, 0)
    assert "99.0th percentile latency (ns) : %d" % s.queries.target in text
    assert "Per-query latency:  \nMin latency (ns)                : 1000\n" in text


def test_tpot_is_cpp_integer_division_and_bad_token_counts_are_zero():
    lat = np.array([100, 100, 100, 100] * 20)
    ttft = np.array([10, 10, 200, 10] * 20)
    n_tok = np.array([4, 1, 4, 5] * 20)  # 1 token: an error, recorded as 0 tokens
    raw = _raw(Scenario.SINGLE_STREAM, lat, first_token_latencies_ns=ttft, tokens_per_sample=n_tok,
               settings=dict(use_token_latencies=True))
    s = summarize(raw)
    assert s.token_count == (4 + 0 + 4 + 5) * 20
    # (100-10)/3 = 30; (100-10)/(0-1) = -90; (100-200)/3 = -33 (toward zero); (100-10)/4 = 22
    assert s.time_per_output_token.min_ns == -90 and s.time_per_output_token.max_ns == 30
    assert s.time_per_output_token.mean_ns == _mean((30 - 90 - 33 + 22) * 20, 80)
    keys = [k for k, _ in detail_result_entries(s)]
    assert keys.index("early_stopping_ttft_result") + 1 == keys.index("early_stopping_tpot_result")
    assert "result_time_per_output_token_99.90_percentile_ns" in keys


def test_token_early_stopping_skips_ttft_when_tpot_fails():
    lat = np.full(600, 10**6)
    raw = _raw(Scenario.SERVER, lat, first_token_latencies_ns=np.full(600, 10), tokens_per_sample=np.full(600, 3),
               settings=dict(use_token_latencies=True, tpot_latency=1, ttft_latency=10**9))
    s = summarize(raw)
    assert not s.early_stopping_met and s.early_stopping_ttft_recommendation == ""
    assert s.early_stopping_tpot_recommendation.startswith(" * Run unsuccessful.")
    assert s.perf_constraints_recommendation == "TPOT constrain not met: Reduce target QPS to improve latency."


def test_summary_footer_and_accuracy_only():
    assert footer(0, 0) == "\nNo warnings encountered during test.\n\nNo errors encountered during test.\n"
    assert footer(1, 1) == "\n1 warning encountered. See detailed log.\n\n1 ERROR encountered. See detailed log.\n"
    assert footer(3, 2) == "\n3 warnings encountered. See detailed log.\n\n2 ERRORS encountered. See detailed log.\n"
    assert summary_text(None, "SUT", ["w"], []) == footer(1, 0)


def test_summary_test_parameters_block():
    s = summarize(_raw(Scenario.SERVER, np.full(600, 1000),
                       settings=dict(server_target_qps=1.5e6, sample_concatenate_permutation=True)))
    text = summary_text(s, "PySUT", 0, 0)
    assert "\ntarget_qps : 1.5e+06\ntarget_latency (ns): 100000000\n" in text
    assert "print_timestamps : 0\n" in text and "accuracy_log_probability : 0\n" in text
    assert ("accuracy_sample_count : 100\nWARNING: sample_concatenate_permutation was set to true. \n"
            "Generated samples per query might be different as the one in the setting.\n") in text
    assert text.startswith("================================================\nMLPerf Results Summary\n"
                           "================================================\nSUT name : PySUT\n"
                           "Scenario : Server\nMode     : PerformanceOnly\n"
                           "Completed samples per second    : 239.60\nResult is : VALID\n")


def test_summarize_is_repeatable_with_a_fresh_finder_per_call():
    raw = _raw(Scenario.SINGLE_STREAM, np.random.default_rng(1).integers(1000, 9000, 5000))
    assert summarize(raw) == summarize(raw)


def test_no_samples_reports_zero_queries():
    raw = _raw(Scenario.SERVER, np.array([0]), queries=0)
    raw = RawRun(**{**raw.__dict__, "sample_latencies_ns": np.zeros(0, np.int64)})
    s = summarize(raw)
    assert s.query_count == 0 and s.sample_count == 0
    assert s.completed_samples_per_sec == float(2**64 - 1) / 2.5  # (size_t)(0 - 1)


def test_raw_run_scenario_must_match_settings():
    raw = _raw(Scenario.SERVER, [1])
    with pytest.raises(ValueError):
        RawRun(**{**raw.__dict__, "scenario": Scenario.OFFLINE})
