"""A whole LoadGen test: settings, loadable sets, the mode's passes, results and log files (loadgen.cc StartTest).

`run()` is the native entry point the rest of Podium builds on; `podium.loadgen.compat` is a thin layer
over it. One test runs at a time per process (as in the official LoadGen): `ACTIVE` routes completions
that SUT code reports through module-level functions to the pass being issued.

Every wait is bounded (`completion_bound_s`), and a run in which any sample went missing, completed
twice, failed or was cut short by a signal is INVALID in every file it writes, with the reason.
The official LoadGen waits forever and writes VALID in those cases; Podium deliberately does not.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from podium.core import signals
from podium.core.errors import IncompleteRunError, PodiumError, RunAborted, SUTError
from podium.loadgen import schedule as _schedule
from podium.loadgen.clock import now_ns
from podium.loadgen.issuer import IssuePass, PassOutcome
from podium.loadgen.ledger import Response, ResponseCallback
from podium.loadgen.recorder import Recorder
from podium.loadgen.results import PerformanceSummary, RawRun, summarize
from podium.loadgen.settings import EffectiveSettings, LogSettings, Mode, Scenario, TestSettings, derive

# The completion bound (see `completion_bound_s`): a floor, plus a factor of the pass's expected length.
COMPLETION_FLOOR_S = 60.0
COMPLETION_FACTOR = 2.0


def expected_pass_s(eff: EffectiveSettings, schedule: _schedule.QuerySchedule | None = None) -> float:
    """How long the settings say one wait of a pass should last, in seconds (0 when they cannot say).

    Offline: the whole query (its samples / offline_expected_qps); Server: the schedule's length
    (min_duration without a schedule); SingleStream/MultiStream: one query's expected latency, since
    the issuing thread waits for each query and, at the end, for the last one only.
    """
    qps = eff.target_qps
    if not (qps > 0 and math.isfinite(qps)):
        return 0.0
    if eff.scenario is Scenario.OFFLINE:
        samples = schedule.sample_index.shape[0] if schedule is not None else eff.samples_per_query
        return samples / qps
    if eff.scenario is Scenario.SERVER:
        if schedule is not None:
            return schedule.duration_ns / 1e9
        return max(eff.min_duration_ms / 1e3, eff.min_query_count / qps)
    return 1.0 / qps


def completion_bound_s(eff: EffectiveSettings, schedule: _schedule.QuerySchedule | None = None) -> float:
    """The longest the engine waits for a pass's completions (and for one query, or for flush_queries).

    COMPLETION_FLOOR_S + COMPLETION_FACTOR x `expected_pass_s`: a SUT running at half the expected
    speed still finishes, and short passes keep a floor for warm-up, a slow first batch or a GC
    pause. A full-length Offline run (600 s, 1.1 x 600 s of work) waits up to 1,380 s. The bound
    follows the settings, never the clock: an explicit `RunOptions.completion_timeout_s` replaces it.
    """
    return COMPLETION_FLOOR_S + COMPLETION_FACTOR * expected_pass_s(eff, schedule)


class SystemUnderTest(Protocol):
    """What the engine drives. Complete samples with `complete(ids, ...)` (or compat's QuerySamplesComplete)."""

    name: str

    def issue_query(self, ids: Sequence[int], indices: list[int], /) -> None:
        """Start inference on samples `ids` (consecutive ints; a `range`) holding QSL `indices`."""

    def flush_queries(self) -> None: ...


class SampleLibrary(Protocol):
    """The query sample library: which samples exist and loading sets of them to RAM."""

    name: str
    total_sample_count: int
    performance_sample_count: int

    def load_samples(self, indices: list[int], /) -> None: ...

    def unload_samples(self, indices: list[int], /) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """How the engine behaves around the official semantics."""

    completion_timeout_s: float | None = None  # each wait's bound; None: `completion_bound_s` per pass
    audit_config: str | None = None  # audit.config to apply (the official picks ./audit.config up silently)
    config_state: Any = None  # config.ConfigState carrying FromConfig errors into this run's log
    raise_on_failure: bool = False  # raise SUTError/IncompleteRunError/RunAborted after writing the logs
    compat: bool = False  # read audit.config as leniently as the official (the drop-in API)


@dataclass(frozen=True)
class RunResult:
    """A finished test: its settings, the performance summary (None in accuracy-only runs), raw data."""

    settings: EffectiveSettings
    summary: PerformanceSummary | None
    sample_latencies_ns: np.ndarray  # performance pass, per completed sample, sequence order
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    log_paths: dict[str, str]
    aborted: bool = False
    find_peak_qps: float | None = None
    failures: tuple[str, ...] = ()  # why the run failed (samples missing or repeated, SUT errors, a signal)
    abort_signum: int | None = None  # the signal that aborted the run (SIGINT, SIGTERM)

    @property
    def valid(self) -> bool:
        return (self.summary is not None and self.summary.valid and not self.errors and not self.aborted
                and not self.failures)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the result is not VALID (empty when it is): what failed, the failed rules, the logged errors."""
        out: list[str] = list(self.failures)
        s = self.summary
        if self.aborted and not any(f.startswith("the run was aborted") for f in out):
            out.append("the run was aborted")
        if s is None:
            out.append("no performance result (accuracy-only run, or nothing was issued)")
        else:
            checks = ((s.min_duration_met, "min duration not met"), (s.min_queries_met, "min queries not met"),
                      (s.perf_constraints_met, "latency constraint not met"),
                      (s.early_stopping_met, "early stopping not met"))
            out += [text for ok, text in checks if not ok]
        return tuple(out) + tuple(e for e in self.errors if e not in out)

    @property
    def validity(self) -> str:
        if self.aborted:
            return "ABORTED"
        return "VALID" if self.valid else "INVALID"


# What compat's QuerySamplesComplete calls: (completion time, responses, response callback).
Completer = Callable[[int, Sequence[Response], ResponseCallback | None], None]


class _Active:
    """The test being run in this process; `pass_` is the IssuePass that completions go to."""

    def __init__(self) -> None:
        self.pass_: IssuePass | None = None
        self.lock = threading.Lock()
        self.complete_responses: Completer = _stray  # the pass's completer; compat calls it directly

    def attach(self, p: IssuePass | None) -> None:
        self.pass_ = p
        self.complete_responses = p.responses_completer() if p is not None else _stray


def _stray(t: int, responses: Sequence[Response], response_cb: ResponseCallback | None = None) -> None:
    stray_completion(responses)


ACTIVE = _Active()


def complete(ids: Sequence[int], data: Sequence[bytes] | None = None,
             n_tokens: Sequence[int] | None = None) -> None:
    """Native completion of samples by id (any thread); `data` is each response's bytes."""
    t = now_ns()
    p = ACTIVE.pass_
    if p is None:
        raise SUTError(f"completion of sample ids {list(ids)[:5]} with no test running")
    p.complete_ids(t, ids, data, n_tokens)


def fail(error: BaseException) -> None:
    """The SUT reports (from any thread) that issued samples will never complete: the run fails at once.

    The samples still outstanding are named in the log and in the raised IncompleteRunError's cause;
    what was measured is kept. Without a test running this does nothing.
    """
    p = ACTIVE.pass_
    if p is not None:
        p.fail(error)


def progress() -> tuple[int, int, npt.NDArray[np.int64]] | None:
    """Live progress of the pass being issued: (queries issued, samples completed, latencies so far in ns)."""
    p = ACTIVE.pass_
    return None if p is None else p.progress()


def first_token(ids: Sequence[int]) -> None:
    """Native first-token completion (token latency mode)."""
    t = now_ns()
    p = ACTIVE.pass_
    if p is not None:
        p.first_tokens(t, [_IdOnly(i) for i in ids])


class _IdOnly:
    """A first token known by its id only (the native API carries no token data)."""

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(self, i: int) -> None:
        self.id, self.data, self.size, self.n_tokens = i, b"", 0, 0


def stray_completion(responses: Sequence[object]) -> None:
    ids = [getattr(r, "id", r) for r in list(responses)[:5]]
    raise SUTError(f"QuerySamplesComplete for ids {ids} with no test running")


def run(sut: SystemUnderTest, qsl: SampleLibrary, settings: TestSettings,
        log: LogSettings | None = None, *, options: RunOptions | None = None) -> RunResult:
    """Run one LoadGen test of `sut` over `qsl` (blocking); write the official log files."""
    opts = options or RunOptions()
    # Settings that cannot run are refused before any log file exists (audit.config and test05 overrides
    # are derived again once applied, inside the test).
    eff = derive(settings, qsl.performance_sample_count, qsl.total_sample_count)
    if not ACTIVE.lock.acquire(blocking=False):
        raise PodiumError("a LoadGen test is already running in this process")
    try:
        with Recorder(log or LogSettings(), sut, qsl) as rec:
            return _Test(sut, qsl, settings, rec, opts).run(eff)
    finally:
        ACTIVE.attach(None)
        ACTIVE.lock.release()


class _Test:
    """One StartTest call: applies audit/test05 overrides, derives settings, runs the mode."""

    def __init__(self, sut: SystemUnderTest, qsl: SampleLibrary, settings: TestSettings,
                 rec: Recorder, opts: RunOptions) -> None:
        self.sut, self.qsl, self.rec, self.opts = sut, qsl, rec, opts
        self.requested = settings
        self.seq = 0  # SequenceGen: sample ids continue across passes of one test
        self.failure: PodiumError | None = None  # the first, raised after the logs (raise_on_failure)
        self.failures: list[str] = []  # every reason the run failed, written in every file
        self.aborted = False
        self.abort_signum: int | None = None
        self.perf_summary: PerformanceSummary | None = None
        self.perf_latencies = np.zeros(0, dtype=np.int64)
        self.peak_qps: float | None = None

    def run(self, requested_eff: EffectiveSettings) -> RunResult:
        settings = self._overrides(self.requested)
        eff = requested_eff if settings is self.requested else \
            derive(settings, self.qsl.performance_sample_count, self.qsl.total_sample_count)
        self.rec.settings_logged(self.requested, eff)
        try:
            self._run_mode(eff)
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (podium.core.signals) outside the issue loop
            signum = signals.signum_of(e)
            self._abort(signals.describe(signum), signum)
        summary, failures = self.perf_summary, tuple(self.failures)
        if summary is not None and summary.failures != failures:  # a failure after the result was logged
            summary = dataclasses.replace(summary, failures=failures)
        result = self.rec.finish(eff, summary, failures)
        out = RunResult(settings=eff, summary=summary, sample_latencies_ns=self.perf_latencies,
                        errors=result.errors, warnings=result.warnings, log_paths=result.paths,
                        aborted=self.aborted, find_peak_qps=self.peak_qps, failures=failures,
                        abort_signum=self.abort_signum)
        if self.failure is not None and self.opts.raise_on_failure:
            self.failure.result = out  # type: ignore[attr-defined]
            raise self.failure
        return out

    def _overrides(self, settings: TestSettings) -> TestSettings:
        """audit.config (conf_type 2, model '*') then test05 seeds, as StartTest applies them."""
        state = self.opts.config_state
        if state is not None:
            for key, message in state.take_logged_errors():
                self.rec.error(key, message)
        if self.opts.audit_config:
            from podium.loadgen import config

            self.rec.warning("warning_generic_message", "Found Audit Config file (audit.config). "
                             "Overriding TestSettings from audit.config file.")
            if self.opts.compat:
                settings = dataclasses.replace(settings)
                config.from_config_compat(settings, self.opts.audit_config, "*", settings.scenario.value, 2,
                                          state=state or config.ConfigState())
                for key, message in (state.take_logged_errors() if state is not None else ()):
                    self.rec.error(key, message)
            else:
                settings = config.apply_config(settings, self.opts.audit_config, "*",
                                               settings.scenario.value, conf_type=2)
        if settings.test05:
            self.rec.warning("warning_generic_message", "Test05 flag detected Overriding random seeds")
            settings = dataclasses.replace(
                settings, mode=Mode.PERFORMANCE, qsl_rng_seed=settings.test05_qsl_rng_seed,
                sample_index_rng_seed=settings.test05_sample_index_rng_seed,
                schedule_rng_seed=settings.test05_schedule_rng_seed)
        return settings

    def _run_mode(self, eff: EffectiveSettings) -> None:
        if eff.mode in (Mode.SUBMISSION, Mode.ACCURACY):
            self._accuracy(eff)
        if eff.mode in (Mode.SUBMISSION, Mode.PERFORMANCE) and not self.aborted:
            self._performance(eff)
        if eff.mode is Mode.FIND_PEAK:
            self._find_peak(eff)

    # ---- modes --------------------------------------------------------------------------------

    def _accuracy(self, eff: EffectiveSettings) -> None:
        self.rec.message("Starting accuracy mode")
        for loaded in _schedule.loadable_sets(eff, eff.accuracy_sample_count, self.qsl.total_sample_count):
            self._load(loaded)
            outcome = self._pass(eff, Mode.ACCURACY, loaded)
            self.qsl.unload_samples(loaded.samples.tolist())
            if outcome is None or self.aborted or self.failure:
                return

    def _performance(self, eff: EffectiveSettings) -> PerformanceSummary | None:
        self.rec.message("Starting performance mode")
        loaded = _schedule.loadable_sets(eff, eff.performance_sample_count, self.qsl.total_sample_count)[0]
        self._load(loaded)
        summary = self._measure(eff, loaded)
        self.qsl.unload_samples(loaded.samples.tolist())
        if summary is not None:
            self.perf_summary = summary
            self.rec.performance_summary(summary)
        return summary

    def _measure(self, eff: EffectiveSettings, loaded: _schedule.LoadableSet) -> PerformanceSummary | None:
        outcome = self._pass(eff, Mode.PERFORMANCE, loaded)
        if outcome is None or outcome.samples_issued == 0:
            return None
        raw = _raw_run(eff, outcome, tuple(self.failures))
        self.perf_latencies = raw.sample_latencies_ns
        return summarize(raw)

    def _find_peak(self, eff: EffectiveSettings) -> None:
        """FindPeakPerformance (Server only): widen the target QPS, then bisect on the percentile bound."""
        self.rec.message("Starting FindPeakPerformance mode")
        if eff.scenario is not Scenario.SERVER:
            self.rec.error("error_invalid_config",
                           "Finding peak performance is only supported in Server scenarios.")
            return
        loaded = _schedule.loadable_sets(eff, eff.performance_sample_count, self.qsl.total_sample_count)[0]
        self._load(loaded)
        try:
            self._search_peak(eff, loaded)
        finally:
            self.qsl.unload_samples(loaded.samples.tolist())

    def _search_peak(self, eff: EffectiveSettings, loaded: _schedule.LoadableSet) -> None:
        base = self._measure(eff, loaded)
        if base is None or not base.perf_constraints_met:
            self.rec.error("error_runtime", "FindPeakPerformance: Initial lower bound does not satisfy "
                           "performance constraints")
            if base is not None:
                self.perf_summary = base
                self.rec.performance_summary(base)
            return
        lo, lo_summary, hi = eff, base, None
        step = eff.requested.server_find_peak_qps_boundary_step_size
        while hi is None and not self.aborted and not self.failure:  # [q, q*(1+step)) until it fails
            up = lo.replace(target_qps=lo.target_qps * (1 + step))
            self.rec.message(f"FindBoundaries: Checking fields [{_qps(lo)}, {_qps(up)})")
            s = self._measure(up, loaded)
            if s is not None and s.perf_constraints_met and not s.failures:
                lo, lo_summary = up, s
            else:
                hi = up
        dec = eff.requested.server_find_peak_qps_decimals_of_precision
        while hi is not None and not _finished(lo, hi, dec) and not self.aborted and not self.failure:
            mid = lo.replace(target_qps=lo.target_qps + (hi.target_qps - lo.target_qps) / 2)
            self.rec.message(f"FindPeakPerformanceBinarySearch: Testing the mid value of bounds "
                             f"[{_qps(lo)}, {_qps(hi)}): {_qps(mid)}")
            s = self._measure(mid, loaded)
            if s is not None and s.perf_constraints_met and not s.failures:
                lo, lo_summary = mid, s
            else:
                hi = mid
        self.rec.message(f"FindPeakPerformance: Found peak performance field: {_qps(lo)}")
        self.peak_qps = lo.target_qps
        self.perf_summary = dataclasses.replace(lo_summary, failures=tuple(self.failures))
        self.rec.performance_summary(self.perf_summary)

    # ---- one pass -----------------------------------------------------------------------------

    def _load(self, loaded: _schedule.LoadableSet) -> None:
        self.rec.loaded_set(loaded.samples)
        self.qsl.load_samples(loaded.samples.tolist())

    def _pass(self, eff: EffectiveSettings, mode: Mode, loaded: _schedule.LoadableSet) -> PassOutcome | None:
        sched = _schedule.generate_queries(eff, mode, loaded)
        self.rec.generated(sched)
        mask = self.rec.accuracy_log_mask(eff, mode, sched, self.seq)
        p = IssuePass(eff, mode, sched, self.seq, self.sut.issue_query, accuracy_sink=self.rec.accuracy_sink,
                      log_mask=mask, first_token_sink=self.rec.token_sink,
                      issue_one=getattr(self.sut, "issue_one", None), prepare=getattr(self.sut, "prepare", None))
        bound_s = self.opts.completion_timeout_s
        if bound_s is None:
            bound_s = completion_bound_s(eff, sched)
        ACTIVE.attach(p)
        try:
            outcome = p.run(bound_s, flush=self.sut.flush_queries)
        finally:
            ACTIVE.attach(None)
        self.rec.pass_done(eff, mode, sched, outcome, self.seq)
        self.seq += sched.sample_index.shape[0]
        self._check(outcome)
        return outcome

    def _check(self, o: PassOutcome) -> None:
        """Turn what went wrong in a pass into reasons the run failed and the error raised after the logs.

        The issuer logged what it saw while waiting (a SUT error, a hung flush, the missing ids); what
        only the audit after the pass finds (ids repeated or unknown) is logged here.
        """
        if o.interrupted:
            self._abort(f"{signals.describe(o.signum)} while issuing", o.signum or signal.SIGINT)
        if o.sut_exception is not None:
            e = o.sut_exception
            self._fail(f"the SUT failed: {type(e).__name__}: {e}", SUTError, cause=e)
        if o.flush_error is not None:
            self._fail(o.flush_error, SUTError)
        if o.missing_ids and not o.interrupted:
            self._fail(f"{len(o.missing_ids)} of {o.samples_issued} issued samples never completed",
                       lambda m: IncompleteRunError(f"{m} (ids {o.missing_ids[:10]}...)", o.missing_ids))
        for count, what, ids in ((len(o.bad_ids), "completions with unknown or repeated sample ids", o.bad_ids),
                                 (o.duplicates, "samples completed twice at once by concurrent threads", None),
                                 (len(o.unissued_ids), "completions of samples never issued", o.unissued_ids)):
            if count:
                self._fail(f"{what}: {count}" + (f" (ids {ids[:10]})" if ids else ""), SUTError, log=True)

    def _fail(self, reason: str, error: Callable[[str], PodiumError], cause: BaseException | None = None,
              log: bool = False) -> None:
        """One reason the run failed, for every file's verdict; the first also becomes the raised error."""
        self.failures.append(reason)
        if log:
            self.rec.error("error_runtime", reason)
        if self.failure is None:
            self.failure = error(reason)
            self.failure.__cause__ = cause

    def _abort(self, why: str, signum: int) -> None:
        """A signal stopped the run: logged, a reason in every file, and RunAborted (exit 128 + signum) wins."""
        self.aborted, self.abort_signum = True, signum
        self.rec.error("error_runtime", f"Test aborted: {why}")
        self.failures.append(f"the run was aborted: {why}")
        if not isinstance(self.failure, RunAborted):
            self.failure = RunAborted(why, signum=signum)


def _raw_run(eff: EffectiveSettings, o: PassOutcome, failures: tuple[str, ...] = ()) -> RawRun:
    """The latencies and final-query times that PerformanceSummary needs, from a pass: completed samples only.

    A sample that never completed has no latency: counting it as 0 would pull every percentile
    down. Its query is left out of the query count early stopping uses, and the last completion
    stands for the final query's (whose own may be missing).
    """
    n_q, n_s = o.queries_issued, o.samples_issued
    spq_fixed = o.scheduled_ns.shape[0] and n_s % max(n_q, 1) == 0
    per_query = n_s // max(n_q, 1) if spq_fixed else 1
    sched_per_sample = np.repeat(o.scheduled_ns, per_query) if spq_fixed else np.full(n_s, o.start_ns)
    done = o.done_ns
    ok = done > 0
    complete = bool(ok.all())
    lat = (done - sched_per_sample)[ok]
    if complete:
        all_done = int(done[-per_query:].max()) if n_s else o.start_ns
    else:
        all_done = int(done.max()) if ok.any() else o.start_ns
    query_lat = None
    q_ok = ok[: n_q * per_query].reshape(n_q, per_query).all(axis=1)
    if eff.scenario is Scenario.MULTI_STREAM and n_q:
        q_done = done[: n_q * per_query].reshape(n_q, per_query).max(axis=1)
        query_lat = (q_done - o.scheduled_ns)[q_ok]
    ttft = tokens = None
    if o.first_token_ns is not None:
        ttft = np.where(o.first_token_ns > 0, o.first_token_ns - sched_per_sample, 0)[ok]
    if o.n_tokens is not None:
        tokens = o.n_tokens[ok]
    return RawRun(
        scenario=eff.scenario, settings=eff, sample_latencies_ns=lat, query_latencies_ns=query_lat,
        queries_issued=n_q, max_latency_ns=int(lat.max()) if lat.size else 0,
        final_query_scheduled_ns=o.final_scheduled_delta_ns,
        final_query_issued_ns=int(o.issued_ns[n_q - 1] - o.start_ns),
        final_query_all_done_ns=all_done - o.start_ns,
        first_token_latencies_ns=ttft, tokens_per_sample=tokens,
        ran_out_of_generated_queries=o.ran_out_of_generated_queries,
        queries_incomplete=0 if complete else n_q - int(q_ok.sum()), failures=failures)


def _qps(s: EffectiveSettings) -> str:
    return f"{s.target_qps:g}"


def _finished(lo: EffectiveSettings, hi: EffectiveSettings, decimals: int) -> bool:
    """find_peak_performance::IsFinished: floor(lo*10^d) + 1 >= floor(hi*10^d)."""
    import math

    scale = 10.0 ** decimals
    return math.floor(lo.target_qps * scale) + 1 >= math.floor(hi.target_qps * scale)

