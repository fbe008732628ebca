#!/usr/bin/env python3
"""The official MLPerf reference app on Podium's drop-in API against the official LoadGen: Offline samples/s.

The app is mlcommons/inference `vision/classification_and_detection/python/` (main.py with its ONNX Runtime
backend and ImageNet loader), run unchanged for the official LoadGen (mlcommons-loadgen) and, from a copy
whose only change is the line `import mlperf_loadgen as lg` -> `import podium.loadgen.compat as lg`, for
Podium. Nothing of it is fetched here nor kept in the repository: check it out yourself, e.g.

    git clone --depth 1 https://github.com/mlcommons/inference /tmp/inference
    .venv/bin/python bench/reference_app_vs_official.py \
        --app-dir /tmp/inference/vision/classification_and_detection/python

The app imports cv2, pycocotools and onnxruntime at start-up (`pip install -e '.[bench]'` brings them); this
script builds, in a temporary directory, a small classifier (an optional 3x3 convolution, a mean over each
channel, a linear layer to 1000 classes, ArgMax: the `resnet50-onnxruntime` profile's output name) with
onnx.helper, and a preprocessed ImageNet-layout data set the app reads with `--use_preprocessed_dataset`
(val_map.txt and one .npy per image). The model is
cheap on purpose: what differs between the two runs is the load generator and how it shares the process
with the app's threads (2 workers, `--threads 2`), not the inference.

With the defaults (ImageNet-sized 224 x 224 inputs, batches of 32 = 19.3 MB each, built by the issuing
thread and freed by the workers) the app is bound by its issuing thread's copying into each new batch, and
the figure depends on glibc's heap: when the two topmost batches of the main heap are free at once, free()
trims 38.5 MB off it (2 x the dynamic mmap threshold) and the next batch faults it back in page by page.
Whether that happens is decided by where small long-lived blocks (numpy's cached 256-byte label arrays)
land: above each new batch in the official's process (the heap never shrinks), in older free blocks in
Podium's (it shrinks and regrows ~50 times a second). Watch minor page faults (`/usr/bin/time -v`) when
comparing; `--side-px 32` is free of the effect. Which free blocks the main heap holds when the first batch is
built is an accident of everything the process did before: glibc's malloc_info at that moment showed one free
block in the official's process and 4-10 in Podium's, left by Podium's own imports (.pyc and extension modules
read, then freed) and schedule temporaries; moving those off the main heap (an eager import, the pass prepared on
a thread of its own) emptied it of large blocks but did not change the figure, and was not kept.

Runs alternate between the engines (which goes first alternates too) so that drifts of a noisy VM hit both
alike. Each run's figure is the "Samples per second" of its mlperf_log_summary.txt; the medians and the ratio
Podium/official are printed.

Usage: .venv/bin/python bench/reference_app_vs_official.py --app-dir DIR [--reps 5] [--time-s 5] [--qps 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_IMPORT = "import mlperf_loadgen as lg"
PODIUM_IMPORT = "import podium.loadgen.compat as lg"
ENGINES = ("official", "podium")
CLASSES = 1000


def build_model(path: Path, side_px: int, channels: int) -> None:
    """A classifier over NCHW float images: 3x3 conv to `channels` (0: none), ReLU, global mean, linear, ArgMax.

    Its output is named `ArgMax:0`, as the `resnet50-onnxruntime` profile expects.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    conv = numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32), "conv")
    weight = numpy_helper.from_array(rng.standard_normal((channels or 3, CLASSES)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(rng.standard_normal(CLASSES).astype(np.float32), "bias")
    convolved = [helper.make_node("Conv", ["input_tensor:0", "conv"], ["features0"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["features0"], ["features"])] if channels else []
    nodes = [
        *convolved,
        helper.make_node("ReduceMean", ["features" if channels else "input_tensor:0"], ["pooled"], axes=[2, 3],
                         keepdims=0),
        helper.make_node("MatMul", ["pooled", "weight"], ["logits0"]),
        helper.make_node("Add", ["logits0", "bias"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["ArgMax:0"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["N", 3, side_px, side_px])],
        [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"])],
        [conv, weight, bias] if channels else [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def build_dataset(root: Path, count: int, side_px: int) -> None:
    """The app's preprocessed ImageNet layout: val_map.txt (`name label`) and `name.npy` (CHW float32)."""
    (root / "val").mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = []
    for i in range(count):
        name = f"val/ILSVRC2012_val_{i:08d}.JPEG"
        np.save(root / f"{name}.npy", rng.random((3, side_px, side_px), dtype=np.float32))
        lines.append(f"{name} {int(rng.integers(CLASSES))}\n")
    (root / "val_map.txt").write_text("".join(lines))


def app_copies(app_dir: Path, tmp: Path) -> dict[str, Path]:
    """The app as checked out (official) and a copy with only its LoadGen import switched (Podium)."""
    main = app_dir / "main.py"
    text = main.read_text()
    if OFFICIAL_IMPORT not in text:
        sys.exit(f"{main}: expected the line {OFFICIAL_IMPORT!r}")
    podium = tmp / "app_podium"
    shutil.copytree(app_dir, podium, ignore=shutil.ignore_patterns("__pycache__"))
    (podium / "main.py").write_text(text.replace(OFFICIAL_IMPORT, PODIUM_IMPORT, 1))
    return {"official": app_dir, "podium": podium}


def run_app(app: Path, work: Path, out: Path, a: argparse.Namespace) -> tuple[float | None, int]:
    """One run of the app in Offline: its samples/s from mlperf_log_summary.txt (None if it failed) and
    the minor page faults of the whole process."""
    data = work / "data"
    cmd = [sys.executable, str(app / "main.py"), "--profile", "resnet50-onnxruntime", "--scenario", "Offline",
           "--model", str(work / "model.onnx"), "--dataset-path", str(data), "--preprocessed_dir", str(data),
           "--use_preprocessed_dataset", "--threads", str(a.threads), "--time", str(a.time_s),
           "--qps", str(a.qps), "--user_conf", str(work / "user.conf"), "--output", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), USE_GPU="no")
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.time_s * 4 + 120, env=env, cwd=work)
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - faults
    summary = out / "mlperf_log_summary.txt"
    if p.returncode != 0 or not summary.exists():
        print(f"    run failed (rc {p.returncode}): {p.stderr[-1500:]}", file=sys.stderr, flush=True)
        return None, faults
    m = re.search(r"Samples per second\s*:\s*([0-9.eE+]+)", summary.read_text())
    return (float(m.group(1)) if m else None), faults


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app-dir", type=Path, required=True,
                    help="a checkout of mlcommons/inference vision/classification_and_detection/python")
    ap.add_argument("--reps", type=int, default=5, help="runs per engine (alternating)")
    ap.add_argument("--time-s", type=int, default=5, help="the app's --time: min and max duration, seconds")
    ap.add_argument("--qps", type=int, default=20000, help="the app's --qps: offline_expected_qps")
    ap.add_argument("--threads", type=int, default=2, help="the app's worker threads")
    ap.add_argument("--count", type=int, default=500, help="images in the data set (the performance sample set)")
    ap.add_argument("--side-px", type=int, default=224, help="image side in pixels (3 x side x side float32)")
    ap.add_argument("--channels", type=int, default=0,
                    help="the model's convolution channels (its cost; 0: no convolution)")
    ap.add_argument("--out", type=Path, help="where runs are kept (default: a temporary directory)")
    a = ap.parse_args()
    work = a.out or Path(tempfile.mkdtemp(prefix="podium-refapp-"))
    work.mkdir(parents=True, exist_ok=True)
    build_model(work / "model.onnx", a.side_px, a.channels)
    build_dataset(work / "data", a.count, a.side_px)
    (work / "user.conf").write_text(f"*.Offline.target_qps = {a.qps}\n")
    apps = app_copies(a.app_dir.resolve(), work)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; app threads {a.threads}, "
          f"{a.time_s} s runs at {a.qps:,} expected samples/s; runs under {work}", flush=True)
    figures: dict[str, list[float]] = {e: [] for e in ENGINES}
    for rep in range(a.reps):
        order = ENGINES if rep % 2 == 0 else ENGINES[::-1]
        for eng in order:
            value, faults = run_app(apps[eng], work, work / f"run{rep:02d}_{eng}", a)
            if value is not None:
                figures[eng].append(value)
            shown = "failed" if value is None else f"{value:12,.1f} samples/s"
            print(f"  rep {rep + 1}/{a.reps} {eng:<8} {shown}  ({faults:,} minor page faults)", flush=True)
    medians = {e: statistics.median(v) if v else float("nan") for e, v in figures.items()}
    o, p = medians["official"], medians["podium"]
    print(f"{'Offline samples/s (reference app, ONNX Runtime)':<48} official {o:>12,.1f} samples/s  "
          f"podium {p:>12,.1f} samples/s  podium/official {p / o if o else float('inf'):6.2f}x "
          f"(higher is better; medians of {a.reps})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
