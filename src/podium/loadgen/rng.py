"""Random numbers exactly as the official LoadGen draws them: std::mt19937 and libstdc++'s distributions.

LoadGen seeds `std::mt19937` generators (loadgen.cc GenerateQueries, GenerateLoadableSets) and draws
through libstdc++'s distributions (GCC 14, the compiler of the 6.0.17 wheels). Sequences from another
standard library differ, so each algorithm below is a port of libstdc++:

- `uniform_int`: `uniform_int_distribution` (bits/uniform_int_dist.h). A 32-bit generator and a range
  below 2**32 take Lemire's nearly-divisionless `_S_nd` (GCC >= 11), which rejects and redraws rarely;
  larger ranges take the "upscaling" path that combines recursive draws.
- `shuffle`: `std::shuffle` (bits/stl_algo.h). When n*n fits the generator's range it swaps in pairs,
  drawing one `uniform_int(0, (i+1)*(i+2)-1)` for the two swap targets of positions i and i+1.
- `canonicals`: `generate_canonical<double, 53>` from two 32-bit draws, (g1 + g2 * 2**32) / 2**64;
  `uniform_real_distribution<double>(0, 1)` is the same value.
- `exponentials`: `exponential_distribution<double>` = -log(1 - U) / lambda.
- `durations_ns`: `duration_cast<nanoseconds>(duration<double>(s))` truncates s * 1e9.

The bulk versions keep the scalar draw order (a rejection consumes one more 32-bit output) and run in
numpy; a 600 s Server schedule at 100k QPS (60 M queries) takes seconds, not minutes.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_SEED",
    "MT19937",
    "canonicals",
    "durations_ns",
    "exponentials",
    "generate_canonical",
    "shuffle",
    "shuffle_permutations",
    "skip_shuffles",
    "uniform_int",
    "uniform_ints",
]

DEFAULT_SEED = 5489  # std::mersenne_twister_engine::default_seed
_TWO32 = 1 << 32
_MASK32 = _TWO32 - 1
_MASK64 = (1 << 64) - 1
_CHUNK = 1 << 20  # outputs per refill / draws per vector step; bounds temporary memory
_MIN_STEP = 64


def _init_genrand(seed: int) -> NDArray[np.uint32]:
    """The state std::mt19937(seed) starts from (the reference init_genrand; libstdc++ `seed`)."""
    key = np.empty(624, dtype=np.uint32)
    x = seed & _MASK32  # result_type is 64-bit on LP64; seed() keeps it mod 2**32
    key[0] = x
    for i in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + i) & _MASK32
        key[i] = x
    return key


class MT19937:
    """std::mt19937 seeded with `seed mod 2**32`: a buffered stream of its 32-bit outputs.

    numpy's MT19937 runs the same recurrence; it is given the state std::mt19937(seed) starts from
    (pos=624: the first output twists first, as libstdc++'s does).
    """

    __slots__ = ("_bitgen", "_buf", "_pos")

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self._bitgen = np.random.MT19937()
        self._bitgen.state = {"bit_generator": "MT19937",
                              "state": {"key": _init_genrand(int(seed)), "pos": 624}}
        self._buf: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._pos = 0

    def take(self, n: int) -> NDArray[np.uint64]:
        """The next `n` outputs (uint64 holding 32-bit values). The result is a view: do not modify."""
        if self._pos + n > self._buf.size:
            rest = self._buf[self._pos:]
            self._buf = np.concatenate([rest, self._bitgen.random_raw(max(n - rest.size, _CHUNK))])
            self._pos = 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += n
        return out

    def _unread(self, n: int) -> None:
        """Give back the last `n` outputs of the latest `take` (they are still in the buffer)."""
        assert 0 <= n <= self._pos
        self._pos -= n

    def __call__(self) -> int:
        """One output, as `rng()` in C++."""
        return int(self.take(1)[0])

    def discard(self, n: int) -> None:
        """Skip `n` outputs (std::mersenne_twister_engine::discard)."""
        while n > 0:
            step = min(n, _CHUNK)
            self.take(step)
            n -= step


# --- uniform_int_distribution --------------------------------------------------------------------

def _nd(rng: MT19937, erange: int) -> int:
    """libstdc++ `_S_nd<uint64_t>(g, uint32 range)`: Lemire's method, 0 <= result < erange."""
    product = rng() * erange
    low = product & _MASK32
    if low < erange:
        threshold = (_TWO32 - erange) % erange  # `-__range % __range` in 32 bits
        while low < threshold:
            product = rng() * erange
            low = product & _MASK32
    return product >> 32


def uniform_int(rng: MT19937, a: int, b: int) -> int:
    """`std::uniform_int_distribution<T>(a, b)(rng)` for a 64-bit-or-narrower integer T, a <= b."""
    urange = (b - a) & _MASK64  # __uctype is 64-bit: mt19937's result_type is unsigned long
    if urange < _MASK32:
        ret = _nd(rng, urange + 1)  # downscaling; __urange + 1 fits 32 bits
    elif urange > _MASK32:
        while True:  # upscaling: (2**32) * high + low, retried on overflow or past the range
            tmp = (_TWO32 * uniform_int(rng, 0, urange >> 32)) & _MASK64
            ret = (tmp + rng()) & _MASK64
            if not (ret > urange or ret < tmp):
                break
    else:
        ret = rng()
    return a + ret


def uniform_ints(rng: MT19937, ranges: NDArray[np.uint64] | int, count: int | None = None) -> NDArray[np.int64]:
    """Successive draws of `uniform_int(0, r - 1)`, one for each r in `ranges` (or `count` times r).

    Ranges must lie in [1, 2**32]; a range of 1 still consumes an output, as in libstdc++. Draws go
    block by block: where Lemire rejections are rare, in numpy (`_vector_block`); where they are
    frequent (ranges just above 2**32 / k lose up to half their outputs), in a Python loop.
    """
    r_all = None if np.isscalar(ranges) else np.asarray(ranges, dtype=np.uint64)  # None: one range for all
    n = int(count if count is not None else 1) if r_all is None else r_all.size
    out = np.empty(n, dtype=np.int64)
    if r_all is None:
        lo = hi = int(ranges)
    else:
        lo, hi = int(r_all.min(initial=1)), int(r_all.max(initial=1))
    if lo < 1 or hi > _TWO32:
        raise ValueError("uniform_ints supports ranges in [1, 2**32]")
    if hi == _TWO32:  # urange == urngrange: the raw output, taken one by one if mixed with others
        if r_all is None or lo == _TWO32:  # (one range for all: lo == hi)
            out[:] = rng.take(n)
        else:
            out[:] = [uniform_int(rng, 0, int(r) - 1) for r in r_all]
        return out
    block = _CHUNK if r_all is None else 4096  # small blocks let the method follow a shuffle's ranges
    for i in range(0, n, block):
        m = min(block, n - i)
        r = np.uint64(int(ranges)) if r_all is None else r_all[i:i + m]
        threshold = np.uint64(_TWO32) % r  # `-__range % __range` in 32 bits; rejected: low < threshold
        if float(np.mean(threshold)) > 0.04 * _TWO32:
            _scalar_block(rng, np.broadcast_to(r, (m,)), np.broadcast_to(threshold, (m,)), out[i:i + m])
        else:
            _vector_block(rng, r, threshold, out[i:i + m])
    return out


def _vector_block(rng: MT19937, r: NDArray[np.uint64] | np.uint64, threshold: NDArray[np.uint64] | np.uint64,
                  out: NDArray[np.int64]) -> None:
    """Map a run of outputs at once; at the first rejection give back the rest and redraw that draw.

    `r` and `threshold` hold one range per draw (arrays) or one for every draw (numpy scalars)."""
    n, i, step = out.size, 0, out.size
    per_draw = (r, threshold) if isinstance(r, np.ndarray) and isinstance(threshold, np.ndarray) else None
    while i < n:
        m = min(step, n - i)
        rr, tt = (r, threshold) if per_draw is None else (per_draw[0][i:i + m], per_draw[1][i:i + m])
        product = rng.take(m) * rr
        rejected = (product & np.uint64(_MASK32)) < tt
        j = int(rejected.argmax())
        if not rejected[j]:
            out[i:i + m] = product >> np.uint64(32)
            i += m
            step = min(2 * step, n)
            continue
        out[i:i + j] = product[:j] >> np.uint64(32)
        rng._unread(m - j - 1)  # outputs after the rejected one belong to later draws
        rj, tj = (int(r), int(threshold)) if per_draw is None else (int(per_draw[0][i + j]), int(per_draw[1][i + j]))
        while (p := rng() * rj) & _MASK32 < tj:
            pass
        out[i + j] = p >> 32
        i += j + 1
        step = max(_MIN_STEP, 2 * (j + 1))


def _scalar_block(rng: MT19937, r: NDArray[np.uint64], threshold: NDArray[np.uint64],
                  out: NDArray[np.int64]) -> None:
    """The same draws one at a time in Python: cheaper than restarting numpy every few draws."""
    first = rng.take(2 * r.size + 16)  # rejections are < 1/2 per draw: usually enough
    raws, p = first.tolist(), 0
    values = []
    for rk, tk in zip(r.tolist(), threshold.tolist()):
        while True:
            if p == len(raws):
                raws.extend(rng.take(1024).tolist())
            product = raws[p] * rk
            p += 1
            if product & _MASK32 >= tk:
                break
        values.append(product >> 32)
    rng._unread(len(raws) - p)  # unused outputs all come from the latest take
    out[:] = values


# --- std::shuffle ----------------------------------------------------------------------------------

def _shuffle_ranges(n: int) -> tuple[NDArray[np.uint64], bool]:
    """The ranges std::shuffle of n elements draws, and whether it takes the paired path."""
    if n > _TWO32:  # libstdc++ would draw through its upscaling path; 32 GiB of indices anyway
        raise ValueError(f"shuffles of more than 2**32 elements are not supported (n={n})")
    if n < 2:
        return np.empty(0, dtype=np.uint64), True
    if _MASK32 // n >= n:  # `__urngrange / __urange >= __urange`: two swaps per draw
        first = 2 if n % 2 == 0 else 1
        i = np.arange(first, n, 2, dtype=np.uint64)
        pair = (i + np.uint64(1)) * (i + np.uint64(2))
        if first == 2:  # even n: one uniform_int(0, 1) first, for position 1
            pair = np.concatenate([np.array([2], dtype=np.uint64), pair])
        return pair, True
    return np.arange(2, n + 1, dtype=np.uint64), False  # position i draws uniform_int(0, i)


def _swap_targets(n: int, draws: NDArray[np.int64], paired: bool) -> NDArray[np.int64]:
    """Swap targets of positions 1..n-1 (iter_swap(first + i, first + t[i - 1])); rows = shuffles."""
    if not paired or n < 2:
        return draws
    targets = np.empty((draws.shape[0], n - 1), dtype=np.int64)
    first = 2 if n % 2 == 0 else 1
    if first == 2:
        targets[:, 0] = draws[:, 0]
        draws = draws[:, 1:]
    b1 = np.arange(first + 2, n + 1, 2, dtype=np.int64)  # __b1 = (i + 1) + 1 for the pair at i
    targets[:, first - 1::2] = draws // b1
    targets[:, first::2] = draws % b1
    return targets


def _draw_shuffles(rng: MT19937, n: int, count: int) -> NDArray[np.int64]:
    """Swap targets of `count` consecutive shuffles of n elements: shape (count, n - 1)."""
    ranges, paired = _shuffle_ranges(n)
    if ranges.size == 0:
        return np.empty((count, 0), dtype=np.int64)
    draws = uniform_ints(rng, np.tile(ranges, count)).reshape(count, ranges.size)
    return _swap_targets(n, draws, paired)


def _apply_swaps(values: MutableSequence[int], targets: NDArray[np.int64]) -> None:
    for i, j in enumerate(targets.tolist(), start=1):
        values[i], values[j] = values[j], values[i]


def _permutations_from_targets(targets: NDArray[np.int64]) -> NDArray[np.int64]:
    """perm[k] = the order a shuffle with targets[k] leaves [0, n); rows are independent."""
    count, n = targets.shape[0], targets.shape[1] + 1
    if count < 16:  # a Python loop per shuffle beats n numpy steps for few shuffles
        out = np.empty((count, n), dtype=np.int64)
        for k in range(count):
            values = list(range(n))
            _apply_swaps(values, targets[k])
            out[k] = values
        return out
    flat = np.tile(np.arange(n, dtype=np.int64), count)
    base = np.arange(count, dtype=np.int64) * n
    tcols = np.ascontiguousarray(targets.T) + base  # flat index of each swap target
    for i in range(1, n):  # the same Fisher-Yates step in every shuffle at once
        here, there = base + i, tcols[i - 1]
        moving = flat[here]
        flat[here] = flat[there]
        flat[there] = moving
    return flat.reshape(count, n)


def shuffle_permutations(rng: MT19937, n: int, count: int = 1) -> NDArray[np.int64]:
    """Orders left by `count` successive std::shuffle calls, each on a fresh [0, n): (count, n) int64.

    Shuffling an array `a` in place is then `a[:] = a[perm]`.
    """
    out = np.empty((count, n), dtype=np.int64)
    per_block = max(1, _CHUNK // max(n, 1))
    for k in range(0, count, per_block):  # blocks bound the temporaries to ~_CHUNK elements
        block = min(per_block, count - k)
        out[k:k + block] = _permutations_from_targets(_draw_shuffles(rng, n, block)) if n else 0
    return out


def skip_shuffles(rng: MT19937, n: int, count: int) -> None:
    """Consume exactly the outputs of `count` std::shuffle calls on n elements (results unused)."""
    ranges, _ = _shuffle_ranges(n)
    if ranges.size == 0 or count == 0:
        return
    per_block = max(1, _CHUNK // ranges.size)
    while count > 0:
        block = min(count, per_block)
        uniform_ints(rng, np.tile(ranges, block))
        count -= block


def shuffle(rng: MT19937, values: MutableSequence[int] | NDArray[np.int64]) -> None:
    """`std::shuffle(values.begin(), values.end(), rng)` in place."""
    n = len(values)
    targets = _draw_shuffles(rng, n, 1)[0] if n > 1 else np.empty(0, dtype=np.int64)
    if isinstance(values, np.ndarray):
        perm = list(range(n))
        _apply_swaps(perm, targets)
        values[:] = values[np.asarray(perm, dtype=np.int64)]
    else:
        _apply_swaps(values, targets)


# --- real distributions ----------------------------------------------------------------------------

_ONE_BELOW = math.nextafter(1.0, 0.0)


def canonicals(rng: MT19937, count: int) -> NDArray[np.float64]:
    """`count` values of generate_canonical<double, 53>: two outputs each, (g1 + g2 * 2**32) / 2**64."""
    raw = rng.take(2 * count).astype(np.float64)
    u = raw[1::2] * 4294967296.0  # exact; the sum below rounds once, as in libstdc++
    u += raw[0::2]
    u *= 2.0 ** -64  # exact, as the division by 2**64
    np.minimum(u, _ONE_BELOW, out=u)  # libstdc++ turns a rounded-up 1.0 into nextafter(1, 0)
    return u


def generate_canonical(rng: MT19937) -> float:
    """One generate_canonical<double, 53> (= uniform_real_distribution<double>(0, 1))."""
    return float(canonicals(rng, 1)[0])


def exponentials(rng: MT19937, lam: float, count: int) -> NDArray[np.float64]:
    """`count` draws of exponential_distribution<double>(lam): -log(1 - U) / lam."""
    return -np.log(1.0 - canonicals(rng, count)) / lam


def durations_ns(rng: MT19937, lam: float, count: int) -> NDArray[np.int64]:
    """`duration_cast<nanoseconds>(duration<double>(exponential(lam)))` for `count` draws (int64).

    numpy's vector log may differ from the C library's in the last bit; that only matters where
    s * 1e9 lies next to an integer, so those few values are recomputed with math.log (libm).
    """
    u = canonicals(rng, count)
    x = np.subtract(1.0, u)
    np.log(x, out=x)
    x /= lam
    x *= -1e9  # (-log / lam) * 1e9: negating first or last rounds the same
    out = x.astype(np.int64)  # truncation toward zero, as static_cast<long>
    x -= out  # fraction in [0, 1)
    tol = max(float(out.max(initial=0)), 1.0) * 2.0 ** -40
    x -= 0.5
    np.abs(x, out=x)
    for k in np.flatnonzero(x > 0.5 - tol).tolist():
        out[k] = int((-math.log(1.0 - float(u[k])) / lam) * 1e9)
    return out
