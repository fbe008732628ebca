"""The embedded tiny suite: the whole MLPerf cycle on a small CPU in minutes.

For each benchmark of the `tiny-v1` round (`BENCHMARKS`: image classification, object detection, 3D segmentation):
train it to its target (MLPerf Training rules, N runs, olympic score), take the trained model (state dict and its
ONNX export), measure its FP32 accuracy with PyTorch outside LoadGen (the reference the 99% target is taken of),
then serve it on each backend in every scenario the round requires of it, performance and accuracy, under that
round's rules (durations of seconds; results valid under them), and collect one row per run. Detection and
segmentation train and serve on data Podium generates in the official layouts (`podium.datasets.tiny`), through
the same loaders, models, metrics and harness as the full benchmarks.

The suite tunes user.conf as a submitter would, from a quick calibration, and reruns a scenario whose result is
INVALID only because of that tuning, at most twice, saying so in a line (the user.conf kept with the result is
the one its last run used):
- Server INVALID on latency alone: the target QPS was too high; again at SERVER_BACKOFF times it.
- min duration not met (SingleStream, MultiStream, Offline): the machine ran faster than calibrated (a busy
  machine calibrates low), so LoadGen generated too little work; again with the rate the run measured, the
  Offline expected QPS above the achieved samples/s and the expected latency below the measured one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.core.errors import PodiumError
from podium.loadgen.settings import Mode, Scenario

ROUND = "tiny-v1"
BENCHMARK = "digits"  # the first benchmark, and the one `serve` serves unless told
BACKENDS = ("onnxruntime", "pytorch")
SERVER_LOAD = 0.10  # Server target QPS as a share of the single-sample capacity: the 10 ms p99 bound holds
SERVER_RETRIES = 2  # a Server result INVALID on latency is run again at SERVER_BACKOFF times the QPS, as a
SERVER_BACKOFF = 0.6  # submitter lowers target_qps in user.conf; the last run is the one kept
OFFLINE_BATCH = 64
LATENCY_REASONS = {"latency constraint not met", "early stopping not met"}
DURATION_REASON = "min duration not met"
# A result INVALID because the run ended before min_duration is run again, at most DURATION_RETRIES times:
# Offline with expected QPS = the achieved samples/s x OFFLINE_MARGIN (LoadGen issues 1.1 x min_duration x
# expected QPS samples, so the query lasts 2.2 x min_duration at the rate achieved; a margin, as a short query
# measures the rate low); SingleStream and MultiStream with expected latency = the measured mean x
# STREAM_MARGIN (LoadGen generates 2 x min_duration / expected latency queries: 4 x what the run needs).
DURATION_RETRIES = 2
OFFLINE_MARGIN = 2.0
STREAM_MARGIN = 0.5
RAN_OUT = "Ran out of generated queries"  # the engine's error when a faster SUT than expected ends early
DEFAULT_ORG = "Podium"
CALIBRATION_S = 0.3  # how long each capacity measurement serves batches


def backend_options(backend: str, bench: TinyBenchmark | None = None) -> Any:
    """The suite's runtime settings. PyTorch gets one intra-op thread: on a small CPU its OpenMP workers
    spin after every op and take the cores the load generator's issuing and completing threads need, which
    shows as a Server latency tail over the bound. ONNX Runtime keeps its defaults, but for the benchmarks that
    ask for one thread (`TinyBenchmark.one_runtime_thread`): their graphs' many mid-sized operations keep its
    spinning workers on the second core (the tiny 3D U-Net's SingleStream p90 on 2 cores: 12.5 ms with the
    default, 4.5 ms with one thread)."""
    from podium.inference.backends import BackendOptions

    one = backend == "pytorch" or (bench is not None and bench.one_runtime_thread)
    return BackendOptions(intra_op_threads=1) if one else BackendOptions()


@dataclass(frozen=True)
class TinyBenchmark:
    """A benchmark of the suite: its name (the workload's, the task's and the round's) and where the data it is
    served on lives (None: shipped with Podium; else the generated set whose eval split is served)."""

    name: str
    data: str | None = None  # a name in podium.datasets.tiny.GENERATED
    one_runtime_thread: bool = False  # ONNX Runtime with one intra-op thread (see `backend_options`)

    def dataset_path(self) -> Path | None:
        """The eval split it is served on (generated first when missing), or None."""
        if self.data is None:
            return None
        from podium.datasets.tiny import GENERATED

        return GENERATED[self.data].split("eval")


DIGITS = TinyBenchmark(BENCHMARK)
BENCHMARKS = (DIGITS, TinyBenchmark("tiny-detection", data="tiny-detection", one_runtime_thread=True),
              TinyBenchmark("tiny-segmentation", data="tiny-segmentation", one_runtime_thread=True),
              TinyBenchmark("tiny-qa", data="tiny-qa", one_runtime_thread=True),
              TinyBenchmark("tiny-ctr", data="tiny-ctr", one_runtime_thread=True),
              TinyBenchmark("tiny-speech", data="tiny-speech"),
              TinyBenchmark("tiny-translation", data="tiny-translation"))


def benchmark(name: str) -> TinyBenchmark:
    """The suite's benchmark of that name (ConfigError naming the others)."""
    from podium.core.errors import ConfigError

    for b in BENCHMARKS:
        if b.name == name:
            return b
    raise ConfigError(f"no tiny benchmark {name!r}; the suite has {', '.join(b.name for b in BENCHMARKS)}",
                      key="benchmark")


def metric_units(bench: TinyBenchmark) -> str:
    """The units of the benchmark's accuracy metric, as the round states them ("%", "" for DICE)."""
    from podium.benchmarks import get_round

    return get_round(ROUND).benchmark(bench.name).metric_units


@dataclass
class SuiteRow:
    """One line of the final table."""

    benchmark: str
    backend: str
    scenario: str
    metric: str
    validity: str
    accuracy: str
    time_to_train: str
    ok: bool


@dataclass
class SuiteResult:
    rows: list[SuiteRow] = field(default_factory=list)
    training: Any = None
    reference_accuracy: float | None = None
    out: Path = Path("podium-out")
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)


def train(out: Path, system: str, runs: int | None, observer: Any, org: str = DEFAULT_ORG, *,
          bench: TinyBenchmark = DIGITS) -> Any:
    """MLPerf-style time to train of `bench`, its logs naming `org` (submission_org); the CampaignResult."""
    from podium.training import Campaign
    from podium.training.campaign import CampaignConfig, Distribution
    from podium.workloads import WORKLOADS
    from podium.workloads.base import Division

    config = CampaignConfig(runs=runs, division=Division.CLOSED, out=out / "training", system=system,
                            device="cpu", check_compliance=True, save_models=True, org=org)
    return Campaign(WORKLOADS.get(bench.name), config, observer, Distribution()).run()


def trained_model(training: Any) -> tuple[Path | None, Path]:
    """(model.onnx, model.pt) of the first converged run; the ONNX file is None for a benchmark served by PyTorch
    alone (`backends`), whose runs save none."""
    for record in training.records:
        files = {Path(f).suffix: Path(f) for f in record.model_files}
        if record.converged and ".pt" in files:
            return files.get(".onnx"), files[".pt"]
    raise PodiumError("no training run converged with a saved model; nothing to serve")


def backends(bench: TinyBenchmark, asked: Sequence[str] = ()) -> list[str]:
    """The backends `bench` is served on: those asked (default: every backend of the suite) that its task can be
    served by (a task served by PyTorch alone, its reference's format, skips ONNX Runtime)."""
    from podium.inference.tasks import TASKS

    served_by = TASKS.get(bench.name).backends or BACKENDS
    return [b for b in (asked or BACKENDS) if b in served_by]


def fp32_accuracy(state_dict: Path, bench: TinyBenchmark = DIGITS) -> float:
    """The trained model's score in FP32 on the eval split, in the metric's units, served by PyTorch outside LoadGen
    (the task's dataset, model, graph form or predictor and metric, every sample once): the reference accuracy."""
    from podium.metrics import METRICS

    with _served(bench, "pytorch", state_dict) as (served, dataset, task):
        metric = METRICS.get(task.metric)
        labels = dataset.labels()
        count = dataset.total_sample_count
        for start in range(0, count, OFFLINE_BATCH):
            indices = list(range(start, min(count, start + OFFLINE_BATCH)))
            dataset.load_samples(indices)
            responses = served.respond(dataset.get_samples(indices), indices)
            metric.update(responses, [labels[i] for i in indices])
            dataset.unload_samples(indices)
        return float(metric.compute().value)


@contextlib.contextmanager
def _served(bench: TinyBenchmark, backend: str, model: Path) -> Iterator[tuple[Any, Any, Any]]:
    """(the model as the harness serves it, its dataset, its task), outside LoadGen; closed after."""
    from podium.datasets import DATASETS
    from podium.inference.harness import InferenceSpec, plan

    p = plan(InferenceSpec(benchmark=bench.name, scenario=Scenario.OFFLINE, model_path=model, round=ROUND,
                           backend=backend, options=backend_options(backend, bench),
                           dataset_path=bench.dataset_path(),
                           reference_accuracy=0.0))
    dataset = DATASETS.get(p.task.dataset)(p.spec.dataset_path,
                                           performance_sample_count=p.bench.performance_sample_count,
                                           **p.task.dataset_options)
    spec = p.model
    if p.task.predictor is None:  # the warm-up batch the harness gives graphs that take whole samples
        dataset.load_samples([0])
        spec = dataclasses.replace(spec, example_input=dataset.get_samples([0]))
        dataset.unload_samples([0])
    served = spec.load()
    try:
        yield served, dataset, p.task
    finally:
        served.close()


def capacity(backend: str, model: Path, batch: int, bench: TinyBenchmark = DIGITS) -> float:
    """Samples/s of `batch`-sized batches of eval samples served as the harness serves them, post-processing or
    sliding window included (a quick calibration, untimed by the rules)."""
    with _served(bench, backend, model) as (served, dataset, _):
        indices = [i % dataset.total_sample_count for i in range(batch)]
        dataset.load_samples(sorted(set(indices)))
        samples = dataset.get_samples(indices)
        served.respond(samples, indices)  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < CALIBRATION_S:
            served.respond(samples, indices)
            n += batch
        return n / (time.perf_counter() - t0)


def calibrate(out: Path, backend: str, model: Path, bench: TinyBenchmark = DIGITS) -> dict[str, float]:
    """A user.conf for this machine and backend, as a submitter writes one: the expected SingleStream and
    MultiStream latencies (half the measured ones, so that LoadGen generates enough queries), the Server
    target QPS (a share of the single-sample capacity) and the Offline expected QPS (above the measured
    capacity, so that the Offline query lasts at least the minimum duration)."""
    single = capacity(backend, model, 1, bench)
    streams = capacity(backend, model, 8, bench)
    offline = capacity(backend, model, OFFLINE_BATCH, bench)
    return {"SingleStream.target_latency": round(0.5e3 / single, 4),
            "MultiStream.target_latency": round(0.5e3 * 8 / streams, 4),
            "Server.target_qps": float(max(1, round(single * SERVER_LOAD))),
            "Offline.target_qps": float(round(offline * 1.5))}


def write_user_conf(out: Path, backend: str, values: dict[str, float], bench: str = BENCHMARK) -> Path:
    """The backend's user.conf, one file for every benchmark as a submitter keeps it: `bench`'s lines set to
    `values`, the other benchmarks' lines kept as they are."""
    from podium.core.files import atomic_write

    path = out / "inference" / f"user-{backend}.conf"
    kept = [line for line in (path.read_text("utf-8").splitlines() if path.is_file() else [])
            if line and not line.startswith("#") and not line.startswith(f"{bench}.")]
    lines = [f"# user.conf written by `podium run` from a calibration of this machine ({backend})", *kept]
    lines += [f"{bench}.{key} = {value:g}" for key, value in values.items()]
    return atomic_write(path, "\n".join(lines) + "\n")


def describe_system(folder: Path, system: str, org: str) -> Path:
    """`folder`/systems/<system>.json naming `org` as its submitter: this machine captured when there is no
    description yet (or it is not one), else the description kept, edits by hand included, with its submitter
    set. The inference harness keeps a description that exists."""
    from podium.results import system as sysdesc

    path = folder / "systems" / f"{system}.json"
    try:
        desc = sysdesc.load(path)
    except (OSError, ValueError):
        desc = sysdesc.capture(system)
    if desc.get("submitter") != org or not path.is_file():
        sysdesc.write(path, {**desc, "submitter": org})
    return path


def serve(out: Path, system: str, backend: str, model: Path, reference: float,
          report: Callable[[dict], None], say: Callable[[str], None] = print, *, org: str = DEFAULT_ORG,
          values: dict[str, float] | None = None, scenarios: Sequence[Scenario] | None = None,
          bench: TinyBenchmark = DIGITS) -> list[dict]:
    """Every scenario the tiny round requires of `bench`, on one backend, performance then accuracy; returns the
    records.

    `values`: the user.conf settings to start from (default: a calibration of this machine); `scenarios`:
    a subset of the round's. A result INVALID because of those settings is run again (see the module
    docstring); the earlier attempt is said in a line, not kept."""
    from podium.benchmarks import get_round

    if values is None:  # digits keeps calibrate's three-argument call
        values = calibrate(out, backend, model) if bench == DIGITS else calibrate(out, backend, model, bench)
    values = dict(values)
    user_conf = write_user_conf(out, backend, values, bench.name)
    describe_system(out / "inference", system, org)
    dataset = bench.dataset_path()
    records: list[dict] = []
    for scenario in scenarios or _scenarios(get_round(ROUND).benchmark(bench.name)):
        for attempt in range(max(SERVER_RETRIES, DURATION_RETRIES) + 1):
            got = _run_scenario(out, system, backend, model, reference, scenario, user_conf, bench, dataset)
            change = _retune(scenario, got, values, attempt)
            if change is None:
                break
            write_user_conf(out, backend, values, bench.name)
            say(f"  {bench.name} {scenario.value} on {backend}: {change}")
        for r in got:
            records.append(r)
            report(r)
    return records


def _run_scenario(out: Path, system: str, backend: str, model: Path, reference: float, scenario: Scenario,
                  user_conf: Path, bench: TinyBenchmark, dataset: Path | None) -> list[dict]:
    from podium.inference.harness import InferenceSpec, default_runner, run_inference

    spec = InferenceSpec(benchmark=bench.name, scenario=scenario, model_path=model, mode=Mode.SUBMISSION,
                         round=ROUND, backend=backend, options=backend_options(backend, bench),
                         runner=default_runner(scenario), out=out / "inference", system_id=system,
                         user_conf=user_conf, reference_accuracy=reference, progress=False, dataset_path=dataset)
    return run_inference(spec).records


def _retune(scenario: Scenario, records: list[dict], values: dict[str, float], attempt: int) -> str | None:
    """Change `values` for a rerun when the performance result is INVALID because of them and retries are
    left; returns what was done, in words, or None (the result stands)."""
    latency = _latency_only(records)
    if scenario is Scenario.SERVER and latency and attempt < SERVER_RETRIES:
        qps = values["Server.target_qps"]
        values["Server.target_qps"] = float(max(1, round(qps * SERVER_BACKOFF)))
        return (f"INVALID at {qps:g} QPS ({'; '.join(latency)}); running it again at "
                f"{values['Server.target_qps']:g} QPS")
    missed = _duration_miss(records)
    if missed is None or attempt >= DURATION_RETRIES or scenario is Scenario.SERVER:
        return None
    return _rerun_at_measured_rate(scenario, missed, values)


def _rerun_at_measured_rate(scenario: Scenario, record: dict, values: dict[str, float]) -> str:
    """Offline: expected QPS from the achieved samples/s; SingleStream/MultiStream: expected latency from the
    measured mean latency. Each at least OFFLINE_MARGIN (STREAM_MARGIN) past the setting that fell short, in
    case the record lacks the measurement."""
    if scenario is Scenario.OFFLINE:
        key, old = "Offline.target_qps", values.get("Offline.target_qps", 1.0)
        achieved = (record.get("result") or {}).get("value")
        measured = float(achieved) if _positive(achieved) else old
        values[key] = float(round(max(measured, old) * OFFLINE_MARGIN))
        return (f"INVALID, {DURATION_REASON} (expected {old:g} QPS, achieved {measured:,.0f} samples/s); running "
                f"it again with expected QPS {values[key]:g}")
    key = f"{scenario.value}.target_latency"
    old = values.get(key, 1.0)
    mean_ns = (record.get("latency_ns") or {}).get("mean")
    measured = float(mean_ns) / 1e6 if _positive(mean_ns) else old
    values[key] = float(f"{min(measured, old) * STREAM_MARGIN:.4g}")
    return (f"INVALID, {DURATION_REASON} (expected latency {old:g} ms, measured mean {measured:.4g} ms); running "
            f"it again with expected latency {values[key]:g} ms")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


def _duration_miss(records: list[dict]) -> dict | None:
    """The performance record when it is INVALID for want of duration: min duration not met, and no error but
    the engine's running out of generated queries (the same cause, said as an error); else None."""
    for r in records:
        if r["mode"] != "performance" or not r.get("result"):
            continue
        reasons = r["result"]["reasons"]
        if r["result"]["validity"] != "VALID" and DURATION_REASON in reasons and \
                all(RAN_OUT in str(e) for e in r["errors"]):
            return r
    return None


def _latency_only(records: list[dict]) -> list[str]:
    """The reasons a performance result is INVALID when they are all about latency; else []."""
    for r in records:
        if r["mode"] == "performance" and not r["errors"] and r["result"]["validity"] != "VALID":
            reasons = list(r["result"]["reasons"])
            return reasons if reasons and set(reasons) <= LATENCY_REASONS else []
    return []


def _scenarios(bench: Any) -> list[Scenario]:
    """The scenarios required in either category, in LoadGen's order."""
    required = {s for category in ("edge", "datacenter") for s in bench.scenarios(category)}
    return [s for s in Scenario if s in required]
