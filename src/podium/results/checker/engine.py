"""Runs the registered rules over every part of a tree and gathers their findings into a `CheckReport`.

Besides the rules' findings the engine reports what it needs to run them (rule ids of the group `tree`):
`tree.round` when a package's round is unknown or not in the registry, `tree.readable` when a file cannot be
parsed (once per file, whichever rule hit it first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.core.errors import UnknownNameError
from podium.core.layout import PODIUM, RUN_RECORD
from podium.results.checker import rounds
from podium.results.checker.finding import Finding, Severity, error, exit_code, warning, worst
from podium.results.checker.registry import Rule, Scope, select_rules
from podium.results.checker.tree import (BenchmarkView, Environment, PackageContext, ScenarioView, SystemView,
                                         TrainingView)
from podium.results.layout import (Package, UnreadableFile, find_packages, is_training_dir, read_run_record,
                                   run_records, scenario_dirs, system_description)

# check report format history (readers accept every version):
#   1: first version (root, packages[], findings[], counts, exit_code)
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PackageReport:
    """One package's findings, and what it was checked as."""

    path: str
    division: str | None
    org: str | None
    round_name: str | None
    findings: tuple[Finding, ...]

    @property
    def label(self) -> str:
        kind = "submission" if self.division else "run directory"
        return f"{self.path} ({kind}" + (f", round {self.round_name})" if self.round_name else ")")


@dataclass(frozen=True)
class CheckReport:
    """Everything `podium check` found; `exit_code` follows the worst severity (0 info, 1 warning, 2 error)."""

    root: str
    packages: tuple[PackageReport, ...]
    rules: tuple[str, ...] = field(default=())

    @property
    def findings(self) -> list[Finding]:
        return [f for p in self.packages for f in p.findings]

    @property
    def worst(self) -> Severity | None:
        return worst(self.findings)

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for f in self.findings if f.severity is s) for s in Severity}

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": "podium.check", "root": self.root,
                "rules": list(self.rules), "counts": self.counts(), "exit_code": self.exit_code,
                "packages": [{"path": p.path, "division": p.division, "org": p.org, "round": p.round_name,
                              "findings": [f.to_json() for f in p.findings]} for p in self.packages]}

    def format_text(self) -> str:
        lines = [f"podium check {self.root}: {len(self.rules)} rules, {len(self.packages)} package(s)"]
        for p in self.packages:
            lines.append(p.label)
            groups = sorted({f.rule_id.split('.')[0] for f in p.findings})
            for group in groups:
                lines.append(f"  {group}")
                mine = [f for f in p.findings if f.rule_id.split(".")[0] == group]
                for f in sorted(mine, key=lambda f: (-f.severity.rank, f.path, f.rule_id)):
                    lines.append(f"    {f.severity.value:<7} {f.rule_id:<36} {f.path}: {f.message}")
            if not p.findings:
                lines.append("  no findings")
        c = self.counts()
        lines.append(f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s): exit {self.exit_code}")
        return "\n".join(lines)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def check_tree(root: str | Path, round_name: str | None = None, *, rules: Iterable[str] = (),
               resolve_round: Callable[[str], Any] | None = None, training_info: Callable[[str], Any] | None = None,
               official_tools: bool = True) -> CheckReport:
    """Check every package under `root` with the selected rules (ids or groups; all by default).

    `round_name` overrides the round each package records; `resolve_round` maps a round name to the registry's
    round object (default: podium.benchmarks.get_round); `training_info` maps a training benchmark to its
    TrainingInfo (default: the workload registry); `official_tools=False` skips mlperf_logging's checkers.
    """
    base = Path(root).resolve()
    env = Environment(round_name, resolve_round or rounds.resolve_round, training_info, official_tools)
    selected = select_rules(rules)
    reports = [_check_package(package, env, selected, base) for package in find_packages(base)]
    return CheckReport(str(root), tuple(reports), tuple(r.id for r in selected))


def _check_package(package: Package, env: Environment, selected: list[Rule], base: Path) -> PackageReport:
    ctx, findings = package_context(package, env)
    by_scope = {scope: [r for r in selected if r.scope is scope] for scope in Scope}
    for scope, part in parts(ctx):
        for r in by_scope[scope]:
            findings += _apply(r, part)
    rel = [Finding(f.rule_id, f.severity, _relative(f.path, base), f.message) for f in _unique(findings)]
    return PackageReport(_relative(str(package.root), base) or ".", package.division, package.org, ctx.round_name,
                         tuple(rel))


def _apply(r: Rule, part: Any) -> list[Finding]:
    try:
        return list(r.check(part))
    except UnreadableFile as e:
        return [error("tree.readable", e.path, str(e))]


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.severity.value, f.path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base))
    except ValueError:
        return path


def recorded_round(package: Package) -> str | None:
    """The round the package's runs recorded (the first podium_run.json that names one)."""
    mirrored = sorted((package.root / PODIUM).rglob(RUN_RECORD)) if (package.root / PODIUM).is_dir() else []
    for path in [*run_records(package.root), *mirrored]:   # a submission keeps them under podium/
        try:
            record = read_run_record(path)
        except UnreadableFile:
            continue
        if record is not None and record.get("round"):
            return str(record["round"])
    return None


def package_context(package: Package, env: Environment) -> tuple[PackageContext, list[Finding]]:
    """The package with its round resolved; findings saying why the round is unknown, if it is."""
    name = env.round_name or recorded_round(package)
    ctx = PackageContext(package, env, name)
    has_inference = any(not is_training_dir(d) for _, d in package.benchmark_dirs())
    if name is None:
        problems = [warning("tree.round", package.root, "no round recorded in podium_run.json: pass --round; "
                            "round-dependent rules skipped")] if has_inference else []
        return ctx, problems
    if not has_inference:
        return ctx, []
    try:
        ctx.round = (env.resolve_round or rounds.resolve_round)(name)
    except UnknownNameError as e:
        return ctx, [error("tree.round", package.root, str(e))]
    except ImportError as e:
        return ctx, [warning("tree.round", package.root, f"the benchmark registry is not available ({e}): "
                             "round-dependent rules skipped")]
    return ctx, []


def parts(ctx: PackageContext) -> Iterator[tuple[Scope, Any]]:
    """Every part of the package a rule can look at, tagged with its scope."""
    training_systems, inference_systems = set(), set()
    for system, bench_dir in ctx.package.benchmark_dirs():
        if is_training_dir(bench_dir):
            training_systems.add(system)
            yield Scope.TRAINING, TrainingView(ctx, system, bench_dir.name, bench_dir)
            continue
        inference_systems.add(system)
        bench = _benchmark_results(ctx, system, bench_dir)
        yield Scope.BENCHMARK, bench
        for scenario_dir in scenario_dirs(bench_dir):
            level = rounds.TARGET_SUFFIX.fullmatch(bench_dir.name)
            yield Scope.SCENARIO, ScenarioView(ctx, system, bench_dir.name, scenario_dir, bench.benchmark,
                                                 level["level"] if level else None)
    for system in ctx.package.system_ids():
        yield Scope.SYSTEM, SystemView(ctx, system, system_description(ctx.package.root, system),
                                        used_for_training=system in training_systems,
                                        used_for_inference=system in inference_systems)


def _benchmark_results(ctx: PackageContext, system: str, bench_dir: Path) -> BenchmarkView:
    results = BenchmarkView(ctx, system, bench_dir.name, bench_dir)
    if ctx.round is None:
        return results
    try:
        results.benchmark, _ = rounds.find_benchmark(ctx.round, bench_dir.name)
    except UnknownNameError as e:
        results.problem = f"benchmark {bench_dir.name!r} is not in round {ctx.round_name}: {e}"
    return results
