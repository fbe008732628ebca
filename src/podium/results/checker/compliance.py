"""The compliance audits (TEST01, TEST04, TEST05): their official settings, and their verdicts computed from
LoadGen's logs as the official verify scripts decide them, with the text of their verify_*.txt reports.

`podium.inference.audit` writes the reports after an audit run; `podium check` computes them again from a
package's files, so that a report that does not say what the logs beside it say (an edited report, a changed
log) fails. The rules (compliance/TEST0x/ of mlcommons/inference; reference inference_suite.md §3):

    TEST01  audit.config: PerformanceOnly, accuracy_log_rng_seed 720381539243781796 and a per-benchmark
            accuracy_log_sampling_target, so that LoadGen logs a random subset of performance-mode responses.
            verify_accuracy: every logged response equals the accuracy run's for that sample ("TEST PASS");
            where some differ, the benchmark's metric over those samples (baseline_accuracy.txt, from the
            accuracy run; compliance_accuracy.txt, from the audit) may differ by at most the variant's delta
            (1 %, 0.1 % for 99.9 % targets). verify_performance: the score within ±10 % of the submission's
            (±20 % when SingleStream <= 0.2 ms or MultiStream <= 1.6 ms); Server target latencies equal.
    TEST04  one sample issued again and again (performance_issue_same, index 3): no faster than the submission
            by more than 10 % (20 % where the official script's threshold rule says, see `_threshold`).
    TEST05  the round's alternative seeds (test05 = 1; rounds before v5.0): no slower than the submission by more
            than 5 % (20 % when SingleStream <= 0.2 ms or MultiStream <= 1.6 ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AUDIT_TESTS", "ResponseComparison", "Verdict", "accuracy_delta", "allowed_delta_percent",
           "audit_config", "compare_responses", "differing_lines", "expected_settings", "sampling_target", "score",
           "verdict_lines", "verify_accuracy", "verify_performance"]

AUDIT_TESTS = ("TEST01", "TEST04", "TEST05")
TEST01_ACCURACY_LOG_SEED = 720381539243781796
# compliance/TEST01/<benchmark>/audit.config: accuracy_log_sampling_target, by Podium's benchmark names (the
# official folders: resnet50, retinanet, 3d-unet, ...; ssd-* and mobilenet from the trees of their rounds).
TEST01_SAMPLING_TARGET = {
    "resnet50": 4096, "resnet": 4096, "mobilenet": 4096, "ssd-mobilenet": 1024, "ssd-resnet34": 256,
    "retinanet": 256, "3d-unet": 64, "bert": 4096, "dlrm": 4096, "dlrm-v2": 4096, "rnnt": 4096, "gptj": 4096,
    "gpt-j": 4096, "rgat": 4096, "whisper": 4096, "pointpainting": 256, "stable-diffusion-xl": 128, "yolo": 64,
    "wan-2.2-t2v-a14b": 50,
}
TEST04_SAME_INDEX = 3
TEST04_MIN_QUERY_COUNT = {("stable-diffusion-xl", "Offline"): 500, ("wan-2.2-t2v-a14b", "Offline"): 20,
                          ("wan-2.2-t2v-a14b", "SingleStream"): 20}
SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")
# The detail-log key each scenario is scored by (verify_performance.py RESULT_FIELD).
SCORE_KEYS = {"Offline": "result_samples_per_second", "SingleStream": "early_stopping_latency_ss",
              "MultiStream": "early_stopping_latency_ms", "Server": "result_completed_samples_per_sec"}
_HEADER = "# The format of this config file is 'key = value'; '*' matches any model or scenario.\n"


# ---------------------------------------------------------------- settings

def sampling_target(benchmark: str) -> int:
    """TEST01's accuracy_log_sampling_target for `benchmark`; KeyError when no official audit.config has one."""
    return TEST01_SAMPLING_TARGET[benchmark]


def audit_config(test: str, benchmark: str, test05_seeds: Mapping[str, int] | None = None) -> str:
    """The official audit.config of `test` for `benchmark`, as LoadGen reads it (model "*")."""
    if test == "TEST01":
        return (f"{_HEADER}*.*.mode = 2\n*.*.accuracy_log_rng_seed = {TEST01_ACCURACY_LOG_SEED}\n"
                f"*.*.accuracy_log_sampling_target = {sampling_target(benchmark)}\n")
    if test == "TEST04":
        lines = [f"*.{s}.{key} = {value}" for s in SCENARIOS
                 for key, value in (("mode", 2), ("performance_issue_unique", 0), ("performance_issue_same", 1),
                                    ("performance_issue_same_index", TEST04_SAME_INDEX))]
        lines += [f"{m}.{s}.min_query_count = {n}" for (m, s), n in TEST04_MIN_QUERY_COUNT.items()]
        return _HEADER + "\n".join(lines) + "\n"
    if test == "TEST05":
        # before v3.0 the alternative seeds were in this file, not in mlperf.conf: stated here in every round
        seeds = [f"*.*.test05_{name} = {value}" for name, value in (test05_seeds or {}).items()]
        return _HEADER + "\n".join(["*.*.test05 = 1", *seeds]) + "\n"
    raise KeyError(test)


def expected_settings(test: str, benchmark: str, test05_seeds: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Detail-log keys (effective_*) an audit's performance run must show, and their values: the proof that it
    ran with the audit's settings (a copy of the submission's run does not)."""
    out: dict[str, Any] = {"effective_test_mode": "PerformanceOnly"}
    if test == "TEST01":
        out.update(effective_accuracy_log_rng_seed=TEST01_ACCURACY_LOG_SEED,
                   effective_accuracy_log_sampling_target=sampling_target(benchmark))
    elif test == "TEST04":
        out.update(effective_performance_issue_unique=False, effective_performance_issue_same=True,
                   effective_performance_issue_same_index=TEST04_SAME_INDEX)
    elif test == "TEST05":  # with test05 on, LoadGen runs (and logs as effective) the alternative seeds
        out.update({f"effective_{name}": value for name, value in (test05_seeds or {}).items()})
    return out


# ---------------------------------------------------------------- verify_performance

@dataclass(frozen=True)
class Verdict:
    """A verify script's outcome and its report, line for line as the official script prints it."""

    passed: bool
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def score(detail: Mapping[str, Any]) -> float | None:
    """The scenario's score in a detail log (ns for the latency scenarios); None when absent."""
    value = detail.get(SCORE_KEYS.get(str(detail.get("effective_scenario")), ""))
    return None if value is None or isinstance(value, (bool, str)) else float(value)


def verify_performance(test: str, reference: Mapping[str, Any], audit: Mapping[str, Any], *,
                       reference_path: str = "reference", audit_path: str = "test") -> Verdict:
    """The audit's performance run against the submission's (both detail logs), as TEST0x/verify_performance.py."""
    lines = ["Verifying performance."]
    for log, path, who in ((reference, reference_path, "Reference"), (audit, audit_path, "Test")):
        if log.get("result_validity") != "VALID" or score(log) is None:
            why = f"Invalid results in {path}" if test == "TEST01" else f"{who} results are invalid"
            return Verdict(False, (*lines, f"TEST FAIL: {why}"))
    scenario = str(reference.get("effective_scenario"))
    if audit.get("effective_scenario") != scenario:
        return Verdict(False, (*lines, "TEST FAIL: Test and reference scenarios do not match!"))
    latency = "effective_target_latency_ns"
    if scenario == "Server" and audit.get(latency) != reference.get(latency):
        return Verdict(False, (*lines, "TEST FAIL: Server target latency mismatch"))
    ref, got = _scores(test, scenario, reference, audit)
    label = "Reference score = {}" if test == "TEST01" else "reference score = {}"
    lines += [label.format(ref), ("Test score = {}" if test == "TEST01" else "test score = {}").format(got)]
    ok = _within(test, scenario, ref, got)
    return Verdict(ok, (*lines, "TEST PASS" if ok else "TEST FAIL: Test score invalid"))


def _scores(test: str, scenario: str, reference: Mapping[str, Any], audit: Mapping[str, Any]) -> tuple[float, float]:
    ref, got = score(reference), score(audit)
    assert ref is not None and got is not None   # checked by the caller
    if test == "TEST04" and scenario in ("SingleStream", "MultiStream"):
        return 1e9 / ref, 1e9 / got   # TEST04's script compares samples per second in every scenario
    return ref, got


def _threshold(test: str, scenario: str, ref: float) -> float:
    """The official scripts' tolerance. TEST04 applies the ns bounds (0.2 ms, 1.6 ms) to its 1e9/latency score,
    so that nearly every stream run gets 20 %; Podium keeps the official rule, whose verdicts the checker trusts."""
    base = {"TEST01": 0.10, "TEST04": 0.10, "TEST05": 0.05}[test]
    short = (scenario == "SingleStream" and ref <= 200_000) or (scenario == "MultiStream" and ref <= 1_600_000)
    return 0.20 if short else base


def _within(test: str, scenario: str, ref: float, got: float) -> bool:
    t = _threshold(test, scenario, ref)
    if test == "TEST01":
        return ref * (1 - t) <= got <= ref * (1 + t)
    if test == "TEST04":
        return got < ref * (1 + t)
    if scenario in ("Offline", "Server"):   # TEST05: throughput no lower, latency no higher
        return got > ref * (1 - t)
    return got < ref * (1 + t)


# ---------------------------------------------------------------- verify_accuracy (TEST01)

@dataclass(frozen=True)
class ResponseComparison:
    """The counts TEST01/verify_accuracy.py prints; `differing` names the samples whose responses differ."""

    acc_entries: int
    acc_duplicates: int
    acc_mismatches: int
    perf_entries: int
    perf_matched: int
    perf_mismatches: int
    perf_missing: int
    differing: tuple[int, ...] = ()


def compare_responses(accuracy: Sequence[Mapping[str, Any]], performance: Sequence[Mapping[str, Any]]) \
        -> ResponseComparison:
    """Each response the performance run logged against the accuracy run's for the same sample (whole
    responses: the official script compares only their first element, which a wrong box list can share)."""
    first: dict[int, str] = {}
    duplicates = mismatches = 0
    for entry in accuracy:
        idx, data = int(entry["qsl_idx"]), str(entry["data"]).lower()
        if idx in first:
            duplicates += 1
            mismatches += first[idx] != data
        else:
            first[idx] = data
    matched = missing = 0
    differing: list[int] = []
    for entry in performance:
        idx = int(entry["qsl_idx"])
        if idx not in first:
            missing += 1
            continue
        matched += 1
        if first[idx] != str(entry["data"]).lower():
            differing.append(idx)
    return ResponseComparison(len(accuracy), duplicates, mismatches, len(performance), matched, len(differing),
                              missing, tuple(sorted(set(differing))))


def verify_accuracy(c: ResponseComparison) -> Verdict:
    """TEST01/verify_accuracy.py's report: PASS when no logged response differs and at least one was compared."""
    ok = c.perf_mismatches == 0 and c.perf_matched > 0
    return Verdict(ok, (
        "Verifying accuracy. This might take a while...", "Reading accuracy mode results...",
        "Reading performance mode results...", f"num_acc_log_entries = {c.acc_entries}",
        f"num_acc_log_duplicate_keys = {c.acc_duplicates}", f"num_acc_log_data_mismatch = {c.acc_mismatches}",
        f"num_perf_log_entries = {c.perf_entries}", f"num_perf_log_qsl_idx_match = {c.perf_matched}",
        f"num_perf_log_data_mismatch = {c.perf_mismatches}", f"num_missing_qsl_idxs = {c.perf_missing}",
        "TEST PASS" if ok else "TEST FAIL", ""))


def allowed_delta_percent(variant: Any, metric: str) -> float:
    """How far TEST01's two accuracies may differ, in percent: the variant's own (checker accuracy-delta-perc),
    else 0.1 for 99.9 % targets and 1 otherwise (submission checker get_delta_perc)."""
    own = dict(getattr(variant, "delta_percent", None) or {})
    if metric in own:
        return float(own[metric])
    return 0.1 if "99.9" in str(getattr(variant, "name", "")) else 1.0


def accuracy_delta(baseline: float, compliance: float) -> float | None:
    """|1 - baseline / compliance| in percent, as the checker computes it; None when either is 0 (a failure)."""
    if not baseline or not compliance:
        return None
    return abs(1 - baseline / compliance) * 100


def verdict_lines(text: str) -> list[str]:
    """A report's lines without surrounding blanks, for comparing a file with a recomputed report."""
    return [line.strip() for line in text.strip().splitlines()]


def differing_lines(written: str, computed: Verdict, *, ignore: Iterable[str] = ("TEST FAIL: Invalid",)) -> list[str]:
    """Lines of the computed report that the written one lacks (paths in "Invalid results in" lines aside)."""
    have = verdict_lines(written)
    return [line for line in verdict_lines(computed.text)
            if line not in have and not any(line.startswith(p) for p in ignore)]
