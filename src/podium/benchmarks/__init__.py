"""The benchmark registry: every MLPerf Inference round (v0.5 ... v6.1) and Podium's tiny round, as data.

Round files live in `rounds/*.toml` (one per round; a round inherits from the one before and states what
changed). From them come the engine's mlperf.conf, the submission checker's constants and
docs/benchmarks.md (`python -m podium.benchmarks.generate`), so none of the three can drift.

    from podium.benchmarks import get_round, find_benchmark
    b = get_round("v6.1").benchmark("resnet50")     # or find_benchmark("resnet") / ("bert-99.9")
    b.settings(Scenario.SERVER)                      # {"target_latency": "15", "min_duration": "600000", ...}
"""

from __future__ import annotations

from podium.benchmarks.benchmark import INTERACTIVE, Benchmark, Category, Target, Variant
from podium.benchmarks.catalogue import (
    LATEST_ROUND,
    TINY_ROUND,
    Round,
    Seeds,
    find_benchmark,
    get_round,
    load_rounds,
    rounds,
)
from podium.benchmarks.checker_constants import checker_constants
from podium.benchmarks.docs import render_docs, render_docs_table
from podium.benchmarks.mlperf_conf import render_mlperf_conf
from podium.loadgen.settings import Scenario

__all__ = [
    "Benchmark",
    "Category",
    "INTERACTIVE",
    "LATEST_ROUND",
    "Round",
    "Scenario",
    "Seeds",
    "TINY_ROUND",
    "Target",
    "Variant",
    "checker_constants",
    "find_benchmark",
    "get_round",
    "load_rounds",
    "render_docs",
    "render_docs_table",
    "render_mlperf_conf",
    "rounds",
]
