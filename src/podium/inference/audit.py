"""The compliance audits of an inference result: run TEST01 or TEST04 and write the compliance tree.

`run_audit(spec, test)` runs the audit's performance test with the official audit.config (written by
`podium.results.checker.compliance.audit_config`, applied through `InferenceSpec.audit_config`), compares it
with the result already in `spec.out`, and writes the audit's folder beside that result's runs:

    <out>/results/<system>/<benchmark>/<scenario>/TEST0x/
        performance/run_1/{mlperf_log_detail.txt, mlperf_log_summary.txt, podium_run.json}
        accuracy/{mlperf_log_accuracy.json, accuracy.txt [, baseline_accuracy.txt, compliance_accuracy.txt]}
                                    TEST01: the responses the performance run logged, and their accuracy
        verify_performance.txt, verify_accuracy.txt (TEST01), audit.config

which is where the submission checker of v6.0 onwards reads it (results/<system>/<benchmark>/<scenario>/TEST0x,
constants.py COMPLIANCE_PATH) and where `podium submission build` takes it from. The reports are those of the
official verify scripts (`compliance.verify_performance`, `compliance.verify_accuracy`). When TEST01's responses
differ from the accuracy run's (a legitimately non-deterministic SUT), the benchmark's metric is run on the
performance-mode log and on the accuracy log's same samples, as the official README asks (baseline_accuracy.txt,
compliance_accuracy.txt), and the audit passes when they differ by at most the allowed delta.

The audit's run is made in a scratch tree under `<out>/.podium/audits/`, removed once the audit's folder is in
place; the folder replaces the previous one only when complete (`core.outdir.Staged`). An audit whose run failed
leaves the previous folder as it was, and its run's files in the scratch tree, which the error names.

TEST05 (alternative seeds, rounds before v5.0): its audit.config sets `test05 = 1` and the seeds, which the
LoadGen of those rounds read from audit.config and LoadGen 5.0 onwards (whose rules the engine follows) reads
only from mlperf.conf; the audit sets them on the run's settings directly, and publishes the official
audit.config beside its logs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError, PodiumError
from podium.core.files import atomic_write, ensure_dir
from podium.core.layout import (ACCURACY, ACCURACY_LOG, ACCURACY_TXT, AUDIT_CONFIG, BASELINE_ACCURACY,
                                COMPLIANCE_ACCURACY, DETAIL_LOG, PERFORMANCE, RUN_RECORD, SUMMARY_LOG,
                                VERIFY_ACCURACY, VERIFY_PERFORMANCE, system_description)
from podium.core.outdir import STATE_DIR
from podium.inference.plan import InferenceSpec, Plan, plan
from podium.loadgen.settings import Mode
from podium.results.checker import compliance

__all__ = ["AuditResult", "audits_for", "run_audit", "run_audits", "run_listed"]

SCRATCH = "audits"   # <out>/.podium/audits/<test>-*/: an audit's own run


@dataclass(frozen=True)
class AuditResult:
    """One audit: where its folder is, and its verdicts (`accuracy_passed` is None for audits without one)."""

    test: str
    path: Path
    performance_passed: bool
    accuracy_passed: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.performance_passed and self.accuracy_passed is not False

    def one_line(self) -> str:
        parts = [f"performance {'PASS' if self.performance_passed else 'FAIL'}"]
        if self.accuracy_passed is not None:
            parts.append(f"accuracy {'PASS' if self.accuracy_passed else 'FAIL'}")
        return f"{self.test}: {', '.join(parts)} ({self.path})" + "".join(f"; {n}" for n in self.notes)


def audits_for(spec: InferenceSpec) -> tuple[str, ...]:
    """The audits the round's registry lists for the spec's benchmark that Podium runs (TEST01, TEST04, TEST05)."""
    p = plan(spec)
    return tuple(t for t in p.bench.audit_tests if t in compliance.AUDIT_TESTS)


def run_audits(spec: InferenceSpec) -> list[AuditResult]:
    """Every audit of `audits_for(spec)`, in the registry's order."""
    return [run_audit(spec, test) for test in audits_for(spec)]


def run_listed(spec: InferenceSpec, tests: tuple[str, ...] | None = None) -> Iterator[tuple[str, bool]]:
    """Run `tests` (default: every audit of `audits_for(spec)`), yielding one line and whether it passed per
    audit. A test asked for by name that cannot run raises ConfigError; one of the round's list says why."""
    listed = tests is None
    tests = audits_for(spec) if tests is None else tests
    if not tests:
        yield f"{spec.benchmark}: no audit applies in this round", True
    for test in tests:
        try:
            result = run_audit(spec, test)
        except ConfigError as e:
            if not listed:
                raise
            yield f"{test}: not run: {e}", False
            continue
        yield result.one_line(), result.passed


def run_audit(spec: InferenceSpec, test: str) -> AuditResult:
    """Run the audit `test` of the result in `spec.out` (same benchmark, scenario, model and options) and write
    its folder; ConfigError before anything runs when the audit does not apply or the result it checks is absent."""
    from podium.core.outdir import Staged, exclusive

    p = plan(spec)
    config_text = _check_applies(p, test)
    with exclusive(spec.out):
        run_dir, scratch = _audit_run(p, test, config_text)
        with Staged(p.scenario_dir / test, spec.out) as staged:
            result = _assemble(p, test, run_dir, staged.path)
            atomic_write(staged.path / AUDIT_CONFIG, config_text)
        shutil.rmtree(scratch, ignore_errors=True)
    return dataclasses.replace(result, path=p.scenario_dir / test)


def _check_applies(p: Plan, test: str) -> str:
    """The audit's audit.config text; ConfigError when the audit is not one of the benchmark's in the round, or
    the result it compares with is missing."""
    if test not in compliance.AUDIT_TESTS:
        raise ConfigError(f"unknown audit {test!r}; Podium runs {', '.join(compliance.AUDIT_TESTS)}", key="audit")
    if test not in p.bench.audit_tests:
        listed = ", ".join(p.bench.audit_tests) or "none"
        raise ConfigError(f"{test} is not an audit of {p.bench.name} in round {p.round.name} (its audits: {listed})",
                          key="audit")
    wanted = [p.scenario_dir / PERFORMANCE / DETAIL_LOG]
    if test == "TEST01":
        wanted.append(p.scenario_dir / ACCURACY / ACCURACY_LOG)
    for path in wanted:
        if not path.is_file():
            mode = "accuracy" if path.parent.name == ACCURACY.name else "performance"
            raise ConfigError(f"{test} compares with the {mode} run, which is not there: run `podium infer` with "
                              f"--mode {mode} (or submission) first", path=str(path))
    try:
        return compliance.audit_config(test, p.bench.name, _test05_seeds(p))
    except KeyError:
        raise ConfigError(f"no official {test} audit.config for {p.bench.name}", key="audit") from None


def _test05_seeds(p: Plan) -> dict[str, int] | None:
    seeds = p.round.test05_seeds
    return None if seeds is None else {f.name: int(getattr(seeds, f.name)) for f in dataclasses.fields(seeds)}


def _audit_run(p: Plan, test: str, config_text: str) -> tuple[Path, Path]:
    """The audit's performance test in a scratch tree: (its performance/run_1 folder, the scratch tree)."""
    from podium.inference.harness import run_inference

    scratch = Path(tempfile.mkdtemp(prefix=f"{test}-", dir=ensure_dir(p.spec.out / STATE_DIR / SCRATCH)))
    config = scratch / AUDIT_CONFIG
    atomic_write(config, config_text)
    desc = system_description(p.spec.out, p.spec.system_id)
    if desc.is_file():   # the same system: not probed again
        shutil.copyfile(desc, ensure_dir(system_description(scratch, p.spec.system_id).parent) / desc.name)
    spec = dataclasses.replace(p.spec, mode=Mode.PERFORMANCE, out=scratch, audit_config=config)
    if test == "TEST05":
        # Its audit.config sets test05 = 1 and the alternative seeds, which LoadGen read from audit.config until
        # v5.0; the engine follows LoadGen 6.x, which takes them only from mlperf.conf: they are set directly.
        seeds = tuple((f"test05_{name}", value) for name, value in (_test05_seeds(p) or {}).items())
        spec = dataclasses.replace(spec, audit_config=None, settings_overrides=(("test05", True), *seeds))
    result = run_inference(spec)
    if result.failed or result.kept_in is not None:
        errors = "; ".join(e for r in result.records for e in r.errors) or "the run did not finish"
        raise PodiumError(f"{test}: the audit's run failed ({errors}); its files are in {result.files}")
    return result.scenario_dir / PERFORMANCE, scratch


def _assemble(p: Plan, test: str, run_dir: Path, dest: Path) -> AuditResult:
    """The audit's folder in `dest`: its performance logs, TEST01's accuracy folder, the verify reports."""
    from podium.loadgen.logparse import read_detail

    perf = ensure_dir(dest / PERFORMANCE)
    for name in (DETAIL_LOG, SUMMARY_LOG, RUN_RECORD):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, perf / name)
    reference = p.scenario_dir / PERFORMANCE / DETAIL_LOG
    verdict = compliance.verify_performance(test, read_detail(reference), read_detail(perf / DETAIL_LOG),
                                            reference_path=str(PERFORMANCE / DETAIL_LOG),   # as in the package
                                            audit_path=str(Path(test) / PERFORMANCE / DETAIL_LOG))
    notes = _settings_notes(p, test, read_detail(perf / DETAIL_LOG))
    if notes:   # the run did not apply the audit's settings: whatever it measured is no audit
        verdict = compliance.Verdict(False, (*verdict.lines[:-1], f"TEST FAIL: {notes[0]}"))
    atomic_write(dest / VERIFY_PERFORMANCE, verdict.text)
    accuracy_passed = _test01_accuracy(p, run_dir, dest) if test == "TEST01" else None
    return AuditResult(test, dest, verdict.passed, accuracy_passed, tuple(notes))


def _settings_notes(p: Plan, test: str, detail: Any) -> list[str]:
    """Why the audit's run is not the audit: an audit setting its detail log does not show."""
    expected = compliance.expected_settings(test, p.bench.name, _test05_seeds(p))
    return [f"{key} is {detail.get(key)!r}, the audit sets {value!r} (the engine did not apply the audit.config)"
            for key, value in expected.items() if detail.get(key) != value]


def _test01_accuracy(p: Plan, run_dir: Path, dest: Path) -> bool:
    """TEST01's accuracy folder and verify_accuracy.txt; whether the audit's accuracy check passes."""
    from podium.loadgen.logparse import read_accuracy

    acc = ensure_dir(dest / ACCURACY)
    perf_log = run_dir / ACCURACY_LOG
    if not perf_log.is_file():
        raise PodiumError(f"TEST01: the audit's run logged no responses ({perf_log} is missing)")
    shutil.copyfile(perf_log, acc / ACCURACY_LOG)
    reference = read_accuracy(p.scenario_dir / ACCURACY / ACCURACY_LOG)
    logged = read_accuracy(perf_log)
    comparison = compliance.compare_responses(reference, logged)
    verdict = compliance.verify_accuracy(comparison)
    atomic_write(dest / VERIFY_ACCURACY, verdict.text)
    scorer = _Scorer(p)
    atomic_write(acc / ACCURACY_TXT, scorer.line(perf_log) + "\n")
    if verdict.passed:
        return True
    # responses differ: the metric over the same samples, from the accuracy run and from the audit
    subset = {int(e["qsl_idx"]) for e in logged}
    baseline_log = dest / ".baseline_accuracy_log.json"
    try:
        baseline_log.write_text(json.dumps([e for e in reference if int(e["qsl_idx"]) in subset]), "utf-8")
        baseline = scorer.score(baseline_log)
    finally:
        baseline_log.unlink(missing_ok=True)
    audited = scorer.score(perf_log)
    atomic_write(acc / BASELINE_ACCURACY, scorer.summary(baseline) + "\n")
    atomic_write(acc / COMPLIANCE_ACCURACY, scorer.summary(audited) + "\n")
    delta = compliance.accuracy_delta(baseline.value, audited.value)
    allowed = compliance.allowed_delta_percent(_variant(p), audited.metric)
    return delta is not None and delta <= allowed


def _variant(p: Plan) -> Any:
    """The benchmark variant of the run's accuracy target (bert-99 or bert-99.9): the first when one."""
    for v in p.bench.variants:
        if v.level == p.spec.accuracy_target:
            return v
    return p.bench.variants[0] if p.bench.variants else None


class _Scorer:
    """The task's metric on an accuracy log of some of the dataset's samples (TEST01's subsets)."""

    def __init__(self, p: Plan) -> None:
        from podium.datasets import DATASETS
        from podium.inference.tasks import AS_THE_MODEL

        self.plan = p
        options = dict(p.task.dataset_options)
        if options.get("layout") == AS_THE_MODEL:   # only the labels are read: any layout serves
            options["layout"] = "NCHW"
        opener = DATASETS.get(p.task.dataset)
        self.dataset = opener(p.spec.dataset_path, cache_dir=p.spec.cache_dir,
                              performance_sample_count=p.bench.performance_sample_count,
                              count=p.spec.dataset_count, **options)

    def score(self, log: Path) -> Any:
        from podium.inference.accuracy import evaluate

        return evaluate(self.plan.task.metric, log, self.dataset, self.plan.task.encoding, allow_missing=True)

    def summary(self, result: Any) -> str:
        from podium.metrics import METRICS

        return str(METRICS.get(result.metric).summary_line(result))

    def line(self, log: Path) -> str:
        return self.summary(self.score(log))
