"""Fixture trees for the results tests, made by running the real engine (about a second for all four scenarios).

`make_run_tree` writes what the contract says `podium infer` writes (inference-contract.md, "Inference run
directory"): LoadGen logs of a performance and an accuracy run per scenario, podium_run.json, accuracy.txt/json,
user.conf, measurements.json and systems/<id>.json. The SUT answers each sample with its predicted label (int64);
samples whose index is a multiple of 40 get a wrong one, so the accuracy is 346/355 = 97.465 %.
`ROUND` is a stand-in for the registry's round object with the attributes the checker reads, sized for runs of
about 100 ms.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.core.errors import UnknownNameError
from podium.loadgen import LogSettings, Mode, Scenario, TestSettings, complete, run
from podium.loadgen.logparse import read_accuracy, read_detail
from podium.results import system as sysdesc

DATASET_SIZE = 355
WRONG_EVERY = 40
MIN_DURATION_MS = 100
MIN_QUERY_COUNT = 64
OFFLINE_MIN_SAMPLES = 100
SERVER_LATENCY_NS = 20_000_000
# SingleStream and MultiStream queries take at least this long: an instant SUT outruns the queries LoadGen
# generates from the expected latency (2 and 8 us) on a fast machine, and the run ends INVALID.
STREAM_DELAY_S = 20e-6
SYSTEM_ID = "testbox"


@dataclass(frozen=True)
class Seeds:
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class FakeBenchmark:
    """The registry's Benchmark, as far as the checker reads it."""

    name: str = "digits"
    dataset_size: int = DATASET_SIZE
    performance_sample_count: int = DATASET_SIZE
    metric: str = "top1"
    metric_units: str = "%"
    reference_accuracy: float = 98.0
    targets: dict[str, float] = field(default_factory=lambda: {"99": 95.0})
    server_latency_ns: int = SERVER_LATENCY_NS
    equal_issue: bool = False
    audit_tests: tuple[str, ...] = ()
    samples_per_query: int = 8
    min_duration: int = MIN_DURATION_MS
    min_queries: int = MIN_QUERY_COUNT
    offline_min_samples: int = OFFLINE_MIN_SAMPLES
    uses_token_latencies: bool = False
    ttft_ns: int | None = None
    tpot_ns: int | None = None

    def scenarios(self, category: Any) -> tuple[Scenario, ...]:
        kind = getattr(category, "value", category)
        edge = (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE)
        return edge if kind == "edge" else (Scenario.SERVER, Scenario.OFFLINE)

    def min_duration_ms(self, scenario: Scenario) -> int:
        return self.min_duration

    def min_query_count(self, scenario: Scenario) -> int:
        return self.offline_min_samples if scenario is Scenario.OFFLINE else self.min_queries


@dataclass(frozen=True)
class FakeRound:
    name: str
    seeds: Seeds
    benchmarks: tuple[FakeBenchmark, ...]

    def benchmark(self, name: str) -> FakeBenchmark:
        for b in self.benchmarks:
            if b.name == name:
                return b
        raise UnknownNameError(f"unknown benchmark {name!r}")


ROUND = FakeRound("tiny-v1", Seeds(2085463073848966840, 2747215439041700203, 16159082839903944936),
                  (FakeBenchmark(),))


def resolve_round(name: str) -> FakeRound:
    if name != ROUND.name:
        raise UnknownNameError(f"unknown round {name!r}", suggestion=ROUND.name)
    return ROUND


def stricter(**changes: Any) -> Any:
    """A round resolver whose one benchmark has `changes` (e.g. a longer minimum duration)."""
    from dataclasses import replace

    changed = replace(ROUND, benchmarks=(replace(ROUND.benchmarks[0], **changes),))
    return lambda name: changed


def label(index: int) -> int:
    return index % 10


def predicted(index: int) -> int:
    return (label(index) + 1) % 10 if index % WRONG_EVERY == 0 else label(index)


class LabelSUT:
    """Completes each sample with its predicted label; Offline waits out min_duration first."""

    name = "LabelSUT"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def issue_query(self, ids, indices, /) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        complete(ids, [struct.pack("<q", predicted(i)) for i in indices])

    def flush_queries(self) -> None:
        pass


class DigitsQSL:
    name = "DigitsQSL"
    total_sample_count = DATASET_SIZE
    performance_sample_count = DATASET_SIZE

    def load_samples(self, indices, /) -> None:
        pass

    def unload_samples(self, indices, /) -> None:
        pass


def settings(scenario: Scenario, mode: Mode, seeds: Seeds = ROUND.seeds) -> TestSettings:
    return TestSettings(
        scenario=scenario, mode=mode, min_duration_ms=MIN_DURATION_MS, min_query_count=MIN_QUERY_COUNT,
        single_stream_expected_latency_ns=2_000, multi_stream_expected_latency_ns=8_000,
        server_target_qps=5_000.0, server_target_latency_ns=SERVER_LATENCY_NS, offline_expected_qps=10_000.0,
        qsl_rng_seed=seeds.qsl_rng_seed, sample_index_rng_seed=seeds.sample_index_rng_seed,
        schedule_rng_seed=seeds.schedule_rng_seed)


RESULT_KEYS = {  # scenario -> (metric, detail key, units) written into podium_run.json
    Scenario.OFFLINE: ("samples_per_second", "result_samples_per_second", "Samples/s"),
    Scenario.SERVER: ("completed_samples_per_second", "result_completed_samples_per_sec", "Queries/s"),
    Scenario.SINGLE_STREAM: ("latency", "early_stopping_latency_ss", "ns"),
    Scenario.MULTI_STREAM: ("latency", "early_stopping_latency_ms", "ns"),
}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _record(scenario: Scenario, mode: str, *, short: bool, round_name: str) -> dict[str, Any]:
    return {"schema_version": 1, "kind": "podium.inference.run", "system_id": SYSTEM_ID, "round": round_name,
            "benchmark": "digits", "scenario": scenario.value, "mode": mode, "engine": "podium", "short": short,
            "valid_for_submission": not short, "backend": {"name": "fixture", "version": "0", "options": {}},
            "model": {"path": "/home/someone/models/digits.onnx", "sha256": "0" * 64},
            "dataset": {"name": "digits", "count": DATASET_SIZE, "path": None,
                        "cache_path": "/home/someone/.cache/podium/datasets/digits/v1/abc"},
            "started_at": "2026-01-01T00:00:00Z"}


def performance_run(scenario_dir: Path, scenario: Scenario, *, short: bool = False, round_name: str = ROUND.name,
                    seeds: Seeds = ROUND.seeds, offline_delay_s: float = MIN_DURATION_MS / 1000 + 0.01) -> None:
    """A performance run into scenario_dir/performance/run_1 (Offline's SUT waits out min_duration, unless
    told otherwise: then the run is INVALID)."""
    out = scenario_dir / "performance" / "run_1"
    delay = {Scenario.OFFLINE: offline_delay_s, Scenario.SINGLE_STREAM: STREAM_DELAY_S,
             Scenario.MULTI_STREAM: STREAM_DELAY_S}.get(scenario, 0.0)
    result = run(LabelSUT(delay), DigitsQSL(), settings(scenario, Mode.PERFORMANCE, seeds),
                 LogSettings(outdir=str(out)))
    detail = read_detail(out / "mlperf_log_detail.txt")
    metric, key, units = RESULT_KEYS[scenario]
    record = _record(scenario, "performance", short=short, round_name=round_name)
    record["result"] = {"metric": metric, "value": float(detail[key]), "units": units,
                        "validity": result.validity, "reasons": list(result.reasons)}
    write_json(out / "podium_run.json", record)


def accuracy_run(scenario_dir: Path, scenario: Scenario, *, short: bool = False,
                 round_name: str = ROUND.name) -> None:
    out = scenario_dir / "accuracy"
    run(LabelSUT(), DigitsQSL(), settings(scenario, Mode.ACCURACY), LogSettings(outdir=str(out)))
    # MultiStream pads its last query: a sample may be logged twice; score each once, as accuracy scripts do
    answers = {e["qsl_idx"]: struct.unpack("<q", bytes.fromhex(e["data"]))[0]
               for e in read_accuracy(out / "mlperf_log_accuracy.json")}
    good, total = sum(answers[i] == label(i) for i in answers), len(answers)
    value = round(100.0 * good / total, 3)
    (out / "accuracy.txt").write_text(f"accuracy={value:.3f}%, good={good}, total={total}\n")
    target = ROUND.benchmarks[0].targets["99"]
    write_json(out / "accuracy.json", {"schema_version": 1, "metric": "top1", "value": value, "units": "%",
                                       "good": good, "total": total, "target": target,
                                       "passed": value >= target})
    record = _record(scenario, "accuracy", short=short, round_name=round_name)
    record["accuracy"] = {"metric": "top1", "value": value, "units": "%", "target": target,
                          "passed": value >= target}
    write_json(out / "podium_run.json", record)


def make_run_tree(out: Path, scenarios: tuple[Scenario, ...] = tuple(Scenario), *, short: bool = False,
                  system_type: str = "datacenter,edge") -> Path:
    """A Podium inference run directory under `out` with every scenario in `scenarios`."""
    for scenario in scenarios:
        scenario_dir = out / "results" / SYSTEM_ID / "digits" / scenario.value
        performance_run(scenario_dir, scenario, short=short)
        accuracy_run(scenario_dir, scenario, short=short)
        (scenario_dir / "user.conf").write_text("# no user.conf given\n")
        write_json(scenario_dir / "measurements.json", {
            "input_data_types": "fp32", "retraining": "No", "starting_weights_filename": "digits.onnx",
            "weight_data_types": "fp32", "weight_transformations": "none", "podium": {"backend": "fixture"}})
    desc = sysdesc.capture(SYSTEM_ID, system_type=system_type)
    sysdesc.write(out / "systems" / f"{SYSTEM_ID}.json", desc)
    return out


def make_training_tree(out: Path, runs: int = 5, seed: int = 11) -> Path:
    """A Podium training run directory: the scripted closed ResNet-50 workload (no training), `runs` runs."""
    from podium.training.campaign import Campaign, CampaignConfig
    from podium.workloads import WORKLOADS

    config = CampaignConfig(runs=runs, seed=seed, out=out, system=SYSTEM_ID, check_compliance=False,
                            save_models=False)
    Campaign(WORKLOADS.get("scripted-resnet50"), config).run()
    return out
