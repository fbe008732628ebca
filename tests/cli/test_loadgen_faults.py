"""Faults on `podium loadgen null`'s command line, run as a user runs it (a real subprocess).

Each bad number is refused at parse time (exit 2, argparse's usage line and one error line naming the
option) or before the run (exit 2, one `podium: error:` line); options typed on the command line win over
--user-conf; a huge bad token in user.conf is not echoed. Bounds: a test that would run long on the
faulty code is stopped by its `communicate` timeout and fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import podium

SRC = Path(podium.__file__).resolve().parents[1]  # the podium this test imported: the checkout's, or another


def _podium(*args: str, timeout_s: float = 60) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    p = subprocess.Popen([sys.executable, "-m", "podium", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"podium {' '.join(args)} still ran after {timeout_s} s")
    return p.returncode, out, err


def _one_error_line(err: str) -> str:
    """argparse prints its usage, then one error line; Podium prints one `podium: error:` line."""
    assert "Traceback" not in err, err[-2000:]
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


BAD_OPTIONS = [
    ("--target-qps", "0", "must be a finite number > 0"),  # was silently replaced by 10,000
    ("--target-qps", "-5", "must be a finite number > 0"),  # ran 11 minutes at 1 QPS
    ("--target-qps", "nan", "must be a finite number > 0"),  # crashed later
    ("--target-qps", "inf", "must be a finite number > 0"),
    ("--min-duration-ms", "-5", "must be an integer >= 0"),  # "math domain error"
    ("--min-duration-ms", "1.5", "must be an integer >= 0"),
    ("--samples", "0", "must be an integer >= 1"),  # IndexError
    ("--samples", "-3", "must be an integer >= 1"),
]


@pytest.mark.parametrize(("option", "value", "why"), BAD_OPTIONS, ids=[f"{o}={v}" for o, v, _ in BAD_OPTIONS])
def test_fault_bad_number_on_the_command_line(tmp_path, option, value, why):
    """Fault: a non-finite or out-of-range number given to an option: refused before anything runs."""
    out_dir = tmp_path / "out"
    args = {"--min-duration-ms": "50", "--target-qps": "2000", option: value}  # short runs where it did run
    code, _, err = _podium("loadgen", "null", "--scenario", "Server", *[x for kv in args.items() for x in kv],
                           "--out", str(out_dir), timeout_s=30)
    assert code == 2
    line = _one_error_line(err)
    assert f"argument {option}: {why}, not '{value}'" in line
    assert not out_dir.exists()


def test_fault_schedule_too_big_on_the_command_line(tmp_path):
    """Fault: --target-qps 1e12 (was `MemoryError: Unable to allocate 7.28 TiB`): one line with the size."""
    out_dir = tmp_path / "out"
    code, _, err = _podium("loadgen", "null", "--scenario", "Server", "--target-qps", "1e12",
                           "--out", str(out_dir), timeout_s=30)
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith("podium: error: the Server PerformanceOnly schedule would hold 2,000,000,000,001 queries")
    assert "lower server_target_qps, min_duration_ms or min_query_count" in line
    assert not out_dir.exists()


def _detail(out_dir: Path) -> dict:
    entries = {}
    for line in open(out_dir / "mlperf_log_detail.txt"):
        if line.startswith(":::MLLOG "):
            e = json.loads(line[9:])
            entries.setdefault(e["key"], e["value"])
    return entries


def test_fault_user_conf_silently_overrode_command_line_options(tmp_path):
    """Fault: with --user-conf, --min-duration-ms and --target-qps were overridden by mlperf.conf/user.conf
    (a 300 ms run became a 600 s one); options typed on the command line win."""
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps = 500\n*.Server.min_query_count = 20\n")
    out_dir = tmp_path / "out"
    code, out, err = _podium("loadgen", "null", "--scenario", "Server", "--user-conf", str(conf),
                             "--min-duration-ms", "300", "--target-qps", "2000", "--out", str(out_dir), timeout_s=60)
    assert "Traceback" not in err, err[-2000:]
    d = _detail(out_dir)
    assert (d["effective_min_duration_ms"], d["effective_target_qps"]) == (300, 2000)
    assert d["effective_min_query_count"] == 20  # what only the user.conf sets still applies


def test_help_says_options_win_over_user_conf():
    """The precedence is documented where a user looks for it."""
    code, out, _ = _podium("loadgen", "null", "--help")
    assert code == 0 and "options given on the command line win" in " ".join(out.split())


def test_fault_huge_bad_token_in_user_conf_is_not_echoed(tmp_path):
    """Fault: a 60 KB bad value in user.conf was echoed whole to stderr; now one short line."""
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps = " + "9x" * 30_000 + "\n")
    code, _, err = _podium("loadgen", "null", "--scenario", "Server", "--user-conf", str(conf),
                           "--out", str(tmp_path / "out"), timeout_s=30)
    assert code == 2
    line = _one_error_line(err)
    assert f"{conf}:1:" in line and len(line) < 300 + len(str(conf))
