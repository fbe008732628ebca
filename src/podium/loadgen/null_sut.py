"""A system under test that does nothing: completes every sample inside `issue_query`.

Run through the engine it measures the load generator's own overhead (the official LoadGen ships the
same probe as tests/perftests_null_sut.cc).
"""

from __future__ import annotations

from podium.loadgen import session


class NullSUT:
    """Completes each query as soon as it is issued, with an empty response."""

    name = "NullSUT"

    def issue_query(self, ids: list[int], indices: list[int], /, _complete=session.complete) -> None:
        _complete(ids)

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
