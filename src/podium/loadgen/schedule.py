"""Query schedules: the loadable sample sets and every pre-generated query of a LoadGen pass.

Bit-exact ports of loadgen.cc (6.0.17) `GenerateLoadableSets` and `GenerateQueries` with its
`SampleDistribution*` and `ScheduleDistribution` helpers, plus the accuracy-log sampling of
performance passes (`IssueQueries`, `ResponseDelegateDetailed::SampleComplete`). The official builds
the schedule before the clock starts from separately seeded std::mt19937 generators:

- `qsl_rng(qsl_rng_seed)` shuffles the QSL indices, then cuts them into sets (`loadable_sets`);
- `sample_rng(sample_index_rng_seed)`, per pass: [accuracy: the shuffle that is its sample order],
  the "unique" shuffle, the equal-issue shuffles (both always drawn, used or not), then the per-query
  draws (performance: `uniform_int(0, set_end - 1)`; Offline equal issue: one shuffle per repeat);
- `schedule_rng(schedule_rng_seed)`: Server inter-arrival times, exponential(target_qps), in ns.

The loop condition, the equal-issue padding and its `min_queries` bump are reduced to closed forms
(see `_query_count`), so every draw is made in bulk by `podium.loadgen.rng`. The same closed forms size a
pass before it is generated (`settings.pass_size`, re-exported here with the other sizing names): a
schedule that would not fit in memory is refused with the settings to change (`footprint.check_fits`),
where the official LoadGen dies of std::bad_alloc. The sizing lives below this module, without numpy,
because `settings.derive()` refuses a run that would not fit before anything is generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from podium.loadgen import rng as _rng
from podium.loadgen.footprint import ScheduleSize, available_memory_bytes, check_fits
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario, pass_size, query_period_ns, run_sizes

__all__ = [
    "LoadableSet",
    "QuerySchedule",
    "ScheduleSize",
    "accuracy_log_mask",
    "accuracy_log_offset",
    "accuracy_log_threshold",
    "available_memory_bytes",
    "check_fits",
    "generate_queries",
    "loadable_sets",
    "pass_size",
    "run_sizes",
]

_CHUNK = 1 << 22  # queries per bulk step: bounds the temporaries (~100 MB)


@dataclass(frozen=True)
class LoadableSet:
    """One set of QSL indices loaded at once (loadgen.cc LoadableSampleSet)."""

    samples: NDArray[np.int64]  # QSL indices, incl. the MultiStream padding
    distribution_end: int  # samples drawn from: excludes the padding


@dataclass(frozen=True)
class QuerySchedule:
    """Every query of one pass, in issue order (what GenerateQueries returns, without the metadata)."""

    sample_index: NDArray[np.int64]  # QSL index of every sample, query-major
    query_offsets: NDArray[np.int64] | None  # len n+1 into sample_index; None: each query has spq samples
    scheduled_ns: NDArray[np.int64]  # per query: scheduled offset from the start (first = 0)
    samples_per_query: int  # detail key generated_samples_per_query
    duration_ns: int  # generated_query_duration: the timestamp after the last query

    @property
    def query_count(self) -> int:
        """Detail key generated_query_count."""
        return int(self.scheduled_ns.size)

    def query_slice(self, q: int) -> tuple[int, int]:
        """[begin, end) of query q's samples in `sample_index`."""
        if self.query_offsets is None:
            return q * self.samples_per_query, (q + 1) * self.samples_per_query
        return int(self.query_offsets[q]), int(self.query_offsets[q + 1])


# --- loadable sets ---------------------------------------------------------------------------------

def loadable_sets(settings: EffectiveSettings, sample_count: int, qsl_total_count: int) -> list[LoadableSet]:
    """loadgen.cc GenerateLoadableSets: shuffled QSL indices cut into sets of performance_sample_count.

    `sample_count` is performance_sample_count in performance passes, accuracy_sample_count in
    accuracy passes; it is capped at the QSL's total. MultiStream sets are padded with their first
    samples_per_query - 1 entries, cyclically when the set is shorter (as the C++ push_back loop does).
    """
    rng = _rng.MT19937(settings.qsl_rng_seed)
    count = min(int(sample_count), int(qsl_total_count))
    order = np.arange(count, dtype=np.int64)
    _rng.shuffle(rng, order)
    size = int(settings.performance_sample_count)
    padding = settings.samples_per_query - 1 if settings.scenario is Scenario.MULTI_STREAM else 0
    if size > 0:
        chunks = [order[i:i + size] for i in range(0, count, size)]
    else:  # a set size of 0 never equals a growing set's size: everything lands in one set
        chunks = [order] if count else []
    sets = []
    for chunk in chunks:
        end = chunk.size
        samples = chunk[np.arange(end + padding) % end] if padding else chunk.copy()
        sets.append(LoadableSet(samples=samples, distribution_end=end))
    return sets


# --- the plan: GenerateQueries' locals before its loop ---------------------------------------------

@dataclass(frozen=True)
class _Plan:
    spq: int  # samples_per_query, after the Offline equal-issue padding
    gen_duration_ns: int
    min_queries: int  # after the equal-issue padding, before the bumps
    min_queries_drawn: int  # before the padding: sizes the equal-issue distribution
    bump: int  # equal issue: min_queries grows by the set size while time is short; 0: off


def _plan(s: EffectiveSettings, mode: Mode, loaded: LoadableSet) -> _Plan:
    """GenerateQueries up to its loop: duration, query and sample counts, equal-issue padding."""
    size = loaded.samples.size
    offline = s.scenario is Scenario.OFFLINE
    multiplier = 1 if s.scenario is Scenario.SERVER else 2  # 2x slack: the SUT may beat the estimate
    gen_duration_ns = multiplier * s.target_duration_ms * 1_000_000
    min_queries = s.min_query_count
    spq = s.samples_per_query
    if mode is Mode.ACCURACY and offline:
        spq = loaded.distribution_end
    if mode is Mode.ACCURACY or s.performance_issue_unique:
        gen_duration_ns = 0  # no early exit: every sample once
        min_queries = size // spq
    drawn = min_queries
    equal_issue = s.sample_concatenate_permutation
    if mode is not Mode.ACCURACY and equal_issue:
        if offline and spq % size:
            spq += size - spq % size
        elif not offline and min_queries % size:
            min_queries += size - min_queries % size
    return _Plan(spq=spq, gen_duration_ns=gen_duration_ns, min_queries=min_queries,
                 min_queries_drawn=drawn, bump=size if equal_issue and not offline else 0)


def _query_count(first_late: int, plan: _Plan) -> int:
    """How many queries the `while (prev_timestamp < gen_duration || size < min_queries)` loop makes.

    `first_late` is the first count k >= 1 whose query k-1 is scheduled at or after gen_duration (0
    when gen_duration is 0). The equal-issue bump adds the set size each time the count reaches
    min_queries while time is still short, i.e. min_queries ends as the first of its steps >= first_late.
    """
    min_queries = plan.min_queries
    if plan.bump and min_queries < first_late:  # (from 0 the first bump comes at count 1: same result)
        min_queries += -(-(first_late - min_queries) // plan.bump) * plan.bump
    return max(first_late, min_queries)


# --- timestamps ------------------------------------------------------------------------------------

def _fixed_times(s: EffectiveSettings, plan: _Plan) -> tuple[NDArray[np.int64], int]:
    period = query_period_ns(s.target_qps)
    if plan.gen_duration_ns > 0:
        if period <= 0:
            raise ValueError(f"target_qps {s.target_qps!r} gives a zero query period: endless schedule")
        first_late = -(-plan.gen_duration_ns // period) + 1
    else:
        first_late = 0
    n = _query_count(first_late, plan)
    return np.arange(n, dtype=np.int64) * period, n * period


def _server_times(s: EffectiveSettings, plan: _Plan) -> tuple[NDArray[np.int64], int]:
    """Poisson arrivals: cumulative exponential(target_qps) gaps, truncated to ns one by one."""
    if not s.target_qps > 0.0:
        raise ValueError(f"Server target_qps must be positive, not {s.target_qps!r}")
    rng = _rng.MT19937(s.schedule_rng_seed)
    expected = plan.gen_duration_ns / 1e9 * s.target_qps
    times = np.empty(int(expected + 6 * math.sqrt(expected)) + plan.min_queries + 1025, dtype=np.int64)
    times[0] = 0  # times[k]: the timestamp before query k; times[n] is the duration
    filled, first_late, needed = 1, 0 if plan.gen_duration_ns <= 0 else None, None
    while True:
        if first_late is not None and needed is None:
            needed = _query_count(first_late, plan) + 1
        if needed is not None and filled >= needed:
            break
        target = needed if needed is not None else int(expected) + 1
        step = min(_CHUNK, max(target - filled, 1 << 16))
        if filled + step > times.size:
            grown = np.empty(max(2 * times.size, filled + step), dtype=np.int64)
            grown[:filled] = times[:filled]
            times = grown
        gaps = _rng.durations_ns(rng, s.target_qps, step)
        np.cumsum(gaps, out=times[filled:filled + step])
        times[filled:filled + step] += times[filled - 1]
        if first_late is None:
            late = np.flatnonzero(times[filled - 1:filled + step] >= plan.gen_duration_ns)
            if late.size:
                first_late = filled + int(late[0])  # times[k-1] >= gen_duration first at k
        filled += step
    n = needed - 1
    duration = int(times[n])
    times.resize(n, refcheck=False)
    return times, duration


# --- samples ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Orders:
    """The sample distributions GenerateQueries builds before its loop (None where unused)."""

    accuracy: NDArray[np.int64] | None  # SampleDistribution<AccuracyOnly>: shuffled start positions
    unique: NDArray[np.int64] | None  # performance_issue_unique
    equal_issue: NDArray[np.int64] | None  # SampleDistributionEqualIssue: successive shuffles of the set


def _draw_orders(s: EffectiveSettings, mode: Mode, plan: _Plan, loaded: LoadableSet,
                 rng: _rng.MT19937) -> _Orders:
    """Consume sample_rng in construction order; apply a shuffle only where its result is used."""
    stride = plan.spq if s.scenario is Scenario.MULTI_STREAM else 1
    starts = np.arange(0, loaded.distribution_end, stride, dtype=np.int64)
    accuracy = _shuffled(rng, starts) if mode is Mode.ACCURACY else None
    unique = None
    if s.performance_issue_unique:
        unique = _shuffled(rng, starts)
    else:
        _rng.skip_shuffles(rng, starts.size, 1)
    size = loaded.samples.size
    repeats = -(-plan.min_queries_drawn // size) if size else 0
    per_sample = s.scenario in (Scenario.SINGLE_STREAM, Scenario.SERVER)
    use_equal_issue = (s.sample_concatenate_permutation and per_sample and not s.performance_issue_unique
                       and not s.performance_issue_same)
    if use_equal_issue:
        # The same vector is shuffled again and again: each permutation composes with the last.
        current, parts = np.arange(size, dtype=np.int64), []
        for perm in _rng.shuffle_permutations(rng, size, repeats):
            current = current[perm]
            parts.append(current)
        equal_issue = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    else:
        _rng.skip_shuffles(rng, size, repeats)
        equal_issue = None
    return _Orders(accuracy=accuracy, unique=unique, equal_issue=equal_issue)


def _shuffled(rng: _rng.MT19937, values: NDArray[np.int64]) -> NDArray[np.int64]:
    out = values.copy()
    _rng.shuffle(rng, out)
    return out


def _take_in_order(order: NDArray[np.int64] | None, count: int, name: str) -> NDArray[np.int64]:
    """`indices.at(i++)` for i < count: the official throws std::out_of_range past the end."""
    if order is None:  # `_draw_orders` draws each order for the mode and settings that use it
        raise ValueError(f"no {name} distribution was drawn")
    if count > order.size:
        raise ValueError(f"{name} distribution has {order.size} entries but {count} were drawn")
    return order[:count]


def _positions(s: EffectiveSettings, mode: Mode, loaded: LoadableSet, orders: _Orders, rng: _rng.MT19937,
               draws: int, table: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """Positions in the loaded set for `draws` draws (MultiStream: query starts); with `table`, their
    entries `table[position]`."""
    if s.performance_issue_unique:
        positions = _take_in_order(orders.unique, draws, "unique")
    elif s.performance_issue_same:
        positions = np.full(draws, s.performance_issue_same_index, dtype=np.int64)
    elif orders.equal_issue is not None:
        if orders.equal_issue.size == 0:
            raise ValueError("equal-issue distribution is empty")
        positions = np.resize(orders.equal_issue, draws)  # `indices.at(i++ % indices.size())`
    elif mode is Mode.ACCURACY:
        positions = _take_in_order(orders.accuracy, draws, "accuracy")
    else:  # SampleDistribution<PerformanceOnly>: uniform_int(0, end - 1), looked up chunk by chunk
        out = np.empty(draws, dtype=np.int64)
        for a in range(0, draws, _CHUNK):
            drawn = _rng.uniform_ints(rng, loaded.distribution_end, min(_CHUNK, draws - a))
            out[a:a + drawn.size] = drawn if table is None else table[drawn]
        return out
    return positions if table is None else _lookup(table, positions)


def _lookup(samples: NDArray[np.int64], positions: NDArray[np.int64]) -> NDArray[np.int64]:
    """loaded_samples[position]; the official's unchecked operator[] is an error here."""
    if positions.size and (int(positions.min()) < 0 or int(positions.max()) >= samples.size):
        raise ValueError(f"sample position out of the loaded set (size {samples.size})")
    out = np.empty(positions.size, dtype=np.int64)
    for a in range(0, positions.size, _CHUNK):
        out[a:a + _CHUNK] = samples[positions[a:a + _CHUNK]]
    return out


def _multistream_samples(starts: NDArray[np.int64], spq: int, loaded: LoadableSet) -> NDArray[np.int64]:
    """spq contiguous samples of the padded set from each start."""
    if starts.size and int(starts.max()) + spq > loaded.samples.size:
        raise ValueError(f"MultiStream start + {spq} samples runs past the padded loaded set")
    per_query: NDArray[np.int64] = loaded.samples[starts[:, None] + np.arange(spq, dtype=np.int64)]
    return per_query.ravel()


def _offline_query(s: EffectiveSettings, plan: _Plan, loaded: LoadableSet,
                   rng: _rng.MT19937) -> NDArray[np.int64]:
    """The loaded set repeated in loaded order, plus a remainder; equal issue shuffles each repeat."""
    samples, spq = loaded.samples, plan.spq
    if s.performance_issue_same:
        return np.full(spq, _lookup(samples, np.array([s.performance_issue_same_index]))[0], dtype=np.int64)
    size = samples.size
    repeats, remainder = divmod(spq, size)
    out = np.empty(spq, dtype=np.int64)
    full = out[:repeats * size].reshape(repeats, size)
    if s.sample_concatenate_permutation:  # each repeat is shuffled right after it is copied
        block = max(1, _CHUNK // size)
        for r in range(0, repeats, block):
            perms = _rng.shuffle_permutations(rng, size, min(block, repeats - r))
            full[r:r + perms.shape[0]] = samples[perms]
    else:
        full[:] = samples
    out[repeats * size:] = samples[:remainder]
    return out


def generate_queries(settings: EffectiveSettings, mode: Mode, loaded: LoadableSet) -> QuerySchedule:
    """loadgen.cc GenerateQueries<scenario, mode>: every query of one pass over `loaded`.

    `mode` is Mode.ACCURACY or Mode.PERFORMANCE (the template argument; a SubmissionRun makes one
    accuracy pass per set, then one performance pass).
    """
    if mode not in (Mode.ACCURACY, Mode.PERFORMANCE):
        raise ValueError(f"generate_queries runs one pass: mode must be accuracy or performance, not {mode}")
    s = settings
    if loaded.samples.size == 0:
        raise ValueError("cannot generate queries over an empty loaded set")
    check_fits(pass_size(s, mode, loaded.distribution_end))  # FindPeakPerformance raises the QPS pass by pass
    plan = _plan(s, mode, loaded)
    sample_rng = _rng.MT19937(s.sample_index_rng_seed)
    orders = _draw_orders(s, mode, plan, loaded, sample_rng)
    scheduled, duration = (_server_times if s.scenario is Scenario.SERVER else _fixed_times)(s, plan)
    n = scheduled.size
    offsets = None
    if s.scenario is Scenario.MULTI_STREAM:
        starts = _positions(s, mode, loaded, orders, sample_rng, n)
        sample_index = _multistream_samples(starts, plan.spq, loaded)
    elif s.scenario is Scenario.OFFLINE:
        queries = [_offline_query(s, plan, loaded, sample_rng) for _ in range(n)]  # n is 0 or 1 in practice
        sample_index = queries[0] if n == 1 else np.concatenate(queries or [np.empty(0, dtype=np.int64)])
        remainder = loaded.samples.size % plan.spq if mode is Mode.ACCURACY else 0
        if remainder:  # accuracy: a last query so every loaded sample is issued
            extra = _lookup(loaded.samples, _take_in_order(orders.accuracy, remainder, "accuracy"))
            sample_index = np.concatenate([sample_index, extra])
            scheduled = np.append(scheduled, duration)  # the timestamp is not advanced after it
            offsets = np.append(np.arange(n + 1, dtype=np.int64) * plan.spq, sample_index.size)
    else:
        sample_index = _positions(s, mode, loaded, orders, sample_rng, n * plan.spq, table=loaded.samples)
    return QuerySchedule(sample_index=sample_index, query_offsets=offsets, scheduled_ns=scheduled,
                         samples_per_query=plan.spq, duration_ns=duration)


# --- accuracy-log sampling (performance passes) ----------------------------------------------------

def accuracy_log_offset(settings: EffectiveSettings) -> float:
    """IssueQueries: one uniform_real(0, 1) from mt19937(accuracy_log_rng_seed), drawn per pass."""
    return _rng.generate_canonical(_rng.MT19937(settings.accuracy_log_rng_seed))


def accuracy_log_threshold(settings: EffectiveSettings) -> float:
    """IssueQueries' accuracy_log_prob: the probability, or the sampling target over expected samples."""
    s = settings
    if s.accuracy_log_sampling_target <= 0:
        return float(s.accuracy_log_probability)
    expected = int(s.target_qps * s.min_duration_ms / 1000)  # uint64_t(double)
    if s.scenario is Scenario.OFFLINE:
        minimum = s.min_sample_count
    else:
        expected *= s.samples_per_query
        minimum = s.min_query_count * s.samples_per_query
    expected = max(expected, minimum)
    return s.accuracy_log_sampling_target / expected if expected else math.inf


def accuracy_log_mask(settings: EffectiveSettings, schedule: QuerySchedule,
                      first_sample_id: int) -> NDArray[np.bool_]:
    """Which samples of a performance pass have their response logged (bool per sample of `schedule`).

    Each sample's QueryMetadata draws a uniform u from its StartTest's SequenceGen, a default-seeded
    (5489) mt19937 that is never reseeded (InitAccLogRng is never called) and lives for one StartTest:
    so u for sample sequence id s is the s-th uniform of mt19937(5489), two outputs each. Logged iff
    frac(u + offset) <= threshold (ResponseDelegateDetailed::SampleComplete). `first_sample_id` is the
    sequence id of the pass's first sample (ids count every generated sample since StartTest began).
    """
    offset, threshold = accuracy_log_offset(settings), accuracy_log_threshold(settings)
    rng = _rng.MT19937(_rng.DEFAULT_SEED)
    rng.discard(2 * int(first_sample_id))
    total = schedule.sample_index.size
    mask = np.empty(total, dtype=bool)
    for a in range(0, total, _CHUNK):
        m = min(_CHUNK, total - a)
        v = _rng.canonicals(rng, m) + offset
        v = np.where(v < 1.0, v, v - 1.0)
        mask[a:a + m] = v <= threshold
    return mask
