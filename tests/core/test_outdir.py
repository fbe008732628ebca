"""podium.core.outdir: one run per output folder; results replaced only by finished runs; killed runs kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from podium.core import outdir
from podium.core.errors import OutputBusy


def _holder(root: Path, *extra: str) -> subprocess.Popen:
    """A real second process holding `root` (and, with extra code, staging into it) until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from podium.core import outdir
        root = Path({str(root)!r})
        with outdir.exclusive(root):
            {'; '.join(extra) or 'pass'}
            print("holding", flush=True)
            time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_second_run_into_the_same_folder_refuses_naming_the_holders_pid(tmp_path: Path) -> None:
    """Fault: two concurrent runs into one output folder."""
    p = _holder(tmp_path)
    try:
        with pytest.raises(OutputBusy, match=rf"in use by another Podium run \(PID {p.pid} "):
            with outdir.exclusive(tmp_path):
                pass
        with pytest.raises(OutputBusy, match=rf"PID {p.pid}"):  # a folder inside the held one too
            with outdir.exclusive(tmp_path / "training"):
                pass
    finally:
        p.kill()
        p.wait()
    with outdir.exclusive(tmp_path):  # the kernel dropped the dead holder's lock
        pass


def test_the_lock_is_reentrant_within_one_process(tmp_path: Path) -> None:
    """podium run trains and serves into folders it already holds."""
    with outdir.exclusive(tmp_path), outdir.exclusive(tmp_path), outdir.exclusive(tmp_path / "training"):
        assert outdir.held(tmp_path) and outdir.held(tmp_path / "training")
    assert not outdir.held(tmp_path)


def test_a_failed_run_leaves_the_previous_results_and_keeps_its_own(tmp_path: Path) -> None:
    """Fault: a run that raises half-way used to have deleted the previous results already."""
    final = tmp_path / "results" / "sys" / "digits" / "Offline"
    with outdir.exclusive(tmp_path):
        with outdir.Staged(final, tmp_path) as st:
            (st.path / "mlperf_log_summary.txt").write_text("first")
        with pytest.raises(RuntimeError):
            with outdir.Staged(final, tmp_path, seed=True) as st:
                assert (st.path / "mlperf_log_summary.txt").read_text() == "first"
                (st.path / "mlperf_log_summary.txt").write_text("second, half")
                raise RuntimeError("the model raised")
    assert (final / "mlperf_log_summary.txt").read_text() == "first"
    [kept] = (tmp_path / ".podium" / "partial").rglob("mlperf_log_summary.txt")
    assert kept.read_text() == "second, half"
    assert kept.relative_to(tmp_path / ".podium" / "partial").parts[1:] == final.relative_to(tmp_path).parts + \
        ("mlperf_log_summary.txt",)


def test_a_finished_run_replaces_the_previous_results_whole(tmp_path: Path) -> None:
    final = tmp_path / "results" / "x"
    with outdir.exclusive(tmp_path):
        with outdir.Staged(final, tmp_path) as st:
            (st.path / "old_only.txt").write_text("1")
        with outdir.Staged(final, tmp_path) as st:
            (st.path / "new.txt").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert not (tmp_path / ".podium" / "staging").exists()


def test_a_run_killed_mid_way_is_kept_and_the_previous_results_stay(tmp_path: Path) -> None:
    """Fault: kill -9 during a run (a real process killed while staging)."""
    final = tmp_path / "results" / "x"
    with outdir.exclusive(tmp_path):
        with outdir.Staged(final, tmp_path) as st:
            (st.path / "summary.txt").write_text("previous")
    p = _holder(tmp_path, f"st = outdir.Staged(Path({str(final)!r}), root)",
                "(st.path / 'summary.txt').write_text('partial')")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (final / "summary.txt").read_text() == "previous"
    with outdir.exclusive(tmp_path):  # the next run recovers the killed one's files
        pass
    assert (final / "summary.txt").read_text() == "previous"
    [kept] = (tmp_path / ".podium" / "partial").rglob("summary.txt")
    assert kept.read_text() == "partial"


def test_a_commit_killed_between_its_two_renames_is_rolled_back(tmp_path: Path) -> None:
    """Fault: kill -9 in the instant between moving the old result away and the new one in."""
    final = tmp_path / "results" / "x"
    with outdir.exclusive(tmp_path):
        with outdir.Staged(final, tmp_path) as st:
            (st.path / "summary.txt").write_text("previous")
        st = outdir.Staged(final, tmp_path)
        (st.path / "summary.txt").write_text("new")
        os.rename(final, st.area / "previous")  # what commit() does first; the process "dies" here
    assert not final.exists()
    with outdir.exclusive(tmp_path):
        pass
    assert (final / "summary.txt").read_text() == "previous"


def test_staging_outside_a_held_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="must be locked"):
        outdir.Staged(tmp_path / "x", tmp_path)


@pytest.mark.realtime
def test_the_lock_file_names_the_holder_while_held(tmp_path: Path) -> None:
    """The holder's PID and command are readable by an operator (cat .podium.lock)."""
    p = _holder(tmp_path)
    try:
        deadline = time.monotonic() + 5  # tolerance: the holder wrote its line before printing "holding"
        text = ""
        while time.monotonic() < deadline and not text:
            text = (tmp_path / outdir.LOCK_NAME).read_text()
        assert f"PID {p.pid}" in text
    finally:
        p.kill()
        p.wait()
