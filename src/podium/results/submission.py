"""Submission trees: MLPerf's inference and training layouts, assembled from Podium run directories.

Inference, the current layout (v5.0 onwards; shared/reference/inference_suite.md §4.1):

    <division>/<org>/systems/<system>.json                 submitter, division (and status, system_type) set
    <division>/<org>/src/<benchmark>/README.md              `code/` before v6.0 (checker SRC_PATH)
    <division>/<org>/results/<system>/<benchmark>/<scenario>/
        performance/run_1/{mlperf_log_detail.txt, mlperf_log_summary.txt}
        accuracy/{mlperf_log_detail.txt, mlperf_log_summary.txt, mlperf_log_accuracy.json (truncated),
                  accuracy.txt (+ hash=)}
        TEST0x/{performance/run_1/, accuracy/ (TEST01), verify_*.txt, audit.config}   the audits, as run
                                                (before v6.0: in compliance/<system>/<benchmark>/<scenario>/)
        user.conf, measurements.json, README.md     (before v6.0: in measurements/<system>/<benchmark>/<scenario>/,
                                                with mlperf.conf, the measurements as <system>_podium_<scenario>.json)
    <division>/<org>/podium/<system>/<benchmark>/<scenario>/...    Podium's records: podium_run.json, accuracy.json
    <division>/<org>/calibration.md                          closed division: a template the submitter completes

The official checker compares each result folder's file list with its own and drops every result of a folder
holding anything else ("file list mismatch"), so Podium's records are kept at the same place under `podium/`,
which no checker reads (`layout.podium_mirror`). The audits' folders go where the round's checker reads them
(COMPLIANCE_PATH): from v6.0 in the scenario folder, where the runs wrote them; before v6.0 at the scenario's
place under `<division>/<org>/compliance/` (`layout.compliance_mirror`). So do user.conf, README.md and the
measurements file (MEASUREMENTS_PATH: under `measurements/` before v6.0, `layout.measurements_mirror`).
The system description's `system_type` is the one the package's results make whole: every benchmark has
required scenarios in it (ResNet-50 is edge-only from v5.1) and they are all present; the one the runs recorded
when it is, else the first of edge, datacenter, "datacenter,edge" that is, with a note (when none is whole, the
recorded one if it fits); `--system-type` that does not fit is refused.

Training (training.md §4.4): `<division>/<org>/systems/<system>.json`, `results/<system>/<benchmark>/result_<i>.txt`,
`benchmarks/<benchmark>/implementations/podium/README.md`. With both kinds of runs the packages go under
`<out>/inference/` and `<out>/training/`, as `podium run` lays out its own output; with one kind, under `<out>/`.

Accuracy logs are cut as the official truncate_accuracy_log.py does (§4.1): the sha256 of the whole log is appended
to accuracy.txt as `hash=<hex>`, and the log keeps its first and last 4 KiB around an elision mark.

The packages are built in a staging folder, `<out>/.podium-build-<id>/`, and renamed into place once all are
complete: a build that fails (a read-only destination, a full disk, an interrupt) leaves no package under its final
name, and an OSError is one line naming the path. Every file gets the result files' mode (`FILE_MODE`, 0644 under
the usual umask) and every folder its searchable counterpart, whatever the modes of the files copied: a package
is for others to read.

The organization is the one the runs logged: training logs carry `submission_org` (`podium run --org`, `podium
train --org`), and logs are not edited after a run, so a build for another organization is refused (`podium
check` would flag every log). Without --org the build takes the logged organization (else the one the systems'
descriptions name), so that what the runs say and what the package says cannot differ.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError, OutputError, PodiumError
from podium.core.files import atomic_write, dumps_json, ensure_dir, file_sha256, output_error
from podium.results import layout
from podium.results import system as sysdesc
from podium.results.checker.finding import Finding
from podium.core.layout import (CALIBRATION, CALIBRATION_TEMPLATE_MARK, COMPLIANCE_ACCURACY, PODIUM_RECORDS,
                                MEASUREMENTS, VERIFY_ACCURACY, audits_beside_results, compliance_mirror,
                                measurements_file, measurements_mirror, podium_mirror)
from podium.results.layout import (ACC_FILES, ACCURACY, ACCURACY_JSON, ACCURACY_LOG, ACCURACY_TXT, DETAIL_LOG,
                                   MAX_ACCURACY_LOG_BYTES, PERF_FILES, PERFORMANCE, RUN_RECORD, SCALING_FILE,
                                   SCENARIO_FILES, SUMMARY_LOG, TRACE_LOG, ScenarioFolder, TrainingFolder,
                                   UnreadableFile, read_mllog, read_object, read_run_record)
from podium.results.runs import rcp_scaling
from podium.workloads.base import Division

__all__ = [
    "ACC_FILES", "BuildResult", "ELISION", "MAX_ACCURACY_LOG_BYTES", "PERF_FILES", "RunInputs", "SCENARIO_FILES",
    "VIEWABLE_BYTES", "build_submission", "check_org", "checker_name", "choose_org", "find_runs",
    "inference_problems", "logged_orgs", "scenario_readme", "source_readme", "training_problems",
    "truncate_accuracy_log", "truncated",
]

VIEWABLE_BYTES = 4096                  # kept at each end of a truncated accuracy log
ELISION = b"\n\n...\n\n"
SKIPPED_IN_COPIES = (TRACE_LOG,)
STAGING_PREFIX = ".podium-build-"


@dataclass(frozen=True)
class BuildResult:
    """What was built: the package directories, the system descriptions' findings, notes for the user."""

    packages: tuple[Path, ...]
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class RunInputs:
    """The results found in the run directories given to a build; a scenario's `benchmark` is the name it gets
    in the package (the checker's: resnet50 -> resnet)."""

    inference: list[ScenarioFolder] = field(default_factory=list)
    training: list[TrainingFolder] = field(default_factory=list)


# ---------------------------------------------------------------- truncation

def truncated(data: bytes) -> bytes:
    """The first and last 4 KiB around an elision mark; a log too short to gain from it is kept whole."""
    if len(data) <= 2 * VIEWABLE_BYTES + len(ELISION):
        return data
    return data[:VIEWABLE_BYTES] + ELISION + data[-VIEWABLE_BYTES:]


def truncate_accuracy_log(acc_dir: Path) -> str | None:
    """Append the log's sha256 to accuracy.txt as `hash=`, then cut the log; the hash written, or None when there
    is no log or it is already done (a hash present and the log within the limit, as the official tool decides)."""
    log, txt = acc_dir / ACCURACY_LOG, acc_dir / ACCURACY_TXT
    if not log.is_file():
        return None
    text = txt.read_text(encoding="utf-8") if txt.is_file() else ""
    if any(line.startswith("hash=") for line in text.splitlines()) and log.stat().st_size < MAX_ACCURACY_LOG_BYTES:
        return None
    digest = file_sha256(log)
    atomic_write(txt, (txt.read_bytes() if txt.is_file() else b"") + f"\nhash={digest}\n".encode())
    atomic_write(log, truncated(log.read_bytes()))
    return digest


# ---------------------------------------------------------------- inputs

def find_runs(paths: Sequence[Path]) -> RunInputs:
    """Results in the given run directories (each holds results/ and systems/, or `podium run`'s inference/ and
    training/ folders); ConfigError for a path that is neither."""
    found = RunInputs()
    for path in paths:
        trees = layout.run_trees(path)
        if not trees:
            raise ConfigError("not a Podium run directory (no results/ in it or in inference/, training/)",
                              path=str(path))
        for tree in trees:
            inference, training = layout.contents(tree)
            found.inference += inference
            found.training += training
    return found


def inference_problems(result: ScenarioFolder) -> Iterator[str]:
    """Why a result may not be submitted: a short run, one marked not valid, an INVALID performance result, an
    audit whose report does not say TEST PASS."""
    audits = layout.compliance_dirs(result.path)
    for where in [result.path / PERFORMANCE, result.path / ACCURACY, *(d / PERFORMANCE for d in audits)]:
        record = read_run_record(where / RUN_RECORD)
        if record is None:
            continue
        if record.get("short"):
            yield f"{where}: a short run (podium --short)"
        elif record.get("valid_for_submission") is False:
            yield f"{where}: marked not valid for submission"
        validity = (record.get("result") or {}).get("validity")
        if validity not in (None, "VALID"):
            yield f"{where}: result is {validity}"
    for report in (r for d in audits for r in layout.compliance_verdicts(d)):
        if not _audit_passed(report):
            yield f"{report}: the audit did not pass"


def _audit_passed(report: Path) -> bool:
    """A verify report says TEST PASS; TEST01's verify_accuracy.txt may not, when the responses differed and
    both runs' accuracy over the same samples is given (the checker then weighs the two)."""
    if "TEST PASS" in report.read_text(encoding="utf-8", errors="replace"):
        return True
    return report.name == VERIFY_ACCURACY and (report.parent / ACCURACY / COMPLIANCE_ACCURACY).is_file()


def training_problems(result: TrainingFolder) -> Iterator[str]:
    """Why a training result may not be submitted: an interrupted campaign, fewer runs than required, runs that
    converged faster than the reference convergence points allow."""
    campaign = read_object(layout.campaign_record(result.tree, result.system, result.benchmark))
    if campaign is None:
        return
    if campaign.get("interrupted"):
        yield f"{result.path}: the campaign was interrupted"
    required, logs = campaign.get("runs_required"), len(layout.training_logs(result.path))
    if isinstance(required, int) and logs < required:
        yield f"{result.path}: {logs} runs of the {required} required"
    convergence = campaign.get("convergence") or {}
    if convergence.get("passed") is False:
        yield f"{result.path}: convergence check failed ({convergence.get('message', '')})"


def _write_scaling(result: TrainingFolder, dest: Path) -> None:
    """scaling.json beside the logs when the runs converged faster than the reference mean but passed the RCP
    check: the score is published times this factor (training.md §1.2), as the official package checker
    writes it. A scaling.json already in the run directory (a reviewer's) is copied as it is."""
    given = result.path / SCALING_FILE
    if given.is_file():
        shutil.copyfile(given, dest / given.name)
        return
    factor = rcp_scaling(read_object(layout.campaign_record(result.tree, result.system, result.benchmark)))
    if factor > 1:
        atomic_write(dest / SCALING_FILE, json.dumps({"scaling_factor": factor}) + "\n")


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


def _recorded_target(result: ScenarioFolder) -> float | None:
    data = read_object(result.path / ACCURACY / ACCURACY_JSON)
    target = data.get("target") if data is not None else None
    return float(target) if isinstance(target, (int, float)) else None


def _round_of(results: Sequence[ScenarioFolder]) -> str | None:
    rounds = set()
    for r in results:
        record = read_run_record(r.path / PERFORMANCE / RUN_RECORD)
        if record is not None and record.get("round"):
            rounds.add(str(record["round"]))
    if len(rounds) > 1:
        raise ConfigError(f"the runs are from different rounds ({', '.join(sorted(rounds))}): "
                          "a submission is for one round")
    return next(iter(rounds), None)


# ---------------------------------------------------------------- build

def build_submission(runs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], org: str | None,
                     division: Division | str, *, system_type: str | None = None,
                     availability: str | None = None, allow_invalid: bool = False) -> BuildResult:
    """Assemble the submission packages of `runs` under `out` (see the module docstring).

    ConfigError, before anything is written, when a run is short or not valid for submission (unless
    `allow_invalid`), when two runs give the same result or describe one system differently, when a package
    directory already exists, or when `org` is not the organization the training logs name (`org` None: the
    logged one). OutputError (one line naming the path) when the packages cannot be written; then no package
    is left under its final name.
    """
    div = division if isinstance(division, Division) else Division.parse(str(division))
    if availability is not None and availability not in sysdesc.INFERENCE_STATUSES:
        raise ConfigError(f"availability {availability!r}; one of {', '.join(sysdesc.INFERENCE_STATUSES)}")
    if system_type is not None and system_type not in sysdesc.SYSTEM_TYPES:
        raise ConfigError(f"system type {system_type!r}; one of {', '.join(sysdesc.SYSTEM_TYPES)}")
    try:
        inputs, org, notes = _gather(runs, org, allow_invalid)
        plan = _plan(inputs, Path(out), div, org)
        findings: list[Finding] = []
        packer = _Packer(org, div, system_type, availability, findings, notes)
        fills = {"inference": lambda pkg, final: packer.inference(pkg, final, inputs.inference),
                 "training": lambda pkg, final: packer.training(pkg, final, inputs.training)}
        built = _build_staged(Path(out), [(target, fills[kind]) for kind, target in plan])
    except UnreadableFile as e:   # a run's record that is not JSON
        raise ConfigError(str(e), path=str(e.path)) from None
    return BuildResult(built, tuple(findings), tuple(notes))


def _gather(runs: Sequence[str | os.PathLike[str]], org: str | None,
            allow_invalid: bool) -> tuple[RunInputs, str, list[str]]:
    """The results of `runs` under the checker's benchmark names, the organization and notes on it; the
    refusals that need no writing."""
    inputs = find_runs([Path(r) for r in runs])
    _refuse_invalid(inputs, allow_invalid)
    org, notes = choose_org(org, inputs)
    round_name = _round_of(inputs.inference)
    inputs.inference = [replace(r, benchmark=checker_name(round_name, r.benchmark, _recorded_target(r)))
                        for r in inputs.inference]
    _refuse_duplicates(inputs)
    return inputs, org, notes


def _plan(inputs: RunInputs, base: Path, div: Division, org: str) -> list[tuple[str, Path]]:
    """(kind, package directory) to build; ConfigError when one exists already."""
    both = bool(inputs.inference) and bool(inputs.training)
    plan = [(kind, layout.package_dir(base / kind if both else base, div.value, org))
            for kind, found in (("inference", inputs.inference), ("training", inputs.training)) if found]
    for _, target in plan:
        if target.exists():
            raise ConfigError("already exists: remove it or choose another --out", path=str(target))
    return plan


# ---------------------------------------------------------------- organization

def logged_orgs(inputs: RunInputs) -> dict[str, Path]:
    """The organizations the training logs name (`submission_org`), each with the first log naming it."""
    found: dict[str, Path] = {}
    for result in inputs.training:
        for log in layout.training_logs(result.path):
            org = next((e.get("value") for e in read_mllog(log) if e.get("key") == "submission_org"), None)
            if org is not None:
                found.setdefault(str(org), log)
    return found


def choose_org(org: str | None, inputs: RunInputs) -> tuple[str, list[str]]:
    """The package's organization and a note on where it came from, or ConfigError in one line.

    The checker compares a log's submission_org with the package path without case (training_rules
    log_identity), so the refusal does too. A given `org` that the logs contradict is refused rather than
    noted: the logs cannot be changed, and a package whose logs name another organization fails `podium check`.
    """
    if org is not None:
        check_org(org)
    logged = logged_orgs(inputs)
    if len({o.casefold() for o in logged}) > 1:
        named = ", ".join(f"{o!r} ({path})" for o, path in logged.items())
        raise ConfigError(f"the training logs name several organizations: {named}; a package is one "
                          "organization's: build each from its own runs")
    if org is None:
        return _default_org(logged, inputs)
    for other, log in logged.items():
        if other.casefold() != org.casefold():
            raise ConfigError(f"--org {org!r}, but the training logs say submission_org {other!r} ({log}); logs "
                              f"are not edited after a run: rerun with --org {org} (podium run / podium train), "
                              f"or build with --org {other}")
    return org, []


def check_org(org: str) -> str:
    """`org` when it can be the package's <org> folder: one name, not hidden; else ConfigError."""
    if not org or org != org.strip() or org.startswith(".") or any(c in org for c in "/\\\0"):
        raise ConfigError(f"organization {org!r} cannot be a folder name (the package is <division>/<org>/): "
                          "give one name without '/' that does not start with '.'")
    return org


def _default_org(logged: dict[str, Path], inputs: RunInputs) -> tuple[str, list[str]]:
    if logged:
        org, log = next(iter(logged.items()))
        return check_org(org), [f"organization {org!r}, as the training logs say (e.g. {log})"]
    named = {str(desc.get("submitter")) for desc in _descriptions(inputs) if desc.get("submitter")}
    if len(named) == 1:
        org = check_org(named.pop())
        return org, [f"organization {org!r}, as the system descriptions say (their `submitter`)"]
    raise ConfigError("give --org: the runs name no single organization (no submission_org logged, and the "
                      f"system descriptions say {', '.join(sorted(named)) or 'nothing'})")


def _descriptions(inputs: RunInputs) -> list[dict[str, Any]]:
    found = []
    for tree, system in {(r.tree, r.system) for r in [*inputs.inference, *inputs.training]}:
        desc = read_object(layout.system_description(tree, system))
        if desc is not None:
            found.append(desc)
    return found


# ---------------------------------------------------------------- staging

def _build_staged(base: Path, plan: list[tuple[Path, Callable[[Path, Path], None]]]) -> tuple[Path, ...]:
    """Fill each package in a staging folder under `base`, then rename them all into place; on any failure
    (an OSError becomes one line naming the path, given as where it was going) nothing is left under a final
    name and the staging folder is removed."""
    ensure_dir(base)
    stage: Path | None = None
    renamed: list[Path] = []
    try:
        stage = Path(tempfile.mkdtemp(dir=base, prefix=STAGING_PREFIX))
        for i, (target, fill) in enumerate(plan):
            ensure_dir(stage / str(i))
            fill(stage / str(i), target)
            layout.make_public(stage / str(i))
        for i, (target, _) in enumerate(plan):
            ensure_dir(target.parent)
            os.rename(stage / str(i), target)
            renamed.append(target)
    except BaseException as e:   # an interrupt too: all packages or none
        for target in renamed:
            shutil.rmtree(target, ignore_errors=True)
        if isinstance(e, (OSError, OutputError)):
            raise _build_error(e, base, stage, plan) from e
        raise
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return tuple(target for target, _ in plan)


def _build_error(e: OSError | OutputError, base: Path, stage: Path | None,
                 plan: list[tuple[Path, Callable[[Path, Path], None]]]) -> OutputError:
    """One line for a failed build: the path as the package would have it (not the staging folder's), and
    whether it was being read (a run's file) or written."""
    cause = e if isinstance(e, OSError) else e.__cause__
    if not isinstance(cause, OSError):
        return e if isinstance(e, OutputError) else output_error(e, base)
    if stage is None:   # the staging folder could not be made: the output folder is at fault
        return output_error(cause, base)
    if isinstance(e, OSError) and e.errno in (errno.ENOTEMPTY, errno.EEXIST) and e.filename2:
        return OutputError(f"{e.filename2} already exists: remove it or choose another --out", path=e.filename2)
    # a copy names (source, destination): the one in the output is the one at fault when writing failed
    named = [e.filename2, e.filename] if isinstance(e, OSError) else [e.path]
    paths = [Path(os.path.abspath(p)) for p in named if p]
    where = next((p for p in paths if p.is_relative_to(os.path.abspath(base))), paths[0] if paths else base)
    for i, (target, _) in enumerate(plan):
        if where.is_relative_to(os.path.abspath(stage / str(i))):
            return output_error(cause, target / where.relative_to(os.path.abspath(stage / str(i))))
    inside = where.is_relative_to(os.path.abspath(base))
    return output_error(cause, where, "write" if inside else "read")


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


@dataclass
class _Packer:
    """Copies results into one package directory and writes its system descriptions and READMEs."""

    org: str
    division: Division
    system_type: str | None
    availability: str | None
    findings: list[Finding]
    notes: list[str]
    scenarios: dict[str, dict[Any, set[str]]] = field(default_factory=dict)   # system -> benchmark -> scenarios
    round_name: str | None = None

    def inference(self, pkg: Path, final: Path, results: list[ScenarioFolder]) -> None:
        round_name = self.round_name = _round_of(results)
        before_v6 = sysdesc.round_key(round_name or "current") < (6, 0)
        audits_here = audits_beside_results(sysdesc.round_key(round_name or "current"))
        source_folder = layout.SOURCE_FOLDER_BEFORE_V6 if before_v6 else layout.SOURCE_FOLDER
        self.scenarios = _benchmarks_used(results, round_name)
        if self.division is not Division.OPEN:
            atomic_write(pkg / CALIBRATION, CALIBRATION_TEMPLATE)
            self.notes.append(f"{final / CALIBRATION}: a template; describe the calibration (or that there was "
                              "none) before submitting: `podium check` refuses it until then")
            self.notes.extend(n for r in results for n in _missing_audits(r, round_name))
        for r in results:
            dest = layout.scenario_dir(pkg, r.system, r.benchmark, r.scenario)
            mirror = podium_mirror(dest, pkg)
            places = _Places(dest, MEASUREMENTS) if audits_here else _Places(
                compliance_mirror(dest, pkg), measurements_file(r.system, r.scenario), measurements_mirror(dest, pkg))
            _copy_scenario(r.path, dest, mirror, places)
            atomic_write((places.files or dest) / layout.README,
                         scenario_readme(r, mirror, None if audits_here else places.audits))
            readme = layout.inference_readme(pkg, r.benchmark, source_folder)
            if not readme.exists():
                atomic_write(readme, source_readme(r.benchmark))
        self._systems(pkg, final, {(r.tree, r.system) for r in results}, sysdesc.Usage.INFERENCE, round_name)

    def training(self, pkg: Path, final: Path, results: list[TrainingFolder]) -> None:
        for r in results:
            dest = layout.training_dir(pkg, r.system, r.benchmark)
            dest.mkdir(parents=True)
            for log in layout.training_logs(r.path):
                shutil.copyfile(log, dest / log.name)
            _write_scaling(r, dest)
            atomic_write(layout.training_readme(pkg, r.benchmark), source_readme(r.benchmark))
        self._systems(pkg, final, {(r.tree, r.system) for r in results}, sysdesc.Usage.TRAINING, None)

    def _systems(self, pkg: Path, final: Path, used: set[tuple[Path, str]], usage: sysdesc.Usage,
                 round_name: str | None) -> None:
        """Copy each system's description once, with the package's submitter and division; validate it."""
        chosen: dict[str, tuple[Path, dict[str, Any]]] = {}
        for tree, system in sorted(used):
            path = layout.system_description(tree, system)
            if not path.is_file():
                raise ConfigError(f"no system description for {system!r} (run `podium system --id {system}`)",
                                  path=str(path))
            try:
                desc = sysdesc.load(path)
            except ValueError as e:
                raise ConfigError(f"not a system description: {e}", path=str(path)) from None
            if system in chosen and chosen[system][1] != desc:
                raise ConfigError(f"system {system!r} is described differently in {chosen[system][0]} and {path}")
            chosen[system] = (path, desc)
        for system, (_, desc) in sorted(chosen.items()):
            adjusted = self._adjust(desc, usage, system)
            sysdesc.write(layout.system_description(pkg, system), adjusted)
            self.findings.extend(sysdesc.validate(adjusted, round_name or "current", usage,
                                                  path=str(layout.system_description(final, system))))

    def _adjust(self, desc: dict[str, Any], usage: sysdesc.Usage, system: str) -> dict[str, Any]:
        out = dict(desc, submitter=self.org, division=self.division.value)
        if usage is sysdesc.Usage.TRAINING:
            status = sysdesc.TRAINING_STATUS_BY_AVAILABILITY.get(self.availability or "", None)
            if status or out.get("status") not in sysdesc.TRAINING_STATUSES:
                out["status"] = status or sysdesc.TRAINING_STATUS_BY_AVAILABILITY["available"]
            return out
        out = sysdesc.for_inference(out)
        if self.availability:
            out["status"] = self.availability
        out["system_type"] = self._system_type(system, self.system_type or out.get("system_type"))
        return out

    def _system_type(self, system: str, wanted: Any) -> Any:
        """`wanted` (--system-type, else the description's) when every benchmark of `system` has required
        scenarios in its category in the round; else, unless given, the first category that fits (noted)."""
        used = self.scenarios.get(system)
        if not used or wanted is None:
            return wanted
        names = ", ".join(sorted(b.name for b in used))
        if self.system_type is not None:
            if not sysdesc.fits(self.system_type, used):
                outside = ", ".join(sorted(b.name for b in used if not sysdesc.fits(self.system_type, [b])))
                raise ConfigError(f"--system-type {self.system_type}: {outside} has no required scenarios in that "
                                  f"category in round {self.round_name}; the checker cannot accept it there")
            return self.system_type
        chosen = sysdesc.choose_system_type(str(wanted), used)
        if chosen is None:
            raise ConfigError(f"system {system!r}: {names} share no system type in round {self.round_name} (each "
                              "has required scenarios in a different category): build them as separate packages")
        if chosen != wanted:
            self.notes.append(f"system {system!r}: system_type {chosen!r}, not the description's {wanted!r}: {names} "
                              f"has no required scenarios there in round {self.round_name} (--system-type sets it)")
        return chosen


CALIBRATION_TEMPLATE = f"""# Calibration

<!-- {CALIBRATION_TEMPLATE_MARK}: replace this file with the submission's calibration details. `podium check`
refuses a closed package while this line is in it. -->

The closed division requires this document (inference rules, "Calibration"; the submission checker looks for
calibration.md beside results/ or in documentation/). Describe, for each benchmark of this package:

- the calibration data set used (the rules name the allowed one per benchmark) and how it was used;
- how the weights and activations were quantized, if they were (per tensor or per channel, symmetric or not,
  the numeric types), and any other transformation of the reference weights;
- or state that no calibration was done: the reference FP32 weights served as published.
"""


def _benchmarks_used(results: Sequence[ScenarioFolder], round_name: str | None) -> dict[str, dict[Any, set[str]]]:
    """system -> the registry's benchmark -> the scenario folders present; benchmarks the round lacks left out."""
    out: dict[str, dict[Any, set[str]]] = {}
    if round_name is None:
        return out
    from podium.benchmarks import get_round

    rnd = get_round(round_name)
    for r in results:
        try:
            bench = rnd.benchmark(r.benchmark)
        except PodiumError:
            continue
        out.setdefault(r.system, {}).setdefault(bench, set()).add(r.scenario)
    return out


def _missing_audits(result: ScenarioFolder, round_name: str | None) -> list[str]:
    """A note per audit the round lists for the result's benchmark that its folder lacks."""
    if round_name is None:
        return []
    from podium.benchmarks import get_round

    try:
        tests = get_round(round_name).benchmark(result.benchmark).audit_tests
    except PodiumError:
        return []
    present = {d.name for d in layout.compliance_dirs(result.path)}
    return [f"{result.path}: no {test} (the closed division needs it: podium audit {test} ... or podium infer "
            "--audits)" for test in tests if test not in present]


# The files of a result folder that the official checker lists (REQUIRED_PERF_FILES + OPTIONAL_PERF_FILES,
# REQUIRED_ACC_FILES); Podium's records go to the package's podium/ mirror instead.
OFFICIAL_FILES = {PERFORMANCE: (DETAIL_LOG, SUMMARY_LOG, ACCURACY_LOG),
                  ACCURACY: (DETAIL_LOG, SUMMARY_LOG, ACCURACY_LOG, ACCURACY_TXT)}


@dataclass(frozen=True)
class _Places:
    """Where a scenario's audits and its user.conf, README.md and measurements file go in the round's layout:
    in the scenario folder from v6.0; under compliance/ and measurements/ before (`files`), the measurements
    file named <system>_podium_<scenario>.json there."""

    audits: Path
    measurements_name: str
    files: Path | None = None      # None: the scenario folder


def _copy_scenario(src: Path, dest: Path, mirror: Path, places: _Places) -> None:
    """The scenario's files (copied without their modes: `make_public` sets them) into `dest`, its Podium records
    into `mirror` (the same place under podium/), its audits' folders as they are and its user.conf, mlperf.conf
    and measurements where the round's layout keeps them (`places`); accuracy logs truncated."""
    for sub, names in OFFICIAL_FILES.items():
        (dest / sub).mkdir(parents=True)
        for name in names:
            if (src / sub / name).is_file():
                shutil.copyfile(src / sub / name, dest / sub / name)
        _copy_records(src / sub, mirror / sub)
    files = places.files or dest
    for name in SCENARIO_FILES:
        if (src / name).is_file():
            ensure_dir(files)
            shutil.copyfile(src / name, files / (places.measurements_name if name == MEASUREMENTS else name))
    for test in layout.compliance_dirs(src):
        _copy_audit(test, places.audits / test.name, mirror / test.name)
    compliance_accuracy = [d / ACCURACY for d in layout.compliance_dirs(places.audits) if (d / ACCURACY).is_dir()]
    for acc_dir in [dest / ACCURACY, *compliance_accuracy]:
        truncate_accuracy_log(acc_dir)


def _copy_records(src: Path, mirror: Path) -> None:
    """Podium's records of a run folder (podium_run.json, accuracy.json) into its mirror under podium/."""
    for name in PODIUM_RECORDS:
        if (src / name).is_file():
            ensure_dir(mirror)
            copy = _copy_public_record if name == RUN_RECORD else shutil.copyfile
            copy(src / name, mirror / name)


def _copy_audit(src: Path, dest: Path, mirror: Path) -> None:
    """An audit's folder (TEST0x/) as the audit wrote it, less its Podium records (to `mirror`), hidden files
    and traces."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts) or path.name in SKIPPED_IN_COPIES:
            continue
        if path.name in PODIUM_RECORDS:
            _copy_records(path.parent, mirror / rel.parent)
            continue
        ensure_dir((dest / rel).parent)
        shutil.copyfile(path, dest / rel)


# Where a run record holds paths of the machine it ran on: (section, key).
LOCAL_PATHS = (("model", "path"), ("dataset", "path"), ("dataset", "cache_path"))


def _copy_public_record(src: Path, dest: Path) -> None:
    """podium_run.json as a submission publishes it: local paths (the model file, the dataset and its cache) are
    cut to their last component, since a submission is public and they say nothing a reviewer can use; the
    model's sha256 identifies it. Everything else is copied as it is."""
    record = read_object(src)   # the file as written, key for key: a copy, not a reading of the record
    if record is None:   # valid JSON but no record: copied as it is
        shutil.copyfile(src, dest)
        return
    for section, key in LOCAL_PATHS:
        part = record.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
            part[key] = Path(part[key]).name
    try:
        text = dumps_json(record)
    except ValueError as e:   # NaN or Infinity: other readers of the package would reject the file
        raise ConfigError(f"cannot publish it: {e}", path=str(src)) from None
    atomic_write(dest, text)


def scenario_readme(result: ScenarioFolder, records: Path, audits_at: Path | None = None) -> str:
    """The README.md the checker wants beside user.conf: what ran, from the run record (in `records`, the
    scenario's folder under podium/); `audits_at`: the folder holding the audits' folders, when it is not the
    scenario folder (before v6.0: under compliance/)."""
    from podium import __version__

    record = read_run_record(records / PERFORMANCE / RUN_RECORD) or {}
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
    audits = ", ".join(d.name for d in layout.compliance_dirs(result.path))
    if audits:
        where = "beside this file" if audits_at is None else f"in {audits_at.relative_to(records.parents[3])}/"
        lines.append(f"- audits: {audits} (their folders {where})")
    lines += ["", "The settings in effect are in user.conf. Podium's records of the runs (podium_run.json, "
              "accuracy.json) are in the same place under the package's podium/ folder, out of the folders whose "
              "files the submission checker lists.", ""]
    return "\n".join(lines)


def source_readme(benchmark: str) -> str:
    from podium import __version__

    return (f"# {benchmark}\n\nThe implementation is Podium {__version__}, a Python MLPerf-compatible benchmark "
            f"suite: the `podium` package of that version runs this benchmark.\n")
