"""`podium loadgen null`: the null SUT through the engine — the load generator's own overhead probe."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass

from podium.cli.arguments import nonnegative_int, positive_float, positive_int
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings, derive

# Null-SUT defaults: a null SUT answers in a few µs, so the pre-generation hints must expect that
# (SingleStream/MultiStream generate 2x min_duration / expected latency queries; Offline 1.1x QPS x duration).
NULL_EXPECTED_LATENCY_NS = 2_000
NULL_MULTI_STREAM_LATENCY_NS = 8_000
NULL_SERVER_QPS = 10_000.0
NULL_OFFLINE_QPS = 2_000_000.0
NULL_MIN_DURATION_MS = 2000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loadgen", help="the load generator itself")
    lsub = p.add_subparsers(dest="loadgen_command", required=True)
    n = lsub.add_parser("null", help="run a null SUT through the engine and print the summary")
    n.add_argument("--scenario", required=True, type=Scenario.parse,
                   help="SingleStream, MultiStream, Server or Offline")
    n.add_argument("--mode", default=Mode.PERFORMANCE, type=Mode.parse,
                   help="performance (default), accuracy, submission or find-peak")
    n.add_argument("--target-qps", type=positive_float,
                   help="Server target QPS / Offline expected QPS (default: 10000 for Server; Offline measures "
                        "the null SUT first)")
    n.add_argument("--min-duration-ms", type=nonnegative_int,
                   help=f"minimum run time in ms (default: {NULL_MIN_DURATION_MS})")
    n.add_argument("--user-conf", help="a user.conf applied (after mlperf.conf) for --model; options given on "
                                       "the command line win over both")
    n.add_argument("--model", default="null", help="model name looked up in the config files")
    n.add_argument("--samples", type=positive_int, default=1024, help="QSL size (default: 1024)")
    n.add_argument("--out", help="log directory (default: a temporary one)")
    n.add_argument("--trace", action="store_true", help="also write mlperf_log_trace.json")
    n.set_defaults(func=cmd_null)


@dataclass(frozen=True)
class NullRun:
    """One null-SUT run: the engine's result and what it cost the process."""

    result: object
    wall_s: float
    cpu_s: float
    outdir: str


def null_settings(scenario: Scenario, mode: Mode, *, target_qps: float | None = None,
                  min_duration_ms: int = NULL_MIN_DURATION_MS) -> TestSettings:
    """Settings that a null SUT can satisfy: pre-generation sized for µs latencies.

    `target_qps` None means the null defaults; any other value is used as given (0 or a negative
    value is refused when the run derives its settings, never replaced).
    """
    return TestSettings(
        scenario=scenario, mode=mode, min_duration_ms=min_duration_ms,
        single_stream_expected_latency_ns=NULL_EXPECTED_LATENCY_NS,
        multi_stream_expected_latency_ns=NULL_MULTI_STREAM_LATENCY_NS,
        server_target_qps=NULL_SERVER_QPS if target_qps is None else target_qps,
        server_target_latency_ns=10_000_000,
        offline_expected_qps=NULL_OFFLINE_QPS if target_qps is None else target_qps)


def run_null(settings: TestSettings, outdir: str, *, samples: int = 1024, trace: bool = False) -> NullRun:
    from podium.loadgen import session
    from podium.loadgen.null_sut import NullQSL, NullSUT

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = session.run(NullSUT(), NullQSL(samples), settings, LogSettings(outdir=outdir, enable_trace=trace))
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return NullRun(result, wall, cpu, outdir)


def calibrated_offline_qps(samples: int = 1024) -> float:
    """An Offline expected QPS that keeps a null SUT busy past min_duration: 1.5x its measured rate.

    Offline generates 1.1 x min_duration x QPS samples; a null SUT finishing them sooner than
    min_duration makes the run INVALID, as with the official LoadGen.
    """
    probe = null_settings(Scenario.OFFLINE, Mode.PERFORMANCE, target_qps=500_000.0, min_duration_ms=1000)
    with tempfile.TemporaryDirectory(prefix="podium-calibrate-") as tmp:
        summary = run_null(probe, tmp, samples=samples).result.summary
    return 1.5 * summary.samples_per_second if summary is not None else NULL_OFFLINE_QPS


def cmd_null(args: argparse.Namespace) -> int:
    settings = _null_run_settings(args)
    derive(settings, args.samples, args.samples)  # a ConfigError now, before any log file exists
    outdir = args.out or tempfile.mkdtemp(prefix="podium-null-")
    run = run_null(settings, outdir, samples=args.samples, trace=args.trace)
    if run.result.aborted:
        from podium.core import signals

        signum = run.result.abort_signum
        print(f"podium: run aborted: {signals.describe(signum)}; logs so far are in {outdir}", file=sys.stderr)
        return signals.exit_code(signum)
    summary_path = run.result.log_paths.get("summary")
    if summary_path and os.path.exists(summary_path):
        print(open(summary_path).read(), end="")
    n = len(run.result.sample_latencies_ns)
    per = f", {run.cpu_s / n * 1e6:.2f} µs CPU/sample" if n else ""
    print(f"\nnull SUT: {n} samples, wall {run.wall_s:.2f} s, CPU {run.cpu_s:.2f} s{per}; logs in {outdir}")
    return 0 if run.result.valid or args.mode is Mode.ACCURACY else 1


def _null_run_settings(args: argparse.Namespace) -> TestSettings:
    """The null defaults, then --user-conf (after mlperf.conf), then the options given on the command line:
    an option the user typed wins over any config file, as it does in most tools."""
    settings = null_settings(args.scenario, args.mode)
    if args.user_conf:
        from podium.loadgen import config

        settings = config.apply_config(settings, args.user_conf, args.model, args.scenario.value)
    elif args.target_qps is None and args.scenario is Scenario.OFFLINE:
        settings = settings.copy(offline_expected_qps=calibrated_offline_qps(args.samples))
    if args.target_qps is not None:
        settings = settings.copy(server_target_qps=args.target_qps, offline_expected_qps=args.target_qps)
    if args.min_duration_ms is not None:
        settings = settings.copy(min_duration_ms=args.min_duration_ms)
    return settings
