"""`podium infer WORKLOAD --scenario S`: one inference benchmark under LoadGen, into MLPerf's results layout."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.core.vocabulary import Engine, PeakMethod, Precision, RunnerKind
from podium.loadgen.settings import Mode, Scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="serve a benchmark's model under a LoadGen scenario")
    p.add_argument("workload", help="a benchmark name (e.g. digits, resnet50)")
    p.add_argument("--scenario", required=True, type=Scenario.parse, help="SingleStream, MultiStream, Server, Offline")
    p.add_argument("--mode", default=Mode.PERFORMANCE, type=Mode.parse,
                   help="performance (default), accuracy, submission (both) or find-peak (Server)")
    p.add_argument("--model", required=True, type=Path, help="model file (.onnx; .pt state dict or TorchScript), or "
                   "'random': the benchmark's model with random weights (performance only)")
    p.add_argument("--backend", help="onnxruntime or pytorch (default: the benchmark's own: onnxruntime, or "
                   "pytorch for those published as PyTorch checkpoints, rnnt and gnmt)")
    p.add_argument("--dataset-path", type=Path, help="the dataset's directory (benchmarks whose data is not shipped)")
    p.add_argument("--round", help="MLPerf round whose rules apply (default: the latest with the benchmark)")
    p.add_argument("--user-conf", type=Path, help="a user.conf applied after the round's mlperf.conf")
    p.add_argument("--target-qps", type=float, help="Server target QPS and Offline expected QPS")
    p.add_argument("--short", action="store_true", help="a quick look: short durations and counts; the result "
                   "is marked not valid for submission")
    p.add_argument("--count", type=int, help="use only the first N samples (not valid for submission)")
    p.add_argument("--out", type=Path, default=Path("podium-out"), help="output root (default ./podium-out)")
    p.add_argument("--system", default="local", help="system id: results/<system>/ and systems/<system>.json")
    p.add_argument("--engine", default="podium", choices=[e.value for e in Engine],
                   help="the load generator: Podium's (default) or the official mlcommons-loadgen")
    p.add_argument("--audit-config", type=Path, help="an audit.config to apply (compliance tests); none applies "
                   "otherwise, not even ./audit.config")
    p.add_argument("--audits", action="store_true", help="then run the compliance audits the round lists for the "
                   "benchmark (TEST01, TEST04, TEST05), as `podium audit` does, unless a test failed")
    p.add_argument("--completion-timeout-s", type=float,
                   help="how long to wait for the last completions (default: derived from the run's length)")
    g = p.add_argument_group("graph outputs", "how the model's outputs are read (default: the forms the benchmark "
                             "declares for its official graphs, tried in order)")
    g.add_argument("--outputs", type=_names, help="output names to read, comma-separated, in the order the "
                   "post-processor takes them")
    g.add_argument("--postprocess", help="the post-processor for those outputs (e.g. argmax, argmax-1, class-id-1)")
    r = p.add_argument_group("runner")
    r.add_argument("--runner", choices=[k.value for k in RunnerKind],
                   help="default: inline for SingleStream, a thread pool otherwise")
    r.add_argument("--batch-size", type=int, help="max samples per batch")
    r.add_argument("--max-wait-us", type=int, default=0, help="how long a partial batch waits for more")
    r.add_argument("--instances", type=int, default=1, help="model instances (threads or processes)")
    r.add_argument("--peak-method", default="loadgen", choices=[m.value for m in PeakMethod],
                   help="find-peak: the engine's FindPeakPerformance, or Podium's bisection under full rules")
    b = p.add_argument_group("backend")
    b.add_argument("--threads", type=int, help="intra-op threads per instance")
    b.add_argument("--inter-op-threads", type=int)
    b.add_argument("--graph-optimization", default="all", choices=["disable", "basic", "extended", "all"])
    b.add_argument("--provider", action="append", default=[], help="ONNX Runtime execution provider (repeat)")
    b.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    b.add_argument("--compile", action="store_true", help="torch.compile the model")
    b.add_argument("--channels-last", action="store_true")
    b.add_argument("--precision", default="fp32", choices=[x.value for x in Precision])
    a = p.add_argument_group("accuracy")
    a.add_argument("--accuracy-target", choices=["99", "99.9"], help="share of the FP32 reference (default: the "
                   "benchmark's first target: 99 %%, or MobileNet's 98 %% in v0.5)")
    a.add_argument("--reference-accuracy", type=float, help="FP32 reference accuracy (benchmarks measured here)")
    p.add_argument("--cache-dir", type=Path, help="preprocessing cache (default $PODIUM_CACHE_DIR or ~/.cache/podium)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="live progress (default: on a terminal, for runs of 10 s or more)")
    p.set_defaults(func=cmd_infer)


# Numbers refused before anything runs, by attribute: what they must be (0 is never "the default", NaN never runs).
_POSITIVE_INT = ("an integer >= 1", lambda v: v >= 1)
_POSITIVE = ("a finite number > 0", lambda v: math.isfinite(v) and v > 0)
_NUMBERS = {"count": _POSITIVE_INT, "batch_size": _POSITIVE_INT, "instances": _POSITIVE_INT,
            "threads": _POSITIVE_INT, "inter_op_threads": _POSITIVE_INT,
            "max_wait_us": ("an integer >= 0", lambda v: v >= 0),
            "target_qps": _POSITIVE, "completion_timeout_s": _POSITIVE,
            "reference_accuracy": ("a finite number", math.isfinite)}


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected output names, comma-separated")
    return names


def _check_numbers(args: argparse.Namespace) -> None:
    """A ConfigError naming the option (exit 2, one line) for a number out of range."""
    for attr, (kind, ok) in _NUMBERS.items():
        value = getattr(args, attr, None)
        if value is not None and not ok(value):
            option = "--" + attr.replace("_", "-")
            raise ConfigError(f"{option} must be {kind}, not {value!r}", key=option)


def spec_from_args(args: argparse.Namespace) -> Any:
    from podium.inference.backends import BackendOptions
    from podium.inference.harness import InferenceSpec, default_runner
    from podium.inference.runners import RunnerConfig

    _check_numbers(args)
    options = BackendOptions(intra_op_threads=args.threads, inter_op_threads=args.inter_op_threads,
                             graph_optimization=args.graph_optimization, providers=tuple(args.provider),
                             device=args.device, compile=args.compile, channels_last=args.channels_last,
                             precision=args.precision)
    runner = default_runner(args.scenario, args.batch_size, args.instances)
    if args.runner:
        batch = runner.batch_size if args.batch_size is None else args.batch_size
        runner = RunnerConfig(args.runner, batch, args.max_wait_us, args.instances)
    elif args.max_wait_us:
        runner = RunnerConfig(runner.kind, runner.batch_size, args.max_wait_us, runner.instances)
    return InferenceSpec(
        benchmark=args.workload, scenario=args.scenario, model_path=args.model, mode=args.mode, round=args.round,
        backend=args.backend or default_backend(args.workload), options=options, runner=runner,
        dataset_path=args.dataset_path, dataset_count=args.count, user_conf=args.user_conf, short=args.short,
        out=args.out, system_id=args.system, engine=args.engine, target_qps=args.target_qps,
        reference_accuracy=args.reference_accuracy, accuracy_target=args.accuracy_target, peak=args.peak_method,
        cache_dir=args.cache_dir, progress=args.progress, completion_timeout_s=args.completion_timeout_s,
        audit_config=args.audit_config, outputs=args.outputs, postprocess=args.postprocess)


def default_backend(benchmark: str) -> str:
    """The backend a benchmark is served by when --backend is not given (onnxruntime for an unknown name: the
    plan names the unknown benchmark)."""
    from podium.core.errors import PodiumError
    from podium.inference.tasks import task_for

    try:
        return task_for(benchmark).default_backend
    except PodiumError:
        return "onnxruntime"


def one_line(r: Any) -> str:
    """The run's result (a `RunRecord`) in one line: metric, validity or why not, accuracy against target."""
    from podium.inference.record import Headline, Status

    head = f"{r.benchmark} {r.scenario.value} {r.mode.name.lower()} on {r.backend.get('name', '?')}"
    if r.status is Status.ABORTED:
        return f"{head}: ABORTED — {r.errors[0] if r.errors else r.signal}"
    if r.errors:
        return f"{head}: FAILED — {r.errors[0]}"
    if r.mode is Mode.ACCURACY:
        a = r.accuracy
        value = float("nan") if a is None or a.value is None else a.value
        target = "" if a is None or a.target is None else f" (target {a.target:.3f})"
        verdict = "PASSED" if a is not None and a.passed else "BELOW TARGET"
        return f"{head}: accuracy {value:.3f}{'' if a is None else a.units or ''}{target} {verdict}"
    res = r.result
    text = Headline(res.metric, res.value, res.units).text()
    why = "" if res.validity == "VALID" and not res.reasons else f" ({'; '.join(res.reasons)})"
    return f"{head}: {text} {res.validity}{why}"


def cmd_infer(args: argparse.Namespace) -> int:
    from podium.inference.harness import run_inference

    result = run_inference(spec_from_args(args))
    for r in result.records:
        print(one_line(r))
    if result.peak is not None:
        bracket = None if result.peak.bracket_qps is None else list(result.peak.bracket_qps)
        print(f"peak: {result.peak.peak_qps} QPS (bracket {bracket})")
    if result.kept_in is not None:
        print(f"files: {result.kept_in} (the run failed: the previous results in {result.scenario_dir} are "
              "unchanged)")
    else:
        print(f"files: {result.scenario_dir}")
    if args.audits and not result.failed:
        from podium.inference.audit import run_listed

        audited = True
        for line, passed in run_listed(spec_from_args(args)):
            print(line)
            audited = audited and passed
        return 0 if result.ok and audited else 1
    return 0 if result.ok else 1
