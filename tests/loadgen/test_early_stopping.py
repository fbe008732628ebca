"""early_stopping: the literal port's values, and the fast finder's identity with the literal one."""

from __future__ import annotations

import math
import random

import pytest

from podium.loadgen import early_stopping as es


def _series_loop(b: int, c: int, z: float) -> float:
    """early_stopping.cc hypergeometric_2F1_A1, written out again independently of the module."""
    term = result = 1.0
    i = 0
    while abs(term) > 2.0**-33:
        term *= (b + i) * z / (c + i)
        result += term
        i += 1
    return result


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_lgamma_is_glibc():
    assert es.lgamma is not math.lgamma, "glibc libm was not loaded"
    for n in (1, 2, 3, 10, 64, 1000, 123_457, 10**7):
        assert es.lgamma(n) == pytest.approx(math.lgamma(n), rel=1e-14)
    assert es.lgamma(1) == 0.0 and es.lgamma(2) == 0.0


@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_numpy_series_is_bit_identical_to_the_loop(p):
    rng = random.Random(int(p * 1000))
    z = p / (p - 1)
    for _ in range(150):
        t = rng.choice([0, 1, 2, rng.randint(0, 100), rng.randint(100, 20_000)])
        h = rng.randint(1, int(t * p / (1 - p) * 1.3) + 600)  # below, near and above the threshold
        assert _same(es._series_numpy(-t, 1 + h, z), _series_loop(-t, 1 + h, z)), (t, h)
        assert _same(es._series_python(-t, 1 + h, z), _series_loop(-t, 1 + h, z)), (t, h)


def test_odds_is_the_binomial_tail():
    # odds(h, t) = P(at most t of h + t queries over latency), each over with probability 1 - p.
    for h, t, p in [(63, 1, 0.9), (40, 3, 0.9), (700, 2, 0.99), (300, 30, 0.9)]:
        q, n = 1 - p, h + t
        tail = sum(math.comb(n, k) * q**k * p ** (n - k) for k in range(t + 1))
        assert es.odds(h, t, p, 0.0) == pytest.approx(tail, rel=1e-9)


def test_known_minimum_query_counts():
    """The official's "Processed at least N queries" and Server's zero-overlatency minimum."""
    find = es.MinPassingQueriesFinder()
    assert find(1, 0.90, 0.0, 0.99) + 1 == 64
    assert find(1, 0.99, 0.0, 0.99) + 1 == 662
    assert find(1, 0.999, 0.0, 0.99) + 1 == 6636
    assert find(0, 0.99, 0.0, 0.99) == 459


def test_cache_makes_answers_path_dependent():
    """The bracket from earlier answers clamps the search: the official keeps one finder per
    EarlyStopping call, so results depend on the calls made with it before."""
    fresh = es.MinPassingQueriesFinder(fast=False)(30, 0.9, 0.0, 0.99)
    used = es.MinPassingQueriesFinder(fast=False)
    assert [used(t, 0.9, 0.0, 0.99) for t in (1, 15, 16, 17)] == [63, 247, 259, 270]
    # t = 30's bracket extrapolates t = 16, 17 (slope 11): [386, 414], so the answer is clamped to 414.
    assert used(30, 0.9, 0.0, 0.99) == 414 != fresh == 417


def _loop(fast: bool, n: int, p: float) -> tuple[tuple[int, int | None], dict[int, int]]:
    find = es.MinPassingQueriesFinder(fast=fast)
    result = es.minimum_queries_and_discards(find, n, p)
    return result, dict(find.cache(p, 0.0, 0.99).h)


@pytest.mark.parametrize("p", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_fast_loop_equals_literal_loop(p):
    rng = random.Random(int(p * 1e4))
    ns = {1, 63, 64, 100, 661, 662, 6635, 6636, 6637} | {rng.randint(1, 12_000) for _ in range(3)}
    for n in sorted(ns):
        assert _loop(True, n, p) == _loop(False, n, p), n


def test_fast_loop_equals_literal_loop_100k():
    """Every cached h(i) of the 9,780 searches of 100k SingleStream queries at p = .90."""
    (h_min, t), fast_cache = _loop(True, 100_000, 0.9)
    assert ((h_min, t), fast_cache) == _loop(False, 100_000, 0.9)
    assert (h_min, t) == (63, 9779)


def test_fast_finder_equals_literal_in_any_call_order():
    rng = random.Random(7)
    for _ in range(20):
        p = rng.choice([0.9, 0.95, 0.99])
        ts = [rng.choice([0, 1, rng.randint(0, 60), rng.randint(0, 3000)]) for _ in range(10)]
        fast, literal = es.MinPassingQueriesFinder(), es.MinPassingQueriesFinder(fast=False)
        assert [fast(t, p, 0.0, 0.99) for t in ts] == [literal(t, p, 0.0, 0.99) for t in ts], (p, ts)


def test_loop_on_a_used_finder_goes_through_the_cache():
    """SingleStream at p = .99 runs the 99th-percentile loop twice on one finder: all cache hits."""
    find = es.MinPassingQueriesFinder()
    first = es.minimum_queries_and_discards(find, 20_000, 0.99)
    cache = dict(find.cache(0.99, 0.0, 0.99).h)
    assert es.minimum_queries_and_discards(find, 20_000, 0.99) == first
    assert dict(find.cache(0.99, 0.0, 0.99).h) == cache
