"""The embedded tiny suite: the whole MLPerf cycle on a small CPU in minutes.

Train `digits` to its target (MLPerf Training rules, N runs, olympic score), take the trained model (state dict
and its ONNX export), measure its FP32 accuracy with bare PyTorch (the reference the 99% target is taken of),
then serve it on each backend in every scenario of the `tiny-v1` round, performance and accuracy, under that
round's rules (durations of seconds; results valid under them), and collect one row per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.core.errors import PodiumError
from podium.loadgen.settings import Mode, Scenario

ROUND = "tiny-v1"
BENCHMARK = "digits"
BACKENDS = ("onnxruntime", "pytorch")
SERVER_LOAD = 0.10  # Server target QPS as a share of the single-sample capacity: the 10 ms p99 bound holds
SERVER_RETRIES = 2  # a Server result INVALID on latency is run again at SERVER_BACKOFF times the QPS, as a
SERVER_BACKOFF = 0.6  # submitter lowers target_qps in user.conf; the last run is the one kept
OFFLINE_BATCH = 64
LATENCY_REASONS = {"latency constraint not met", "early stopping not met"}


def backend_options(backend: str) -> Any:
    """The suite's runtime settings. PyTorch gets one intra-op thread: on a small CPU its OpenMP workers
    spin after every op and take the cores the load generator's issuing and completing threads need, which
    shows as a Server latency tail over the bound; ONNX Runtime keeps its defaults."""
    from podium.inference.backends import BackendOptions

    return BackendOptions(intra_op_threads=1) if backend == "pytorch" else BackendOptions()


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


def train(out: Path, system: str, runs: int | None, observer: Any) -> Any:
    """MLPerf-style time to train of `digits`; returns the CampaignResult."""
    from podium.training import Campaign
    from podium.training.campaign import CampaignConfig, Distribution
    from podium.workloads import WORKLOADS
    from podium.workloads.base import Division

    config = CampaignConfig(runs=runs, division=Division.CLOSED, out=out / "training", system=system,
                            device="cpu", check_compliance=True, save_models=True)
    return Campaign(WORKLOADS.get(BENCHMARK), config, observer, Distribution()).run()


def trained_model(training: Any) -> tuple[Path, Path]:
    """(model.onnx, model.pt) of the first converged run."""
    for record in training.records:
        files = {Path(f).suffix: Path(f) for f in record.model_files}
        if record.converged and ".onnx" in files and ".pt" in files:
            return files[".onnx"], files[".pt"]
    raise PodiumError("no training run converged with a saved model; nothing to serve")


def fp32_accuracy(state_dict: Path) -> float:
    """Top-1 (%) of the trained model in FP32 with bare PyTorch on the eval split: the reference accuracy."""
    import torch

    from podium.workloads.digits import load_splits, small_resnet

    model = small_resnet()
    model.load_state_dict(torch.load(state_dict, weights_only=True))
    _, (x, y) = load_splits()
    with torch.inference_mode():
        predicted = model.eval()(torch.as_tensor(x)).argmax(dim=1).numpy()
    return float((predicted == y).mean() * 100.0)


def capacity(backend: str, model: Path, batch: int) -> float:
    """Samples/s of the bare runtime on `batch`-sized batches (a quick calibration, untimed by the rules)."""
    import numpy as np

    from podium.inference.backends import BACKENDS
    from podium.inference.tasks import TASKS

    task = TASKS.get(BENCHMARK)
    x = np.zeros((batch, 1, 8, 8), dtype=np.float32)
    m = BACKENDS.get(backend).load(model, backend_options(backend), model_factory=task.model_factory(),
                                   example_input=x)
    try:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.3:
            m.predict(x)
            n += batch
        return n / (time.perf_counter() - t0)
    finally:
        m.close()


def calibrate(out: Path, backend: str, model: Path) -> dict[str, float]:
    """A user.conf for this machine and backend, as a submitter writes one: the expected SingleStream and
    MultiStream latencies (half the measured ones, so that LoadGen generates enough queries), the Server
    target QPS (a share of the single-sample capacity) and the Offline expected QPS (above the measured
    capacity, so that the Offline query lasts at least the minimum duration)."""
    single = capacity(backend, model, 1)
    streams = capacity(backend, model, 8)
    offline = capacity(backend, model, OFFLINE_BATCH)
    return {"SingleStream.target_latency": round(0.5e3 / single, 4),
            "MultiStream.target_latency": round(0.5e3 * 8 / streams, 4),
            "Server.target_qps": float(max(1, round(single * SERVER_LOAD))),
            "Offline.target_qps": float(round(offline * 1.5))}


def write_user_conf(out: Path, backend: str, values: dict[str, float]) -> Path:
    path = out / "inference" / f"user-{backend}.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# user.conf written by `podium run` from a calibration of this machine ({backend})"]
    lines += [f"{BENCHMARK}.{key} = {value:g}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def serve(out: Path, system: str, backend: str, model: Path, reference: float,
          report: Callable[[dict], None], say: Callable[[str], None] = print) -> list[dict]:
    """Every scenario of the tiny round on one backend, performance then accuracy; returns the records.

    A Server result INVALID on latency alone is run again, up to SERVER_RETRIES times, at a lower target QPS
    (written to the user.conf that the result directory keeps); the earlier attempt is reported, not kept."""
    from podium.benchmarks import get_round
    from podium.inference.harness import InferenceSpec, default_runner, run_inference

    bench = get_round(ROUND).benchmark(BENCHMARK)
    values = calibrate(out, backend, model)
    user_conf = write_user_conf(out, backend, values)
    records: list[dict] = []
    for scenario in _scenarios(bench):
        for attempt in range(SERVER_RETRIES + 1):
            spec = InferenceSpec(benchmark=BENCHMARK, scenario=scenario, model_path=model, mode=Mode.SUBMISSION,
                                 round=ROUND, backend=backend, options=backend_options(backend),
                                 runner=default_runner(scenario), out=out / "inference", system_id=system,
                                 user_conf=user_conf, reference_accuracy=reference, progress=False)
            got = run_inference(spec).records
            reasons = _latency_only(got)
            if scenario is not Scenario.SERVER or not reasons or attempt == SERVER_RETRIES:
                break
            qps = values["Server.target_qps"]
            values["Server.target_qps"] = float(max(1, round(qps * SERVER_BACKOFF)))
            write_user_conf(out, backend, values)
            say(f"  {BENCHMARK} Server on {backend}: INVALID at {qps:g} QPS ({'; '.join(reasons)}); running it "
                f"again at {values['Server.target_qps']:g} QPS")
        for r in got:
            records.append(r)
            report(r)
    return records


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
