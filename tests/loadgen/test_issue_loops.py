"""The issue loops of the four scenarios under a fake clock: exact issue times and query order, deterministic.

A fake clock (`IssuePass(clock=...)`) makes time move only when the loop waits for a deadline or the SUT
"works" (advances it by its service time): Server schedule adherence, SingleStream/MultiStream chaining and
the Offline query are then exact equalities, independent of the machine (issue 11, item 6).
"""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from podium.loadgen import schedule
from podium.loadgen.issuer import IssuePass, PassOutcome
from podium.loadgen.settings import Mode, Scenario, TestSettings, derive

TOTAL = 64
START_NS = 1_000_000_000
SEEDS = dict(qsl_rng_seed=2085463073848966840, sample_index_rng_seed=2747215439041700203,
             schedule_rng_seed=16159082839903944936)


class FakeClock:
    """Time stands still unless waited for (`wait_until`) or spent by the SUT (`advance`)."""

    def __init__(self) -> None:
        self.t = START_NS

    def now_ns(self) -> int:
        return self.t

    def wait_until(self, deadline_ns: int) -> int:
        self.t = max(self.t, int(deadline_ns))
        return self.t

    def advance(self, ns: int) -> None:
        self.t += ns


class ServiceSUT:
    """Completes each query inline after `service_ns` of fake time; records each call's ids and QSL indices."""

    def __init__(self, clock: FakeClock, service_ns: int) -> None:
        self.clock, self.service_ns = clock, service_ns
        self.calls: list[tuple[list[int], list[int], int]] = []  # (ids, indices, issue time)
        self.pass_: IssuePass | None = None

    def issue(self, ids, indices) -> None:
        self.calls.append((list(ids), list(indices), self.clock.now_ns()))
        self.clock.advance(self.service_ns)
        self.pass_.complete_ids(self.clock.now_ns(), ids)


def _run(scenario: Scenario, service_ns: int, **fields) -> tuple[PassOutcome, ServiceSUT, schedule.QuerySchedule]:
    eff = derive(TestSettings(scenario=scenario, mode=Mode.PERFORMANCE, **SEEDS, **fields), TOTAL, TOTAL)
    loaded = schedule.loadable_sets(eff, eff.performance_sample_count, TOTAL)[0]
    sched = schedule.generate_queries(eff, Mode.PERFORMANCE, loaded)
    clock = FakeClock()
    sut = ServiceSUT(clock, service_ns)
    sut.pass_ = IssuePass(eff, Mode.PERFORMANCE, sched, 0, sut.issue, clock=clock)
    return sut.pass_.run(5.0), sut, sched


def test_single_stream_issues_each_query_when_the_previous_one_completed() -> None:
    out, sut, sched = _run(Scenario.SINGLE_STREAM, 1_000_000, min_duration_ms=50, min_query_count=10,
                           single_stream_expected_latency_ns=1_000_000)
    # Ends after the first query issued at or past 50 ms with at least 10 issued: query 50 (0-based).
    assert out.queries_issued == 51
    assert out.issued_ns.tolist() == [START_NS + k * 1_000_000 for k in range(51)]
    assert (out.done_ns - out.issued_ns).tolist() == [1_000_000] * 51
    assert [c[0] for c in sut.calls] == [[k] for k in range(51)]
    assert [c[1][0] for c in sut.calls] == sched.sample_index[:51].tolist()


def test_multi_stream_chains_queries_of_samples_per_query_samples() -> None:
    out, sut, sched = _run(Scenario.MULTI_STREAM, 2_000_000, min_duration_ms=40, min_query_count=5,
                           multi_stream_samples_per_query=8, multi_stream_expected_latency_ns=2_000_000)
    n = out.queries_issued
    assert n == 21 and out.samples_issued == 8 * n
    assert out.issued_ns.tolist() == [START_NS + k * 2_000_000 for k in range(n)]
    assert [c[0] for c in sut.calls] == [list(range(8 * k, 8 * k + 8)) for k in range(n)]
    assert [i for c in sut.calls for i in c[1]] == sched.sample_index[:8 * n].tolist()


def test_server_issues_every_query_at_its_scheduled_time() -> None:
    out, sut, sched = _run(Scenario.SERVER, 0, server_target_qps=1000.0, min_duration_ms=100, min_query_count=50)
    n = sched.query_count
    assert out.queries_issued == n and n >= 50
    assert np.array_equal(out.issued_ns, START_NS + sched.scheduled_ns[:n])
    assert [c[1][0] for c in sut.calls] == sched.sample_index[:n].tolist()


def test_a_slow_server_sut_gets_late_queries_as_soon_as_possible_never_early() -> None:
    """An inline SUT slower than the arrival rate: each query goes out at max(its time, the end of the last)."""
    service = 3_000_000  # 3 ms per query against 1 ms mean gaps
    out, _, sched = _run(Scenario.SERVER, service, server_target_qps=1000.0, min_duration_ms=50, min_query_count=20)
    scheduled = (START_NS + sched.scheduled_ns[:out.queries_issued]).tolist()
    expected, t = [], START_NS
    for due in scheduled:
        t = max(due, t)
        expected.append(t)
        t += service
    assert out.issued_ns.tolist() == expected


def test_coalesced_server_sends_every_overdue_query_in_one_call() -> None:
    service = 5_000_000
    out, sut, sched = _run(Scenario.SERVER, service, server_target_qps=1000.0, min_duration_ms=50,
                           min_query_count=20, server_coalesce_queries=True)
    due = START_NS + sched.scheduled_ns
    for ids, _, t in sut.calls:
        # every query due by the call's time, and no other, goes out in it (each keeps its own id order)
        assert ids == [i for i in range(ids[0], ids[-1] + 1)]
        assert all(due[i] <= t for i in ids) and (ids[-1] + 1 == len(due) or due[ids[-1] + 1] > t)
    assert sum(len(c[0]) for c in sut.calls) == out.queries_issued == sched.query_count
    assert any(len(c[0]) > 1 for c in sut.calls)


def test_offline_issues_one_query_of_every_sample_at_the_start() -> None:
    out, sut, sched = _run(Scenario.OFFLINE, 7_000_000, offline_expected_qps=2000.0, min_duration_ms=100)
    assert out.queries_issued == 1 and len(sut.calls) == 1
    ids, indices, t = sut.calls[0]
    assert t == START_NS and out.issued_ns.tolist() == [START_NS]
    assert ids == list(range(out.samples_issued)) and indices == sched.sample_index.tolist()
    assert set(out.done_ns.tolist()) == {START_NS + 7_000_000}


@pytest.mark.parametrize("scenario", [Scenario.SINGLE_STREAM, Scenario.SERVER])
def test_the_same_settings_give_the_same_issue_times(scenario: Scenario) -> None:
    fields = dict(min_duration_ms=20, min_query_count=10, server_target_qps=2000.0,
                  single_stream_expected_latency_ns=500_000)
    first, _, _ = _run(scenario, 500_000, **fields)
    second, _, _ = _run(scenario, 500_000, **fields)
    assert np.array_equal(first.issued_ns, second.issued_ns) and np.array_equal(first.done_ns, second.done_ns)


class ThreadedSUT(ServiceSUT):
    """Completes each query from a worker thread after `service_ns` of fake time: the issuing thread must wait."""

    def __init__(self, clock: FakeClock, service_ns: int) -> None:
        super().__init__(clock, service_ns)
        self.queue: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def issue(self, ids, indices) -> None:
        self.calls.append((list(ids), list(indices), self.clock.now_ns()))
        self.queue.put(list(ids))

    def _work(self) -> None:
        while (ids := self.queue.get()) is not None:
            self.clock.advance(self.service_ns)
            self.pass_.complete_ids(self.clock.now_ns(), ids)


def test_single_stream_waits_for_a_completion_from_another_thread() -> None:
    eff = derive(TestSettings(scenario=Scenario.SINGLE_STREAM, mode=Mode.PERFORMANCE, **SEEDS, min_duration_ms=20,
                              min_query_count=10, single_stream_expected_latency_ns=1_000_000), TOTAL, TOTAL)
    sched = schedule.generate_queries(eff, Mode.PERFORMANCE, schedule.loadable_sets(eff, TOTAL, TOTAL)[0])
    clock = FakeClock()
    sut = ThreadedSUT(clock, 1_000_000)
    sut.pass_ = IssuePass(eff, Mode.PERFORMANCE, sched, 0, sut.issue, clock=clock)
    out = sut.pass_.run(5.0)
    sut.queue.put(None)
    # Each query goes out when the worker completed the previous one, at exactly that (fake) time.
    assert out.queries_issued == 21 and not out.missing_ids
    assert out.issued_ns.tolist() == [START_NS + k * 1_000_000 for k in range(21)]
    assert [c[0] for c in sut.calls] == [[k] for k in range(21)]


def test_server_stops_at_max_query_count() -> None:
    out, sut, _ = _run(Scenario.SERVER, 0, server_target_qps=1000.0, min_duration_ms=100, min_query_count=50,
                       max_query_count=30)
    assert out.queries_issued == len(sut.calls) == 30 and not out.ran_out_of_generated_queries
    assert ("error_runtime", "IssueQueryThread 0 Ending early: Max query count reached. query_count 30") \
        in out.messages


def test_accuracy_offline_issues_every_query_and_runs_out() -> None:
    eff = derive(TestSettings(scenario=Scenario.OFFLINE, mode=Mode.ACCURACY, **SEEDS), TOTAL, TOTAL)
    sched = schedule.generate_queries(eff, Mode.ACCURACY, schedule.loadable_sets(eff, TOTAL, TOTAL)[0])
    clock = FakeClock()
    sut = ServiceSUT(clock, 1_000)
    sut.pass_ = IssuePass(eff, Mode.ACCURACY, sched, 0, sut.issue, clock=clock)
    out = sut.pass_.run(5.0)
    assert out.ran_out_of_generated_queries and out.queries_issued == sched.query_count == len(sut.calls)
    assert [i for c in sut.calls for i in c[0]] == list(range(out.samples_issued))
    assert out.issued_ns.tolist() == [START_NS + k * 1_000 for k in range(sched.query_count)]
