"""podium.metrics: the quality metrics benchmarks are scored by, one module per metric, in the `METRICS` registry.

A metric accumulates as it goes, as torchmetrics' `Metric` does: `update(predictions, targets)` once per batch,
`compute()` at the end, `reset()` to start again; its state is small and of fixed size, so that scoring a
50,000-image evaluation never holds every output at once. `METRICS.get(name)` returns a new metric, empty.
Training programs and the inference accuracy step (`podium.inference.accuracy`) both use them. Built-in: `top1`.
Third-party metrics register through the `podium.metrics` entry-point group.

A new metric is one module here, registered with `@METRICS.register(name)` (the registry imports every module here
on its first lookup), plus its test under tests/metrics/. Importing this package imports no numpy; a lookup imports
the metrics.
"""

from __future__ import annotations

from podium.core.registry import Registry
from podium.metrics.base import Metric, MetricInputError, Score

METRICS: Registry[Metric] = Registry("metric", "podium.metrics", package="podium.metrics")

__all__ = ["METRICS", "Metric", "MetricInputError", "Score"]
