"""podium.core.signals: SIGINT/SIGTERM stop a command with its logs, exit 130/143, within a bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from podium.core import signals


def _child(body: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    # Each body prints "ready" inside its `try` under signals.handled(): a signal sent earlier would find
    # the default handlers, or no handler of the body's.
    code = textwrap.dedent("""
        import sys, time
        from podium.core import signals
        from podium.core.errors import RunAborted
    """) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_sigterm_raises_a_keyboard_interrupt_that_knows_its_signal() -> None:
    """Fault: SIGTERM (what schedulers send) used to kill the process with nothing flushed."""
    p = _child("""
        with signals.handled():
            try:
                print("ready", flush=True)
                time.sleep(30)
            except KeyboardInterrupt as e:
                print("caught", signals.signum_of(e), signals.describe(signals.signum_of(e)), flush=True)
                sys.exit(signals.exit_code(signals.signum_of(e)))
    """)
    assert p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert out.strip() == "caught 15 terminated (SIGTERM)"
    assert p.returncode == 143


def test_a_swallowed_interrupt_is_raised_again_at_the_next_check() -> None:
    """Fault: a KeyboardInterrupt raised inside a weakref callback is only printed ("Exception ignored")."""
    p = _child("""
        import weakref
        class Obj: pass
        with signals.handled():
            steps = 0
            try:
                print("ready", flush=True)
                while steps < 3000:
                    o = Obj()
                    weakref.finalize(o, time.sleep, 0.01)   # the signal often lands in here: swallowed
                    del o
                    steps += 1
                    signals.raise_if_received()
                print("ran to the end", flush=True)
            except KeyboardInterrupt as e:
                print("stopped", signals.signum_of(e), flush=True)
    """)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGINT)
    out, _ = p.communicate(timeout=40)
    assert out.strip() == "stopped 2"


def test_a_process_that_ignores_the_stop_is_ended_after_the_grace_period() -> None:
    """Fault: code stuck after the signal (a SUT in native code that never returns)."""
    p = _child("""
        with signals.handled():
            try:
                print("ready", flush=True)
                time.sleep(30)
            except KeyboardInterrupt:
                while True:        # ignores the stop
                    time.sleep(0.05)
    """, env={"PODIUM_SIGNAL_GRACE_S": "1"})
    assert p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143
    assert "still running 1 s after the signal" in err


def test_a_second_signal_ends_the_process_at_once() -> None:
    p = _child("""
        with signals.handled():
            try:
                print("ready", flush=True)
                time.sleep(30)
            except KeyboardInterrupt:
                print("cleaning up", flush=True)
                time.sleep(30)
    """)
    assert p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGINT)
    assert p.stdout.readline().strip() == "cleaning up"
    os.kill(p.pid, signal.SIGTERM)
    p.communicate(timeout=20)
    assert p.returncode == 130  # the first signal's code


def test_handlers_are_restored_and_nothing_is_installed_off_the_main_thread() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with signals.handled():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    assert signals.describe(signal.SIGINT) == "interrupted (Ctrl-C)"


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_exit_codes_follow_the_shell_convention(signum: int, code: int) -> None:
    assert signals.exit_code(signum) == code
