"""`podium train WORKLOAD`: time to train, MLPerf style — N runs, live progress, a table, the olympic score."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from podium.cli.arguments import nonnegative_int, positive_int
from podium.core.errors import ConfigError, RunAborted


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a workload to its target, N runs, olympic score")
    p.add_argument("workload", help="a workload name (see `podium list workloads`)")
    p.add_argument("--data-path", type=Path, metavar="DIR",
                   help="the dataset, in the layout the workload reads (`podium list workloads` names it)")
    p.add_argument("--generate-data", type=Path, metavar="DIR",
                   help="write small data in the workload's layout to DIR and exit (for trying a workload)")
    p.add_argument("--workers", type=nonnegative_int,
                   help="data-loading worker processes per rank (default: the cores the ranks leave, up to 8)")
    p.add_argument("--runs", type=positive_int, help="number of runs (default: MLPerf's count for the benchmark)")
    p.add_argument("--division", default="closed", choices=["closed", "open"])
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="default: the recipe's")
    p.add_argument("--seed", type=nonnegative_int, help="seed of run 1; run i uses seed + i - 1 (default: random)")
    p.add_argument("--out", default="podium-out/training", help="output folder (MLPerf results layout)")
    p.add_argument("--system", default="cpu", help="system name in results/<system>/ and the log")
    p.add_argument("--org", default="Podium",
                   help="submitting organization: submission_org in the logs, submitter in systems/ (default: Podium)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter (closed division: only tunable ones)")
    p.add_argument("--batch-size", type=positive_int, help="per-rank batch size")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--device", default="auto", help="torch device for one process (default: cuda if present)")
    p.add_argument("--threads", type=positive_int, help="torch intra-op threads per process (default: torch's)")
    p.add_argument("--no-check", action="store_true", help="skip the official compliance checker")
    p.add_argument("--no-models", action="store_true", help="do not keep trained models")
    g = p.add_argument_group("distributed (one process per rank, DDP)")
    g.add_argument("--nproc", type=positive_int,
                   help="processes (ranks) per node (default: --gpus-per-node under Slurm, else 1)")
    g.add_argument("--nnodes", type=positive_int, default=1,
                   help="nodes: each running this command with its --node-rank, or Slurm's (--launcher slurm)")
    g.add_argument("--node-rank", type=nonnegative_int, default=0, help="this node's index, 0 .. nnodes - 1")
    g.add_argument("--rdzv-endpoint", help="HOST:PORT where node 0 listens for the ranks (multi-node runs); "
                                           "one node listens on 127.0.0.1 only")
    s = p.add_argument_group("Slurm (--launcher slurm: submitted with sbatch, one task per node)")
    s.add_argument("--launcher", choices=["local", "slurm"], default="local",
                   help="local: the ranks start here (default); slurm: a batch job of --nnodes nodes")
    s.add_argument("--gpus-per-node", type=nonnegative_int, default=0, help="GPUs to ask Slurm for on each node")
    s.add_argument("--partition", help="the Slurm partition (default: the cluster's)")
    s.add_argument("--time", dest="time_limit", metavar="TIME",
                   help="the job's time limit (minutes, H:MM:SS or D-HH:MM:SS; default: the partition's)")
    s.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="another sbatch option, as one argument (e.g. --sbatch-arg=--account=ml); repeatable")
    s.add_argument("--slurm-node", action="store_true", help=argparse.SUPPRESS)   # a node's task in the job
    p.set_defaults(func=cmd_train)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are JSON when they parse as JSON (numbers, true), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def check_options(args: argparse.Namespace) -> None:
    """What the argument types cannot see alone, refused in one line naming the option before anything runs
    (the numbers themselves are refused by argparse: `--runs 0` used to mean the default count)."""
    from podium.training.distributed import parse_endpoint

    if args.nproc is None:
        args.nproc = args.gpus_per_node if args.launcher == "slurm" and args.gpus_per_node else 1
    if args.launcher == "slurm" and (args.node_rank or args.rdzv_endpoint):
        raise ConfigError("--launcher slurm places the nodes itself: drop --node-rank and --rdzv-endpoint")
    if args.launcher != "slurm" and (args.partition or args.time_limit or args.sbatch_arg or args.gpus_per_node):
        raise ConfigError("--gpus-per-node, --partition, --time and --sbatch-arg are Slurm's: add --launcher slurm")
    if args.slurm_node:
        from podium.training.slurm import node_place

        place = node_place()
        args.nnodes, args.node_rank, args.rdzv_endpoint = place.nnodes, place.node_rank, place.endpoint
    if args.node_rank >= args.nnodes:
        raise ConfigError(f"--node-rank must be below --nnodes ({args.nnodes}), got {args.node_rank}")
    if args.rdzv_endpoint is not None:
        parse_endpoint(args.rdzv_endpoint)
    elif args.nnodes > 1:
        raise ConfigError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (where node 0 listens)")


def cmd_train(args: argparse.Namespace) -> int:
    from podium.training import distributed

    check_options(args)
    if args.generate_data is not None:
        return _generate(args)
    if distributed.in_worker():
        return _train_as_rank(args)
    if args.launcher == "slurm" and not args.slurm_node:
        return _submit(args)
    if args.nproc > 1 or args.nnodes > 1 or args.slurm_node:
        return _launch(args)
    return _train_here(args)


def _generate(args: argparse.Namespace) -> int:
    from podium.workloads import WORKLOADS

    workload = WORKLOADS.get(args.workload)
    if workload.data is None:
        raise ConfigError(f"workload {workload.name} brings its own data: it has nothing to generate",
                          key="--generate-data")
    root = workload.data.generate(args.generate_data)
    print(f"wrote {workload.data.description} to {root}; train with --data-path {root}")
    return 0


def bound_workload(args: argparse.Namespace) -> Any:
    """The workload these options name, reading --data-path when it reads one."""
    from podium.workloads import WORKLOADS

    return WORKLOADS.get(args.workload).with_data(args.data_path)


def _checked_seed(args: argparse.Namespace) -> int:
    """The campaign's seed (--seed, else drawn here, once for every rank), after its settings were refused here,
    once, rather than by every rank after torch has started."""
    import secrets

    from podium.training.campaign import Distribution, plan_specs

    seed = args.seed if args.seed is not None else secrets.randbelow(2**30)
    plan_specs(bound_workload(args), campaign_config(args, seed, "cpu"), Distribution())
    return int(seed)


def _submit(args: argparse.Namespace) -> int:
    """Submit the campaign to Slurm (`podium.training.slurm`): settings refused here first, one seed for all."""
    from podium.training import slurm

    job = slurm.SlurmJob(nodes=args.nnodes, ranks_per_node=args.nproc, gpus_per_node=args.gpus_per_node,
                         partition=args.partition, time_limit=args.time_limit, job_name=f"podium-{args.workload}",
                         sbatch_args=tuple(args.sbatch_arg))
    seed = _checked_seed(args)
    argv = [*worker_argv(args, seed), "--nproc", str(args.nproc), "--launcher", "slurm"]
    return slurm.submit(job, argv, Path(args.out))


def _launch(args: argparse.Namespace) -> int:
    """Run this command as --nproc ranks on this node, with one seed chosen here (rank 0's wins across nodes)."""
    from podium.training import distributed

    seed = _checked_seed(args)
    rdzv = distributed.Rendezvous(nnodes=args.nnodes, node_rank=args.node_rank, endpoint=args.rdzv_endpoint)
    return distributed.launch(args.nproc, worker_argv(args, seed), rdzv)


def _train_as_rank(args: argparse.Namespace) -> int:
    """One rank under `podium train --nproc N`. Exit 0 or 1 means the campaign ran (score valid or not); an
    unexpected error keeps its traceback but exits 2, so that the launcher never takes it for a finished
    campaign (Python exits 1 on an uncaught exception)."""
    import traceback

    from podium.core.errors import PodiumError

    try:
        return _train_here(args)
    except (PodiumError, KeyboardInterrupt):
        raise
    except Exception:
        traceback.print_exc()
        return 2


def worker_argv(args: argparse.Namespace, seed: int) -> list[str]:
    """The `podium train ...` arguments each rank runs with (the launcher keeps --nproc and the rendezvous)."""
    argv = ["train", args.workload, "--division", args.division, "--seed", str(seed), "--out", args.out,
            "--system", args.system, "--org", args.org, "--device", args.device]
    for flag, value in (("--runs", args.runs), ("--precision", args.precision), ("--batch-size", args.batch_size),
                        ("--threads", args.threads), ("--workers", args.workers),
                        ("--data-path", args.data_path and args.data_path.resolve())):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (("--compile", args.compile), ("--no-check", args.no_check), ("--no-models", args.no_models)):
        argv += [flag] if on else []
    for pair in args.set:
        argv += ["--set", pair]
    return argv


def campaign_config(args: argparse.Namespace, seed: int | None, device: str) -> Any:
    """The CampaignConfig these options ask for."""
    from podium.training.campaign import CampaignConfig
    from podium.workloads.base import Division, Precision

    return CampaignConfig(
        runs=args.runs, division=Division.parse(args.division),
        precision=Precision.parse(args.precision) if args.precision else None, seed=seed,
        out=Path(args.out), system=args.system, org=args.org, overrides=parse_overrides(args.set),
        per_rank_batch_size=args.batch_size, compile=args.compile, device=device,
        check_compliance=not args.no_check, save_models=not args.no_models, loader_workers=args.workers)


def _train_here(args: argparse.Namespace) -> int:
    from podium.training import Campaign, distributed
    from podium.training.campaign import Distribution

    workload = bound_workload(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    dist, device = (distributed.join() if distributed.in_worker() else (Distribution(), _device(args.device)))
    seed = distributed.agree(args.seed) if distributed.in_worker() else args.seed
    config = campaign_config(args, seed, device)
    display = ProgressDisplay(workload, enabled=dist.rank == 0)
    campaign = Campaign(workload, config, display, dist)   # refuses bad settings here, before any init
    try:
        result = campaign.run()
    except RunAborted:
        if campaign.result is not None:
            display.table(campaign.result)
        raise
    finally:
        if distributed.in_worker():
            distributed.leave(finished=campaign.result is not None and not campaign.result.interrupted)
    display.table(result)
    return 0 if result.submitted_score.valid else 1


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class ProgressDisplay:
    """Live progress (run i/N, epoch or samples, metric against target, elapsed) and the final table."""

    workload: Any
    enabled: bool = True
    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    _total: int = 0

    def _print(self, text: str, end: str = "\n") -> None:
        if self.enabled:
            print(text, end=end, file=self.stream, flush=True)

    def run_started(self, index: int, total: int, seed: int) -> None:
        self._total = total
        self._print(f"run {index + 1}/{total}  seed {seed}", end="" if self.stream.isatty() else "\n")

    def evaluated(self, index: int, evaluation: Any) -> None:
        q, unit = self.workload.quality, self.workload.cadence.unit.value
        sign = ">=" if q.direction.value == "higher" else "<="
        text = (f"run {index + 1}/{self._total}  {unit[:-1]} {evaluation.progress:g}  {q.metric} "
                f"{evaluation.value:.4f} (target {sign} {q.target:g})  {evaluation.elapsed_ms / 1000:.1f} s")
        if self.stream.isatty():
            self._print("\r" + text.ljust(78), end="")

    def run_finished(self, record: Any) -> None:
        if self.stream.isatty():
            self._print("\r" + " " * 78, end="\r")
        outcome = "converged" if record.converged else f"aborted: {record.reason}"
        seconds = "-" if record.duration_ms is None else f"{record.duration_ms / 1000:.2f} s"
        loading = record.data_loading
        fed = (f"  (data {loading['samples_per_s']:.0f} samples/s, training waited {loading['wait_fraction']:.0%})"
               if loading else "")
        self._print(f"run {record.index + 1}/{self._total}  {seconds}  {outcome}{fed}")

    def table(self, result: Any) -> None:
        for line in result_table(result, self.workload.cadence.unit.value):
            self._print(line)


def result_table(result: Any, unit: str) -> list[str]:
    """The final table: each run's time, converged or not, seed, and the olympic score; `unit` of progress."""
    lines = [f"{'run':>3}  {'seed':>10}  {'time (s)':>9}  {'converged':>9}  {unit:>8}  {'log':>6}  note",
             "-" * 72]
    for r in result.records:
        seconds = "-" if r.duration_ms is None else f"{r.duration_ms / 1000:.3f}"
        log = "-" if r.compliance is None else ("ok" if r.compliance.passed else "FAIL")
        note = "" if r.converged else r.reason
        if r.compliance is not None and not r.compliance.passed and r.compliance.messages:
            note = (note + "; " if note else "") + r.compliance.messages[0].splitlines()[0]
        lines.append(f"{r.index + 1:>3}  {r.seed:>10}  {seconds:>9}  {'yes' if r.converged else 'no':>9}  "
                     f"{'-' if r.to_converge is None else f'{r.to_converge:g}':>8}  {log:>6}  {note}")
    lines.append("-" * 72)
    lines.append(_score_line(result))
    if result.window is not None:
        w, n = result.window, result.runs_required
        value = f"{w.score.minutes:.4f} min" if w.score.valid else f"invalid ({w.score.reason})"
        lines.append(f"median window of {n} consecutive runs (runs {w.first_index + 1}..{w.first_index + n}): "
                     f"{value}  <- the score to submit (training rules §Benchmark results, M > N)")
    if result.convergence is not None:
        c = result.convergence
        lines.append(f"convergence vs reference: {'passed' if c.passed else 'FAILED'} ({c.message})")
        published = result.published_minutes
        if published is not None and published != result.submitted_score.minutes:
            lines.append(f"time to train as published: {published:.4f} min (the score "
                         f"times the RCP scaling {c.scaling_factor:.4f}; scaling.json in the submission)")
    lines.append(f"logs: {result.layout.results_dir}")
    return lines


def _score_line(result: Any) -> str:
    s = result.score
    n = len(result.records)
    count = f"{n} runs" + ("" if n == result.runs_required else f" (MLPerf requires {result.runs_required})")
    if s.valid:
        return f"olympic score ({result.benchmark}, {result.division.value}): {s.minutes:.4f} min " \
               f"({s.minutes * 60:.2f} s) over {count}"
    return f"no valid score ({count}): {s.reason}"
