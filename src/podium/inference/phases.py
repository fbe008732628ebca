"""The LoadGen tests of one inference run: a started runner, then performance / accuracy / peak-search tests,
each leaving its logs, its accuracy files and its `podium_run.json`.

Nothing measured is lost: the record is written after every test, whether the test passed, failed or was
interrupted (then it is marked "aborted" with the signal), before any error is raised. The record states the
settings LoadGen ran with, as its detail log has them (effective_*), beside those the harness asked for.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podium.core import signals
from podium.core.errors import PodiumError, RunAborted
from podium.core.files import ensure_dir, file_sha256, output_error
from podium.core.vocabulary import Engine
from podium.core.layout import ACCURACY, PERFORMANCE
from podium.inference import record as rec
from podium.inference.plan import InferenceResult, Plan, settings_for
from podium.loadgen import logparse
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings


@dataclass
class EngineRun:
    """What one engine call gave: per-sample latencies (native engine), errors, and the signal that stopped it."""

    latencies_ns: np.ndarray | None = None
    errors: list[str] = field(default_factory=list)
    signum: int | None = None  # set when the test was aborted
    peak_qps: float | None = None  # FindPeakPerformance's result (native engine)


class Library:
    """The engine's sample library: the dataset, and the runner told when a sample set is (un)loaded."""

    def __init__(self, dataset: Any, runner: Any) -> None:
        self.dataset, self.runner = dataset, runner
        self.name = dataset.name
        self.total_sample_count = dataset.total_sample_count
        self.performance_sample_count = dataset.performance_sample_count

    def load_samples(self, indices: list[int]) -> None:
        self.dataset.load_samples(indices)
        self.runner.samples_loaded()

    def unload_samples(self, indices: list[int]) -> None:
        self.runner.samples_unloaded()
        self.dataset.unload_samples(indices)


class Session:
    """A started runner over one dataset; `run_mode` runs the tests the spec's mode asks for."""

    def __init__(self, p: Plan, dataset: Any) -> None:
        from podium.inference.completion import NativeCompleter, OfficialCompleter
        from podium.inference.runners import make_runner

        self.plan, self.dataset = p, dataset
        make = OfficialCompleter if p.spec.engine is Engine.OFFICIAL else NativeCompleter
        self.completer = make(p.task.encoding)
        self.runner = make_runner(p.model, dataset, self.completer, p.runner)
        self.library = Library(dataset, self.runner)
        self.last_peak_qps: float | None = None  # the last test's FindPeakPerformance result (native engine)

    def __enter__(self) -> Session:
        self.runner.start()  # models load and warm up here, before any test
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()

    def run_mode(self) -> InferenceResult:
        p, mode = self.plan, self.plan.spec.mode
        out = InferenceResult(p.scenario_dir, [])
        if mode is Mode.FIND_PEAK:
            from podium.inference import peak

            out.peak = peak.search(self, out.records)
            return out
        if mode in (Mode.PERFORMANCE, Mode.SUBMISSION):
            out.records.append(self.run_test(Mode.PERFORMANCE, p.files_dir / PERFORMANCE))
        if mode in (Mode.ACCURACY, Mode.SUBMISSION) and not self.runner.failed:
            out.records.append(self.run_test(Mode.ACCURACY, p.files_dir / ACCURACY))
        return out

    def run_test(self, mode: Mode, outdir: Path, settings: TestSettings | None = None) -> rec.RunRecord:
        """One LoadGen test into `outdir`; returns (and writes) its record; RunAborted after writing it when
        a signal stopped the test."""
        settings = settings or settings_for(self.plan, mode)
        ensure_dir(outdir)
        self.completer.failures.clear()
        late_before = self.runner.late_samples
        started, t0 = rec.now_iso(), time.perf_counter()
        run = self._engine_run(settings, outdir)
        self.last_peak_qps = run.peak_qps
        record = self._record(mode, outdir, settings, run, started, t0)
        record = dataclasses.replace(record, late_samples=self.runner.late_samples - late_before)
        if mode is Mode.ACCURACY and record.status is rec.Status.FINISHED:
            accuracy, error = self._score(outdir)
            errors = record.errors if error is None else (*record.errors, error)
            record = dataclasses.replace(record, accuracy=accuracy, errors=errors,  # an unreadable accuracy log
                                         status=rec.Status.FAILED if errors else rec.Status.FINISHED)
        rec.write_record(outdir / rec.RECORD_NAME, record)
        if run.signum is not None:
            raise RunAborted(f"{signals.describe(run.signum)} during the {mode.name.lower()} test; its logs and "
                             "record were written", signum=run.signum)
        return record

    def _engine_run(self, settings: TestSettings, outdir: Path) -> EngineRun:
        if self.plan.spec.engine is Engine.OFFICIAL:
            return self._official_run(settings, outdir)
        from podium import loadgen
        from podium.inference.progress import watching

        spec = self.plan.spec
        options = loadgen.RunOptions(completion_timeout_s=spec.completion_timeout_s,
                                     audit_config=None if spec.audit_config is None else str(spec.audit_config))
        with watching(spec.progress, settings):
            try:
                r = loadgen.run(self.runner, self.library, settings, LogSettings(outdir=str(outdir)),
                                options=options)
            except KeyboardInterrupt as e:  # between passes: the engine has written its logs
                return EngineRun(None, [signals.describe(signals.signum_of(e))], signals.signum_of(e))
            except OSError as e:  # the engine's log files (a full disk, a folder gone read-only)
                raise output_error(e, e.filename or outdir, "write the LoadGen logs in") from e
        signum = (signals.received() or signal.SIGINT) if r.aborted else None
        return EngineRun(r.sample_latencies_ns, list(r.errors), signum, r.find_peak_qps)

    def _official_run(self, settings: TestSettings, outdir: Path) -> EngineRun:
        from podium.inference.official import run_official

        try:
            return EngineRun(None, run_official(self.runner, self.library, settings, outdir,
                                                self.plan.spec.audit_config))
        except KeyboardInterrupt as e:
            return EngineRun(None, [signals.describe(signals.signum_of(e))], signals.signum_of(e))

    def _record(self, mode: Mode, outdir: Path, settings: TestSettings, run: EngineRun, started: str,
                t0: float) -> rec.RunRecord:
        p, spec = self.plan, self.plan.spec
        detail = _read_detail(outdir)
        failures = [f.describe() for f in self.completer.failures]
        errors = [f"inference failed on {f['samples']} samples (ids {f['sample_ids'][:8]}): {f['error']}"
                  for f in failures] + [e for e in run.errors if e]
        errors += [str(e.get("value")) for e in getattr(detail, "errors", []) if str(e.get("value")) not in errors]
        status = rec.Status.ABORTED if run.signum is not None else rec.Status.FAILED if errors else rec.Status.FINISHED
        shape = rec.latency_distribution(run.latencies_ns) if run.latencies_ns is not None and \
            mode is not Mode.ACCURACY else (None, None)
        return rec.RunRecord(
            system_id=spec.system_id, round=p.round.name, benchmark=p.bench.name, scenario=spec.scenario, mode=mode,
            engine=spec.engine, status=status, signal=_signal_name(run.signum), short=spec.short,
            valid_for_submission=spec.valid_for_submission, backend=self._backend_info(),
            runner=self.runner.describe(),
            model=rec.ModelFile(str(Path(p.model.path).resolve()), file_sha256(p.model.path),
                                random_weights=spec.random_weights),
            dataset=self.dataset.describe(), response_encoding=p.task.encoding,
            settings=_effective_settings(detail), settings_requested=_requested(settings, spec),
            result=_result(mode, detail, spec, errors), latency_ns=_latency_summary(detail), errors=tuple(errors),
            failed_batches=tuple(rec.FailedBatch(tuple(f["sample_ids"]), f["samples"], f["error"]) for f in failures),
            started_at=started, wall_s=round(time.perf_counter() - t0, 3), versions=rec.versions(),
            latency_quantiles=shape[0], latency_histogram=shape[1])

    def _backend_info(self) -> dict[str, Any]:
        models = getattr(self.runner, "models", None) or [getattr(self.runner, "model", None)]
        info = getattr(self.runner, "worker_info", None) or [m.describe() for m in models if m is not None]
        return info[0] if info else {"name": self.plan.spec.backend}

    def _score(self, outdir: Path) -> tuple[rec.Accuracy, str | None]:
        """Accuracy from mlperf_log_accuracy.json and the dataset's ground truth (accuracy.txt and .json beside
        it), and the error when the log could not be scored."""
        from podium.inference.accuracy import evaluate, write_accuracy

        p = self.plan
        try:
            result = evaluate(p.task.metric, outdir / "mlperf_log_accuracy.json", self.dataset, p.task.encoding)
        except PodiumError as e:
            return rec.Accuracy(p.task.metric, None, p.accuracy_target, passed=False), f"accuracy: {e}"
        write_accuracy(outdir, result, p.accuracy_target)
        # random weights score what they score, and never pass: the run is performance-only
        passed = not p.spec.random_weights and (p.accuracy_target is None or result.value >= p.accuracy_target)
        return rec.Accuracy(result.metric, result.value, p.accuracy_target, passed, units=result.units,
                            good=result.good, total=result.total), None


def _not_for_submission(spec: Any) -> list[str]:
    """Why a run's result may not be submitted, if it may not."""
    reasons = ["random weights: performance only, not valid for submission"] if spec.random_weights else []
    if spec.short or spec.dataset_count is not None:
        reasons.append("short run: not valid for submission")
    return reasons


def _result(mode: Mode, detail: Any, spec: Any, errors: list[str]) -> rec.Result | None:
    """A performance test's headline result; an error makes a VALID one INVALID. None for an accuracy test."""
    if mode is Mode.ACCURACY:
        return None
    head = rec.headline(spec.scenario, detail)
    validity = str(detail.get("result_validity", "INVALID"))
    if errors and validity == "VALID":
        validity = "INVALID"
    reasons = _reasons(detail) + _not_for_submission(spec)
    return rec.Result(head.key, head.value, head.units, validity, tuple(reasons))


def _signal_name(signum: int | None) -> str | None:
    if signum is None:
        return None
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _effective_settings(detail: Any) -> dict[str, Any]:
    """The settings LoadGen ran with, as its detail log states them (effective_* keys, prefix removed)."""
    return {key.removeprefix("effective_"): value for key, value in detail.items() if key.startswith("effective_")}


def _requested(s: TestSettings, spec: Any) -> rec.RequestedSettings:
    """What the harness asked the engine for (config files and overrides applied; audit.config not yet)."""
    return rec.RequestedSettings(
        s.min_duration_ms, s.min_query_count, s.server_target_qps, s.server_target_latency_ns,
        s.offline_expected_qps, None if spec.audit_config is None else str(Path(spec.audit_config).resolve()),
        spec.completion_timeout_s)


def _read_detail(outdir: Path) -> Any:
    path = outdir / "mlperf_log_detail.txt"
    try:
        return logparse.read_detail(path, strict=False)
    except (OSError, ValueError):
        return {}


def _reasons(detail: Any) -> list[str]:
    checks = (("result_min_duration_met", "min duration not met"), ("result_min_queries_met", "min queries not met"),
              ("result_perf_constraints_met", "latency constraint not met"),
              ("early_stopping_met", "early stopping not met"))
    return [text for key, text in checks if detail.get(key) is False]


def _latency_summary(detail: Any) -> rec.LatencySummary:
    keys = {"mean": "result_mean_latency_ns", "p50": "result_50.00_percentile_latency_ns",
            "p90": "result_90.00_percentile_latency_ns", "p99": "result_99.00_percentile_latency_ns",
            "max": "result_max_latency_ns"}
    return rec.LatencySummary(**{name: detail[key] for name, key in keys.items() if key in detail})


__all__ = ["EngineRun", "Library", "Scenario", "Session"]
