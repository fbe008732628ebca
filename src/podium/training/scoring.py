"""Olympic scoring of N timed runs, MLPerf's run counts per benchmark, and the M > N median-window rule.

Training rules §Benchmark results: drop the fastest and the slowest run and average the rest; one non-converged
run may be dropped as the slowest, more make the result invalid; 3D U-Net drops 4 and 4 and tolerates 4
non-converged runs. The score is reported in minutes, as mlperf_logging.result_summarizer does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from podium.training.run_record import RunRecord

# Required result files per benchmark: mlperf_logging.benchmark_meta._ALL_RESULT_FILE_COUNTS (4.1.68) for
# training; the package checker requires exactly this many `result_*.txt` files.
RESULT_FILE_COUNTS = {
    "bert": 10, "dlrm": 5, "dlrm_dcnv2": 10, "dlrmv4": 10, "gnn": 10, "gpt3": 3, "maskrcnn": 5, "minigo": 10,
    "resnet": 5, "retinanet": 5, "rgat": 10, "rnnt": 10, "ssd": 5, "stable_diffusion": 10, "unet3d": 40,
    "llama2_70b_lora": 10, "llama31_405b": 3, "llama31_8b": 10, "flux1": 10, "gpt_oss_20b": 10,
    "deepseekv3_671b": 3, "qwen35_397b_grpo": 3,
}
DEFAULT_RUNS = 5
MS_PER_MINUTE = 60_000


def runs_required(benchmark: str, declared: int | None = None) -> int:
    """How many runs a result needs: the workload's own count, else MLPerf's, else 5."""
    return declared or RESULT_FILE_COUNTS.get(benchmark, DEFAULT_RUNS)


def dropped_per_side(benchmark: str) -> int:
    """Runs dropped at each end, which is also how many non-converged runs are tolerated."""
    return 4 if benchmark == "unet3d" else 1


@dataclass(frozen=True)
class OlympicScore:
    """An olympic mean in minutes, or why there is none; `kept_ms` are the durations averaged."""

    minutes: float | None
    kept_ms: tuple[int, ...]
    non_converged: int
    reason: str = ""

    @property
    def valid(self) -> bool:
        return self.minutes is not None


def olympic_score(durations_ms: Sequence[float | None], benchmark: str) -> OlympicScore:
    """Olympic mean of run durations; None marks a non-converged run (it sorts as infinitely slow)."""
    drop = dropped_per_side(benchmark)
    failed = sum(1 for d in durations_ms if d is None)
    if failed > drop:
        return OlympicScore(None, (), failed, f"{failed} runs did not converge; at most {drop} may be dropped")
    if len(durations_ms) <= 2 * drop:
        return OlympicScore(None, (), failed, f"{len(durations_ms)} runs; olympic scoring needs > {2 * drop}")
    ordered = sorted(math.inf if d is None else d for d in durations_ms)
    kept = ordered[drop:len(ordered) - drop]
    return OlympicScore(sum(kept) / len(kept) / MS_PER_MINUTE, tuple(int(k) for k in kept), failed)


def score_runs(records: Sequence[RunRecord], benchmark: str) -> OlympicScore:
    """Olympic score of records: a run counts only if it converged and its log passed compliance (when checked),
    as the result summarizer counts a failing file as dropped."""
    return olympic_score([r.duration_ms if _counts(r) else None for r in records], benchmark)


def _counts(record: RunRecord) -> bool:
    return record.converged and (record.compliance is None or record.compliance.passed)


@dataclass(frozen=True)
class Window:
    """N consecutive runs (by launch order) and their olympic score."""

    first_index: int
    score: OlympicScore


def median_window(records: Sequence[RunRecord], n: int, benchmark: str) -> Window:
    """M > N runs: score every window of N consecutive runs; submit the median one (training rules §Benchmark
    results). Invalid windows sort as infinitely slow; with an even number of windows the lower median is taken."""
    if len(records) < n:
        raise ValueError(f"{len(records)} runs; a window needs {n}")
    windows = [Window(i, score_runs(records[i:i + n], benchmark)) for i in range(len(records) - n + 1)]
    windows.sort(key=lambda w: (math.inf if w.score.minutes is None else w.score.minutes, w.first_index))
    return windows[(len(windows) - 1) // 2]
