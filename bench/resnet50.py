#!/usr/bin/env python3
"""ResNet-50 through Podium against the bare runtime, Server against Offline, and Offline against the machine's peak.

On ONNX Runtime (CPU by default; `--provider cuda` / `tensorrt` on a GPU machine), with the same model (MLPerf's
ResNet-50 v1.5 definition with random weights, exported once, or `--model`), the same preprocessed samples
(generated ImageNet-layout JPEGs through the benchmark's own preprocessing), the same batch size and threads:

1. Offline samples/s through `podium infer` (thread-pool runner, one instance) as a share of the bare runtime's own
   loop (`session.run` on batches of those samples, then the argmax, for the same time). Goal: >= 0.97.
2. The highest VALID Server QPS (Podium's bisection under the benchmark's rules) against the Offline rate. Goal:
   >= 0.85. MLPerf bounds ResNet-50's Server p99 latency at 15 ms, which one CPU image alone exceeds; on a CPU the
   bench uses a bound scaled from the measured batch-1 latency (`--latency-factor` times it, stated in the
   output), and the real 15 ms on a GPU (`--provider cuda`). A Server batch is whatever is queued when an
   instance is free, up to `--batch`.
3. The Offline rate times the model's FLOPs per image (counted from the PyTorch definition: 2 x multiply-adds of
   every convolution and linear layer) as a share of this machine's measured peak fp32 matrix-multiply rate
   (2048 x 2048 matrices, same threads: ONNX Runtime's MatMul and torch.mm, the higher).

Every Podium run here is performance-only (random weights; counts and durations set by the bench's user.conf):
the figures measure speed, never validity for submission.

    python bench/resnet50.py [--images 64] [--batch 16] [--threads 2] [--seconds 20] [--rounds 2]

Numbers vary with the machine and with what else runs on it: run it on an idle machine. Timing claims live here,
never in the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from podium.inference.backends import BACKENDS, BackendOptions
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario

BENCHMARK = "resnet50"
MLPERF_SERVER_BOUND_MS = 15  # user.conf takes whole milliseconds


def model_file(given: Path | None, cache: Path) -> Path:
    if given is not None:
        return given
    from podium.inference.random_weights import random_weights_file

    return random_weights_file(BENCHMARK, "onnxruntime", cache)


def samples(data: Path, cache: Path, count: int) -> np.ndarray:
    """The benchmark's preprocessed samples of `count` generated images (what Podium's runs read too)."""
    from podium.datasets import DATASETS
    from podium.datasets.imagenet import generate

    generate(data, count, seed=0)
    dataset = DATASETS.get("imagenet")(data, cache_dir=cache)
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    return np.asarray(dataset.get_samples(indices))


def options(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(intra_op_threads=args.threads, providers=tuple(args.provider),
                          device="cuda" if args.provider else "cpu")


def bare_loop(model: Path, rows: np.ndarray, batch: int, opts: BackendOptions, seconds: float) -> float:
    """Samples/s of the runtime alone: batches of the same samples, session.run then argmax, no harness."""
    order = np.random.default_rng(0).integers(0, len(rows), size=batch * 32)
    batches = [np.ascontiguousarray(rows[order[k:k + batch]]) for k in range(0, len(order), batch)]
    m = BACKENDS.get("onnxruntime").load(model, opts, example_input=batches[0])
    try:
        n, k, t0 = 0, 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            m.predict(batches[k % len(batches)]).argmax(axis=1)
            n, k = n + batch, k + 1
        return n / elapsed
    finally:
        m.close()


def batch1_latency_ms(model: Path, rows: np.ndarray, opts: BackendOptions, reps: int = 20) -> float:
    """Median latency of one image alone (the basis of the Server bound on a CPU)."""
    m = BACKENDS.get("onnxruntime").load(model, opts, example_input=rows[:1])
    try:
        times = []
        for k in range(reps):
            t0 = time.perf_counter()
            m.predict(rows[k % len(rows)][None])
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times)
    finally:
        m.close()


def podium(model: Path, data: Path, out: Path, scenario: Scenario, batch: int, opts: BackendOptions,
           conf: dict[str, Any], qps: float, peak: bool = False, instances: int = 1,
           engine: str = "podium") -> dict[str, Any]:
    """One `podium infer resnet50` performance run (or a Server peak search); its record and peak."""
    out.mkdir(parents=True, exist_ok=True)
    user_conf = out / "user.conf"
    user_conf.write_text("".join(f"{BENCHMARK}.{scenario.value}.{k} = {v}\n" for k, v in conf.items()), "utf-8")
    spec = InferenceSpec(benchmark=BENCHMARK, scenario=scenario, model_path=model, backend="onnxruntime",
                         mode=Mode.FIND_PEAK if peak else Mode.PERFORMANCE, options=opts, dataset_path=data,
                         user_conf=user_conf, out=out, system_id="bench", progress=False, target_qps=qps,
                         runner=RunnerConfig("pool", batch, 0, instances),  # a batch is what is queued: no wait
                         peak="bisect", cache_dir=out.parent / "cache", engine=engine)
    result = run_inference(spec)
    return {"record": result.records[-1] if result.records else None, "peak": result.peak}


def flops_per_image() -> float:
    """2 x the multiply-adds of every convolution and linear layer of the ResNet-50 definition, per 224x224 image."""
    import torch

    from podium.models import MODELS

    model, macs = MODELS.get(BENCHMARK).build().eval(), [0]

    def count(module: Any, _inputs: Any, output: Any) -> None:
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            macs[0] += output.numel() * module.in_features

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    return 2.0 * macs[0]


def peak_matmul_flops(threads: int | None, n: int = 2048, seconds: float = 3.0) -> dict[str, float]:
    """This machine's fp32 matrix-multiply rate, FLOP/s, with `threads` threads: n x n matrices multiplied by ONNX
    Runtime's MatMul (the runtime served) and by torch.mm; "peak" is the higher."""
    import onnxruntime
    import torch
    from onnx import TensorProto, helper, numpy_helper, save

    a, b = np.random.default_rng(0).random((2, n, n), dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
                              [numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory() as tmp:
        save(model, f"{tmp}/matmul.onnx")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            torch.set_num_threads(threads)
        session = onnxruntime.InferenceSession(f"{tmp}/matmul.onnx", options)
        ort_rate = _rate(lambda: session.run(None, {"a": a}), 2.0 * n ** 3, seconds)
    x, y = torch.from_numpy(a), torch.from_numpy(b)
    torch_rate = _rate(lambda: torch.mm(x, y), 2.0 * n ** 3, seconds)
    return {"onnxruntime": ort_rate, "torch": torch_rate, "peak": max(ort_rate, torch_rate)}


def _rate(step: Any, flops: float, seconds: float) -> float:
    """FLOP/s of `step` (`flops` each), run for `seconds` after one untimed call."""
    step()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        reps += 1
    return flops * reps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a ResNet-50 ONNX file (default: the definition, random weights)")
    ap.add_argument("--images", type=int, default=64, help="generated images (the performance sample set)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--provider", action="append", default=[], help="ONNX Runtime execution provider (repeat)")
    ap.add_argument("--seconds", type=float, default=20.0, help="Offline duration and bare-loop time")
    ap.add_argument("--server-seconds", type=float, default=60.0, help="Server min_duration")
    ap.add_argument("--server-queries", type=int, default=1000, help="Server min_query_count (p99 early stopping "
                    "needs 459 or more); with --server-seconds it sets the lowest QPS the search tries")
    ap.add_argument("--latency-factor", type=float, default=10.0,
                    help="CPU Server bound: this many batch-1 latencies (MLPerf's 15 ms is some 10-15 GPU ones)")
    ap.add_argument("--server-instances", type=int, default=1, help="Server model instances (one thread each "
                    "with --server-threads 1: parallel servers shorten the queue's tail)")
    ap.add_argument("--server-threads", type=int, help="intra-op threads per Server instance (default --threads)")
    ap.add_argument("--server-engine", default="podium", choices=["podium", "official"],
                    help="the Server search's load generator: Podium's, or the official mlcommons-loadgen as the peer")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="podium-bench-resnet50-"))
    cache, data = out / "cache", out / "imagenet"
    model, opts = model_file(args.model, cache), options(args)
    rows = samples(data, cache, args.images)
    report: dict[str, Any] = {"model": str(model), "batch": args.batch, "threads": args.threads,
                              "providers": args.provider or ["CPUExecutionProvider"], "images": args.images}

    offline_conf = {"min_duration": int(args.seconds * 1000), "min_query_count": 1}
    bare, ours = [], []
    for r in range(args.rounds):  # alternate the contenders, so that drifts of the machine hit both alike
        bare.append(bare_loop(model, rows, args.batch, opts, args.seconds))
        run = podium(model, data, out / f"offline-{r}", Scenario.OFFLINE, args.batch, opts, offline_conf,
                     qps=bare[-1])["record"]
        ours.append(float(run["result"]["value"]))
    report["offline"] = {"bare_samples_per_s": bare, "podium_samples_per_s": ours,
                         "ratio": statistics.median(ours) / statistics.median(bare)}
    offline = statistics.median(ours)

    latency1 = batch1_latency_ms(model, rows, opts)
    bound_ms = MLPERF_SERVER_BOUND_MS if args.provider else max(1, round(args.latency_factor * latency1))
    server_conf = {"target_latency": bound_ms, "min_duration": int(args.server_seconds * 1000),
                   "min_query_count": args.server_queries}
    server_opts = dataclasses.replace(opts, intra_op_threads=args.server_threads or args.threads)
    found = podium(model, data, out / "server", Scenario.SERVER, args.batch, server_opts, server_conf, qps=offline,
                   peak=True, instances=args.server_instances, engine=args.server_engine)["peak"]
    peak_qps = None if found is None else found.peak_qps
    report["server"] = {"batch1_latency_ms": latency1, "latency_bound_ms": bound_ms,
                        "instances": args.server_instances, "threads": args.server_threads or args.threads,
                        "engine": args.server_engine,
                        "bound_basis": "MLPerf's 15 ms" if args.provider else
                        f"{args.latency_factor:g} x the batch-1 latency",
                        "peak_valid_qps": peak_qps, "ratio_to_offline": None if not peak_qps else peak_qps / offline}

    per_image, machine = flops_per_image(), peak_matmul_flops(args.threads)
    report["flops"] = {"gflops_per_image": per_image / 1e9,
                       "matmul_gflops": {k: v / 1e9 for k, v in machine.items()},
                       "fraction_of_peak": offline * per_image / machine["peak"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
