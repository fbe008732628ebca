"""The text of mlperf_log_summary.txt, byte for byte as the official LoadGen writes it.

Ports results.cc PerformanceSummary::LogSummary, test_settings_internal.cc
TestSettingsInternal::LogSummary (the "Test Parameters Used" block) and the warning/error footer
of logging.cc AsyncLog::StartLogging. Each summary line is the message followed by its value as a
C++ ostream prints it: integers plain, bools 0/1, doubles `%g` (`ostream_double`), and doubles that
go through utils.cc DoubleToString with fixed decimals (`double_to_string`).

Podium's one addition: a run that failed (samples missing or completed twice, a SUT error, a signal)
says "Result is : INVALID" followed by one "  Run failed : <reason>" line per reason, and recommends
fixing the failure rather than the settings. The official writes VALID for such runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from podium.loadgen.results import PERCENTILES, LatencyStats, PerformanceSummary, double_to_string
from podium.loadgen.settings import EffectiveSettings, Scenario

FAILED_RECOMMENDATION = ("The run failed (not the settings); see \"Run failed\" above and the errors in\n"
                         "   the detailed log. Statistics below cover only the samples that completed.")

__all__ = ["FAILED_RECOMMENDATION", "footer", "ostream_double", "summary_text"]

_RULE = "================================================"


def ostream_double(value: float) -> str:
    """`std::ostream << double` with the default precision 6: printf's %g (x86 nan prints -nan)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:g}"


def summary_text(summary: PerformanceSummary | None, sut_name: str,
                 warnings: int | Sequence[object] = 0, errors: int | Sequence[object] = 0, *,
                 settings: EffectiveSettings | None = None, failures: Sequence[str] = ()) -> str:
    """mlperf_log_summary.txt: the performance summary (none in AccuracyOnly) and the footer.

    `warnings`/`errors` are the counts of warning and error entries in the detail log (or the
    entries themselves). Without a performance summary, a run that failed (`failures`, with its
    `settings`) still gets a verdict: the header, "Result is : INVALID" and the reasons.
    """
    if summary is not None:
        lines = _summary_lines(summary, sut_name)
    elif failures and settings is not None:
        lines = _header(settings, sut_name) + _verdict("INVALID", failures)
    else:
        lines = []
    return "".join(line + "\n" for line in lines) + footer(_count(warnings), _count(errors))


def footer(warnings: int, errors: int) -> str:
    """logging.cc: the warning and error counts closing every summary file."""
    if warnings == 0:
        w = "\nNo warnings encountered during test.\n"
    elif warnings == 1:
        w = "\n1 warning encountered. See detailed log.\n"
    else:
        w = f"\n{warnings} warnings encountered. See detailed log.\n"
    if errors == 0:
        e = "\nNo errors encountered during test.\n"
    elif errors == 1:
        e = "\n1 ERROR encountered. See detailed log.\n"
    else:
        e = f"\n{errors} ERRORS encountered. See detailed log.\n"
    return w + e


def _count(x: int | Sequence[object]) -> int:
    return x if isinstance(x, int) else len(x)


def _header(st: EffectiveSettings, sut_name: str) -> list[str]:
    return [f"{_RULE}\nMLPerf Results Summary\n{_RULE}", f"SUT name : {sut_name}",
            f"Scenario : {st.scenario.value}", f"Mode     : {st.mode.value}"]


def _verdict(validity: str, failures: Sequence[str]) -> list[str]:
    return [f"Result is : {validity}"] + [f"  Run failed : {reason}" for reason in failures]


def _summary_lines(s: PerformanceSummary, sut_name: str) -> list[str]:
    st, sc = s.settings, s.scenario
    lines = _header(st, sut_name) + _headline(s) + _verdict(s.result_validity, s.failures)
    if s.has_perf_constraints:
        lines.append(f"  Performance constraints satisfied : {_yes(s.perf_constraints_met)}")
    lines += [f"  Min duration satisfied : {_yes(s.min_duration_met)}",
              f"  Min queries satisfied : {_yes(s.min_queries_met)}",
              f"  Early stopping satisfied: {_yes(s.early_stopping_met)}"]
    if s.failures:  # the settings were not the problem
        lines += ["Recommendations:", " * " + FAILED_RECOMMENDATION]
    elif not s.valid:
        lines.append("Recommendations:")
        if not s.perf_constraints_met:
            lines.append(" * " + s.perf_constraints_recommendation)
        if not s.min_duration_met:
            lines.append(" * " + s.min_duration_recommendation)
        if not s.min_queries_met:
            lines.append(" * The test exited early, before enough queries were issued.\n"
                         "   See the detailed log for why this may have occurred.")
    if sc is not Scenario.OFFLINE:
        if not st.use_token_latencies:
            lines += ["Early Stopping Result:", s.early_stopping_recommendation]
        else:
            lines += ["TTFT Early Stopping Result:", s.early_stopping_ttft_recommendation,
                      "TPOT Early Stopping Result:", s.early_stopping_tpot_recommendation]
    lines.append(f"\n{_RULE}\nAdditional Stats\n{_RULE}")
    lines += _additional_stats(s)
    lines.append(f"\n{_RULE}\nTest Parameters Used\n{_RULE}")
    lines += _test_parameters(st)
    return lines


def _yes(met: bool) -> str:
    return "Yes" if met else "NO"


def _headline(s: PerformanceSummary) -> list[str]:
    """The metric lines between "Mode" and "Result is" (results.cc LogSummary)."""
    st, sc = s.settings, s.scenario
    pct = double_to_string(s.target_percentile * 100, 1)
    lines = []
    if sc is Scenario.SINGLE_STREAM:
        lines.append(f"{pct}th percentile latency (ns) : {s.samples.target}")
    elif sc is Scenario.MULTI_STREAM:
        lines.append(f"{pct}th percentile latency (ns) : {s.queries.target}")
    elif sc is Scenario.SERVER:
        lines.append(f"Completed samples per second    : {double_to_string(s.completed_samples_per_sec)}")
    else:
        lines.append(f"Samples per second: {ostream_double(s.samples_per_second)}")
    if st.use_token_latencies:
        if sc in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM):
            lines.append(f"{pct}th first token percentile latency (ns) : {s.first_tokens.target}")
        elif sc is Scenario.OFFLINE:
            lines.append(f"Tokens per second: {ostream_double(s.tokens_per_second)}")
        else:
            lines.append(f"Completed tokens per second: {double_to_string(s.completed_tokens_per_second)}")
    if st.infer_token_latencies:
        if sc is Scenario.OFFLINE:
            lines.append(f"Tokens per second (inferred): {ostream_double(s.inferred_tokens_per_second)}")
        elif sc is Scenario.SERVER:
            lines.append("Completed tokens per second (inferred): "
                         + double_to_string(s.inferred_completed_tokens_per_second))
    return lines


def _latency_block(stats: LatencyStats, min_label: str, max_label: str, mean_label: str,
                   pct_label: str) -> list[str]:
    return [f"{min_label}{stats.min_ns}", f"{max_label}{stats.max_ns}", f"{mean_label}{stats.mean_ns}"] + [
        f"{double_to_string(p * 100)}{pct_label}{v}" for p, v in zip(PERCENTILES, stats.percentiles)]


def _plain_latencies(stats: LatencyStats) -> list[str]:
    return _latency_block(stats, "Min latency (ns)                : ", "Max latency (ns)                : ",
                          "Mean latency (ns)               : ", " percentile latency (ns)   : ")


def _additional_stats(s: PerformanceSummary) -> list[str]:
    st, sc = s.settings, s.scenario
    lines = []
    if sc is Scenario.SINGLE_STREAM:
        lines += [f"QPS w/ loadgen overhead         : {double_to_string(s.qps_with_loadgen_overhead)}",
                  f"QPS w/o loadgen overhead        : {double_to_string(s.qps_without_loadgen_overhead)}",
                  ""]
    elif sc is Scenario.SERVER:
        lines.append(f"Scheduled samples per second : {double_to_string(s.scheduled_samples_per_sec)}")
    else:
        if sc is Scenario.MULTI_STREAM:
            lines += ["Per-query latency:  "] + _plain_latencies(s.queries)
    if sc is not Scenario.MULTI_STREAM:
        lines += _plain_latencies(s.samples)
    if st.use_token_latencies:
        lines += _token_stats(s)
    return lines


def _token_stats(s: PerformanceSummary) -> list[str]:
    sc = s.scenario
    lines = [""]
    if sc is Scenario.SINGLE_STREAM:
        lines += ["TPS w/ loadgen overhead         : "
                  + double_to_string(s.token_throughput_with_loadgen_overhead),
                  "TPS w/o loadgen overhead        : "
                  + double_to_string(s.tokens_per_second_without_loadgen_overhead)]
    elif sc is Scenario.SERVER:
        lines.append("Completed tokens per second                 : "
                     + double_to_string(s.completed_tokens_per_second))
    if sc is Scenario.OFFLINE:
        return lines
    lines += _latency_block(s.first_tokens, "Min First Token latency (ns)                : ",
                            "Max First Token latency (ns)                : ",
                            "Mean First Token latency (ns)               : ",
                            " percentile first token latency (ns)   : ")
    lines.append("")
    lines += _latency_block(s.time_per_output_token, "Min Time per Output Token (ns)                : ",
                            "Max Time per Output Token (ns)                : ",
                            "Mean Time per Output Token (ns)               : ",
                            " percentile time to output token (ns)   : ")
    return lines


def _test_parameters(st: EffectiveSettings) -> list[str]:
    """test_settings_internal.cc TestSettingsInternal::LogSummary."""
    lines = [f"samples_per_query : {st.samples_per_query}", f"target_qps : {ostream_double(st.target_qps)}"]
    if not st.use_token_latencies:
        lines.append(f"target_latency (ns): {st.target_latency_ns}")
    else:
        lines += [f"ttft_latency (ns): {st.ttft_latency_ns}", f"tpot_latency (ns): {st.tpot_latency_ns}"]
    b = int  # bools print as 0/1
    lines += [
        f"max_async_queries : {st.max_async_queries}",
        f"min_duration (ms): {st.min_duration_ms}", f"max_duration (ms): {st.max_duration_ms}",
        f"min_query_count : {st.min_query_count}", f"max_query_count : {st.max_query_count}",
        f"qsl_rng_seed : {st.qsl_rng_seed}", f"sample_index_rng_seed : {st.sample_index_rng_seed}",
        f"schedule_rng_seed : {st.schedule_rng_seed}", f"accuracy_log_rng_seed : {st.accuracy_log_rng_seed}",
        f"accuracy_log_probability : {ostream_double(st.accuracy_log_probability)}",
        f"accuracy_log_sampling_target : {st.accuracy_log_sampling_target}",
        f"print_timestamps : {b(st.print_timestamps)}",
        f"performance_issue_unique : {b(st.performance_issue_unique)}",
        f"performance_issue_same : {b(st.performance_issue_same)}",
        f"performance_issue_same_index : {st.performance_issue_same_index}",
        f"performance_sample_count : {st.performance_sample_count}",
        f"accuracy_sample_count : {st.accuracy_sample_count}"]
    if st.sample_concatenate_permutation:
        lines.append("WARNING: sample_concatenate_permutation was set to true. \n"
                     "Generated samples per query might be different as the one in the setting.\n"
                     "Check the generated_samples_per_query line in the detailed log for the real\n"
                     "samples_per_query value")
    return lines
