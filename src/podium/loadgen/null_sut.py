"""A system under test that does nothing: completes every sample inside `issue_query`.

Run through the engine it measures the load generator's own overhead (the official LoadGen ships the
same probe as tests/perftests_null_sut.cc).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from podium.loadgen import session


class NullSUT:
    """Completes each sample as soon as it is issued, one completion per sample, with an empty response.

    One completion per sample (not one per query) keeps the probe honest in Offline: the engine's
    per-completion cost is what gets measured, as a SUT answering samples one by one would see it.
    """

    name = "NullSUT"

    def issue_query(self, ids: Sequence[int], indices: list[int], /,
                    _complete: Callable[[Sequence[int]], None] = session.complete) -> None:
        for i in ids:
            _complete((i,))

    def flush_queries(self) -> None:
        pass


class NullQSL:
    """A sample library of `total` samples whose loading costs nothing."""

    name = "NullQSL"

    def __init__(self, total: int = 1024, performance: int | None = None) -> None:
        self.total_sample_count = total
        self.performance_sample_count = total if performance is None else performance

    def load_samples(self, indices: list[int], /) -> None:
        pass

    def unload_samples(self, indices: list[int], /) -> None:
        pass
