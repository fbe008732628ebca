"""Faults injected into `podium infer` from the command line (issue 10): numbers out of range, a short completion
wait, a second run into the same folder, SIGKILL and SIGTERM mid-run, a read-only and a full output folder, a stray
./audit.config under the official engine.

Real processes, real signals and real file systems: runs are `python -m podium infer` subprocesses; the read-only
folder is a tmpfs remounted read-only and the full disk a 256 KiB tmpfs (both need root: skipped otherwise). A
"long" run is Server at 100 QPS without --short (1000 queries, about 10 s); the tests stop it after it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from podium.cli import main

pytest.importorskip("onnxruntime")

QUICK = ("--scenario", "Server", "--target-qps", "1000", "--short")  # about a second of measuring
LONG = ("--scenario", "Server", "--target-qps", "100")  # about 10 s unless stopped
HANG_GUARD_S = 120  # a wait that only ends a hung test; nothing is measured against it


def _args(model: Path, out: Path, *more: str, reference: str = "1") -> list[str]:
    return ["infer", "digits", "--model", str(model), "--out", str(out), "--reference-accuracy", reference, *more]


def _podium(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "podium", *args], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, cwd=cwd)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "podium", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen) -> None:
    """Poll until `check()` holds; fail (killing `proc`) if the process ended first or it never does."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"never saw {what}; exit {proc.returncode}\n{out}\n{err}")
        time.sleep(0.05)


def _measuring(out: Path, before: dict[str, bytes]) -> Callable[[], bool]:
    """Whether a new run into `out` is in its performance pass: a detail log under `out` (wherever the run
    writes it) that is not one of the previous results and says so."""
    def check() -> bool:
        for path in out.rglob("mlperf_log_detail.txt"):
            data = path.read_bytes()
            if b"Starting performance mode" in data and data not in before.values():
                return True
        return False
    return check


def _results(out: Path) -> dict[str, bytes]:
    """Every file of the results tree (path below out/results -> bytes)."""
    root = out / "results"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def previous(digits_model, cache_dir, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An output folder holding the results of a finished run, and a copy of those results."""
    out = tmp_path / "out"
    r = _podium(*_args(digits_model["onnx"], out, *QUICK))
    assert r.returncode in (0, 1) and "files:" in r.stdout, r.stderr
    return out, _results(out)


# ---- 3. numbers validated before anything runs ------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--batch-size", "0"), ("--batch-size", "-1"), ("--instances", "0"),
                                          ("--target-qps", "0"), ("--target-qps", "-5"), ("--target-qps", "nan"),
                                          ("--target-qps", "inf"), ("--count", "0"), ("--count", "-1"),
                                          ("--threads", "0"), ("--threads", "-1"), ("--max-wait-us", "-1"),
                                          ("--reference-accuracy", "nan"), ("--completion-timeout-s", "0"),
                                          ("--completion-timeout-s", "-1")])
def test_a_number_out_of_range_is_refused_in_one_line_naming_the_option(digits_model, cache_dir, tmp_path, capsys,
                                                                        option, value) -> None:
    """Fault: zero, negative, NaN or infinite numbers on the command line (used, ignored, hung or crashed)."""
    out = tmp_path / "out"
    bad_reference = option == "--reference-accuracy"
    args = _args(digits_model["onnx"], out, "--scenario", "Offline", "--short",
                 *(() if bad_reference else (option, value)), reference=value if bad_reference else "1")
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own refusal is fine too: exit 2, one line
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and option in err and "must be" in err and len(err.splitlines()) == 1, err
    assert not out.exists()  # refused before anything ran or was written


# ---- 1. the completion wait, and what a failed run prints --------------------------------------------------------

@pytest.mark.realtime  # 1 ms of wait against >= 15 ms of work (1100 samples in batches of 8): a 15x margin
def test_a_completion_wait_too_short_fails_the_run_with_the_reason_not_a_rate(digits_model, cache_dir,
                                                                               tmp_path) -> None:
    """Fault: samples completing after the wait (--completion-timeout-s shorter than the work)."""
    r = _podium(*_args(digits_model["onnx"], tmp_path / "out", "--scenario", "Offline", "--short",
                       "--batch-size", "8", "--completion-timeout-s", "0.001"))
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("digits Offline performance")]
    assert "FAILED" in line and "never completed" in line and "Samples/s" not in line, r.stdout
    assert r.returncode == 1 and "Traceback" not in r.stderr


# ---- 4. one run at a time; nothing measured is lost -------------------------------------------------------------

@pytest.mark.realtime  # the first run measures for about 10 s; the second starts in about 2 s: a 5x margin
def test_a_second_concurrent_run_into_the_same_out_is_refused_naming_the_pid(digits_model, previous) -> None:
    """Fault: two `podium infer` into one --out at once (interleaved logs, one run truncating the other's)."""
    out, before = previous
    first = _start(*_args(digits_model["onnx"], out, *LONG))
    try:
        _wait_for("the first run measuring", _measuring(out, before), first)
        second = _podium(*_args(digits_model["onnx"], out, *QUICK))
    finally:
        first.kill()
        first.communicate()
    assert second.returncode == 2 and f"PID {first.pid}" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
    assert _results(out) == before


@pytest.mark.realtime  # killed as soon as it measures, in a pass of about 10 s
def test_a_run_killed_by_sigkill_leaves_the_previous_results_and_the_next_run_works(digits_model,
                                                                                      previous) -> None:
    """Fault: kill -9 mid-run (the old run left the old summary beside a new partial detail log)."""
    out, before = previous
    run = _start(*_args(digits_model["onnx"], out, *LONG))
    _wait_for("the run measuring", _measuring(out, before), run)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert _results(out) == before
    again = _podium(*_args(digits_model["onnx"], out, *QUICK))
    assert again.returncode in (0, 1) and "was killed" in again.stderr, again.stderr
    assert list(out.glob(".podium/partial/*/results/**/performance/run_1/mlperf_log_detail.txt"))
    assert _results(out) != before  # the new run's results replaced the previous ones


# ---- 8. SIGTERM -------------------------------------------------------------------------------------------------

@pytest.mark.realtime  # signalled 0.5 s into a pass of about 10 s: a 20x margin
def test_sigterm_during_the_performance_pass_writes_an_aborted_record_and_exits_143(digits_model,
                                                                                      previous) -> None:
    """Fault: SIGTERM (a scheduler's stop) while measuring."""
    import json

    out, before = previous
    run = _start(*_args(digits_model["onnx"], out, *LONG))
    _wait_for("the run measuring", _measuring(out, before), run)
    time.sleep(0.5)  # well inside the pass (it lasts about 10 s)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=HANG_GUARD_S)
    assert run.returncode == 143, err
    assert "Traceback" not in err and "SIGTERM" in err
    assert _results(out) == before
    (record_path,) = out.glob(".podium/partial/*/results/**/performance/run_1/podium_run.json")
    record = json.loads(record_path.read_text("utf-8"))
    assert record["status"] == "aborted" and record["signal"] == "SIGTERM"
    assert (record_path.parent / "mlperf_log_summary.txt").is_file()  # the logs were finished


# ---- 5. OS errors: one line naming the path --------------------------------------------------------------------

def test_a_read_only_out_is_one_line_naming_the_path(digits_model, cache_dir, tmp_path) -> None:
    """Fault: --out on a read-only file system (a real tmpfs remounted read-only: root ignores chmod 0555)."""
    from tests.conftest import _mount_tmpfs, _umount

    out = tmp_path / "ro"
    _mount_tmpfs(out, "size=1m,mode=0755")
    try:
        assert _podium(*_args(digits_model["onnx"], out, *QUICK)).returncode in (0, 1)
        before = _results(out)
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        r = _podium(*_args(digits_model["onnx"], out, *QUICK))
        assert r.returncode == 2 and "read-only file system" in r.stderr and str(out) in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert _results(out) == before
    finally:
        _umount(out)


def test_a_full_disk_is_one_line_naming_the_path_and_leaves_no_temp_file(digits_model, cache_dir, small_disk) -> None:
    """Fault: ENOSPC mid-run (a real 256 KiB tmpfs; the old run left a 0-byte temp file and a truncated log).

    After a first run, the disk is filled to leave room for the lock and the staging copy of the previous
    results only, so that the second run fails on one of its own writes."""
    out = small_disk
    assert _podium(*_args(digits_model["onnx"], out, *QUICK)).returncode in (0, 1)
    before = _results(out)
    page = os.statvfs(out).f_frsize
    # The lock file, the staging journal, the copy of the previous results.
    room = 2 * page + sum(-(-len(data) // page) * page for data in before.values())
    with open(out / "filler", "wb", buffering=0) as f:
        try:
            while os.statvfs(out).f_bavail * page > room:
                f.write(b"\0" * page)
        except OSError:
            pass
    r = _podium(*_args(digits_model["onnx"], out, *QUICK))
    error = r.stderr.strip().splitlines()[-1]  # after the one line saying where this run's files went
    assert r.returncode == 2 and error.startswith("podium: error: cannot") and str(out) in error, r.stderr
    assert "no space left" in error and "Traceback" not in r.stderr
    assert _results(out) == before
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


# ---- 6. audit.config only when asked --------------------------------------------------------------------------

@pytest.mark.official
def test_the_official_engine_ignores_an_audit_config_in_the_working_directory(digits_model, cache_dir,
                                                                              tmp_path) -> None:
    """Fault: a stray ./audit.config silently applied by the official LoadGen; --audit-config applies one."""
    pytest.importorskip("mlperf_loadgen")
    (tmp_path / "audit.config").write_text("*.Server.target_qps = 123\n", "utf-8")
    common = ("--engine", "official", *QUICK)
    stray = _podium(*_args(digits_model["onnx"], tmp_path / "a", *common), cwd=tmp_path)
    asked = _podium(*_args(digits_model["onnx"], tmp_path / "b", *common, "--audit-config",
                           str(tmp_path / "audit.config")), cwd=tmp_path)
    logs = [(tmp_path / d / "results/local/digits/Server/performance/run_1/mlperf_log_detail.txt").read_text()
            for d in ("a", "b")]
    assert stray.returncode in (0, 1) and asked.returncode in (0, 1), stray.stderr + asked.stderr
    assert "Audit Config" not in logs[0] and '"effective_target_qps", "value": 1000' in logs[0]
    assert "Audit Config" in logs[1] and '"effective_target_qps", "value": 123' in logs[1]
