#!/usr/bin/env python3
"""BERT at sequence length 384 through Podium against the bare runtime, Offline; tokenization and post-processing.

BERT-Large takes seconds per sample on 2 CPU cores, so the model served is a shallower BERT of BERT-Large's width
and sequence length: hidden 1024, 16 heads, intermediate 4096, vocabulary 30,522, 384 tokens, `--layers` of its
24 encoder layers (default 2), with seeded random weights, exported to ONNX under the official FP32 graph's names
(podium.models.bert; `--model` serves another file). Samples are SQuAD features of generated passages
(podium.datasets.squad's generator, in the official dev-v1.1.json + vocab.txt layout), tokenized by the dataset as
the reference pre-tokenizes, off the timed path.

1. Offline samples/s through `podium infer bert` (thread-pool runner, one instance, `--batch`, `--threads`) as a
   share of the bare runtime's own loop on batches of the same records with the same threads: `session.run` on
   input_ids, input_mask and segment_ids, then the start and end logits stacked (what the task's post-processing
   does on the timed path). Goal: >= 0.97.
2. Where the time of a whole accuracy pass goes, per feature: tokenization (building the features from the JSON and
   vocab, once, cached: the dataset's first open), inference (the bare loop's rate), post-processing (the `squad`
   metric turning logits into answer spans and scoring them: n-best, max answer length, F1), as shares of their
   sum. Tokenization and post-processing stay off the measured path, as in the reference.

Every Podium run here is performance-only (random weights; counts and durations set by the bench's user.conf):
the figures measure speed, never validity.

    python bench/bert_offline.py [--layers 2] [--questions 24] [--batch 4] [--threads 2] [--seconds 20] [--rounds 3]

Numbers vary with the machine and with what else runs on it: run it on an idle machine.

Measured (2026-12-05, this 2-vCPU AMD EPYC VM, no GPU lent; onnxruntime 1.32.0, torch 2.13.0 CPU; defaults:
2 layers, 24 questions = 48 features of 384 tokens, batch 4, 2 threads, 3 alternating rounds of 20 s):
- Offline: bare 18.15 / 18.46 / 18.51 samples/s, Podium 18.34 / 18.87 / 18.63; ratio of medians 1.009 (per round
  1.006 to 1.022).
- Per feature: tokenization 1.08 ms (2.0 %), inference 54.2 ms (97.9 %), post-processing 0.088 ms (0.16 %); with
  BERT-Large's 24 layers inference is about 12 times longer and the other two shares shrink accordingly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from podium.inference.backends import BackendOptions
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario

BENCHMARK = "bert"


def model_file(given: Path | None, layers: int, out: Path) -> Path:
    """The ONNX file served: `given`, or BERT-Large's width with `layers` encoder layers, seeded random weights."""
    if given is not None:
        return given
    import dataclasses

    import torch

    from podium.models import MODELS
    from podium.models.bert import LARGE, bert_for_question_answering
    from podium.models.export import export_onnx

    torch.manual_seed(0)
    module = bert_for_question_answering(dataclasses.replace(LARGE, num_hidden_layers=layers)).eval()
    path = out / f"bert-large-width-{layers}-layers.onnx"
    return export_onnx(module, MODELS.get(BENCHMARK), path)


def dataset(data: Path, cache: Path) -> tuple[Any, float]:
    """The squad dataset of the generated data, and the seconds its first open took (tokenizing every question)."""
    from podium.datasets import DATASETS

    t0 = time.perf_counter()
    opened = DATASETS.get("squad")(data, cache_dir=cache)
    return opened, time.perf_counter() - t0


def records(ds: Any) -> np.ndarray:
    indices = list(range(ds.total_sample_count))
    ds.load_samples(indices)
    return np.asarray(ds.get_samples(indices))


def options(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(intra_op_threads=args.threads, providers=tuple(args.provider),
                          device="cuda" if args.provider else "cpu")


def bare_loop(model: Path, rows: np.ndarray, batch: int, opts: BackendOptions, seconds: float
              ) -> tuple[float, np.ndarray]:
    """Samples/s of the runtime alone on batches of the same records (session.run, then start and end stacked),
    and the logits of every record once (for the post-processing measure)."""
    import onnxruntime

    so = onnxruntime.SessionOptions()
    if opts.intra_op_threads:
        so.intra_op_num_threads = opts.intra_op_threads
    so.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(str(model), so, providers=list(opts.providers) or None)
    names = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()][:2]

    def run(rows_: np.ndarray) -> np.ndarray:
        start, end = session.run(outputs, {n: np.ascontiguousarray(rows_[n]) for n in names})
        return np.stack([start, end], axis=-1)

    order = np.random.default_rng(0).integers(0, len(rows), size=batch * 16)
    batches = [rows[order[k:k + batch]] for k in range(0, len(order), batch)]
    run(batches[0])  # warm-up, untimed
    n, k, t0 = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        run(batches[k % len(batches)])
        n, k = n + batch, k + 1
    logits = np.concatenate([run(rows[i:i + batch]) for i in range(0, len(rows), batch)])
    return n / elapsed, logits


def postprocess_seconds(ds: Any, logits: np.ndarray) -> float:
    """Seconds the `squad` metric takes to turn every feature's logits into answers and score them."""
    from podium.metrics import METRICS

    metric = METRICS.get("squad")
    labels = ds.labels()
    t0 = time.perf_counter()
    metric.update(list(logits), labels)
    metric.compute()
    return time.perf_counter() - t0


def podium(model: Path, data: Path, out: Path, batch: int, opts: BackendOptions, seconds: float, qps: float
           ) -> dict[str, Any]:
    """One `podium infer bert` Offline performance run; its record."""
    out.mkdir(parents=True, exist_ok=True)
    user_conf = out / "user.conf"
    user_conf.write_text(f"{BENCHMARK}.Offline.min_duration = {int(seconds * 1000)}\n"
                         f"{BENCHMARK}.Offline.min_query_count = 1\n", "utf-8")
    spec = InferenceSpec(benchmark=BENCHMARK, scenario=Scenario.OFFLINE, model_path=model, backend="onnxruntime",
                         mode=Mode.PERFORMANCE, options=opts, dataset_path=data, user_conf=user_conf, out=out,
                         system_id="bench", progress=False, target_qps=qps, runner=RunnerConfig("pool", batch, 0, 1),
                         cache_dir=out.parent / "cache")
    result = run_inference(spec)
    return result.records[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a BERT ONNX file with the official FP32 names (default: BERT-Large's "
                    "width with --layers layers, random weights)")
    ap.add_argument("--layers", type=int, default=2, help="encoder layers of the stand-in (BERT-Large has 24)")
    ap.add_argument("--questions", type=int, default=24, help="generated SQuAD questions (one feature or more each)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--provider", action="append", default=[], help="ONNX Runtime execution provider (repeat)")
    ap.add_argument("--seconds", type=float, default=20.0, help="Offline duration and bare-loop time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="podium-bench-bert-"))
    out.mkdir(parents=True, exist_ok=True)
    from podium.datasets.squad import generate

    data = generate(out / "squad", args.questions, seed=0)
    ds, tokenize_s = dataset(data, out / "cache")
    rows = records(ds)
    model, opts = model_file(args.model, args.layers, out), options(args)
    report: dict[str, Any] = {"model": str(model), "layers": None if args.model else args.layers,
                              "sequence_length": int(rows["input_ids"].shape[1]), "features": len(rows),
                              "questions": ds.question_count, "batch": args.batch, "threads": args.threads,
                              "providers": args.provider or ["CPUExecutionProvider"]}

    bare, ours, logits = [], [], None
    for r in range(args.rounds):  # alternate the contenders, so that drifts of the machine hit both alike
        rate, logits = bare_loop(model, rows, args.batch, opts, args.seconds)
        bare.append(rate)
        run = podium(model, data, out / f"offline-{r}", args.batch, opts, args.seconds, qps=rate)
        ours.append(float(run["result"]["value"]))
    ratios = [o / b for o, b in zip(ours, bare)]
    report["offline"] = {"bare_samples_per_s": bare, "podium_samples_per_s": ours, "ratios": ratios,
                         "ratio_of_medians": statistics.median(ours) / statistics.median(bare)}

    assert logits is not None
    per_feature = {"tokenization_s": tokenize_s / len(rows), "inference_s": 1.0 / statistics.median(bare),
                   "postprocessing_s": postprocess_seconds(ds, logits) / len(rows)}
    total = sum(per_feature.values())
    report["per_feature"] = per_feature
    report["shares"] = {k.removesuffix("_s"): v / total for k, v in per_feature.items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
