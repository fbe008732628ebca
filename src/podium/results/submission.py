"""Submission trees: MLPerf's inference and training layouts, assembled from Podium run directories.

Inference, the current layout (v5.0 onwards; shared/reference/inference_suite.md §4.1):

    <division>/<org>/systems/<system>.json                 submitter, division (and status, system_type) set
    <division>/<org>/src/<benchmark>/README.md              `code/` before v6.0 (checker SRC_PATH)
    <division>/<org>/results/<system>/<benchmark>/<scenario>/
        performance/run_1/{mlperf_log_detail.txt, mlperf_log_summary.txt, podium_run.json}
        accuracy/{mlperf_log_detail.txt, mlperf_log_summary.txt, mlperf_log_accuracy.json (truncated),
                  accuracy.txt (+ hash=), accuracy.json, podium_run.json}
        TEST0x/...                                          when the run has audit tests (their logs truncated too)
        user.conf, measurements.json, README.md

Training (training.md §4.4): `<division>/<org>/systems/<system>.json`, `results/<system>/<benchmark>/result_<i>.txt`,
`benchmarks/<benchmark>/implementations/podium/README.md`. With both kinds of runs the packages go under
`<out>/inference/` and `<out>/training/`, as `podium run` lays out its own output; with one kind, under `<out>/`.

Accuracy logs are cut as the official truncate_accuracy_log.py does (§4.1): the sha256 of the whole log is appended
to accuracy.txt as `hash=<hex>`, and the log keeps its first and last 4 KiB around an elision mark. Each package is
built in a temporary directory beside its destination and renamed into place, so a failed build leaves nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError, PodiumError
from podium.results import system as sysdesc
from podium.results.checker.finding import Finding
from podium.results.checker.tree import (MAX_ACCURACY_LOG_BYTES, is_training_dir, read_json, read_mllog,
                                         sha256_file)
from podium.results.runs import rcp_scaling
from podium.workloads.base import Division

VIEWABLE_BYTES = 4096                  # kept at each end of a truncated accuracy log
ELISION = b"\n\n...\n\n"
PERF_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "podium_run.json")
ACC_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json", "accuracy.txt",
             "accuracy.json", "podium_run.json")
SCENARIO_FILES = ("user.conf", "measurements.json", "mlperf.conf")   # mlperf.conf is optional
SKIPPED_IN_COPIES = ("mlperf_log_trace.json",)


@dataclass(frozen=True)
class InferenceResult:
    """One results/<system>/<benchmark>/<scenario>/ of a run directory; `benchmark` is the name it gets in the
    package (the checker's: resnet50 -> resnet)."""

    run: Path
    system: str
    benchmark: str
    path: Path


@dataclass(frozen=True)
class TrainingResult:
    """One results/<system>/<benchmark>/ of training logs of a run directory."""

    run: Path
    system: str
    benchmark: str
    path: Path


@dataclass(frozen=True)
class BuildResult:
    """What was built: the package directories, the system descriptions' findings, notes for the user."""

    packages: tuple[Path, ...]
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class RunInputs:
    """The results found in the run directories given to a build."""

    inference: list[InferenceResult] = field(default_factory=list)
    training: list[TrainingResult] = field(default_factory=list)


# ---------------------------------------------------------------- truncation

def truncated(data: bytes) -> bytes:
    """The first and last 4 KiB around an elision mark; a log too short to gain from it is kept whole."""
    if len(data) <= 2 * VIEWABLE_BYTES + len(ELISION):
        return data
    return data[:VIEWABLE_BYTES] + ELISION + data[-VIEWABLE_BYTES:]


def truncate_accuracy_log(acc_dir: Path) -> str | None:
    """Append the log's sha256 to accuracy.txt as `hash=`, then cut the log; the hash written, or None when there
    is no log or it is already done (a hash present and the log within the limit, as the official tool decides)."""
    log, txt = acc_dir / "mlperf_log_accuracy.json", acc_dir / "accuracy.txt"
    if not log.is_file():
        return None
    text = txt.read_text(encoding="utf-8") if txt.is_file() else ""
    if any(line.startswith("hash=") for line in text.splitlines()) and log.stat().st_size < MAX_ACCURACY_LOG_BYTES:
        return None
    digest = sha256_file(log)
    with open(txt, "a", encoding="utf-8") as f:
        f.write(f"\nhash={digest}\n")
    _write_bytes_atomic(log, truncated(log.read_bytes()))
    return digest


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- inputs

def find_runs(paths: Sequence[Path]) -> RunInputs:
    """Results in the given run directories (each holds results/ and systems/, or `podium run`'s inference/ and
    training/ folders); ConfigError for a path that is neither."""
    found = RunInputs()
    for path in paths:
        dirs = [path] if (path / "results").is_dir() else [path / k for k in ("inference", "training")
                                                            if (path / k / "results").is_dir()]
        if not dirs:
            raise ConfigError("not a Podium run directory (no results/ in it or in inference/, training/)",
                              path=str(path))
        for run in dirs:
            _collect(run, found)
    return found


def _collect(run: Path, found: RunInputs) -> None:
    for system_dir in sorted(p for p in (run / "results").iterdir() if p.is_dir()):
        for bench_dir in sorted(p for p in system_dir.iterdir() if p.is_dir()):
            if is_training_dir(bench_dir):
                found.training.append(TrainingResult(run, system_dir.name, bench_dir.name, bench_dir))
                continue
            for scenario_dir in sorted(p for p in bench_dir.iterdir() if p.is_dir()):
                found.inference.append(InferenceResult(run, system_dir.name, bench_dir.name, scenario_dir))


def inference_problems(result: InferenceResult) -> Iterator[str]:
    """Why a result may not be submitted: a short run, one marked not valid, an INVALID performance result."""
    for sub in (Path("performance") / "run_1", Path("accuracy")):
        record = read_json(result.path / sub / "podium_run.json")
        if not isinstance(record, dict):
            continue
        where = result.path / sub
        if record.get("short"):
            yield f"{where}: a short run (podium --short)"
        elif record.get("valid_for_submission") is False:
            yield f"{where}: marked not valid for submission"
        validity = (record.get("result") or {}).get("validity")
        if validity not in (None, "VALID"):
            yield f"{where}: result is {validity}"


def training_problems(result: TrainingResult) -> Iterator[str]:
    """Why a training result may not be submitted: an interrupted campaign, fewer runs than required, runs that
    converged faster than the reference convergence points allow."""
    campaign = read_json(result.run / "podium" / result.system / result.benchmark / "campaign.json")
    if not isinstance(campaign, dict):
        return
    if campaign.get("interrupted"):
        yield f"{result.path}: the campaign was interrupted"
    required, logs = campaign.get("runs_required"), len(list(result.path.glob("result_*.txt")))
    if isinstance(required, int) and logs < required:
        yield f"{result.path}: {logs} runs of the {required} required"
    convergence = campaign.get("convergence") or {}
    if convergence.get("passed") is False:
        yield f"{result.path}: convergence check failed ({convergence.get('message', '')})"


def _write_scaling(result: TrainingResult, dest: Path) -> None:
    """scaling.json beside the logs when the runs converged faster than the reference mean but passed the RCP
    check: the score is published times this factor (training.md §1.2), as the official package checker
    writes it. A scaling.json already in the run directory (a reviewer's) is copied as it is."""
    given = result.path / "scaling.json"
    if given.is_file():
        shutil.copy2(given, dest / given.name)
        return
    campaign = read_json(result.run / "podium" / result.system / result.benchmark / "campaign.json")
    factor = rcp_scaling(campaign if isinstance(campaign, dict) else None)
    if factor > 1:
        (dest / "scaling.json").write_text(json.dumps({"scaling_factor": factor}) + "\n", encoding="utf-8")


def checker_name(round_name: str | None, benchmark: str, recorded_target: float | None = None) -> str:
    """The submission checker's name for a benchmark directory ("resnet50" -> "resnet", "bert" -> "bert-99.9"
    when the run's recorded target is that variant's); unchanged when the registry cannot tell."""
    if round_name is None:
        return benchmark
    try:
        from podium.benchmarks import get_round

        variants = tuple(get_round(round_name).benchmark(benchmark).variants)
    except (ImportError, PodiumError, AttributeError):
        return benchmark
    if len(variants) == 1:
        return str(variants[0].name)
    for v in variants:
        threshold = v.targets[0].minimum() if v.targets else None
        if recorded_target is not None and threshold is not None and math.isclose(threshold, recorded_target,
                                                                                  rel_tol=1e-6):
            return str(v.name)
    return benchmark


def _recorded_target(result: InferenceResult) -> float | None:
    data = read_json(result.path / "accuracy" / "accuracy.json")
    target = data.get("target") if isinstance(data, dict) else None
    return float(target) if isinstance(target, (int, float)) else None


def _round_of(results: Sequence[InferenceResult]) -> str | None:
    rounds = set()
    for r in results:
        record = read_json(r.path / "performance" / "run_1" / "podium_run.json")
        if isinstance(record, dict) and record.get("round"):
            rounds.add(str(record["round"]))
    if len(rounds) > 1:
        raise ConfigError(f"the runs are from different rounds ({', '.join(sorted(rounds))}): "
                          "a submission is for one round")
    return next(iter(rounds), None)


# ---------------------------------------------------------------- build

def build_submission(runs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], org: str,
                     division: Division | str, *, system_type: str | None = None,
                     availability: str | None = None, allow_invalid: bool = False) -> BuildResult:
    """Assemble the submission packages of `runs` under `out` (see the module docstring).

    ConfigError, before anything is written, when a run is short or not valid for submission (unless
    `allow_invalid`), when two runs give the same result or describe one system differently, or when a package
    directory already exists.
    """
    div = division if isinstance(division, Division) else Division.parse(str(division))
    if availability is not None and availability not in sysdesc.INFERENCE_STATUSES:
        raise ConfigError(f"availability {availability!r}; one of {', '.join(sysdesc.INFERENCE_STATUSES)}")
    if system_type is not None and system_type not in sysdesc.SYSTEM_TYPES:
        raise ConfigError(f"system type {system_type!r}; one of {', '.join(sysdesc.SYSTEM_TYPES)}")
    inputs = find_runs([Path(r) for r in runs])
    _refuse_invalid(inputs, allow_invalid)
    round_name = _round_of(inputs.inference)
    inputs.inference = [replace(r, benchmark=checker_name(round_name, r.benchmark, _recorded_target(r)))
                        for r in inputs.inference]
    _refuse_duplicates(inputs)
    both = bool(inputs.inference) and bool(inputs.training)
    base = Path(out)
    plan = []
    if inputs.inference:
        plan.append((base / "inference" if both else base) / div.value / org)
    if inputs.training:
        plan.append((base / "training" if both else base) / div.value / org)
    for target in plan:
        if target.exists():
            raise ConfigError("already exists: remove it or choose another --out", path=str(target))
    findings: list[Finding] = []
    notes: list[str] = []
    packer = _Packer(org, div, system_type, availability, findings, notes)
    built = []
    if inputs.inference:
        built.append(_in_place(plan[0], lambda tmp: packer.inference(tmp, plan[0], inputs.inference)))
    if inputs.training:
        built.append(_in_place(plan[-1], lambda tmp: packer.training(tmp, plan[-1], inputs.training)))
    return BuildResult(tuple(built), tuple(findings), tuple(notes))


def _refuse_invalid(inputs: RunInputs, allow_invalid: bool) -> None:
    problems = [p for r in inputs.inference for p in inference_problems(r)]
    problems += [p for r in inputs.training for p in training_problems(r)]
    if problems and not allow_invalid:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ConfigError(f"not valid for submission (use --allow-invalid to build anyway): {shown}")


def _refuse_duplicates(inputs: RunInputs) -> None:
    seen: dict[tuple[str, ...], Path] = {}
    keyed = [((r.system, r.benchmark, r.path.name), r.path) for r in inputs.inference]
    keyed += [((r.system, r.benchmark), r.path) for r in inputs.training]
    for key, path in keyed:
        if key in seen:
            raise ConfigError(f"{'/'.join(key)} is given twice: {seen[key]} and {path}")
        seen[key] = path


def _in_place(target: Path, fill: Any) -> Path:
    """Build into a temporary directory beside `target`, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
    try:
        fill(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


@dataclass
class _Packer:
    """Copies results into one package directory and writes its system descriptions and READMEs."""

    org: str
    division: Division
    system_type: str | None
    availability: str | None
    findings: list[Finding]
    notes: list[str]

    def inference(self, pkg: Path, final: Path, results: list[InferenceResult]) -> None:
        round_name = _round_of(results)
        source_dir = "code" if sysdesc.round_key(round_name or "current") < (6, 0) else "src"
        for r in results:
            dest = pkg / "results" / r.system / r.benchmark / r.path.name
            _copy_scenario(r.path, dest)
            (dest / "README.md").write_text(scenario_readme(r, dest))
            readme = pkg / source_dir / r.benchmark / "README.md"
            if not readme.exists():
                readme.parent.mkdir(parents=True, exist_ok=True)
                readme.write_text(source_readme(r.benchmark))
        self._systems(pkg, final, {(r.run, r.system) for r in results}, sysdesc.Usage.INFERENCE, round_name)

    def training(self, pkg: Path, final: Path, results: list[TrainingResult]) -> None:
        for r in results:
            dest = pkg / "results" / r.system / r.benchmark
            dest.mkdir(parents=True)
            for log in sorted(r.path.glob("result_*.txt")):
                shutil.copy2(log, dest / log.name)
                self._note_org(log)
            _write_scaling(r, dest)
            readme = pkg / "benchmarks" / r.benchmark / "implementations" / "podium" / "README.md"
            readme.parent.mkdir(parents=True, exist_ok=True)
            readme.write_text(source_readme(r.benchmark))
        self._systems(pkg, final, {(r.run, r.system) for r in results}, sysdesc.Usage.TRAINING, None)

    def _note_org(self, log: Path) -> None:
        logged = {e.get("key"): e.get("value") for e in read_mllog(log) if e.get("key") == "submission_org"}
        org = logged.get("submission_org")
        if org is not None and str(org) != self.org:
            self.notes.append(f"{log}: logs submission_org {org!r}, the package is {self.org!r} "
                              "(logs are copied unchanged)")

    def _systems(self, pkg: Path, final: Path, used: set[tuple[Path, str]], usage: sysdesc.Usage,
                 round_name: str | None) -> None:
        """Copy each system's description once, with the package's submitter and division; validate it."""
        chosen: dict[str, tuple[Path, dict[str, Any]]] = {}
        for run, system in sorted(used):
            path = run / "systems" / f"{system}.json"
            if not path.is_file():
                raise ConfigError(f"no system description for {system!r} (run `podium system --id {system}`)",
                                  path=str(path))
            desc = sysdesc.load(path)
            if system in chosen and chosen[system][1] != desc:
                raise ConfigError(f"system {system!r} is described differently in {chosen[system][0]} and {path}")
            chosen[system] = (path, desc)
        for system, (_, desc) in sorted(chosen.items()):
            adjusted = self._adjust(desc, usage)
            sysdesc.write(pkg / "systems" / f"{system}.json", adjusted)
            self.findings.extend(sysdesc.validate(adjusted, round_name or "current", usage,
                                                  path=str(final / "systems" / f"{system}.json")))

    def _adjust(self, desc: dict[str, Any], usage: sysdesc.Usage) -> dict[str, Any]:
        out = dict(desc, submitter=self.org, division=self.division.value)
        if usage is sysdesc.Usage.TRAINING:
            status = sysdesc.TRAINING_STATUS_BY_AVAILABILITY.get(self.availability or "", None)
            if status or out.get("status") not in sysdesc.TRAINING_STATUSES:
                out["status"] = status or sysdesc.TRAINING_STATUS_BY_AVAILABILITY["available"]
            return out
        if self.availability:
            out["status"] = self.availability
        if self.system_type:
            out["system_type"] = self.system_type
        return out


def _copy_scenario(src: Path, dest: Path) -> None:
    for sub, names in ((Path("performance") / "run_1", PERF_FILES), (Path("accuracy"), ACC_FILES)):
        (dest / sub).mkdir(parents=True)
        for name in names:
            if (src / sub / name).is_file():
                copy = _copy_public_record if name == "podium_run.json" else shutil.copy2
                copy(src / sub / name, dest / sub / name)
    for name in SCENARIO_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    for test in sorted(p for p in src.iterdir() if p.is_dir() and p.name.startswith("TEST")):
        shutil.copytree(test, dest / test.name, ignore=shutil.ignore_patterns(*SKIPPED_IN_COPIES))
    for acc_dir in [dest / "accuracy"] + sorted(dest.glob("TEST*/accuracy")):
        truncate_accuracy_log(acc_dir)


# Where a run record holds paths of the machine it ran on: (section, key).
LOCAL_PATHS = (("model", "path"), ("dataset", "path"), ("dataset", "cache_path"))


def _copy_public_record(src: Path, dest: Path) -> None:
    """podium_run.json as a submission publishes it: local paths (the model file, the dataset and its cache) are
    cut to their last component, since a submission is public and they say nothing a reviewer can use; the
    model's sha256 identifies it. Everything else is copied as it is."""
    record = read_json(src)
    if not isinstance(record, dict):
        shutil.copy2(src, dest)
        return
    for section, key in LOCAL_PATHS:
        part = record.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
            part[key] = Path(part[key]).name
    dest.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    shutil.copystat(src, dest)


def scenario_readme(result: InferenceResult, dest: Path) -> str:
    """The README.md the checker wants beside user.conf: what ran, from the run record."""
    from podium import __version__

    record = read_json(dest / "performance" / "run_1" / "podium_run.json") or {}
    backend = record.get("backend") or {}
    lines = [f"# {result.benchmark} {result.path.name} on {result.system}", "",
             f"Measured with Podium {__version__} (engine: {record.get('engine', 'podium')}).", ""]
    if backend:
        lines.append(f"- backend: {backend.get('name', '?')} {backend.get('version', '')}".rstrip())
    runner = record.get("runner") or {}
    if runner:
        lines.append("- runner: " + ", ".join(f"{k}={v}" for k, v in runner.items()))
    model = record.get("model") or {}
    if model:   # the file's name and hash only: a submission is public, local paths are not
        lines.append(f"- model: {Path(str(model.get('path', ''))).name} (sha256 {model.get('sha256', '?')})")
    dataset = record.get("dataset") or {}
    if dataset:
        lines.append(f"- dataset: {dataset.get('name', '?')}, {dataset.get('count', '?')} samples")
    lines += ["", "The settings in effect are in user.conf; the run records are performance/run_1/podium_run.json "
              "and accuracy/podium_run.json.", ""]
    return "\n".join(lines)


def source_readme(benchmark: str) -> str:
    from podium import __version__

    return (f"# {benchmark}\n\nThe implementation is Podium {__version__}, a Python MLPerf-compatible benchmark "
            f"suite: the `podium` package of that version runs this benchmark.\n")
