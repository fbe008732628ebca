"""podium_run.json and podium_peak.json: written from frozen records, read back by one loader per file that takes
every schema version written so far (1 and 2 for runs) and refuses a newer one in one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.core.errors import ConfigError
from podium.core.vocabulary import Engine, PeakMethod, Scenario
from podium.inference import record as rec
from podium.inference.encoding import ResponseEncoding
from podium.loadgen.settings import Mode


def _run(**kw) -> rec.RunRecord:
    quantiles, histogram = rec.latency_distribution([1_000, 2_000, 3_000, 5_000])
    fields = dict(
        system_id="box", round="tiny-v1", benchmark="digits", scenario=Scenario.OFFLINE, mode=Mode.PERFORMANCE,
        engine=Engine.PODIUM, status=rec.Status.FINISHED, short=True, valid_for_submission=False,
        backend={"name": "onnxruntime", "options": {"device": "cpu"}}, runner={"kind": "pool", "batch_size": 8},
        model=rec.ModelFile("/m/model.onnx", "0" * 64), dataset={"name": "digits", "count": 355},
        response_encoding=ResponseEncoding("int64"), settings={"scenario": "Offline", "target_qps": 2000},
        settings_requested=rec.RequestedSettings(1000, 1024, 1, 10_000_000, 2000, None, None),
        result=rec.Result("result_samples_per_second", 1234.5, "Samples/s", "VALID",
                          ("short run: not valid for submission",)),
        latency_ns=rec.LatencySummary(mean=2_000, p50=2_000, p99=5_000), errors=(),
        failed_batches=(rec.FailedBatch((1, 2), 2, "ValueError: x"),), started_at="2026-01-01T00:00:00+00:00",
        wall_s=1.5, versions={"podium": "0.1"}, latency_quantiles=quantiles, latency_histogram=histogram,
        late_samples=3)
    return rec.RunRecord(**{**fields, **kw})


def test_a_record_written_reads_back_equal(tmp_path: Path) -> None:
    for record in (_run(), _run(mode=Mode.ACCURACY, result=None, latency_quantiles=None, latency_histogram=None,
                                accuracy=rec.Accuracy("top1", 97.5, 96.0, True, "%", 350, 355)),
                   _run(mode=Mode.ACCURACY, status=rec.Status.FAILED, errors=("accuracy: unreadable",),
                        accuracy=rec.Accuracy("top1", None, 96.0, False))):
        path = rec.write_record(tmp_path / rec.RECORD_NAME, record)
        assert rec.read_record(path) == record
        assert json.loads(path.read_text()) == record.to_dict()


def test_the_file_has_the_keys_of_schema_2_in_their_order(tmp_path: Path) -> None:
    data = _run(accuracy=rec.Accuracy("top1", None, 96.0, False)).to_dict()
    assert list(data) == [
        "schema_version", "kind", "system_id", "round", "benchmark", "scenario", "mode", "engine", "status", "signal",
        "short", "valid_for_submission", "backend", "runner", "model", "dataset", "response_encoding", "settings",
        "settings_requested", "result", "latency_ns", "errors", "failed_batches", "started_at", "wall_s",
        "versions", "latency_quantiles", "latency_histogram", "late_samples", "accuracy"]
    assert data["schema_version"] == 2 and data["kind"] == "podium.inference.run"
    assert data["scenario"] == "Offline" and data["mode"] == "performance" and data["engine"] == "podium"
    assert data["latency_ns"] == {"mean": 2_000, "p50": 2_000, "p99": 5_000}  # what the log lacks is left out
    assert data["accuracy"] == {"metric": "top1", "value": None, "target": 96.0, "passed": False}
    assert data["response_encoding"] == {"dtype": "int64", "shape": []}


def test_a_record_reads_as_its_json_object_too() -> None:
    record = _run()
    assert record["status"] == "finished" and record["result"]["validity"] == "VALID" and dict(record) == \
        record.to_dict()


SCHEMA_1 = {  # as Podium wrote it before schema 2 (issue 4): `settings` was what the harness asked for
    "schema_version": 1, "kind": "podium.inference.run", "system_id": "box", "round": "tiny-v1",
    "benchmark": "digits", "scenario": "Server", "mode": "performance", "engine": "official", "short": False,
    "valid_for_submission": True, "backend": {"name": "onnxruntime"}, "runner": {"kind": "pool"},
    "model": {"path": "/m/model.onnx", "sha256": "0" * 64}, "dataset": {"name": "digits"},
    "response_encoding": {"dtype": "int64", "shape": []},
    "settings": {"min_duration_ms": 600000, "min_query_count": 100, "server_target_qps": 50.0,
                 "server_target_latency_ns": 10000000},
    "result": {"metric": "result_completed_samples_per_sec", "value": 49.9, "units": "Queries/s",
               "validity": "INVALID", "reasons": ["latency constraint not met"]},
    "latency_ns": {"mean": 1, "p99": 2}, "errors": ["interrupted"], "failed_batches": [],
    "started_at": "2025-01-01T00:00:00+00:00", "wall_s": 3.25, "versions": {"podium": "0.0.1"}}


def test_a_schema_1_record_loads_with_what_schema_2_added_filled_in(tmp_path: Path) -> None:
    path = tmp_path / "podium_run.json"
    path.write_text(json.dumps(SCHEMA_1))
    r = rec.read_record(path)
    assert (r.schema_version, r.scenario, r.mode, r.engine) == (1, Scenario.SERVER, Mode.PERFORMANCE, Engine.OFFICIAL)
    assert r.status is rec.Status.FAILED and r.signal is None and r.late_samples == 0  # it had errors
    assert r.settings == {} and r.settings_requested == rec.RequestedSettings(600000, 100, 50.0, 10000000)
    assert r.result.reasons == ("latency constraint not met",) and r.latency_ns.p99 == 2 and not r.ok


def test_a_schema_2_record_loads_and_a_sparse_one_takes_the_defaults_readers_assume(tmp_path: Path) -> None:
    path = tmp_path / "podium_run.json"
    path.write_text(json.dumps({**SCHEMA_1, "schema_version": 2, "status": "aborted", "signal": "SIGTERM",
                                "settings": {"target_qps": 50}, "settings_requested": {
                                    **SCHEMA_1["settings"], "offline_expected_qps": 1,
                                    "audit_config": None, "completion_timeout_s": 5.0}, "late_samples": 4}))
    r = rec.read_record(path)
    assert r.status is rec.Status.ABORTED and r.signal == "SIGTERM" and r.late_samples == 4
    assert r.settings == {"target_qps": 50} and r.settings_requested.completion_timeout_s == 5.0
    path.write_text(json.dumps({"schema_version": 2, "kind": "podium.inference.run", "system_id": "box",
                                "round": "r", "benchmark": "digits", "scenario": "Offline", "mode": "accuracy"}))
    sparse = rec.read_record(path)
    assert sparse.engine is Engine.PODIUM and sparse.valid_for_submission and not sparse.short
    assert sparse.errors == () and sparse.backend == {} and sparse.accuracy is None and not sparse.ok


def test_a_record_newer_than_this_podium_is_refused_in_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "podium_run.json"
    path.write_text(json.dumps({**SCHEMA_1, "schema_version": 3}))
    with pytest.raises(ConfigError, match="schema_version 3 is newer than this Podium reads") as e:
        rec.read_record(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_file_that_is_not_a_run_record_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "podium_run.json"
    for text in ("{", json.dumps({"kind": "podium.inference.peak", "schema_version": 1}),
                 json.dumps({**SCHEMA_1, "scenario": "Sideways"})):
        path.write_text(text)
        with pytest.raises(ConfigError, match=str(path)):
            rec.read_record(path)


def test_a_peak_record_round_trips_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / rec.PEAK_NAME
    bisect = rec.PeakRecord(PeakMethod.BISECT, 100.0, (100.0, 102.0), 0.02,
                            (rec.PeakStep(100.0, "VALID", 99.5, 3_000_000, (), "step_00"),
                             rec.PeakStep(200.0, "INVALID", 150.0, None, ("latency constraint not met",), "step_01")))
    for record in (bisect, rec.PeakRecord(PeakMethod.LOADGEN, 6424.5)):
        rec.write_peak(path, record)
        assert rec.read_peak(path) == record
    assert json.loads(path.read_text()) == {"schema_version": 1, "kind": "podium.inference.peak",
                                            "method": "loadgen", "peak_qps": 6424.5, "bracket_qps": None,
                                            "steps": []}
    path.write_text(json.dumps({**bisect.to_dict(), "schema_version": 2}))
    with pytest.raises(ConfigError, match="schema_version 2 is newer"):
        rec.read_peak(path)
