"""The mllog writer: mlperf-logging's line format, flushed per line, JSON values only, rank 0 only."""

from __future__ import annotations

import json

import pytest

from podium.core.errors import TrainingError
from podium.training.mllog import TOKEN, MLLogWriter


def _records(path):
    return [json.loads(line[len(TOKEN):]) for line in path.read_text().splitlines()]


def test_line_format_and_key_order(tmp_path):
    log = MLLogWriter(tmp_path / "r.txt", clock_ms=lambda: 1234)
    log.start("run_start")
    log.event("eval_accuracy", 0.5, metadata={"epoch_num": 3})
    (first, second) = _records(tmp_path / "r.txt")
    assert list(first) == ["namespace", "time_ms", "event_type", "key", "value", "metadata"]
    assert first["event_type"] == "INTERVAL_START" and first["time_ms"] == 1234 and first["value"] is None
    assert second["metadata"]["epoch_num"] == 3
    assert second["metadata"]["file"].endswith("test_mllog.py") and second["metadata"]["lineno"] > 0


def test_each_line_is_on_disk_before_the_next_call(tmp_path):
    log = MLLogWriter(tmp_path / "r.txt")
    log.event("seed", 7)
    assert (tmp_path / "r.txt").read_text().count(TOKEN) == 1     # not closed, already flushed


def test_numpy_scalars_are_converted_and_objects_refused(tmp_path):
    np = pytest.importorskip("numpy")
    log = MLLogWriter(tmp_path / "r.txt")
    log.event("global_batch_size", np.int64(32))
    assert _records(tmp_path / "r.txt")[0]["value"] == 32
    with pytest.raises(TrainingError, match="not JSON-serializable"):
        log.event("opt_name", object())


def test_other_ranks_write_nothing(tmp_path):
    log = MLLogWriter(tmp_path / "r.txt", enabled=False)
    log.start("run_start")
    assert not (tmp_path / "r.txt").exists() and "run_start" in log.last_time_ms


def test_the_official_parser_reads_our_lines(tmp_path):
    parser = pytest.importorskip("mlperf_logging.compliance_checker.mlp_parser")
    log = MLLogWriter(tmp_path / "r.txt")
    log.event("submission_org", "Podium")
    log.end("run_stop", metadata={"status": "success"})
    lines, errors = parser.parse_file(str(tmp_path / "r.txt"), ruleset="6.1.0")
    assert not errors and [ll.key for ll in lines] == ["submission_org", "run_stop"]
