"""`podium loadgen null` as a user runs it: output, exit codes, Ctrl-C, a broken user.conf."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _podium(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-m", "podium", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_null_run_prints_the_summary_and_succeeds(tmp_path):
    p = _podium("loadgen", "null", "--scenario", "Server", "--target-qps", "2000", "--min-duration-ms", "300",
                "--out", str(tmp_path))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "Result is : VALID" in out and "Completed samples per second" in out
    assert (tmp_path / "mlperf_log_detail.txt").exists()


def _sigint_default() -> None:
    # A job started in the background by a non-interactive shell (as CI may be) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: give the child the default a terminal has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_flushes_logs_and_exits_non_zero(tmp_path):
    p = _podium("loadgen", "null", "--scenario", "Server", "--target-qps", "1000", "--min-duration-ms", "60000",
                "--out", str(tmp_path), preexec_fn=_sigint_default)
    detail = tmp_path / "mlperf_log_detail.txt"
    deadline = time.monotonic() + 60
    while b"generated_query_duration" not in (detail.read_bytes() if detail.exists() else b""):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the issue loop
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "aborted" in err
    text = detail.read_text()
    assert "Test aborted" in text and text.endswith("}\n")  # whole lines: nothing half-written
    assert (tmp_path / "mlperf_log_summary.txt").exists()


def test_user_conf_typo_names_file_line_and_suggestion(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("# my settings\n*.Server.target_qsp = 100\n")
    p = _podium("loadgen", "null", "--scenario", "Server", "--user-conf", str(conf), "--out", str(tmp_path))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert f"{conf}:2" in err and "target_qps" in err
    assert "Traceback" not in err


def test_user_conf_bad_value_is_refused_before_the_run(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps = fast\n")
    p = _podium("loadgen", "null", "--scenario", "Server", "--user-conf", str(conf), "--out", str(tmp_path / "o"))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and f"{conf}:1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
