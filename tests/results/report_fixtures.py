"""Run trees for the tables and report tests, made by the real engine with a null SUT (a second or so each).

`inference_tree` runs each scenario through `podium.loadgen.run` with quick settings and writes what the
inference harness writes around the LoadGen logs (podium_run.json with the latency quantiles and histogram,
accuracy.json, measurements.json, user.conf, find_peak/podium_peak.json, systems/<id>.json), in the layout of
the contract. `training_tree` writes small mllogs and the campaign.json `podium train` writes. The peak search
and the training curves are scripted: a null SUT has no knee, and real training takes minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from podium.loadgen import LogSettings, NullQSL, NullSUT, RunResult, Scenario, TestSettings, run
from podium.training.scoring import olympic_score
from podium.training.submission_layout import SYSTEM_FIELDS

XSS = "<script>alert(1)</script>"


def quick_settings(scenario: Scenario) -> TestSettings:
    """Settings a null SUT meets in ~0.1 s per scenario, with enough queries for early stopping. The expected
    latencies are below what a null SUT takes on a fast machine (~0.4 us a query): above twice that, LoadGen
    generates too few queries and the run ends INVALID (min duration not met)."""
    return TestSettings(scenario=scenario, min_duration_ms=50, min_query_count=600,
                        single_stream_expected_latency_ns=100, multi_stream_expected_latency_ns=400,
                        server_target_qps=5_000, server_target_latency_ns=10_000_000,
                        offline_expected_qps=2_000_000)


def system_json(system_id: str, **fields: Any) -> dict[str, Any]:
    desc = {name: "N/A" for name in SYSTEM_FIELDS}
    desc.update(submitter="Podium Tests", division="closed", status="available", system_type="edge",
                system_name=f"{system_id} test box", number_of_nodes="1", host_processors_per_node="2",
                host_processor_model_name="Test CPU 9000", host_processor_core_count="16",
                accelerators_per_node="0", accelerator_model_name="N/A", framework="onnxruntime 1.0",
                operating_system="Linux", hw_notes="", sw_notes="null SUT")
    desc.update({k: str(v) for k, v in fields.items()})
    return desc


def latency_record(latencies_ns: np.ndarray) -> dict[str, Any]:
    """podium_run.json's latency keys, made by the inference harness's own function."""
    from podium.inference.record import latency_shape

    lat = np.asarray(latencies_ns, dtype=np.float64)
    return {"latency_ns": {"p50": float(np.quantile(lat, 0.5)), "p90": float(np.quantile(lat, 0.9)),
                           "p99": float(np.quantile(lat, 0.99)), "mean": float(lat.mean())},
            **latency_shape(latencies_ns)}


def run_record(result: RunResult, *, system_id: str, benchmark: str, scenario: Scenario,
               backend: Mapping[str, Any], runner: Mapping[str, Any]) -> dict[str, Any]:
    s = result.summary
    value = None if s is None else (s.samples_per_second if scenario is Scenario.OFFLINE else
                                    s.completed_samples_per_sec if scenario is Scenario.SERVER else None)
    record = {"schema_version": 1, "kind": "podium.inference.run", "system_id": system_id, "round": "tiny-v1",
              "benchmark": benchmark, "scenario": scenario.value, "mode": "performance", "engine": "podium",
              "short": False, "valid_for_submission": True, "backend": dict(backend), "runner": dict(runner),
              "model": {"path": "model.onnx", "sha256": "0" * 64}, "dataset": {"name": benchmark, "count": 355},
              "result": {"metric": "see mlperf_log_detail.txt", "value": value, "units": "",
                         "validity": result.validity, "reasons": list(result.reasons)},
              "started_at": "2025-01-01T00:00:00Z", "wall_s": 0.1, "versions": {"podium": "0.1.0"}}
    record.update(latency_record(result.sample_latencies_ns))
    return record


def peak_record(base_qps: float, latency_bound_ns: int) -> dict[str, Any]:
    """A bisection's steps with a knee: p99 grows as the load nears capacity; the last steps are invalid."""
    steps = []
    for i, load in enumerate((0.25, 0.5, 1.0, 0.75, 0.875, 0.8125)):
        target = base_qps * load
        p99 = latency_bound_ns * 0.15 / max(1e-3, 1.02 - load) ** 0.9
        valid = p99 <= latency_bound_ns
        steps.append({"target_qps": target, "achieved_qps": target * (0.995 if valid else 0.93),
                      "p99_ns": p99, "validity": "VALID" if valid else "INVALID",
                      "reasons": [] if valid else ["latency constraint not met"], "dir": f"step_{i:02d}"})
    peak = max(s["target_qps"] for s in steps if s["validity"] == "VALID")
    low_invalid = min(s["target_qps"] for s in steps if s["validity"] != "VALID")
    return {"schema_version": 1, "kind": "podium.inference.peak", "method": "bisect", "peak_qps": peak,
            "bracket_qps": [peak, low_invalid], "tolerance": 0.02, "steps": steps}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def inference_tree(root: Path, system_id: str, *, runner: Mapping[str, Any], system: Mapping[str, Any] | None = None,
                   backend: str = "onnxruntime", benchmark: str = "digits",
                   scenarios: Iterable[Scenario] = tuple(Scenario), accuracy_value: float = 98.592,
                   settings: Callable[[Scenario], TestSettings] = quick_settings) -> Path:
    """`root`/systems/<id>.json and results/<id>/<benchmark>/<scenario>/... for each scenario; returns root."""
    write_json(root / "systems" / f"{system_id}.json", system or system_json(system_id))
    for scenario in scenarios:
        sdir = root / "results" / system_id / benchmark / scenario.value
        perf = sdir / "performance" / "run_1"
        perf.mkdir(parents=True, exist_ok=True)
        result = run(NullSUT(), NullQSL(64), settings(scenario), LogSettings(outdir=str(perf)))
        write_json(perf / "podium_run.json", run_record(
            result, system_id=system_id, benchmark=benchmark, scenario=scenario,
            backend={"name": backend, "version": "1.0", "options": {"threads": 2}}, runner=runner))
        write_json(sdir / "accuracy" / "accuracy.json", {
            "schema_version": 1, "metric": "top1", "value": accuracy_value, "units": "%", "good": 350,
            "total": 355, "target": 97.6, "passed": accuracy_value >= 97.6})
        write_json(sdir / "measurements.json", {
            "input_data_types": "fp32", "retraining": "no", "starting_weights_filename": "model.onnx",
            "weight_data_types": "fp32", "weight_transformations": "none", "podium": {}})
        (sdir / "user.conf").write_text("# no user.conf\n", encoding="utf-8")
        if scenario is Scenario.SERVER:
            write_json(sdir / "find_peak" / "podium_peak.json", peak_record(8_000.0, 10_000_000))
    return root


def mllog_line(time_ms: int, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None,
               event_type: str = "POINT_IN_TIME") -> str:
    record = {"namespace": "", "time_ms": time_ms, "event_type": event_type, "key": key, "value": value,
              "metadata": {"file": "report_fixtures.py", "lineno": 1, **(metadata or {})}}
    return ":::MLLOG " + json.dumps(record)


def training_log(start_ms: int, seed: int, evals: list[float], eval_every_ms: int, target: float) -> tuple[str, int]:
    """An mllog: init, run_start, one eval_accuracy per epoch, run_stop (success when the target is met)."""
    lines = [mllog_line(start_ms - 500, "init_start", event_type="INTERVAL_START"),
             mllog_line(start_ms - 400, "submission_benchmark", "digits"),
             mllog_line(start_ms - 400, "seed", seed), mllog_line(start_ms - 400, "global_batch_size", 128),
             mllog_line(start_ms - 10, "init_stop", event_type="INTERVAL_END"),
             mllog_line(start_ms, "run_start", event_type="INTERVAL_START")]
    t, status = start_ms, "aborted"
    for epoch, value in enumerate(evals, start=1):
        t += eval_every_ms
        lines.append(mllog_line(t, "eval_accuracy", value, {"epoch_num": epoch}))
        if value >= target:
            status = "success"
            break
    lines.append(mllog_line(t + 5, "run_stop", None, {"status": status}, event_type="INTERVAL_END"))
    return "\n".join(lines) + "\n", t + 5 - start_ms if status == "success" else -1


# Five runs of `digits` (target top1 0.98): four converge at different speeds, one never gets there.
CURVES = (
    [0.71, 0.88, 0.93, 0.955, 0.968, 0.975, 0.981],
    [0.65, 0.85, 0.92, 0.95, 0.972, 0.983],
    [0.70, 0.86, 0.925, 0.951, 0.965, 0.974, 0.977, 0.978, 0.979],
    [0.74, 0.89, 0.94, 0.962, 0.976, 0.982],
    [0.69, 0.87, 0.93, 0.957, 0.97, 0.979, 0.985],
)


def training_tree(root: Path, system_id: str = "cpu-a", *, system: Mapping[str, Any] | None = None) -> Path:
    """`root`/results/<id>/digits/result_<i>.txt, podium/<id>/digits/campaign.json, systems/<id>.json."""
    write_json(root / "systems" / f"{system_id}.json", system or system_json(system_id))
    durations: list[float | None] = []
    runs = []
    for i, curve in enumerate(CURVES):
        text, duration = training_log(1_700_000_000_000 + i * 60_000, 100 + i, curve, 1_400 + 150 * i, 0.98)
        path = root / "results" / system_id / "digits" / f"result_{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        durations.append(duration if duration >= 0 else None)
        runs.append({"index": i, "seed": 100 + i, "status": "success" if duration >= 0 else "aborted",
                     "duration_ms": duration if duration >= 0 else None, "log_path": str(path)})
    score = olympic_score(durations, "digits")
    write_json(root / "podium" / system_id / "digits" / "campaign.json", {
        "schema_version": 1, "workload": "digits", "benchmark": "digits", "ruleset": "6.1.0",
        "division": "closed", "runs_required": 5, "interrupted": False, "runs": runs,
        "score": {"minutes": score.minutes, "kept_ms": list(score.kept_ms), "non_converged": score.non_converged,
                  "reason": score.reason},
        "median_window": None, "convergence": None})
    return root


def suite_tree(out: Path, system_id: str, *, runner: Mapping[str, Any], system: Mapping[str, Any] | None = None,
               backend: str = "onnxruntime", scenarios: Iterable[Scenario] = tuple(Scenario),
               training: bool = True) -> Path:
    """What `podium run` leaves: `out`/inference/... and `out`/training/...; returns `out`."""
    inference_tree(out / "inference", system_id, runner=runner, system=system, backend=backend,
                   scenarios=scenarios)
    if training:
        training_tree(out / "training", system_id, system=system)
    return out
