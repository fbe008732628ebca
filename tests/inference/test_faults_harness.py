"""Faults injected into the inference harness (issue 10): late completions, a model whose outputs cannot be
encoded, numbers out of range, failed runs and previous results, settings misstated, file modes, a full cache.

Real components throughout: the digits model under ONNX Runtime, Podium's engine, real files; the failing backend
wraps the real runtime (tests/inference/fake_backends.py). Runs are short (--short settings), a few seconds each.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest

from podium import loadgen
from podium.core.errors import ConfigError, PodiumError
from podium.inference.completion import NativeCompleter
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.phases import Library
from podium.inference.runners import ModelSpec, RunnerConfig, make_runner
from podium.inference.tasks import TASKS
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings

pytest.importorskip("onnxruntime")

# What every result file's mode must be: what a plain open() gives (0666 less the umask), as logs get.
_UMASK = os.umask(0)
os.umask(_UMASK)
RESULT_FILE_MODE = 0o666 & ~_UMASK


def _spec(model: Path, out: Path, **kw) -> InferenceSpec:
    kw.setdefault("mode", Mode.PERFORMANCE)
    kw.setdefault("reference_accuracy", 1.0)
    kw.setdefault("target_qps", 2000)
    kw.setdefault("scenario", Scenario.OFFLINE)
    return InferenceSpec(benchmark="digits", model_path=model, out=out, short=True, system_id="testsys",
                         progress=False, **kw)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (its path below root -> its bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def unencodable_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX digits model whose scores have an extra trailing axis, (N, 10, 1): its predicted class ids
    come out as (N, 1), which the task's response encoding (one int64 per sample) cannot hold."""
    torch = pytest.importorskip("torch")
    from podium.workloads.classification import export_onnx
    from podium.models.digits import small_resnet

    class ExtraAxis(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = small_resnet().eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).unsqueeze(-1)

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("unencodable") / "model.onnx"
    return export_onnx(ExtraAxis().eval(), torch.zeros(1, 1, 8, 8), path)


# ---- 1. late completions ---------------------------------------------------------------------------------------

@pytest.mark.realtime  # a 1 ms wait against the tens of ms that 4400 samples take: a margin of 10x or more
@pytest.mark.parametrize("kind", ["pool", "processes"])
def test_late_completions_after_a_timed_out_pass_are_dropped_and_the_next_pass_is_served(
        digits_model, cache_dir, tmp_path, kind) -> None:
    """Fault: completions arriving after the pass's completion wait ran out (they used to kill the worker)."""
    from podium.datasets import DATASETS

    task = TASKS.get("digits")
    ds = DATASETS.get("digits")(None, performance_sample_count=355)
    completer = NativeCompleter(task.encoding)
    runner = make_runner(ModelSpec("onnxruntime", str(digits_model["onnx"])), ds, completer,
                         RunnerConfig(kind, 8, 0, 1))
    library = Library(ds, runner)
    perf = TestSettings(scenario=Scenario.OFFLINE, mode=Mode.PERFORMANCE, min_duration_ms=200,
                        min_query_count=1, offline_expected_qps=20_000)
    runner.start()
    try:
        # A wait far shorter than the work: most outputs come after the pass ended.
        first = loadgen.run(runner, library, perf, LogSettings(outdir=str(tmp_path / "perf")),
                            options=loadgen.RunOptions(completion_timeout_s=0.001))
        assert first.errors  # the timed-out pass failed, as it should
        accuracy = loadgen.run(runner, library, perf.copy(mode=Mode.ACCURACY),
                               LogSettings(outdir=str(tmp_path / "acc")),
                               options=loadgen.RunOptions(completion_timeout_s=20))
    finally:
        runner.stop()
    assert not accuracy.errors, accuracy.errors  # the next pass still had its model instance
    assert runner.late_samples > 0 and not runner.failed


@pytest.mark.realtime  # as above: a 1 ms wait against the tens of ms of an Offline query
def test_threads_of_a_failed_batch_keep_serving_no_traceback_escapes(digits_model, cache_dir, tmp_path) -> None:
    """Fault: an exception escaping a runner thread (Python prints "Exception in thread" and the thread dies)."""
    escaped: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: escaped.append(args.exc_value)
    try:
        run_inference(_spec(digits_model["onnx"], tmp_path, completion_timeout_s=0.001,
                            runner=RunnerConfig("pool", 8, 0, 1), mode=Mode.SUBMISSION))
    finally:
        threading.excepthook = previous
    assert not escaped


def test_the_completion_wait_defaults_to_the_engine_s_derived_one(digits_model, cache_dir, tmp_path) -> None:
    """Fault: a fixed 60 s completion wait, which cut every full-length Offline run (>= 600 s in one query)."""
    assert InferenceSpec(benchmark="digits", scenario=Scenario.OFFLINE,
                         model_path=digits_model["onnx"]).completion_timeout_s is None
    (record,) = run_inference(_spec(digits_model["onnx"], tmp_path)).records
    assert record["settings_requested"]["completion_timeout_s"] is None
    assert record["status"] == "finished"


# ---- 2. any failure on a batch's way fails the run at once ------------------------------------------------------

def test_a_model_whose_outputs_the_encoding_cannot_hold_fails_the_run_naming_the_batch(
        unencodable_model, cache_dir, tmp_path) -> None:
    """Fault: the response encoding raising outside the runner's try (a hang to the timeout, then a traceback)."""
    result = run_inference(_spec(unencodable_model, tmp_path, runner=RunnerConfig("pool", 8, 0, 1),
                                 completion_timeout_s=5))
    (perf,) = result.records
    assert perf["status"] == "failed" and perf["failed_batches"]
    assert "expects" in perf["failed_batches"][0]["error"]  # the encoding's own message: shapes found/expected
    assert perf["errors"][0].startswith("inference failed on 8 samples")


# ---- 3. numbers validated before anything runs --------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("target_qps", 0), ("target_qps", -5), ("target_qps", math.nan),
                                         ("target_qps", math.inf), ("dataset_count", 0), ("dataset_count", -1),
                                         ("reference_accuracy", math.nan), ("completion_timeout_s", 0),
                                         ("completion_timeout_s", -1)])
def test_a_spec_number_out_of_range_is_refused_naming_it(digits_model, tmp_path, field, value) -> None:
    """Fault: zero, negative, NaN or infinite numbers in the library's InferenceSpec."""
    with pytest.raises(ConfigError, match=field):
        _spec(digits_model["onnx"], tmp_path, **{field: value})
    assert not tmp_path.joinpath("results").exists()


@pytest.mark.parametrize("field,value", [("batch_size", 0), ("batch_size", -1), ("instances", 0),
                                         ("max_wait_us", -1)])
def test_a_runner_number_out_of_range_is_refused_naming_it(field, value) -> None:
    """Fault: batch size 0 or -1, 0 instances, a negative wait in RunnerConfig (-1 used to run at batch 1)."""
    kw = {"batch_size": 8, "max_wait_us": 0, "instances": 1, field: value}
    with pytest.raises(ConfigError, match=field):
        RunnerConfig("pool", **kw)


# ---- 4. a run that fails leaves the previous results intact ----------------------------------------------------

def test_a_backend_that_raises_leaves_the_previous_results_intact(digits_model, cache_dir, tmp_path) -> None:
    """Fault: a backend raising mid-run (the old run deleted the previous record and logs first)."""
    good = run_inference(_spec(digits_model["onnx"], tmp_path, mode=Mode.SUBMISSION))
    before = _tree(good.scenario_dir)
    failed = run_inference(_spec(digits_model["onnx"], tmp_path, mode=Mode.SUBMISSION,
                                 runner=RunnerConfig("pool", 8, 0, 1),
                                 backend="tests.inference.fake_backends:raises_on_third_batch"))
    assert _tree(good.scenario_dir) == before
    assert failed.failed and failed.records[0]["status"] == "failed"
    kept = failed.files  # what the failed run measured is kept apart
    assert kept != good.scenario_dir and (kept / "performance" / "run_1" / "podium_run.json").is_file()


# ---- 6 and 7. settings as LoadGen ran them; the user.conf that applied --------------------------------------------

def test_the_record_states_the_settings_loadgen_ran_with(digits_model, cache_dir, tmp_path) -> None:
    """Fault: an audit.config changing the run while the record states only the settings asked for."""
    audit = tmp_path / "audit.config"
    audit.write_text("*.Offline.target_qps = 3000\n", "utf-8")
    (record,) = run_inference(_spec(digits_model["onnx"], tmp_path / "out", audit_config=audit)).records
    assert record["settings"]["target_qps"] == 3000  # effective_target_qps, as the detail log has it
    assert record["settings"]["scenario"] == "Offline" and "qsl_rng_seed" in record["settings"]
    assert record["settings_requested"]["offline_expected_qps"] == 2000
    assert record["settings_requested"]["audit_config"] == str(audit.resolve())


def test_the_published_user_conf_states_the_overrides_applied(digits_model, cache_dir, tmp_path) -> None:
    """Fault: user.conf saying "no user.conf was given: mlperf.conf values applied" although --target-qps was."""
    given = tmp_path / "given.conf"
    given.write_text("digits.Server.target_latency = 20\n", "utf-8")
    result = run_inference(_spec(digits_model["onnx"], tmp_path / "out", scenario=Scenario.SERVER, target_qps=500,
                                 user_conf=given))
    text = (result.scenario_dir / "user.conf").read_text("utf-8")
    assert "digits.Server.target_latency = 20" in text  # the given user.conf
    assert "digits.Server.target_qps = 500" in text.splitlines()  # the command line's override, stated
    from podium.loadgen.config import ConfType, apply_config

    rebuilt = apply_config(TestSettings(scenario=Scenario.SERVER), result.scenario_dir / "user.conf", "digits",
                           Scenario.SERVER, ConfType.USER, base_conf=result.scenario_dir / "mlperf.conf")
    assert rebuilt.server_target_qps == 500 and rebuilt.server_target_latency_ns == 20_000_000


def test_settings_for_writes_the_round_s_mlperf_conf_once(digits_model, tmp_path) -> None:
    """Fault: settings_for rewriting mlperf.conf into the results folder on every call."""
    from podium.inference.harness import plan, settings_for

    p = plan(_spec(digits_model["onnx"], tmp_path))
    settings_for(p, Mode.PERFORMANCE)
    p.conf_path.write_text(p.conf_path.read_text("utf-8") + "# marker\n", "utf-8")
    settings_for(p, Mode.ACCURACY)
    assert p.conf_path.read_text("utf-8").endswith("# marker\n")


# ---- 5. result files: one mode; an unwritable cache ----------------------------------------------------------------

def test_records_and_accuracy_files_get_the_result_file_mode(digits_model, cache_dir, tmp_path) -> None:
    """Fault: podium_run.json, accuracy.txt and accuracy.json written 0600 (mkstemp's mode) while logs are 0644."""
    d = run_inference(_spec(digits_model["onnx"], tmp_path, mode=Mode.SUBMISSION)).scenario_dir
    for path in (d / "performance" / "run_1" / "podium_run.json", d / "accuracy" / "podium_run.json",
                 d / "accuracy" / "accuracy.txt", d / "accuracy" / "accuracy.json", d / "user.conf",
                 d / "measurements.json"):
        assert path.stat().st_mode & 0o777 == RESULT_FILE_MODE, path


def test_a_full_disk_under_the_dataset_cache_is_one_error_and_leaves_no_temp_file(small_disk) -> None:
    """Fault: the preprocessing cache on a full disk (a real 256 KiB tmpfs, filled up)."""
    from podium.datasets import DATASETS

    _fill(small_disk / "filler")
    with pytest.raises(PodiumError, match="no space left"):
        DATASETS.get("digits")(cache_dir=small_disk / "cache").labels()
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")]


def _fill(path: Path) -> None:
    """Write to `path` until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
