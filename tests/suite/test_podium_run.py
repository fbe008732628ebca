"""`podium run` end to end (one backend, 3 training runs to keep it short): the table, the trees, the report,
and detail logs that the official MLPerf log parser (mlperf-logging's mlp_parser) reads without an error."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")


def test_podium_run_trains_serves_and_reports(tmp_path, cache_dir) -> None:
    from mlperf_logging.compliance_checker import mlp_parser

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "podium", "run", "--runs", "3", "--backend", "onnxruntime",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr  # 1: a result INVALID on a loaded machine; the table says why
    header = next(x for x in r.stdout.splitlines() if x.startswith("benchmark"))
    assert "accuracy" in header and "time to train" in header
    rows = [x for x in r.stdout.splitlines() if x.startswith("digits ")]
    assert {row.split()[2] for row in rows} == {"SingleStream", "MultiStream", "Server", "Offline"}
    details = sorted((out / "inference" / "results").rglob("mlperf_log_detail.txt"))
    assert len(details) == 8  # 4 scenarios x (performance, accuracy)
    for path in details:
        lines, errors = mlp_parser.parse_file(str(path), ruleset="6.1.0")
        assert lines and not errors, (path, errors[:3])
    assert (out / "training" / "results" / "local" / "digits" / "result_0.txt").is_file()
    assert (out / "report.html").is_file() and (out / "inference" / "systems" / "local-onnxruntime.json").is_file()
