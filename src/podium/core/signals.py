"""SIGINT and SIGTERM as an operator expects of a benchmark: finish the logs, mark the run aborted, exit 130/143.

The CLI runs every command inside `handled()`. The first SIGINT (Ctrl-C) or SIGTERM (what `timeout`, Slurm
and Kubernetes send) raises `Interrupted`, a KeyboardInterrupt, in the main thread, so every path that
already turns Ctrl-C into an aborted, fully logged run handles SIGTERM too. Three things bound the exit:

- the signal is remembered (`received()`): a loop that may have had the exception swallowed (Python reports
  an exception raised inside a weakref or `__del__` callback as "Exception ignored" and goes on, which
  torch's callbacks make likely in a training step) calls `raise_if_received()` at its next step;
- a watchdog ends the process with 128 + signum if it has not exited `GRACE_S` seconds later (a SUT stuck
  in native code cannot hold the machine);
- a second signal ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

GRACE_S = float(os.environ.get("PODIUM_SIGNAL_GRACE_S", "60"))
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: int | None = None
_watchdog: threading.Timer | None = None


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM raised as a KeyboardInterrupt; `signum` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        super().__init__(describe(signum))


def describe(signum: int | None) -> str:
    """'interrupted (Ctrl-C)' or 'terminated (SIGTERM)': how logs and errors name the stop."""
    if signum is None or signum == signal.SIGINT:
        return "interrupted (Ctrl-C)"
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"terminated ({name})"


def received() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _received


def signum_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (plain ones are Ctrl-C)."""
    return int(getattr(exc, "signum", None) or _received or signal.SIGINT)


def exit_code(signum: int | None) -> int:
    return 128 + int(signum or signal.SIGINT)


def raise_if_received() -> None:
    """Raise `Interrupted` again if a stop signal came (its first raise may have been swallowed)."""
    if _received is not None:
        raise Interrupted(_received)


def _handler(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        print(f"podium: {describe(signum)} again: exiting now", file=sys.stderr, flush=True)
        os._exit(exit_code(_received))
    _received = signum
    _start_watchdog(signum)
    raise Interrupted(signum)


def _start_watchdog(signum: int) -> None:
    global _watchdog

    def expire() -> None:
        print(f"podium: {describe(signum)}: still running {GRACE_S:g} s after the signal; exiting now",
              file=sys.stderr, flush=True)
        os._exit(exit_code(signum))

    _watchdog = threading.Timer(GRACE_S, expire)
    _watchdog.daemon = True
    _watchdog.start()


@contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the duration (main thread only; elsewhere a no-op); restore them after."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _received = None
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        if _watchdog is not None:  # the command ended in time: its stop was bounded
            _watchdog.cancel()
        _received = None  # in-process work after this command is not stopped by its signal
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for a short critical section (swapping results in) and deliver them after.

    Main thread only (signal handlers live there); elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        if pending:
            signal.raise_signal(pending[0])


def reset() -> None:
    """Forget a received signal (tests that run several interrupted runs in one process)."""
    global _received
    _received = None


__all__ = ["GRACE_S", "Interrupted", "deferred", "describe", "exit_code", "handled", "raise_if_received", "received",
           "reset", "signum_of"]
