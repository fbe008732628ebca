"""Live progress of a long run: issued and completed samples, current rate, latency percentiles so far.

A daemon thread polls the engine (`podium.loadgen.progress`) about once a second and writes one line to
stderr; on a terminal the line is redrawn in place. Polling reads the engine's flat arrays: it never takes a
lock the issuing thread uses.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np

from podium.loadgen.settings import TestSettings

INTERVAL_S = 1.0
# Runs shorter than this show no progress unless asked.
AUTO_MIN_DURATION_MS = 10_000


def line(issued: int, completed: int, rate: float, latencies_ns: np.ndarray) -> str:
    text = f"issued {issued:,} queries · completed {completed:,} samples · {rate:,.0f} samples/s"
    if latencies_ns.size:
        p50, p90, p99 = np.quantile(latencies_ns, (0.5, 0.9, 0.99))
        text += f" · latency p50 {p50 / 1e6:.3f} ms p90 {p90 / 1e6:.3f} ms p99 {p99 / 1e6:.3f} ms"
    return text


def _poll(stop: threading.Event, tty: bool) -> None:
    from podium.loadgen import session

    last_done, last_t = 0, time.perf_counter()
    while not stop.wait(INTERVAL_S):
        snap = session.progress()
        if snap is None:
            continue
        issued, done, lat = snap
        now = time.perf_counter()
        rate = (done - last_done) / max(now - last_t, 1e-9)
        last_done, last_t = done, now
        end = "\r" if tty else "\n"
        sys.stderr.write(line(issued, done, rate, lat) + ("\033[K" if tty else "") + end)
        sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")


@contextlib.contextmanager
def watching(enabled: bool | None, settings: TestSettings) -> Iterator[None]:
    """Show progress while the block runs: when `enabled`, or (None) on a terminal for runs >= 10 s."""
    tty = sys.stderr.isatty()
    if enabled is None:
        enabled = tty and settings.min_duration_ms >= AUTO_MIN_DURATION_MS
    if not enabled:
        yield
        return
    stop = threading.Event()
    t = threading.Thread(target=_poll, args=(stop, tty), name="podium-progress", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)
