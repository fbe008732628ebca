"""The issue loop of each scenario: when each query of a pre-generated schedule goes to the SUT.

One loop per scenario (issue_query_controller.cc IssueQueriesInternal + QueryScheduler):
- `ServerLoop`: each query at start + its scheduled offset, never waiting for completions;
  `CoalescedServerLoop` (server_coalesce_queries) sends every overdue query in one call;
- `OfflineLoop`: every query at the start (one in performance mode), its argument built before the clock;
- `StreamLoop` (SingleStream, MultiStream): a query when the previous one completed.

A loop records each query's issue time in `issued` (absolute, from the injected clock), checks the end
conditions as the official does after each issue, and reads completions from the pass's
`CompletionLedger`. It runs on the calling thread; the SUT's `issue` functions are called inline.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from podium.loadgen.clock import Clock
from podium.loadgen.ledger import CompletionLedger
from podium.loadgen.schedule import QuerySchedule
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario

__all__ = ["CoalescedServerLoop", "Failed", "IssueFn", "IssueLoop", "IssueOneFn", "OfflineLoop", "Prepare",
           "ServerLoop", "Stalled", "StreamLoop", "loop_for"]

IssueFn = Callable[[Sequence[int], list[int]], None]  # (sample ids, QSL indices)
IssueOneFn = Callable[[int, int], None]  # one sample: (sample id, QSL index)
# Offline: (build the SUT's argument from ids and indices before the clock starts, issue it)
Prepare = tuple[Callable[[Sequence[int], list[int]], object], Callable[[object], None]]
Messages = list[tuple[str, str]]  # (detail log key, text)

# How many queries' times are turned into Python ints at a time in the loops.
_CHUNK = 4096
_ZERO = (0,)
_NATURAL_END = ("generic_message", "Ending naturally: Minimum query count and test duration met.")


class Stalled(Exception):
    """A SingleStream/MultiStream query did not complete within the allowed wait."""

    def __init__(self, q: int) -> None:
        super().__init__(f"query {q - 1} did not complete; issuing stopped")


class Failed(Exception):
    """The SUT reported a failure (`CompletionLedger.fail`) while the issuing thread waited or issued."""


class IssueLoop:
    """What every scenario's loop shares: the schedule, the SUT's issue functions, the clock, the issue times.

    `run` issues from `start_ns` and returns (ran out of generated queries, queries issued); `n_issued`
    stays right when it raises (a SUT that raised, a stall, a Ctrl-C), so the pass keeps what was issued.
    """

    def __init__(self, settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
                 ledger: CompletionLedger, clock: Clock, issue: IssueFn, issue_one: IssueOneFn) -> None:
        self.settings, self.mode, self.schedule, self.base, self.ledger = settings, mode, schedule, seq_base, ledger
        self.perf = mode is not Mode.ACCURACY  # the end conditions apply to performance passes only
        self.now, self.wait_until = clock.now_ns, clock.wait_until
        self.issue, self.issue_one = issue, issue_one
        self.issued = array("q", _ZERO) * schedule.query_count  # absolute issue time per query
        self.n_issued = 0

    def prepare(self) -> None:
        """Work done before the clock starts (none but Offline's)."""

    def run(self, start_ns: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        raise NotImplementedError

    def query_ids(self, q: int) -> tuple[range, list[int]]:
        """A query's sample ids (consecutive: a range, O(1) memory) and QSL indices."""
        b, e = self.schedule.query_slice(q)
        return range(self.base + b, self.base + e), self.schedule.sample_index[b:e].tolist()

    def raise_if_failed(self) -> None:
        if self.ledger.failure is not None:
            raise Failed(self.ledger.failure)

    def max_checks(self, n_issued: int, elapsed_ns: int, messages: Messages) -> bool | None:
        """max_query_count and max_duration (IssueQueriesInternal); False: stop, None: keep going."""
        s = self.settings
        if s.max_query_count and n_issued >= s.max_query_count:
            messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Max query count reached. "
                             f"query_count {n_issued}"))
            return False
        if s.max_duration_ms and elapsed_ns > s.max_duration_ms * 1_000_000:
            messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Max test duration reached. "
                             f"duration_ns {elapsed_ns}"))
            return False
        return None


class StreamLoop(IssueLoop):
    """SingleStream/MultiStream: issue a query when the previous one completed (QueryScheduler)."""

    def run(self, start_ns: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        """The end conditions are checked after each issue, as IssueQueriesInternal does; the cheap
        comparison runs inline and the bookkeeping only when one of them may hold."""
        s, sched = self.settings, self.schedule
        perf = self.perf
        spq, n = sched.samples_per_query, sched.query_count
        min_q, target_ns = s.min_query_count, s.target_duration_ms * 1_000_000
        limits = bool(s.max_query_count or s.max_duration_ms)
        issue, issue_one, issued, base, done = self.issue, self.issue_one, self.issued, self.base, self.ledger.done
        now = self.now
        q = 0
        try:
            for c0 in range(0, n, _CHUNK):
                indices = sched.sample_index[c0 * spq:(c0 + _CHUNK) * spq].tolist()
                for k in range(min(_CHUNK, n - c0)):
                    b = q * spq
                    if q and (not done[b - 1] if spq == 1 else 0 in done[b - spq:b]):
                        self._wait_query(b - spq, b, q, timeout_s)
                    t = now()
                    issued[q] = t
                    q += 1
                    if spq == 1:
                        issue_one(base + b, indices[k])
                    else:
                        issue(range(base + b, base + b + spq), indices[k * spq:(k + 1) * spq])
                    if perf and ((q >= min_q and t - start_ns >= target_ns) or limits):
                        stop = self._end_check(q, t - start_ns, min_q, target_ns, messages)
                        if stop is not None:
                            return stop, q
        finally:
            self.n_issued = q
        return True, n

    def _wait_query(self, b: int, e: int, q: int, timeout_s: float) -> None:
        """Block until samples [b, e) completed; a completion from another thread wakes us."""
        if not self.ledger.wait_samples(b, e, timeout_s):
            self.raise_if_failed()
            raise Stalled(q)

    def _end_check(self, n_issued: int, elapsed_ns: int, min_q: int, target_ns: int,
                   messages: Messages) -> bool | None:
        """The per-query end conditions of IssueQueriesInternal (non-Server); None: keep going."""
        if n_issued >= min_q and elapsed_ns >= target_ns:
            messages.append(_NATURAL_END)
            return False
        return self.max_checks(n_issued, elapsed_ns, messages)


class OfflineLoop(IssueLoop):
    """Offline: every query at the start (one in performance mode, a remainder in accuracy mode).

    The SUT's argument (e.g. the list of QuerySample objects the drop-in API hands over) is built with
    the rest of the pre-generated schedule, before the clock starts (`prepare`).
    """

    def __init__(self, settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
                 ledger: CompletionLedger, clock: Clock, issue: IssueFn, issue_one: IssueOneFn,
                 prepare: Prepare | None = None) -> None:
        super().__init__(settings, mode, schedule, seq_base, ledger, clock, issue, issue_one)
        self._build, self._issue_prepared = prepare or (_as_arguments, lambda a: _issue_arguments(issue, a))
        self._prepared: list[object] = []

    def prepare(self) -> None:
        self._prepared = [self._build(*self.query_ids(q)) for q in range(self.schedule.query_count)]

    def run(self, start_ns: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        for q, prepared in enumerate(self._prepared):
            self.issued[q] = self.now()
            self.n_issued = q + 1
            self._issue_prepared(prepared)
            if self.perf:
                messages.append(_NATURAL_END)
                return False, q + 1
        return True, len(self._prepared)


def _as_arguments(ids: Sequence[int], indices: list[int]) -> object:
    return ids, indices


def _issue_arguments(issue: IssueFn, arguments: object) -> None:
    ids, indices = cast(tuple[Sequence[int], list[int]], arguments)  # what _as_arguments built
    issue(ids, indices)


class ServerLoop(IssueLoop):
    """Server: issue each query at start + its scheduled offset; never wait for completions."""

    def run(self, start_ns: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        s, sched = self.settings, self.schedule
        checks = self.perf and bool(s.max_async_queries or s.max_query_count or s.max_duration_ms)
        issue_one, now, wait = self.issue_one, self.now, self.wait_until
        issued, q, base = self.issued, 0, self.base
        try:
            for c0 in range(0, sched.query_count, _CHUNK):
                self.raise_if_failed()
                deadlines = (sched.scheduled_ns[c0:c0 + _CHUNK] + start_ns).tolist()
                indices = sched.sample_index[c0:c0 + _CHUNK].tolist()
                for deadline, index, i in zip(deadlines, indices, range(base + c0, base + c0 + _CHUNK)):
                    t = now()
                    if t < deadline:
                        # A failure the SUT reported ends issuing; checked only when there is time to
                        # spare (and per chunk above), so a saturated loop pays nothing for it.
                        self.raise_if_failed()
                        t = wait(deadline)
                    issued[q] = t
                    q += 1
                    issue_one(i, index)
                    if checks and self.server_checks(q, t - start_ns, messages):
                        return False, q
        finally:
            self.n_issued = q
        return False, q

    def server_checks(self, q: int, elapsed_ns: int, messages: Messages) -> bool:
        """max_async_queries, then the max checks; True: stop issuing."""
        s = self.settings
        if s.max_async_queries:
            outstanding = q - self.ledger.completed()
            if outstanding > s.max_async_queries:
                messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Too many outstanding "
                                 f"queries. issued {q} outstanding {outstanding}"))
                return True
        return self.max_checks(q, elapsed_ns, messages) is not None


class CoalescedServerLoop(ServerLoop):
    """server_coalesce_queries: overdue queries go out in one IssueQuery, each keeping its schedule."""

    def run(self, start_ns: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        sched = self.schedule
        deadlines = sched.scheduled_ns + start_ns
        n, q, issued, base = sched.query_count, 0, self.issued, self.base
        now, wait = self.now, self.wait_until
        while q < n:
            t = now()
            self.raise_if_failed()
            if t < deadlines[q]:
                t = wait(int(deadlines[q]))
            last = int(np.searchsorted(deadlines, t, side="right"))  # every query due by now
            last = max(last, q + 1)
            for k in range(q, last):
                issued[k] = t
            ids = list(range(base + q, base + last))
            idx = sched.sample_index[q:last].tolist()
            q = last
            self.n_issued = q
            self.issue(ids, idx)
            if self.perf and self.server_checks(q, t - start_ns, messages):
                return False, q
        return False, n


def loop_for(settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
             ledger: CompletionLedger, clock: Clock, issue: IssueFn, issue_one: IssueOneFn,
             prepare: Prepare | None = None) -> IssueLoop:
    """The issue loop of `settings.scenario`."""
    args = (settings, mode, schedule, seq_base, ledger, clock, issue, issue_one)
    if settings.scenario is Scenario.OFFLINE:
        return OfflineLoop(*args, prepare=prepare)
    if settings.scenario is Scenario.SERVER:
        return CoalescedServerLoop(*args) if settings.requested.server_coalesce_queries else ServerLoop(*args)
    return StreamLoop(*args)
