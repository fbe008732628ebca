"""Runners under Podium's engine: batching, every runner kind, outputs equal to the bare runtime's, faults."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from podium import loadgen
from podium.inference.completion import NativeCompleter
from podium.inference.phases import Library
from podium.inference.runners import BatchQueue, ModelSpec, RunnerConfig, make_runner
from podium.inference.tasks import TASKS
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings

pytest.importorskip("onnxruntime")


def test_batch_queue_gathers_singles_up_to_the_batch_size() -> None:
    q = BatchQueue(max_batch=4, max_wait_ns=0)
    for i in range(5):
        q.put_one(i, 100 + i)
    assert q.take() == ([0, 1, 2, 3], [100, 101, 102, 103])
    assert q.take() == ([4], [104])


def test_batch_queue_splits_a_large_query_into_full_batches() -> None:
    q = BatchQueue(max_batch=3, max_wait_ns=0)
    q.put_many(range(10, 17), list(range(7)))
    taken = [q.take() for _ in range(3)]
    assert [list(ids) for ids, _ in taken] == [[10, 11, 12], [13, 14, 15], [16]]
    q.close()
    assert q.take() is None


def test_batch_queue_waits_for_a_fuller_batch_when_asked() -> None:
    q = BatchQueue(max_batch=2, max_wait_ns=2_000_000_000)
    q.put_one(0, 0)
    threading.Timer(0.05, q.put_one, args=(1, 1)).start()
    assert q.take() == ([0, 1], [0, 1])  # the second sample arrived within the wait


def _engine_run(model: Path, kind: str, scenario: Scenario, mode: Mode, tmp: Path, backend: str = "onnxruntime",
                instances: int = 1, batch: int = 8):
    from podium.datasets import DATASETS

    task = TASKS.get("digits")
    ds = DATASETS.get("digits")(None, performance_sample_count=355)
    completer = NativeCompleter(task.encoding)
    spec = ModelSpec(backend, str(model), torch_model=task.torch_model)
    runner = make_runner(spec, ds, completer, RunnerConfig(kind, batch, 0, instances))
    settings = TestSettings(scenario=scenario, mode=mode, min_duration_ms=200, min_query_count=50,
                            server_target_qps=500, offline_expected_qps=2000,
                            single_stream_expected_latency_ns=20_000, multi_stream_expected_latency_ns=50_000)
    runner.start()
    try:
        t0 = time.monotonic()
        result = loadgen.run(runner, Library(ds, runner), settings, LogSettings(outdir=str(tmp)),
                             options=loadgen.RunOptions(completion_timeout_s=60))
        return result, completer, runner, time.monotonic() - t0
    finally:
        runner.stop()


@pytest.mark.parametrize("kind,scenario", [("inline", Scenario.SINGLE_STREAM), ("pool", Scenario.MULTI_STREAM),
                                           ("pool", Scenario.SERVER), ("pool", Scenario.OFFLINE),
                                           ("processes", Scenario.OFFLINE)])
def test_every_runner_completes_every_sample(digits_model, cache_dir, tmp_path, kind, scenario) -> None:
    result, completer, _, _ = _engine_run(digits_model["onnx"], kind, scenario, Mode.PERFORMANCE, tmp_path,
                                          instances=2 if kind != "inline" else 1)
    assert not result.errors and not completer.failures
    assert result.summary is not None and result.summary.min_queries_met


@pytest.mark.parametrize("kind,backend", [("pool", "onnxruntime"), ("processes", "onnxruntime"),
                                          ("pool", "pytorch")])
def test_accuracy_log_holds_the_runtime_s_own_predictions(digits_model, cache_dir, tmp_path, kind, backend) -> None:
    from podium.inference.accuracy import read_accuracy_log
    from podium.datasets.digits import load_splits

    model = digits_model["onnx"] if backend == "onnxruntime" else digits_model["pt"]
    _engine_run(model, kind, Scenario.OFFLINE, Mode.ACCURACY, tmp_path, backend=backend)
    logged = read_accuracy_log(tmp_path / "mlperf_log_accuracy.json")
    assert sorted(logged) == list(range(355))
    import onnxruntime as ort

    _, (x, _) = load_splits()
    session = ort.InferenceSession(str(digits_model["onnx"]))
    expected = session.run(None, {session.get_inputs()[0].name: x})[0].argmax(axis=1)
    got = np.array([np.frombuffer(logged[i], dtype=np.int64)[0] for i in range(355)])
    assert (got == expected).mean() > 0.99  # the two runtimes may differ on a near tie


def test_a_batch_that_raises_fails_the_run_at_once_naming_its_samples(digits_model, cache_dir, tmp_path) -> None:
    result, completer, runner, seconds = _engine_run(
        digits_model["onnx"], "pool", Scenario.OFFLINE, Mode.PERFORMANCE, tmp_path,
        backend="tests.inference.fake_backends:raises_on_third_batch")
    assert runner.failed and completer.failures
    assert "injected failure on batch 2" in completer.failures[0].error
    assert len(completer.failures[0].sample_ids) == 8
    assert not result.valid and any("the SUT failed" in e for e in result.errors)
    assert seconds < 30  # not the 60 s completion timeout: the failure ends the wait
    assert (tmp_path / "mlperf_log_detail.txt").is_file()


def test_a_worker_process_killed_mid_run_ends_the_run_with_an_error(digits_model, cache_dir, tmp_path) -> None:
    result, completer, runner, seconds = _engine_run(
        digits_model["onnx"], "processes", Scenario.OFFLINE, Mode.PERFORMANCE, tmp_path,
        backend="tests.inference.fake_backends:killed_on_third_batch")
    assert runner.failed
    assert any("exited with code -9" in f.error for f in completer.failures)
    assert not result.valid and seconds < 30
    assert (tmp_path / "mlperf_log_detail.txt").exists() and (tmp_path / "mlperf_log_summary.txt").exists()
