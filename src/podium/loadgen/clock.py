"""The engine's clock: monotonic nanoseconds, and waiting until an absolute deadline precisely.

The official LoadGen `sleep_until`s every Server arrival and wakes late by the kernel's timer slack
(50 µs by default on Linux), which shows up as latency (reference loadgen.md §10). Podium lowers the
issuing thread's timer slack to 1 ns for the duration of a run (prctl PR_SET_TIMERSLACK, restored
afterwards), sleeps to a little before each deadline and spins the rest, releasing the GIL while it
spins so that SUT worker threads keep running.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time
from collections.abc import Callable, Iterator
from typing import Protocol

now_ns = time.perf_counter_ns


class Clock(Protocol):
    """What the issue loops read time from (`IssuePass(clock=...)`); the engine's own is this module's
    `now_ns`/`wait_until`. Tests pass a fake one to check issue times and query order exactly."""

    def now_ns(self) -> int: ...

    def wait_until(self, deadline_ns: int) -> int: ...

# How long before a deadline the waiter stops sleeping and starts spinning: the median wake-up
# lateness of a sleep with 1 ns timer slack on a 2-core VM is ≈ 5 µs (p99 ≈ 20 µs under load);
# 30 µs puts nearly all wake-ups on time while spinning costs at most 30 µs of CPU per query.
SPIN_NS = 30_000

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


@contextlib.contextmanager
def fine_timer_slack() -> Iterator[None]:
    """Within the block, this thread's sleeps wake within ~5 µs instead of ~55 µs (Linux only)."""
    if _LIBC is None:
        yield
        return
    old = _LIBC.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
    _LIBC.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
    try:
        yield
    finally:
        if old > 0:
            _LIBC.prctl(_PR_SET_TIMERSLACK, old, 0, 0, 0)


def wait_until(deadline_ns: int, _sleep: Callable[[float], None] = time.sleep,
               _now: Callable[[], int] = now_ns) -> int:
    """Block until `deadline_ns` (absolute, `now_ns` clock); return the time of waking.

    Sleeps to SPIN_NS before the deadline, then yields (sleep(0) drops the GIL) until it passes.
    """
    t = _now()
    remaining = deadline_ns - t
    if remaining > SPIN_NS:
        _sleep((remaining - SPIN_NS) * 1e-9)
        t = _now()
    while t < deadline_ns:
        _sleep(0)
        t = _now()
    return t


class EngineClock:
    """The engine's own clock as a `Clock`: this module's `now_ns` and `wait_until`, with no call layer added."""

    now_ns = staticmethod(now_ns)
    wait_until = staticmethod(wait_until)
