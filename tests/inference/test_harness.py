"""The inference harness end to end: layout, records, accuracy, --short, faults before the run, the official engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.core.errors import ConfigError, UnknownNameError
from podium.inference.harness import InferenceSpec, default_runner, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario

pytest.importorskip("onnxruntime")

# The untrained model's top-1 is near chance; measured references below let its runs pass or fail on purpose.
LOW_REFERENCE = 1.0
HIGH_REFERENCE = 100.0


def _spec(model: Path, out: Path, scenario: Scenario = Scenario.OFFLINE, **kw) -> InferenceSpec:
    kw.setdefault("mode", Mode.SUBMISSION)
    kw.setdefault("reference_accuracy", LOW_REFERENCE)
    kw.setdefault("target_qps", 2000)
    return InferenceSpec(benchmark="digits", scenario=scenario, model_path=model, out=out, short=True,
                         system_id="testsys", progress=False, **kw)


def test_submission_mode_writes_the_mlperf_results_layout(digits_model, cache_dir, tmp_path) -> None:
    result = run_inference(_spec(digits_model["onnx"], tmp_path))
    d = tmp_path / "results" / "testsys" / "digits" / "Offline"
    assert result.scenario_dir == d
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "podium_run.json"):
        assert (d / "performance" / "run_1" / name).is_file()
    for name in ("mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt", "accuracy.json",
                 "podium_run.json"):
        assert (d / "accuracy" / name).is_file()
    assert (d / "user.conf").is_file()
    measurements = json.loads((d / "measurements.json").read_text())
    assert {"input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
            "weight_transformations"} <= set(measurements)
    perf, acc = result.records
    assert perf["mode"] == "performance" and acc["mode"] == "accuracy"
    assert perf["result"]["units"] == "Samples/s" and perf["result"]["value"] > 0
    assert perf["response_encoding"] == {"dtype": "int64", "shape": []}
    assert perf["valid_for_submission"] is False
    assert "short run: not valid for submission" in perf["result"]["reasons"]
    assert acc["accuracy"]["total"] == 355 and acc["accuracy"]["passed"]
    assert (d / "accuracy" / "accuracy.txt").read_text().startswith("accuracy=")
    assert perf["latency_quantiles"]["latency_ns"] == sorted(perf["latency_quantiles"]["latency_ns"])


def test_accuracy_below_target_is_marked_and_not_ok(digits_model, cache_dir, tmp_path) -> None:
    result = run_inference(_spec(digits_model["onnx"], tmp_path, mode=Mode.ACCURACY,
                                 reference_accuracy=HIGH_REFERENCE))
    (acc,) = result.records
    assert acc["accuracy"]["passed"] is False and acc["accuracy"]["target"] == pytest.approx(99.0)
    assert not result.ok
    assert json.loads((result.scenario_dir / "accuracy" / "accuracy.json").read_text())["passed"] is False


def test_pytorch_and_onnxruntime_agree_on_accuracy(digits_model, cache_dir, tmp_path) -> None:
    values = []
    for backend, model in (("onnxruntime", digits_model["onnx"]), ("pytorch", digits_model["pt"])):
        r = run_inference(_spec(model, tmp_path / backend, mode=Mode.ACCURACY, backend=backend))
        values.append(r.records[0]["accuracy"]["value"])
    assert values[0] == pytest.approx(values[1], abs=0.6)  # at most two near-ties of 355 may flip


def test_a_failing_backend_fails_the_run_and_keeps_the_logs(digits_model, cache_dir, tmp_path) -> None:
    spec = _spec(digits_model["onnx"], tmp_path, mode=Mode.PERFORMANCE, runner=RunnerConfig("pool", 8, 0, 1),
                 backend="tests.inference.fake_backends:raises_on_third_batch")
    result = run_inference(spec)
    (perf,) = result.records
    assert not result.ok and perf["errors"] and perf["failed_batches"][0]["samples"] == 8
    assert "injected failure" in perf["errors"][0]
    assert perf["result"]["validity"] == "INVALID" and perf["status"] == "failed"
    # A failed run is not committed: its logs are kept under .podium/partial/, the results folder is untouched.
    assert result.kept_in is not None and result.files == result.kept_in
    assert (result.files / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()
    assert not result.scenario_dir.exists()


def test_missing_or_corrupt_model_is_refused_before_any_run(digits_model, cache_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        run_inference(_spec(tmp_path / "nope.onnx", tmp_path / "a"))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01not an onnx model" * 10)
    with pytest.raises(ConfigError) as e:
        run_inference(_spec(corrupt, tmp_path / "b"))
    assert "corrupt.onnx" in str(e.value)
    assert not list((tmp_path / "b").rglob("mlperf_log_detail.txt"))


def test_a_missing_dataset_names_the_path_and_the_expected_layout(digits_model, cache_dir, tmp_path) -> None:
    spec = InferenceSpec(benchmark="resnet50", scenario=Scenario.OFFLINE, model_path=digits_model["onnx"],
                         dataset_path=tmp_path / "imagenet", out=tmp_path, progress=False)
    with pytest.raises(ConfigError) as e:
        run_inference(spec)
    assert str(tmp_path / "imagenet") in str(e.value) and "val_map.txt" in str(e.value)


def test_unknown_names_suggest_the_nearest(digits_model, tmp_path) -> None:
    with pytest.raises(UnknownNameError) as e:
        run_inference(_spec(digits_model["onnx"], tmp_path, backend="onnxruntim"))
    assert e.value.suggestion == "onnxruntime"
    with pytest.raises(UnknownNameError) as e:
        run_inference(InferenceSpec(benchmark="digit", scenario=Scenario.OFFLINE, model_path=digits_model["onnx"]))
    assert "digits" in (e.value.suggestion or "")


def test_bisect_peak_search_reports_the_highest_valid_qps_with_its_bracket(digits_model, cache_dir, tmp_path) -> None:
    spec = _spec(digits_model["onnx"], tmp_path, Scenario.SERVER, mode=Mode.FIND_PEAK, peak="bisect",
                 target_qps=1000, runner=default_runner(Scenario.SERVER))
    result = run_inference(spec)
    peak = result.peak
    assert peak["method"] == "bisect" and peak["steps"]
    valid = [s["target_qps"] for s in peak["steps"] if s["validity"] == "VALID"]
    assert peak["peak_qps"] == max(valid)
    lo, hi = peak["bracket_qps"]
    assert lo == peak["peak_qps"] and (hi is None or hi > lo)
    assert (result.scenario_dir / "find_peak" / "podium_peak.json").is_file()
    assert (result.scenario_dir / "performance" / "run_1" / "podium_run.json").is_file()


@pytest.mark.official
def test_the_same_runner_under_the_official_loadgen(digits_model, cache_dir, tmp_path) -> None:
    pytest.importorskip("mlperf_loadgen")
    result = run_inference(_spec(digits_model["onnx"], tmp_path, engine="official"))
    perf, acc = result.records
    assert perf["engine"] == "official" and perf["result"]["value"] > 0 and not perf["errors"]
    assert acc["accuracy"]["total"] == 355
    detail = (result.scenario_dir / "performance" / "run_1" / "mlperf_log_detail.txt").read_text()
    assert "podium" not in detail.splitlines()[0]  # written by the official LoadGen


def test_the_engine_s_peak_search_reports_the_engine_s_result(digits_model, cache_dir, tmp_path) -> None:
    """The found peak comes from the engine's result, and agrees with the line its detail log writes."""
    import re

    from podium.loadgen import logparse

    conf = tmp_path / "user.conf"  # short steps: the search takes about 20 of them
    conf.write_text("digits.Server.min_duration = 100\ndigits.Server.min_query_count = 100\n")
    spec = _spec(digits_model["onnx"], tmp_path / "out", Scenario.SERVER, mode=Mode.FIND_PEAK, peak="loadgen",
                 target_qps=200, runner=default_runner(Scenario.SERVER), user_conf=conf)
    result = run_inference(spec)
    peak_dir = result.files / "find_peak"
    detail = logparse.read_detail(peak_dir / "mlperf_log_detail.txt", strict=False)
    logged = [float(m.group(1)) for e in detail.entries
              if (m := re.search(r"Found peak performance field: ([0-9.eE+-]+)", str(e.get("value"))))]
    assert result.peak["method"] == "loadgen"
    assert logged and result.peak["peak_qps"] == pytest.approx(logged[-1], rel=1e-5)  # the log rounds it
