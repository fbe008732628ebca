"""Podium's tiny round "tiny-v1": MLPerf rules scaled to a 2-core CPU, with one benchmark, "digits".

"digits" is the small ResNet that `podium train digits` trains, run on the 355-image eval split of
scikit-learn's digits. Its reference accuracy is the trained model's own FP32 top-1, measured at run time,
so the target is relative: `accuracy_threshold(reference=measured)` gives 99 % of it. Durations are one
second per scenario; query counts are the smallest that early stopping can pass at each percentile
(p99 needs 662 MultiStream queries, as in MLPerf; Server keeps a margin with 1000). Seeds are the v6.1
round's (those mlcommons-loadgen 6.0.17 embeds). The data is in rounds/tiny-v1.toml.
"""

from __future__ import annotations

from podium.benchmarks.benchmark import Benchmark
from podium.benchmarks.catalogue import TINY_ROUND, get_round

__all__ = ["DIGITS", "TINY_ROUND", "digits"]

DIGITS = "digits"


def digits() -> Benchmark:
    """The tiny round's only benchmark."""
    return get_round(TINY_ROUND).benchmark(DIGITS)
