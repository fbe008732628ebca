"""Training rules: what mlperf_logging's package checker verifies (reference training.md §4.2), judged by Podium.

Run counts (exactly the benchmark's MLPerf count), the official compliance checker on every log (through
`podium.training.compliance`, which reads its verdict from its output), unique seeds across runs (closed division),
convergence against reference convergence points: Podium's own reference for its workloads
(`podium.training.convergence`, rcp_checker's statistics), else the official rcp_checker when installed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import CheckerUnavailable
from podium.results.checker.finding import Finding, error, info, warning
from podium.results.checker.registry import Scope, rule
from podium.results.checker.tree import TrainingView
from podium.training import compliance
from podium.training.scoring import RESULT_FILE_COUNTS, dropped_per_side, runs_required

RCP_TIMEOUT_S = 120


@dataclass(frozen=True)
class TrainingInfo:
    """What the checker needs to know about a training benchmark: ruleset, rule files, runs, reference."""

    ruleset: str
    own_rules: bool = False
    runs: int | None = None
    reference: tuple[float, ...] | None = None    # epochs (or samples) to converge of reference runs


def lookup_training(benchmark: str) -> TrainingInfo | None:
    """The workload registry's declaration of `benchmark` (the first workload logging that name)."""
    from podium.workloads import WORKLOADS

    for name in WORKLOADS.names():
        w = WORKLOADS.get(name)
        if w.identity.benchmark == benchmark:
            ref = w.reference.to_converge if w.reference is not None else None
            return TrainingInfo(w.identity.ruleset, w.identity.own_rules, runs_required(benchmark, w.runs), ref)
    return None


def info_for(results: TrainingView) -> TrainingInfo:
    """The benchmark's TrainingInfo; the ruleset recorded in campaign.json wins, then the workload's, then the
    round's ("v6.1" -> "6.1.0")."""
    lookup = results.ctx.env.training_info or lookup_training
    found = lookup(results.benchmark_name)
    campaign = results.campaign or {}
    ruleset = campaign.get("ruleset") or (found.ruleset if found else _ruleset_of_round(results.ctx.round_name))
    runs = campaign.get("runs_required") or (found.runs if found else None)
    return TrainingInfo(str(ruleset), found.own_rules if found else False, runs, found.reference if found else None)


def _ruleset_of_round(round_name: str | None) -> str:
    if round_name and round_name.startswith("v") and round_name[1:].replace(".", "").isdigit():
        return f"{round_name[1:]}.0"
    return "6.1.0"


def _division(results: TrainingView) -> str | None:
    if results.ctx.package.division:
        return results.ctx.package.division
    for entries in results.parsed.values():
        for e in entries:
            if e.get("key") == "submission_division":
                return str(e.get("value")).lower()
    return results.ctx.division(results.system)


@rule("training.run_count", Scope.TRAINING)
def run_count(results: TrainingView) -> Iterator[Finding]:
    """Exactly the benchmark's MLPerf number of result_*.txt files (the package checker wants exactly N)."""
    wanted = info_for(results).runs or RESULT_FILE_COUNTS.get(results.benchmark_name)
    found = len(results.logs)
    if wanted is None:
        yield warning("training.run_count", results.path, f"{found} runs; no required count known for this benchmark")
    elif found < wanted:
        yield error("training.run_count", results.path, f"{found} result files, {wanted} required")
    elif found > wanted:
        yield warning("training.run_count", results.path,
                      f"{found} result files; the package checker expects exactly {wanted} (submit a median window)")


@rule("training.compliance", Scope.TRAINING)
def compliance_checker(results: TrainingView) -> Iterator[Finding]:
    """Every log passes the official compliance checker (one failing run is dropped by olympic scoring)."""
    if not results.ctx.env.official_tools:
        return
    if not compliance.checker_installed():
        yield warning("training.compliance", results.path, "mlperf-logging is not installed: logs not checked")
        return
    tool = info_for(results)
    try:
        failing = _failing_logs(results, tool)
    except CheckerUnavailable as e:
        yield warning("training.compliance", results.path, f"compliance checker unavailable: {e}")
        return
    tolerated = dropped_per_side(results.benchmark_name)
    make = warning if len(failing) <= tolerated else error
    for log, messages in failing:
        yield make("training.compliance", log, "fails the compliance checker" +
                   (f": {messages[0]}" if messages else "") +
                   (" (dropped by olympic scoring)" if make is warning else ""))


def _failing_logs(results: TrainingView, tool: TrainingInfo) -> list[tuple[Path, tuple[str, ...]]]:
    with tempfile.TemporaryDirectory(prefix="podium-check-rules-") as scratch:
        config = compliance.write_podium_rules(tool.ruleset, Path(scratch)) if tool.own_rules else None
        verdicts = [(log, compliance.check_log(log, tool.ruleset, config)) for log in results.logs]
    return [(log, v.messages) for log, v in verdicts if not v.passed]


def seeds_of(entries: list[dict[str, Any]]) -> list[Any]:
    return [e.get("value") for e in entries if e.get("key") == "seed"]


@rule("training.unique_seeds", Scope.TRAINING)
def unique_seeds(results: TrainingView) -> Iterator[Finding]:
    """Each run logs an integer seed, and no two runs share one (closed division; training rules §Seeds)."""
    seen: Counter[Any] = Counter()
    for log, entries in results.parsed.items():
        seeds = seeds_of(entries)
        if not seeds:
            yield error("training.unique_seeds", log, "no seed logged")
        elif not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            yield error("training.unique_seeds", log, f"seed is not an integer: {seeds[0]!r}")
        elif len(seeds) > 1:
            yield warning("training.unique_seeds", log, f"{len(seeds)} seeds logged")
        seen.update(set(s for s in seeds if isinstance(s, int)))
    make = error if _division(results) == "closed" else warning
    for seed, count in sorted(seen.items()):
        if count > 1:
            yield make("training.unique_seeds", results.path, f"seed {seed} is used by {count} runs")


def to_converge(entries: list[dict[str, Any]]) -> float | None:
    """Epochs (or samples) at the last evaluation before run_stop; None unless run_stop says success."""
    progress: float | None = None
    for e in entries:
        meta = e.get("metadata") or {}
        if e.get("key") == "eval_accuracy":
            mark = meta.get("epoch_num", meta.get("samples_count"))
            progress = float(mark) if isinstance(mark, (int, float)) else progress
        if e.get("key") == "run_stop":
            return progress if str(meta.get("status", "")).lower() == "success" else None
    return None


@rule("training.convergence", Scope.TRAINING)
def convergence(results: TrainingView) -> Iterator[Finding]:
    """Closed division: the runs converge no faster than the reference convergence points allow (RCP check)."""
    if _division(results) != "closed" or len(results.logs) < 3:
        return
    tool = info_for(results)
    if tool.reference:
        yield from _podium_rcp(results, tool.reference)
    elif results.ctx.env.official_tools and compliance.checker_installed() and not tool.own_rules:
        # the official rcp_checker knows MLPerf's benchmarks only, not Podium's own (the tiny suite's)
        yield from _official_rcp(results, tool.ruleset)
    else:
        yield info("training.convergence", results.path, "no reference convergence points: not checked")


def _podium_rcp(results: TrainingView, reference: tuple[float, ...]) -> Iterator[Finding]:
    try:
        from podium.training.convergence import check_convergence
        verdict = check_convergence([to_converge(e) for e in results.parsed.values()], reference,
                                    results.benchmark_name)
    except ImportError as e:
        yield warning("training.convergence", results.path, f"cannot check convergence: {e}")
        return
    if not verdict.passed:
        yield error("training.convergence", results.path, verdict.message)
    elif verdict.scaling_factor > 1:
        yield info("training.convergence", results.path, verdict.message)


def _official_rcp(results: TrainingView, ruleset: str) -> Iterator[Finding]:
    with tempfile.TemporaryDirectory(prefix="podium-rcp-") as scratch:   # the tool writes a log into its cwd
        argv = [sys.executable, "-m", "mlperf_logging.rcp_checker", str(results.path.resolve()), "--rcp_usage",
                "training", "--rcp_version", ruleset, "--verbose", "--log_output", str(Path(scratch) / "rcp.log")]
        try:
            done = subprocess.run(argv, cwd=scratch, capture_output=True, text=True, timeout=RCP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            yield warning("training.convergence", results.path, f"rcp_checker did not finish in {RCP_TIMEOUT_S} s")
            return
    out = done.stdout + done.stderr
    lines = [line.split(" - ", 1)[-1].strip() for line in out.splitlines() if line.strip()]
    verdict = next((line for line in reversed(lines) if "PASSED" in line or "FAILED" in line or "Missing RCP" in line),
                   None)
    if verdict is None:
        last = lines[-1] if lines else ""
        yield warning("training.convergence", results.path, f"rcp_checker gave no verdict: {last}")
    elif "PASSED" not in verdict:
        yield error("training.convergence", results.path, f"rcp_checker: {verdict}")


@rule("training.log_identity", Scope.TRAINING)
def log_identity(results: TrainingView) -> Iterator[Finding]:
    """Each log names this benchmark, and (in a submission) the path's organization and division."""
    package = results.ctx.package
    expected = {"submission_benchmark": results.benchmark_name}
    if package.is_submission:
        expected.update(submission_org=str(package.org), submission_division=str(package.division))
    for log, entries in results.parsed.items():
        logged = {e.get("key"): e.get("value") for e in entries if e.get("key") in expected}
        for key, want in expected.items():
            got = logged.get(key)
            if got is None:
                yield error("training.log_identity", log, f"{key} not logged")
            elif str(got).lower() != want.lower():
                make = warning if key == "submission_org" else error   # the org is not a rule, only a label
                yield make("training.log_identity", log, f"{key} is {got!r}, the path says {want!r}")
