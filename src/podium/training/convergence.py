"""RCP-style convergence check: did the runs converge no faster than the reference allows?

Statistics as mlperf_logging.rcp_checker (4.1.68) computes them, which the rules name the source of truth:
reference mean = olympic mean (drop 1 and 1; 4 and 4 for unet3d); stdev = population stdev of the *full*
reference list (the rules' worked example uses the olympic list; the code does not: reference §4.1); the minimum
acceptable submission mean is found by bisection on a one-sided two-sample t-test (alpha 0.05, equal variances)
with the submission's n = runs - 2. A submission passes if its olympic mean >= that minimum; one faster than the
reference mean but still passing has its score scaled by reference_mean / submission_mean.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from podium.training.scoring import dropped_per_side

ALPHA = 0.05
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ReferenceStats:
    """A reference's olympic mean, population stdev, and the fastest submission mean it allows."""

    mean: float
    stdev: float
    min_acceptable_mean: float

    @property
    def max_speedup(self) -> float:
        return self.mean / self.min_acceptable_mean


@dataclass(frozen=True)
class ConvergenceVerdict:
    """Whether the runs converged no faster than allowed, and the score scaling that follows."""

    passed: bool
    submission_mean: float | None
    reference: ReferenceStats
    scaling_factor: float
    message: str


def score_scaling(passed: bool | None, scaling_factor: float | None) -> float:
    """The factor a published time to train carries (training rules §RCP): the verdict's scaling when the runs
    passed the check faster than the reference mean, else 1. The one place this rule is written: `podium train`,
    `podium run`, the tables and the submission's scaling.json all call it."""
    number = isinstance(scaling_factor, (int, float)) and not isinstance(scaling_factor, bool)
    return float(scaling_factor) if passed and number and scaling_factor > 1 else 1.0


def published_minutes(score_minutes: float | None, passed: bool | None, scaling_factor: float | None
                      ) -> float | None:
    """The time to train as published: the olympic minutes times `score_scaling` (None without a score)."""
    return None if score_minutes is None else score_minutes * score_scaling(passed, scaling_factor)


def _olympic_mean(values: Sequence[float], drop: int) -> float:
    ordered = sorted(values)
    return statistics.fmean(ordered[drop:len(ordered) - drop])


def _one_sided_p(subm_mean: float, ref_mean: float, stdev: float, n_subm: int, n_ref: int) -> float:
    from scipy import stats

    t, p = stats.ttest_ind_from_stats(subm_mean, stdev, n_subm, ref_mean, stdev, n_ref, equal_var=True)
    return p / 2 if t < 0 else 1 - p / 2


def reference_stats(reference: Sequence[float], runs: int, benchmark: str) -> ReferenceStats:
    """Mean, stdev and minimum acceptable submission mean of a reference list, for `runs` submission runs."""
    drop = dropped_per_side(benchmark)
    mean = _olympic_mean(reference, drop)
    stdev = statistics.pstdev(reference)
    if stdev == 0:
        return ReferenceStats(mean, stdev, mean)
    n_ref = len(reference) - 2 * drop
    # rcp_checker._find_min_acceptable_mean passes (candidate, n_ref) and (reference, runs - 2): the sample
    # sizes are crossed relative to the means; kept as in the official tool so the verdicts agree.
    low, high = 0.0, mean
    while high - low > TOLERANCE:
        mid = (low + high) / 2
        if _one_sided_p(mid, mean, stdev, n_ref, runs - 2) > ALPHA:
            high = mid
        else:
            low = mid
    return ReferenceStats(mean, stdev, (low + high) / 2)


def check_convergence(to_converge: Sequence[float | None], reference: Sequence[float],
                      benchmark: str) -> ConvergenceVerdict:
    """Compare the runs' epochs (or samples) to converge with the reference; None = did not converge."""
    drop = dropped_per_side(benchmark)
    ref = reference_stats(reference, len(to_converge), benchmark)
    failed = sum(1 for v in to_converge if v is None)
    if failed > drop:
        return ConvergenceVerdict(False, None, ref, 1.0, f"insufficient convergence: {failed} runs failed")
    values = [1e9 if v is None else v for v in to_converge]   # as rcp_checker: a failed run counts as 1e9
    mean = _olympic_mean(values, drop)
    scaling = max(1.0, ref.mean / mean)
    if mean >= ref.min_acceptable_mean:
        return ConvergenceVerdict(True, mean, ref, scaling, f"mean {mean:.4g} >= minimum {ref.min_acceptable_mean:.4g}"
                                  + (f"; score scaled by {scaling:.4f}" if scaling > 1 else ""))
    return ConvergenceVerdict(False, mean, ref, scaling,
                              f"converged too fast: mean {mean:.4g} < minimum {ref.min_acceptable_mean:.4g}")
