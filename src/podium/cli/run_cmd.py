"""`podium run`: the main job — the embedded tiny suite end to end (train, serve every scenario, check, table).

The run holds its output folder for its whole length (`podium.core.outdir.exclusive`): a second `podium run`,
`podium train` or `podium infer` into the same folder refuses in one line naming this run's PID. Training and
serving lock their own folders below it, re-entrantly in this process."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from podium.cli.arguments import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the tiny suite end to end: train each tiny benchmark (classification, "
                       "detection, segmentation), serve it in every scenario, report")
    p.add_argument("--out", type=Path, default=Path("podium-out"), help="where results go (default ./podium-out)")
    p.add_argument("--system", default="local", help="system id: training results/<system>/, and inference "
                   "results/<system>-<backend>/ (a system is one hardware and software configuration)")
    p.add_argument("--runs", type=positive_int, help="training runs (default: the benchmark's MLPerf count)")
    p.add_argument("--org", default="Podium", type=_org_name,
                   help="submitting organization, logged as submission_org by the training runs and set as "
                   "`submitter` in the system descriptions (default: Podium); `podium submission build` takes "
                   "it from there")
    p.add_argument("--backend", action="append", choices=["onnxruntime", "pytorch"],
                   help="serve on this backend (repeat; default: both)")
    p.add_argument("--benchmark", action="append", metavar="NAME",
                   help="run only this tiny benchmark: digits, tiny-detection, tiny-segmentation, tiny-qa, tiny-ctr, "
                   "tiny-speech, tiny-translation (repeat; default: all, in that order)")
    p.set_defaults(func=cmd_run)


def _org_name(text: str) -> str:
    from podium.core.errors import ConfigError
    from podium.results.submission import check_org

    try:
        return check_org(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from podium.core.outdir import exclusive

    with exclusive(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from podium.suite import tiny

    t0 = time.perf_counter()
    rows: list[list[str]] = []
    ok = True
    benches = [tiny.benchmark(name) for name in args.benchmark] if args.benchmark else tiny.BENCHMARKS
    for bench in benches:
        ok &= _benchmark(args, bench, rows)
    print()
    _print_table(rows)
    print(f"\nresults: {args.out / 'inference' / 'results'}  training: {args.out / 'training' / 'results'}")
    ok &= _write_report(args.out)
    print(f"podium run took {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


def _benchmark(args: argparse.Namespace, bench: Any, rows: list[list[str]]) -> bool:
    """Train one tiny benchmark, measure its FP32 reference, serve it on each backend; its rows added to `rows`;
    False when a result is not valid or below target."""
    from podium.cli.infer_cmd import one_line
    from podium.cli.train_cmd import ProgressDisplay, result_table
    from podium.suite import tiny
    from podium.workloads import WORKLOADS

    backends = tiny.backends(bench, args.backend or ())
    if not backends:
        served_by = " or ".join(tiny.backends(bench))
        print(f"== {bench.name}: served by {served_by} alone, which --backend leaves out: skipped", flush=True)
        return True
    print(f"== training {bench.name} to its target (MLPerf Training rules)", flush=True)
    workload = WORKLOADS.get(bench.name)
    training = tiny.train(args.out, args.system, args.runs, ProgressDisplay(workload), org=args.org, bench=bench)
    for text in result_table(training, workload.cadence.unit.value):
        print(text)
    onnx_model, state_dict = tiny.trained_model(training)
    reference = tiny.fp32_accuracy(state_dict, bench)
    print(f"== serving it under the {tiny.ROUND} rules; FP32 reference {workload.quality.metric} "
          f"{_score(reference, tiny.metric_units(bench))} (PyTorch)")
    ok = training.submitted_score.valid and (training.convergence is None or training.convergence.passed)
    for backend in backends:
        model = onnx_model if backend == "onnxruntime" and onnx_model is not None else state_dict
        system = f"{args.system}-{backend}"
        for r in tiny.serve(args.out, system, backend, model, reference, lambda r: print("  " + one_line(r)),
                            org=args.org, bench=bench):
            ok &= _row_ok(r)
            _merge(rows, r, training)
    return ok


def _write_report(out: Path) -> bool:
    """report.html of both trees, written atomically; False when a result could not be read (said in a line)."""
    from podium.cli.results_cmd import report_unreadable
    from podium.results import report, tables

    results = tables.load([out / "inference", out / "training"])
    print(f"report: {report.write(results, out / 'report.html')}")
    return report_unreadable(results) == 0


def _row_ok(r: dict[str, Any]) -> bool:
    if r["errors"]:
        return False
    if r["mode"] == "accuracy":
        return bool(r["accuracy"]["passed"])
    return r["result"]["validity"] == "VALID"


def _merge(rows: list[list[str]], r: dict[str, Any], training: Any) -> None:
    """One row per (backend, scenario): the performance metric and validity, then the accuracy."""
    backend = r["backend"].get("name", "?")
    key = [r["benchmark"], backend, r["scenario"]]
    row = next((x for x in rows if x[:3] == key), None)
    if row is None:
        row = key + ["-", "-", "-", time_to_train(training)]
        rows.append(row)
    if r["errors"]:
        row[4] = "FAILED: " + r["errors"][0][:60]
    elif r["mode"] == "accuracy":
        a = r["accuracy"]
        units = a.get("units") or ""
        row[5] = (f"{a['metric']} {_score(a['value'], units)} vs {_score(a['target'], units)} "
                  f"{'ok' if a['passed'] else 'BELOW'}")
    else:
        from podium.inference.record import Headline

        res = r["result"]
        row[3] = Headline(res["metric"], res["value"], res["units"]).text()
        row[4] = res["validity"] if res["validity"] == "VALID" else f"{res['validity']}: {'; '.join(res['reasons'])}"


def _score(value: float | None, units: str) -> str:
    """An accuracy in its metric's units: percentages to 2 decimals, fractions (DICE) to 4."""
    if value is None:
        return "-"
    return f"{value:.2f}%" if units == "%" else f"{value:.4f}{units}"


def time_to_train(training: Any) -> str:
    """The training score as published: olympic seconds, times the RCP scaling when the runs converged faster
    than the reference mean; why not, when the score or the convergence check failed."""
    score, conv = training.submitted_score, training.convergence
    if not score.valid:
        return f"invalid: {score.reason}"
    if conv is not None and not conv.passed:
        return f"invalid: {conv.message}"
    from podium.training.convergence import published_minutes

    published = published_minutes(score.minutes, conv is not None and conv.passed,
                                  None if conv is None else conv.scaling_factor)
    if published != score.minutes:
        return f"{published * 60:.1f} s (x{conv.scaling_factor:.3f} RCP scaling)"
    return f"{score.minutes * 60:.1f} s"


def _print_table(rows: list[list[str]]) -> None:
    head = ["benchmark", "backend", "scenario", "metric", "valid", "accuracy (vs target)", "time to train"]
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    for line in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    sys.stdout.flush()
