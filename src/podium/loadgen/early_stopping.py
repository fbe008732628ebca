"""Early stopping: the minimum number of passing queries, ported from loadgen/early_stopping.cc.

`odds(h, t, p, d)` is the probability of at most `t` overlatency queries among `h + t` queries when
each passes with probability `p - d`: the regularized incomplete beta I_{p-d}(h, t + 1), evaluated
exactly as the official evaluates it (glibc `lgamma`, a Gauss hypergeometric series stopped at
|term| <= 2**-33), so every value is bit-identical to the C++ one.

`MinPassingQueriesFinder` ports the official class of the same name: a per-(p, d, c) cache of the
answers found so far, used to bracket each new binary search. The bracket clamps the answer, so the
results depend on the order of the calls (the path); the official builds one finder per
`PerformanceSummary::EarlyStopping` call (results.cc), and so must callers here.

Speed. `minimum_queries_and_discards` runs the SingleStream/MultiStream loop, which searches
h(i) for i = 2, 3, ... (60k searches for 600k SingleStream queries at p = .90); each probe of the
literal code sums ~6.4 sqrt(t) series terms. The fast finder keeps the literal searches and
brackets and only answers each probe's comparison `odds < 1 - c` differently: by walking the
binomial CDF F(n, k) = P(Bin(n, 1 - x) <= k) with exact recurrences (a few flops per probe) and
deciding from that approximation when it lies outside a relative margin of 1 - c; inside the
margin the literal series decides. The margin (>= 1e-6 relative) is over 100 times the error of
either value (both are dominated by one ulp of lgamma(n + 1)), so each decision equals the literal
one; tests compare the two finders over many N and percentiles.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import math
import warnings
from collections.abc import Callable

import numpy as np

__all__ = [
    "CONFIDENCE",
    "MinPassingQueriesFinder",
    "TOLERANCE",
    "lgamma",
    "minimum_queries_and_discards",
    "odds",
]

CONFIDENCE = 0.99  # results.cc EarlyStopping: confidence
TOLERANCE = 0.0  # results.cc EarlyStopping: tolerance
_SERIES_TOLERANCE = 1.0 / (1 << 33)  # early_stopping.cc hypergeometric_2F1_A1 kTolerance
_PY_SERIES_MAX_T = 48  # below this the series has at most ~t terms: a Python loop is cheaper
_CHUNK = 1024  # numpy series chunk (grows x2)


def _glibc_lgamma() -> Callable[[float], float]:
    """glibc's lgamma (what std::lgamma calls); CPython's differs in the last ulp for ~half the ints."""
    name = ctypes.util.find_library("m")
    try:
        fn = ctypes.CDLL(name).lgamma if name else None
    except (OSError, AttributeError):
        fn = None
    if fn is None:
        warnings.warn("glibc libm not found: early stopping uses math.lgamma, whose last-ulp "
                      "differences may change results from the official LoadGen's", RuntimeWarning,
                      stacklevel=2)
        return math.lgamma
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_double]
    return fn


lgamma = _glibc_lgamma()


def _lbeta(x: int, y: int) -> float:
    # early_stopping.cc lbeta: (lgamma(x) + lgamma(y)) - lgamma(x + y)
    return lgamma(x) + lgamma(y) - lgamma(x + y)


def _series_python(b: int, c: int, z: float) -> float:
    """early_stopping.cc hypergeometric_2F1_A1, literally."""
    term = 1.0
    result = 1.0
    i = 0
    while abs(term) > _SERIES_TOLERANCE:
        term *= (b + i) * z / (c + i)
        result += term
        i += 1
    return result


def _series_numpy(b: int, c: int, z: float) -> float:
    """The same series in numpy chunks; bit-identical: `multiply.accumulate` and `add.accumulate`
    are sequential left folds, so every term and partial sum is rounded exactly as in the loop."""
    term, result, i0, size = 1.0, 1.0, 0, _CHUNK
    while True:
        i = np.arange(i0, i0 + size, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):  # inf and nan as in C++
            factors = ((b + i) * z) / (c + i)
            factors[0] = term * factors[0]
            terms = np.multiply.accumulate(factors)
            sums = np.add.accumulate(np.concatenate(([result], terms)))
        stop = np.flatnonzero(~(np.abs(terms) > _SERIES_TOLERANCE))  # nan stops the loop too
        if stop.size:
            return float(sums[stop[0] + 1])
        term, result, i0, size = float(terms[-1]), float(sums[-1]), i0 + size, size * 2


def _hypergeometric_2f1_a1(b: int, c: int, z: float) -> float:
    # The series ends at i = -b at the latest (the factor b + i reaches 0).
    return _series_python(b, c, z) if -b < _PY_SERIES_MAX_T else _series_numpy(b, c, z)


def _beta_regularized(x: float, a: int, b: int) -> float:
    # early_stopping.cc beta_regularized: exp(...) / a * 2F1(1, 1 - b; 1 + a; x / (x - 1))
    return (math.exp(a * math.log(x) + (b - 1) * math.log(1 - x) - _lbeta(a, b)) / a
            * _hypergeometric_2f1_a1(1 - b, 1 + a, x / (x - 1)))


def odds(h: int, t: int, p: float, d: float) -> float:
    """P(at most t overlatency queries among h + t), as early_stopping.cc `odds` computes it."""
    return _beta_regularized(p - d, h, 1 + t)


class _TailWalker:
    """F(n, k) = P(Bin(n, 1 - x) <= k) and the pmf b(n, k), moved one step at a time.

    Exact recurrences: F(n+1, k) = F(n, k) - q b(n, k); F(n, k+1) = F(n, k) + b(n, k+1); each step
    costs a few flops and a relative error of a few 2**-53.
    """

    __slots__ = ("b", "f", "k", "n", "q", "x")

    def __init__(self, x: float, n: int, k: int, f: float) -> None:
        self.x, self.q, self.n, self.k, self.f = x, 1.0 - x, n, k, f
        self.b = math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                          + k * math.log(self.q) + (n - k) * math.log(x))

    def value(self, n: int, k: int) -> float:
        x, q, b, f, m, j = self.x, self.q, self.b, self.f, self.n, self.k
        while j < k:  # b(m, j+1) = b(m, j) (m - j) / (j + 1) q / x
            b = b * (m - j) / (j + 1) * q / x
            j += 1
            f += b
        while j > k:
            f -= b
            b = b * j / (m - j + 1) * x / q
            j -= 1
        if n - m > 48:  # a long climb (p near 1: n grows by ~p/(1-p) per t): in numpy
            steps = np.arange(m + 1, n + 1, dtype=np.float64)
            bs = b * np.multiply.accumulate(steps / (steps - j) * x)
            f -= q * (b + float(bs[:-1].sum()))
            b, m = float(bs[-1]), n
        while m < n:
            f -= q * b
            b = b * (m + 1) / (m + 1 - j) * x
            m += 1
        while m > n:
            b = b * (m - j) / m / x
            f += q * b
            m -= 1
        self.b, self.f, self.n, self.k = b, f, m, j
        return f


class _Cache:
    """One (p, d, c) entry of MinPassingQueriesFinder::caches_: a std::map<t, h>."""

    __slots__ = ("h", "keys", "min_slope", "y1")

    def __init__(self, p: float, d: float, c: float) -> None:
        self.keys: list[int] = []  # sorted, for std::map::lower_bound
        self.h: dict[int, int] = {}
        self.y1 = math.ceil(math.log(1 - c) / math.log(p - d))
        self.min_slope = (p - d) / (1 - p + d)


class MinPassingQueriesFinder:
    """Port of early_stopping.cc MinPassingQueriesFinder: call with (t, p, d, c) for the minimum h
    with odds(h, t, p, d) < 1 - c, searched within a bracket drawn from this finder's earlier answers.

    `fast=False` evaluates every probe with the literal series (the reference for tests).
    """

    _MAX_WALK = 256  # longer moves of the walker are replaced by one literal evaluation

    def __init__(self, fast: bool = True) -> None:
        self._caches: dict[tuple[float, float, float], _Cache] = {}
        self._walkers: dict[tuple[float, float], _TailWalker] = {}
        self._fast = fast

    def __call__(self, t: int, p: float, d: float, c: float) -> int:
        cache = self.cache(p, d, c)
        h = cache.h.get(t)
        if h is not None:
            return h
        keys = cache.keys
        x0, y0, x1, y1 = -1, 0, 0, cache.y1
        pos = bisect.bisect_left(keys, t)  # std::map::lower_bound
        if pos > 0:
            x1 = keys[pos - 1]
            y1 = cache.h[x1]
            if pos > 1:
                x0 = keys[pos - 2]
                y0 = cache.h[x0]
        max_slope = float((y1 - y0) * (x1 - x0))
        min_h = int((t - x1) * cache.min_slope + y1)  # int64_t(double): truncation
        max_h = int((t - x1) * max_slope + y1 + 1)
        h = self._find_min_passing(min_h, max_h, t, p, d, c)
        keys.insert(pos, t)
        cache.h[t] = h
        return h

    @property
    def fast(self) -> bool:
        return self._fast

    def cache(self, p: float, d: float, c: float) -> _Cache:
        cache = self._caches.get((p, d, c))
        if cache is None:
            cache = self._caches[(p, d, c)] = _Cache(p, d, c)
        return cache

    def walker_near(self, p: float, d: float, n: int, k: int) -> _TailWalker:
        """The (p, d) walker, reseeded with a literal odds value when it is far from (n, k)."""
        walker = self._walkers.get((p, d))
        if (walker is None or abs(walker.n - n) + abs(walker.k - k) > self._MAX_WALK
                # seeded where the pmf underflows (it would stay 0) or where the series overflowed
                or not (walker.b >= 1e-280 and 0.0 <= walker.f <= 1.0)):
            walker = self._walkers[(p, d)] = _TailWalker(p - d, n, k, odds(n - k, k, p, d))
        return walker

    def _find_min_passing(self, min_h: int, max_h: int, t: int, p: float, d: float,
                          c: float) -> int:
        # early_stopping.cc find_min_passing, literally.
        count = max_h - min_h
        while count > 0:
            step = count // 2
            h = min_h + step
            if self._passes(h, t, p, d, c):
                count = step
            else:
                min_h = h + 1
                count -= step + 1
        return min_h

    def _passes(self, h: int, t: int, p: float, d: float, c: float) -> bool:
        """odds(h, t, p, d) < 1 - c, decided as the literal code decides it."""
        threshold = 1 - c
        if not self._fast or t < _PY_SERIES_MAX_T:
            return odds(h, t, p, d) < threshold
        n = h + t
        walker = self.walker_near(p, d, n, t)
        approx = walker.value(n, t)
        margin = threshold * _MARGINS[n.bit_length()]
        if approx < threshold - margin:
            return True
        if approx > threshold + margin:
            return False
        return odds(h, t, p, d) < threshold


def _relative_margin(bits: int) -> float:
    """Bound on |approximation - literal| / value for n < 2**bits, with a safety factor over 100.

    Both values carry the error of lgamma(n + 1) (a few ulp of ~n ln n) in an exponent; the series
    truncation (< 1e-8 relative) and the walker's rounding (< 1e-9 over 1e6 steps) are smaller.
    """
    n = 2.0**bits
    return 1e-6 + 1024 * math.ulp(n * math.log(n) + 1.0)


_MARGINS = [_relative_margin(b) for b in range(65)]


def minimum_queries_and_discards(find: MinPassingQueriesFinder, queries_issued: int, p: float,
                                 d: float = TOLERANCE,
                                 c: float = CONFIDENCE) -> tuple[int, int | None]:
    """The SingleStream/MultiStream loop of results.cc EarlyStopping: (h_min, t).

    h_min + 1 queries are needed at all (t is None when fewer were issued); otherwise t - 1 of the
    highest latencies may be discarded: the estimate is sorted_latencies[queries_issued - t].
    """
    h_min = find(1, p, d, c)
    if queries_issued < h_min + 1:
        return h_min, None
    for i in range(2, queries_issued + 1):
        if i >= _PY_SERIES_MAX_T and find.fast:
            return h_min, _consecutive_searches(find, i, queries_issued, p, d, c)
        if queries_issued < find(i, p, d, c) + i:
            return h_min, i - 1
    return h_min, 1


def _consecutive_searches(find: MinPassingQueriesFinder, first: int, queries_issued: int, p: float,
                          d: float, c: float) -> int:
    """`find(i)` for i = first, first + 1, ... until queries_issued < h(i) + i; returns the loop's t.

    When the cache's largest keys are first - 2 and first - 1 (as in a fresh finder) each bracket
    comes from h(i - 1) and h(i - 2), so the searches run here inline, with the walker's state in locals (the
    hot loop: 60k searches for 600k queries); the cache is filled as the literal calls would fill it.
    Otherwise the calls go through `find`.
    """
    cache = find.cache(p, d, c)
    keys, hs = cache.keys, cache.h
    if len(keys) < 2 or keys[-1] != first - 1 or keys[-2] != first - 2:
        for i in range(first, queries_issued + 1):
            if queries_issued < find(i, p, d, c) + i:
                return i - 1
        return 1
    threshold, min_slope = 1 - c, cache.min_slope
    y0, y1 = hs[first - 2], hs[first - 1]
    walker = find.walker_near(p, d, y1 + first, first - 1)
    x, q = walker.x, walker.q
    b, f, m, j = walker.b, walker.f, walker.n, walker.k
    t, i, found = 1, first, []
    n_limit = 0
    sure_pass: float = 0  # both set by the first search (its n >= n_limit = 0)
    sure_fail: float = 0
    while i <= queries_issued:
        lo = int(min_slope + y1)  # (t - x1) * min_slope + y1 with t - x1 = 1
        count = int(float(y1 - y0) + y1 + 1) - lo
        while count > 0:  # find_min_passing
            step = count // 2
            h = lo + step
            n = h + i
            if n - m > 48:  # a long climb (p near 1): the walker's numpy path
                walker.b, walker.f, walker.n, walker.k = b, f, m, j
                walker.value(n, i)
                b, f, m, j = walker.b, walker.f, walker.n, walker.k
            while j < i:
                b = b * (m - j) / (j + 1) * q / x
                j += 1
                f += b
            while m < n:
                f -= q * b
                b = b * (m + 1) / (m + 1 - j) * x
                m += 1
            while m > n:
                b = b * (m - j) / m / x
                f += q * b
                m -= 1
            if n >= n_limit:  # the margin grows with n's bit length
                margin = threshold * _MARGINS[n.bit_length()]
                sure_pass, sure_fail, n_limit = threshold - margin, threshold + margin, 1 << n.bit_length()
            if f < sure_pass or (f <= sure_fail and odds(h, i, p, d) < threshold):
                count = step
            else:
                lo = h + 1
                count -= step + 1
        found.append(lo)
        y0, y1 = y1, lo
        if queries_issued < lo + i:
            t = i - 1
            break
        i += 1
    walker.b, walker.f, walker.n, walker.k = b, f, m, j
    keys.extend(range(first, first + len(found)))
    hs.update(zip(keys[first - 1:], found))
    return t
