"""podium.loadgen.schedule against a literal, query-by-query port of loadgen.cc GenerateQueries.

The literal port below follows the C++ loop line by line with the scalar rng functions (lists, one
draw at a time); the module under test reduces the loop to closed forms and bulk draws. They must
agree on every sample, every scheduled time and every generated_* value, for every scenario, mode
and audit flag. test_schedule_vs_official.py compares both with the official itself.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.loadgen.official_probe import load_engine_modules

rng, schedule, settings_mod = load_engine_modules()
Mode, Scenario, TestSettings = settings_mod.Mode, settings_mod.Scenario, settings_mod.TestSettings

SEEDS = {"qsl_rng_seed": 11, "sample_index_rng_seed": 2**40 + 5, "schedule_rng_seed": 2**63 + 9}


def _effective(scenario: Scenario, total: int = 37, count: int = 16, checked: bool = True, **fields):
    base = {"single_stream_expected_latency_ns": 1_000_000, "multi_stream_expected_latency_ns": 2_000_000,
            "multi_stream_samples_per_query": 3, "server_target_qps": 5000.0, "offline_expected_qps": 400.0,
            "min_duration_ms": 20, "min_query_count": 30, **SEEDS}
    requested = TestSettings(scenario=scenario, **{**base, **fields})
    return settings_mod.derive(requested, count, total, checked=checked)


def literal_loadable_sets(s, sample_count: int, total: int) -> list[tuple[list[int], int]]:
    """loadgen.cc GenerateLoadableSets with lists and push_back padding."""
    g = rng.MT19937(s.qsl_rng_seed)
    samples = list(range(min(sample_count, total)))
    rng.shuffle(g, samples)
    result, current = [], []
    for x in samples:
        current.append(x)
        if len(current) == s.performance_sample_count:
            result.append((current, len(current)))
            current = []
    if current:
        result.append((current, len(current)))
    padding = s.samples_per_query - 1 if s.scenario is Scenario.MULTI_STREAM else 0
    for padded, _ in result:
        for i in range(padding):
            padded.append(padded[i])
    return result


def literal_generate(s, mode, samples: list[int], end: int) -> tuple[list[tuple[list[int], int]], int, int]:
    """loadgen.cc GenerateQueries, one query at a time: ([(samples, scheduled_ns)], spq, duration_ns)."""
    size, offline = len(samples), s.scenario is Scenario.OFFLINE
    multi = s.scenario is Scenario.MULTI_STREAM
    gen_duration = (1 if s.scenario is Scenario.SERVER else 2) * s.target_duration_ms * 1_000_000
    min_queries, spq = s.min_query_count, s.samples_per_query
    if mode is Mode.ACCURACY and offline:
        spq = end
    if mode is Mode.ACCURACY or s.performance_issue_unique:
        gen_duration, min_queries = 0, size // spq
    sample_rng, schedule_rng = rng.MT19937(s.sample_index_rng_seed), rng.MT19937(s.schedule_rng_seed)
    stride = spq if multi else 1

    def shuffled_starts():
        order = list(range(0, end, stride))
        rng.shuffle(sample_rng, order)
        return iter(order)

    accuracy = shuffled_starts() if mode is Mode.ACCURACY else None
    unique = shuffled_starts()
    equal_issue, current = [], list(range(size))
    for _ in range(0, min_queries, size):
        rng.shuffle(sample_rng, current)
        equal_issue += current
    equal_issue_next = (equal_issue[i % len(equal_issue)] for i in itertools.count()) if equal_issue else None

    def sample_distribution():
        return next(accuracy) if mode is Mode.ACCURACY else rng.uniform_int(sample_rng, 0, end - 1)

    equal = s.sample_concatenate_permutation
    if mode is not Mode.ACCURACY and equal:
        if offline and spq % size:
            spq += size - spq % size
        elif not offline and min_queries % size:
            min_queries += size - min_queries % size
    period = int((1.0 / s.target_qps) * 1e9)
    queries, timestamp, prev = [], 0, 0
    same = s.performance_issue_same_index
    while prev < gen_duration or len(queries) < min_queries:
        if multi:
            start = (next(unique) if s.performance_issue_unique else same if s.performance_issue_same
                     else sample_distribution())
            query = samples[start:start + spq]
        elif offline:
            if s.performance_issue_same:
                query = [samples[same]] * spq
            else:
                query = []
                for _ in range(spq // size):
                    repeat = list(samples)
                    if equal:
                        rng.shuffle(sample_rng, repeat)
                    query += repeat
                query += samples[:spq % size]
        else:
            query = [samples[next(unique) if s.performance_issue_unique else same if s.performance_issue_same
                             else next(equal_issue_next) if equal else sample_distribution()]
                     for _ in range(spq)]
        queries.append((query, timestamp))
        prev = timestamp
        if s.scenario is Scenario.SERVER:
            timestamp += int((-math.log(1.0 - rng.generate_canonical(schedule_rng)) / s.target_qps) * 1e9)
        else:
            timestamp += period
        if equal and len(queries) >= min_queries and prev < gen_duration and not offline:
            min_queries += size
    if offline and mode is Mode.ACCURACY and size % spq:
        queries.append(([samples[sample_distribution()] for _ in range(size % spq)], timestamp))
    return queries, spq, timestamp


def _passes(s, mode: Mode, total: int):
    count = s.accuracy_sample_count if mode is Mode.ACCURACY else s.performance_sample_count
    sets = schedule.loadable_sets(s, count, total)
    return sets if mode is Mode.ACCURACY else sets[:1]


def _assert_same(s, mode: Mode, total: int) -> None:
    for loaded in _passes(s, mode, total):
        got = schedule.generate_queries(s, mode, loaded)
        queries, spq, duration = literal_generate(s, mode, loaded.samples.tolist(), loaded.distribution_end)
        assert (got.query_count, got.samples_per_query, got.duration_ns) == (len(queries), spq, duration)
        assert got.scheduled_ns.tolist() == [t for _, t in queries]
        assert [got.sample_index[slice(*got.query_slice(q))].tolist() for q in range(got.query_count)] == [
            q for q, _ in queries]


FLAGS = {
    "plain": {},
    "unique": {"performance_issue_unique": True},
    "same": {"performance_issue_same": True, "performance_issue_same_index": 2},
    "equal_issue": {"sample_concatenate_permutation": True},
    "equal_issue_bump": {"sample_concatenate_permutation": True, "min_query_count": 5},
    "equal_issue_from_zero": {"sample_concatenate_permutation": True, "min_query_count": 0},
}


@pytest.mark.parametrize("scenario", list(Scenario))
@pytest.mark.parametrize("mode", [Mode.PERFORMANCE, Mode.ACCURACY])
@pytest.mark.parametrize("flags", list(FLAGS))
def test_generate_queries_equals_literal_port(scenario: Scenario, mode: Mode, flags: str) -> None:
    s = _effective(scenario, **FLAGS[flags])
    if (flags, scenario, mode) == ("equal_issue_from_zero", Scenario.SERVER, Mode.PERFORMANCE):
        # 0 queries size the equal-issue distribution: the official takes `i % 0` (a crash)
        with pytest.raises(ValueError, match="equal-issue distribution is empty"):
            _assert_same(s, mode, 37)
        return
    _assert_same(s, mode, 37)


@pytest.mark.parametrize("scenario", list(Scenario))
@pytest.mark.parametrize("total,count", [(37, 16), (40, 8), (5, 16), (3, 1), (1000, 700)])
def test_loadable_sets_equal_literal_port(scenario: Scenario, total: int, count: int) -> None:
    s = _effective(scenario, total=total, count=count, multi_stream_samples_per_query=6)
    for sample_count in (s.performance_sample_count, s.accuracy_sample_count, total + 10):
        got = schedule.loadable_sets(s, sample_count, total)
        want = literal_loadable_sets(s, sample_count, total)
        assert [(x.samples.tolist(), x.distribution_end) for x in got] == want


def test_small_chunks_give_the_same_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Server times and performance draws are made chunk by chunk: the seams must not show."""
    s = _effective(Scenario.SERVER, total=100, count=100, server_target_qps=200_000.0, min_duration_ms=100)
    loaded = schedule.loadable_sets(s, 100, 100)[0]
    whole = schedule.generate_queries(s, Mode.PERFORMANCE, loaded)
    monkeypatch.setattr(schedule, "_CHUNK", 997)
    monkeypatch.setattr(rng, "_CHUNK", 1009)
    pieces = schedule.generate_queries(s, Mode.PERFORMANCE, loaded)
    assert whole.query_count > 10 * 997
    assert (whole.duration_ns, whole.query_count) == (pieces.duration_ns, pieces.query_count)
    assert np.array_equal(whole.scheduled_ns, pieces.scheduled_ns)
    assert np.array_equal(whole.sample_index, pieces.sample_index)
    g = rng.MT19937(s.schedule_rng_seed)
    gaps = rng.durations_ns(g, s.target_qps, whole.query_count)
    assert np.array_equal(whole.scheduled_ns[1:], np.cumsum(gaps)[:-1])
    assert whole.duration_ns == int(gaps.sum())
    assert whole.scheduled_ns[-2] < s.min_duration_ms * 1_000_000 <= whole.scheduled_ns[-1]


def test_schedule_layout_and_memory() -> None:
    s = _effective(Scenario.SERVER, total=100, count=50, server_target_qps=20_000.0, min_duration_ms=50)
    sched = schedule.generate_queries(s, Mode.PERFORMANCE, schedule.loadable_sets(s, 50, 100)[0])
    assert sched.query_offsets is None and sched.samples_per_query == 1
    assert sched.sample_index.dtype == sched.scheduled_ns.dtype == np.int64
    assert sched.sample_index.nbytes + sched.scheduled_ns.nbytes == 16 * sched.query_count
    assert sched.query_slice(7) == (7, 8) and sched.scheduled_ns[0] == 0
    ms = _effective(Scenario.MULTI_STREAM, total=40, count=40, multi_stream_samples_per_query=8)
    sched = schedule.generate_queries(ms, Mode.PERFORMANCE, schedule.loadable_sets(ms, 40, 40)[0])
    assert sched.query_slice(3) == (24, 32) and sched.sample_index.size == 8 * sched.query_count


def test_invalid_requests_raise() -> None:
    s = _effective(Scenario.SINGLE_STREAM)
    loaded = schedule.loadable_sets(s, 16, 37)[0]
    with pytest.raises(ValueError, match="one pass"):
        schedule.generate_queries(s, Mode.SUBMISSION, loaded)
    # Settings derive() refuses, fed unchecked: generate_queries guards itself too.
    same = _effective(Scenario.SINGLE_STREAM, checked=False, performance_issue_same=True,
                      performance_issue_same_index=16)
    with pytest.raises(ValueError, match="out of the loaded set"):
        schedule.generate_queries(same, Mode.PERFORMANCE, loaded)
    with pytest.raises(ValueError, match="positive"):
        schedule.generate_queries(_effective(Scenario.SERVER, checked=False, server_target_qps=0.0),
                                  Mode.PERFORMANCE, loaded)


def test_accuracy_log_threshold() -> None:
    prob = _effective(Scenario.SERVER, accuracy_log_probability=0.25)
    assert schedule.accuracy_log_threshold(prob) == 0.25
    # Server: max(qps * min_duration_s * spq, min_query_count * spq) = max(100, 30)
    target = _effective(Scenario.SERVER, accuracy_log_sampling_target=10)
    assert schedule.accuracy_log_threshold(target) == 10 / 100
    # MultiStream: max(500 * 0.02 * 3, 30 * 3) = 90
    multi = _effective(Scenario.MULTI_STREAM, accuracy_log_sampling_target=9)
    assert schedule.accuracy_log_threshold(multi) == 0.1
    # Offline: max(400 * 0.02, min_sample_count = samples_per_query = 30)
    offline = _effective(Scenario.OFFLINE, accuracy_log_sampling_target=3)
    assert schedule.accuracy_log_threshold(offline) == 0.1


def test_accuracy_log_mask_equals_literal() -> None:
    """u of sample id k is the k-th uniform of a default-seeded mt19937; logged iff frac(u + offset) <= p."""
    s = _effective(Scenario.SERVER, accuracy_log_probability=0.4, accuracy_log_rng_seed=2**33 + 3)
    sched = schedule.generate_queries(s, Mode.PERFORMANCE, schedule.loadable_sets(s, 16, 37)[0])
    offset = rng.generate_canonical(rng.MT19937(3))  # the seed taken mod 2**32
    per_sample = rng.MT19937()
    u = [rng.generate_canonical(per_sample) for _ in range(123 + sched.sample_index.size)][123:]
    want = [(x + offset if x + offset < 1.0 else x + offset - 1.0) <= 0.4 for x in u]
    assert schedule.accuracy_log_mask(s, sched, 123).tolist() == want
    assert 0.3 < np.mean(want) < 0.5
