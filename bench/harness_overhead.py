"""What Podium's inference harness costs against the bare runtime, and Podium's engine against the official one.

Measured on the same model, batch size and threads, alternating the contenders run by run (3 rounds by
default), on the tiny suite's `digits` model (trained if no model is given; the weights do not change speed):

1. Offline samples/s through Podium's runner (thread pool, one instance) as a share of the bare runtime's own
   loop (`session.run` on pre-built batches of the same size, for the same time). Goal: >= 97 %.
2. The highest VALID Server QPS (Podium's bisecting search under the tiny round's full rules) against the
   bare runtime's capacity at the Server batch size.
3. Podium's engine against the official LoadGen (mlcommons-loadgen) on the same runner: Offline samples/s.

    python bench/harness_overhead.py [--model model.onnx] [--batch 64 256] [--threads 1] [--rounds 3]

Numbers vary with the machine and with what else runs on it: run it on an idle machine. Timing claims live
here, never in the tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from podium.inference.backends import BACKENDS, BackendOptions
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario

REFERENCE = 1.0  # accuracy is not measured here


def untrained_model(directory: Path) -> Path:
    import torch

    from podium.workloads.classification import export_onnx
    from podium.models.digits import small_resnet

    torch.manual_seed(0)
    return export_onnx(small_resnet().eval(), torch.zeros(1, 1, 8, 8), directory / "model.onnx")


def bare_loop(model: Path, batch: int, threads: int | None, seconds: float) -> float:
    """Samples/s of the runtime alone: the same batches, no harness."""
    from podium.datasets.digits import load_splits

    _, (x, _) = load_splits()
    rows = np.random.default_rng(0).integers(0, len(x), size=batch * 64)
    batches = [np.ascontiguousarray(x[rows[k:k + batch]]) for k in range(0, len(rows), batch)]
    m = BACKENDS.get("onnxruntime").load(model, BackendOptions(intra_op_threads=threads), example_input=batches[0])
    try:
        n, k, t0 = 0, 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            m.predict(batches[k % len(batches)]).argmax(axis=1)
            n, k = n + batch, k + 1
        return n / elapsed
    finally:
        m.close()


SECONDS = 1.0  # --seconds: Offline duration (the tiny round's minimum is 1 s)


def harness(model: Path, out: Path, scenario: Scenario, batch: int, threads: int | None, qps: float,
            engine: str = "podium", mode: Mode = Mode.PERFORMANCE, peak: str = "loadgen") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    user_conf = out / "user.conf"
    user_conf.write_text(f"digits.Offline.min_duration = {int(SECONDS * 1000)}\n", encoding="utf-8")
    spec = InferenceSpec(user_conf=user_conf, benchmark="digits", scenario=scenario, model_path=model, mode=mode, round="tiny-v1",
                         options=BackendOptions(intra_op_threads=threads), out=out, system_id="bench",
                         runner=RunnerConfig("pool", batch, 0, 1), target_qps=qps, reference_accuracy=REFERENCE,
                         engine=engine, peak=peak, progress=False)
    result = run_inference(spec)
    return {"record": result.records[-1], "peak": result.peak}


def offline_share(model: Path, out: Path, batch: int, threads: int | None, rounds: int) -> list[float]:
    """Per round: Podium runner's Offline samples/s / bare loop samples/s."""
    ratios = []
    for k in range(rounds):
        bare = bare_loop(model, batch, threads, max(2.0, SECONDS))
        r = harness(model, out / f"offline-{batch}-{k}", Scenario.OFFLINE, batch, threads, bare)["record"]
        podium = r["result"]["value"]
        ratios.append(podium / bare)
        print(f"  batch {batch} round {k + 1}: bare {bare:,.0f}/s  podium runner {podium:,.0f}/s  "
              f"ratio {podium / bare:.3f}  ({r['result']['validity']})", flush=True)
    return ratios


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--server-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (the runner's instance and bare)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--seconds", type=float, default=1.0, help="Offline run length")
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()
    global SECONDS
    SECONDS = args.seconds
    out = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    model = args.model or untrained_model(out)
    print(f"model {model}; threads {args.threads}; results under {out}")
    print("1. Offline: Podium's runner vs the bare runtime loop (goal >= 0.97)")
    for batch in args.batch:
        ratios = offline_share(model, out, batch, args.threads, args.rounds)
        print(f"   batch {batch}: median ratio {statistics.median(ratios):.3f} (min {min(ratios):.3f})")
    if args.skip_server:
        return 0
    print("2. Server: highest VALID QPS (bisection under the tiny round's rules) vs bare capacity")
    capacity = bare_loop(model, args.server_batch, args.threads, 2.0)
    peak = harness(model, out / "server-peak", Scenario.SERVER, args.server_batch, args.threads, capacity / 8,
                   mode=Mode.FIND_PEAK, peak="bisect")["peak"]
    print(f"   bare capacity at batch {args.server_batch}: {capacity:,.0f} samples/s; peak VALID "
          f"{peak['peak_qps']:,.0f} QPS (bracket {peak['bracket_qps']}); {peak['peak_qps'] / capacity:.2f} of capacity")
    if not args.skip_official:
        print("3. Offline samples/s, Podium's engine vs the official LoadGen, same runner")
        batch = args.batch[-1]
        for k in range(args.rounds):
            qps = bare_loop(model, batch, args.threads, 1.0)
            p = harness(model, out / f"eng-p-{k}", Scenario.OFFLINE, batch, args.threads, qps)["record"]
            o = harness(model, out / f"eng-o-{k}", Scenario.OFFLINE, batch, args.threads, qps, "official")["record"]
            pv, ov = p["result"]["value"], o["result"]["value"]
            print(f"   round {k + 1}: podium {pv:,.0f}/s  official {ov:,.0f}/s  ratio {pv / ov:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
