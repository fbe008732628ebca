"""podium.loadgen.rng against std::mt19937 and libstdc++'s distributions.

Known values come from the C++ standard (the 10000th output of a default-constructed mt19937) and from
a program built with g++ 12 / libstdc++ (same algorithms as GCC 14's); the bulk paths are checked
against the scalar ports, draw for draw and output for output. Where g++ is installed, a last test
builds that program and compares a larger battery.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from tests.loadgen.official_probe import load_engine_modules

rng = load_engine_modules()[0]
MT19937 = rng.MT19937

# std::mt19937 g(2024) drawing, in this order (printed by known.cc, see test_against_libstdcxx):
KNOWN_2024 = {
    "int09": [5, 7, 6, 7, 1, 5, 0, 8, 2, 9],  # uniform_int_distribution<int>(0, 9)
    "half": [227768288, 1708797989, 1459001505, 1437858544, 1017575890, 1576280830, 962707960, 41031863],
    "big": [144966305994, 1007609844063, 158749625867],  # (0, 2**40 - 1): the upscaling path
    "shuffle10": [5, 9, 8, 3, 6, 0, 1, 2, 4, 7],
    "shuffle7": [4, 5, 6, 1, 3, 0, 2],
    "canon": [0.67017429805804618, 0.73576659697409141, 0.25799564048116974],
    "exp_ns": [100419, 3241881, 290041, 331515, 1462113],  # duration_cast<ns>(exponential(1000))
    "next": [2738039382],
}


def test_default_seed_10000th_output() -> None:
    """C++ [rand.predef]: the 10000th output of a default-constructed mt19937 is 4123659995."""
    assert rng.DEFAULT_SEED == 5489
    assert int(MT19937().take(10000)[-1]) == 4123659995
    assert int(MT19937(5489).take(10000)[-1]) == 4123659995


def test_seed_is_taken_mod_2_32() -> None:
    assert MT19937(2**32 + 7).take(5).tolist() == MT19937(7).take(5).tolist()
    # mlperf.conf's qsl_rng_seed, as std::mt19937(uint64_t) sees it (libstdc++)
    assert MT19937(2085463073848966840).take(3).tolist() == [144363858, 3947231266, 1102009372]


def test_take_call_discard_and_unread_share_one_stream() -> None:
    ref = MT19937(99).take(3000).tolist()
    g = MT19937(99)
    head = [g()] + g.take(10).tolist()
    g.discard(489)
    middle = g.take(2000).tolist()
    g._unread(500)
    tail = g.take(500).tolist() + [g() for _ in range(500)]
    assert (head, middle, tail) == (ref[:11], ref[500:2500], ref[2000:3000])


def test_known_libstdcxx_values() -> None:
    g = MT19937(2024)
    assert [rng.uniform_int(g, 0, 9) for _ in range(10)] == KNOWN_2024["int09"]
    assert rng.uniform_ints(g, 2**31 + 1, 8).tolist() == KNOWN_2024["half"]  # rejects ~half its outputs
    assert [rng.uniform_int(g, 0, 2**40 - 1) for _ in range(3)] == KNOWN_2024["big"]
    for n in (10, 7):  # even n: one draw for position 1, then pairs
        values = list(range(n))
        rng.shuffle(g, values)
        assert values == KNOWN_2024[f"shuffle{n}"]
    assert [rng.generate_canonical(g) for _ in range(3)] == KNOWN_2024["canon"]
    assert rng.durations_ns(g, 1000.0, 5).tolist() == KNOWN_2024["exp_ns"]
    assert [g()] == KNOWN_2024["next"]


@pytest.mark.parametrize("ranges", [
    [24576] * 5000,  # almost never rejects: one numpy pass
    [2**31 + 1] * 3000 + [3] * 3000,  # rejects half, then almost never: scalar then vector blocks
    list(range(1, 9000, 3)),
    [1, 2**32 - 1, 2**31 - 1, 3 * 2**30, 1431655766, 5, 1] * 700,  # mixed worst cases
])
def test_bulk_draws_equal_scalar_draws(ranges: list[int]) -> None:
    a, b = MT19937(31337), MT19937(31337)
    assert rng.uniform_ints(a, np.array(ranges, dtype=np.uint64)).tolist() == [
        rng.uniform_int(b, 0, r - 1) for r in ranges]
    assert a() == b()  # the same number of outputs consumed, rejections included


def test_constant_range_bulk_equals_scalar() -> None:
    a, b = MT19937(5), MT19937(5)
    for r in (1, 2, 1000, 2**31 + 1, 2**32 - 1, 2**32):
        assert rng.uniform_ints(a, r, 700).tolist() == [rng.uniform_int(b, 0, r - 1) for _ in range(700)]
    assert a() == b()


def _literal_shuffle(g: MT19937, values: list[int]) -> None:
    """bits/stl_algo.h std::shuffle, line by line, on the scalar uniform_int."""
    n = len(values)
    if n == 0:
        return
    if (2**32 - 1) // n >= n:
        i = 1
        if n % 2 == 0:
            j = rng.uniform_int(g, 0, 1)
            values[i], values[j] = values[j], values[i]
            i += 1
        while i != n:
            swap_range = i + 1
            x = rng.uniform_int(g, 0, swap_range * (swap_range + 1) - 1)
            for j in (x // (swap_range + 1), x % (swap_range + 1)):
                values[i], values[j] = values[j], values[i]
                i += 1
        return
    for i in range(1, n):
        j = rng.uniform_int(g, 0, i)
        values[i], values[j] = values[j], values[i]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, 101, 46341, 65535, 65536, 70001])
def test_shuffle_equals_literal_port(n: int) -> None:
    """Both of libstdc++'s paths: pairs while n * n fits 32 bits (n <= 65535), single draws beyond."""
    a, b = MT19937(n + 1), MT19937(n + 1)
    got = np.arange(n, dtype=np.int64)
    rng.shuffle(a, got)
    want = list(range(n))
    _literal_shuffle(b, want)
    assert got.tolist() == want
    assert a() == b()


def test_batched_shuffles_equal_one_by_one() -> None:
    """shuffle_permutations' numpy path (>= 16 shuffles) and skip_shuffles keep the same stream."""
    a, b, c = MT19937(8), MT19937(8), MT19937(8)
    batch = rng.shuffle_permutations(a, 301, 40)
    single = np.stack([rng.shuffle_permutations(b, 301, 1)[0] for _ in range(40)])
    rng.skip_shuffles(c, 301, 40)
    assert (batch == single).all()
    assert a() == b() == c()
    assert sorted(batch[7].tolist()) == list(range(301))


class _Saturated:
    """A generator stand-in whose every output is 2**32 - 1."""

    def take(self, n: int) -> np.ndarray:
        return np.full(n, 2**32 - 1, dtype=np.uint64)


def test_canonical_never_returns_one() -> None:
    """(2**32-1) + (2**32-1) * 2**32 rounds to 2**64 in double: libstdc++ returns nextafter(1, 0)."""
    assert rng.canonicals(_Saturated(), 2).tolist() == [math.nextafter(1.0, 0.0)] * 2


def test_bulk_exponential_durations_equal_libm_formula() -> None:
    """duration_cast<ns>(-log(1 - U) / qps seconds) with libm's log, for many draws and rates."""
    for qps in (0.5, 1000.0, 123456.7):
        a, b = MT19937(17), MT19937(17)
        got = rng.durations_ns(a, qps, 20000).tolist()
        u = rng.canonicals(b, 20000).tolist()
        assert got == [int((-math.log(1.0 - x) / qps) * 1e9) for x in u]


CXX_BATTERY = r"""
#include <random>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include <numeric>
int main() {
#if !defined(_GLIBCXX_RELEASE) || _GLIBCXX_RELEASE < 11
  printf("old\n"); return 0;  // before GCC 11 uniform_int_distribution did not use Lemire's method
#endif
  std::mt19937 g(4242);
  unsigned long ranges[] = {1, 2, 3, 1000, 24576, 50000, 1000000007UL, 2147483649UL, 3000000000UL,
                            4294967295UL, 4294967296UL, 4294967297UL, 1UL << 40, ~0UL};
  for (unsigned long r : ranges) {
    std::uniform_int_distribution<unsigned long> d(0, r - 1);
    for (int i = 0; i < 300; i++) printf("%lu ", d(g));
  }
  for (size_t n : {2, 3, 1001, 50000, 65535, 65536, 70000}) {
    std::vector<size_t> v(n); std::iota(v.begin(), v.end(), 0); std::shuffle(v.begin(), v.end(), g);
    for (size_t x : v) printf("%zu ", x);
  }
  std::exponential_distribution<> e(5000.0);
  for (int i = 0; i < 5000; i++)
    printf("%ld ", (long)std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::duration<double>(e(g))).count());
  printf("%lu\n", (unsigned long)g());
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (libstdc++ >= 11)")
def test_against_libstdcxx(tmp_path) -> None:
    src = tmp_path / "battery.cc"
    src.write_text(CXX_BATTERY)
    subprocess.run(["g++", "-O1", "-std=c++17", str(src), "-o", str(tmp_path / "battery")], check=True)
    out = subprocess.run([str(tmp_path / "battery")], check=True, capture_output=True, text=True).stdout
    if out.strip() == "old":
        pytest.skip("libstdc++ older than GCC 11")
    g, want = MT19937(4242), [int(x) for x in out.split()]
    got: list[int] = []
    for r in (1, 2, 3, 1000, 24576, 50000, 1000000007, 2147483649, 3000000000, 2**32 - 1, 2**32, 2**32 + 1,
              2**40, 2**64 - 1):
        got += [rng.uniform_int(g, 0, r - 1) for _ in range(150)]
        got += rng.uniform_ints(g, r, 150).tolist() if r <= 2**32 else [rng.uniform_int(g, 0, r - 1)
                                                                        for _ in range(150)]
    for n in (2, 3, 1001, 50000, 65535, 65536, 70000):
        values = np.arange(n, dtype=np.int64)
        rng.shuffle(g, values)
        got += values.tolist()
    got += rng.durations_ns(g, 5000.0, 5000).tolist() + [g()]
    assert got == want
