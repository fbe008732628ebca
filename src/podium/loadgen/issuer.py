"""One issue pass: a pre-generated query schedule issued to a SUT, its completions awaited (loadgen.cc IssueQueries).

One `IssuePass` is one official `IssueQueries` call: a loaded sample set, its schedule, the issue loop of
the scenario (`issue_loops`: issue_query_controller.cc IssueQueriesInternal + QueryScheduler) and the
completion ledger (`ledger`) that completions from any thread are recorded in. The pass runs the loop,
flushes the SUT, waits for the completions still outstanding (each wait bounded) and returns what was
measured as a `PassOutcome`: 8 bytes per query for its issue time and 8 per sample for its completion
time, on top of the schedule's 16.
"""

from __future__ import annotations

import gc
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from podium.core import signals
from podium.loadgen.clock import Clock, EngineClock, fine_timer_slack
from podium.loadgen.issue_loops import Failed, IssueFn, IssueOneFn, Messages, Prepare, Stalled, loop_for
from podium.loadgen.ledger import AccuracySink, CompletionLedger, TokenSink
from podium.loadgen.schedule import QuerySchedule
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario

__all__ = ["IssuePass", "PassOutcome"]

Int64s = npt.NDArray[np.int64]


@dataclass
class PassOutcome:
    """What one pass measured: raw times (absolute `now_ns`) and how the issuing ended."""

    start_ns: int
    queries_issued: int
    samples_issued: int
    scheduled_ns: Int64s  # absolute scheduled time per issued query
    issued_ns: Int64s  # absolute issue time per issued query
    done_ns: Int64s  # absolute completion time per issued sample (0: never completed)
    first_token_ns: Int64s | None
    n_tokens: Int64s | None
    ran_out_of_generated_queries: bool
    messages: Messages = field(default_factory=list)  # (detail key, text) to log
    missing_ids: list[int] = field(default_factory=list)
    bad_ids: list[int] = field(default_factory=list)
    sut_exception: BaseException | None = None
    interrupted: bool = False
    final_scheduled_delta_ns: int = 0  # the generated offset of the last issued query (QueryMetadata)
    signum: int | None = None  # the signal that interrupted the pass (SIGINT for a plain Ctrl-C)
    duplicates: int = 0  # completions counted beyond the samples marked done: one sample completed twice
    unissued_ids: list[int] = field(default_factory=list)  # completed, but never issued
    flush_error: str | None = None  # flush_queries hung or raised


class IssuePass:
    """Issues `schedule` to the SUT under `settings`; the ledger's `complete*` record completions from any thread.

    The completers are the ledger's own bound methods (no call layer added): `complete_ids`,
    `complete_responses`, `responses_completer`, `first_tokens` and `fail`.
    """

    def __init__(self, settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
                 issue: IssueFn, *, accuracy_sink: AccuracySink | None = None,
                 log_mask: npt.NDArray[np.bool_] | None = None, first_token_sink: TokenSink | None = None,
                 issue_one: IssueOneFn | None = None, prepare: Prepare | None = None,
                 clock: Clock | None = None) -> None:
        self.settings, self.mode, self.schedule, self.base = settings, mode, schedule, seq_base
        self.ledger = ledger = CompletionLedger(
            seq_base, schedule.sample_index, tokens=settings.use_token_latencies, log_all=mode is Mode.ACCURACY,
            log_mask=log_mask, accuracy_sink=accuracy_sink, first_token_sink=first_token_sink)
        self.complete_ids, self.complete_responses = ledger.complete_ids, ledger.complete_responses
        self.responses_completer, self.first_tokens, self.fail = \
            ledger.responses_completer, ledger.first_tokens, ledger.fail
        # Issue and start times come from `clock` (the engine's, or a test's fake one); the bounds on the
        # waits stay on the real clock: they protect the operator's time, not a measurement.
        self._clock: Clock = EngineClock() if clock is None else clock
        # A single-sample query may skip building two one-element lists (SUT adapters offer this).
        self.loop = loop_for(settings, mode, schedule, seq_base, ledger, self._clock, issue,
                             issue_one or (lambda i, x: issue([i], [x])), prepare)
        self.issued = self.loop.issued
        self.start_ns = 0
        # How issuing ended when not normally (see `_cut_short`).
        self._signum: int | None = None  # the signal that stopped it
        self._stalled = False  # a query stalled or the SUT reported a failure while issuing
        self._exc: BaseException | None = None  # issue_query raised
        self._flush_error: str | None = None  # flush_queries hung or raised

    def progress(self) -> tuple[int, int, Int64s]:
        """(queries issued, samples completed, latencies in ns of the samples completed so far).

        For live progress from another thread: reads the flat arrays without touching the lock-free
        counters the issuing thread owns. O(samples) per call, so callers poll about once a second.
        """
        issued = np.frombuffer(self.issued, dtype=np.int64)
        n_q = int(np.count_nonzero(issued))
        done = np.frombuffer(self.ledger.done, dtype=np.int64)
        n_s = self._samples_before(n_q)
        finished = done[:n_s]
        ok = finished > 0
        if self.settings.scenario is Scenario.SERVER:
            origin = self.schedule.scheduled_ns[:n_q] + self.start_ns
        else:
            origin = issued[:n_q]
        spq = self.schedule.samples_per_query
        if self.schedule.query_offsets is None and n_q * spq == n_s:
            origin = np.repeat(origin, spq)
        else:
            origin = np.full(n_s, self.start_ns, dtype=np.int64)
        return n_q, int(ok.sum()), (finished[ok] - origin[ok])

    def completed(self) -> int:
        """Samples completed so far (called from the issuing thread)."""
        return self.ledger.completed()

    # ---- issuing (the calling thread) ---------------------------------------------------------

    def run(self, completion_timeout_s: float, flush: Callable[[], None] | None = None) -> PassOutcome:
        """Issue the schedule, flush the SUT, wait for the completions; return what was measured.

        `completion_timeout_s` bounds every wait of the pass: for one query (SingleStream/MultiStream),
        for `flush` (the SUT's flush_queries, called after the last issue as the official does), and
        for the completions still outstanding after it. A pass cut short (Ctrl-C/SIGTERM, a SUT that
        raised or reported `fail`, a stalled query, a hung flush) does not wait again.
        """
        messages: Messages = []
        self.loop.prepare()  # Offline: the SUT's argument, built before the clock starts
        start = self.start_ns = self._clock.now_ns()
        ran_out, n_q = self._issue_all(start, completion_timeout_s, messages)
        n_samples = self._samples_before(n_q)
        if flush is not None and not self._cut_short():
            self._flush(flush, completion_timeout_s, messages)
        missing = self._wait_all(n_samples, 0.0 if self._cut_short() else completion_timeout_s)
        exc = self._exc
        failure = self.ledger.failure
        if failure is not None:  # reported by the SUT, before or during the wait; explains an issue error
            exc = failure
            messages.append(("error_runtime", f"the SUT failed: {type(exc).__name__}: {exc}"))
        if missing:
            messages.append(("error_runtime", self._missing_text(missing, completion_timeout_s)))
        return self._outcome(start, n_q, n_samples, ran_out, messages, missing, exc)

    def _issue_all(self, start: int, timeout_s: float, messages: Messages) -> tuple[bool, int]:
        """Run the scenario's issue loop. How it ended, when not normally, is kept on self."""
        gc.freeze()  # existing objects leave the collector's view: no long gen-2 pauses while issuing
        try:
            with fine_timer_slack():
                return self.loop.run(start, timeout_s, messages)
        except Stalled as e:
            self._stalled = True
            messages.append(("error_runtime", str(e)))
        except Failed:
            self._stalled = True
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM raised as one (podium.core.signals)
            self._signum = signals.signum_of(e)
        except Exception as e:  # noqa: BLE001 - a SUT that raises ends the pass, with its logs
            self._exc = e
            if self.ledger.failure is None:
                messages.append(("error_runtime", f"IssueQuery raised {type(e).__name__}: {e}"))
        finally:
            gc.unfreeze()
        return False, self.loop.n_issued  # cut short: "ran out of generated queries" would be false

    def _cut_short(self) -> bool:
        """Issuing ended abnormally, or the SUT reported a failure: nothing more is waited for."""
        return (self._signum is not None or self._stalled or self._exc is not None
                or self.ledger.failure is not None or self._flush_error is not None)

    def _flush(self, flush: Callable[[], None], timeout_s: float, messages: Messages) -> None:
        """flush_queries in a helper thread, waited for at most `timeout_s`: a SUT stuck in it cannot hang the run."""
        raised: list[BaseException] = []

        def call() -> None:
            try:
                flush()
            except BaseException as e:  # noqa: BLE001 - reported as the pass's failure
                raised.append(e)

        helper = threading.Thread(target=call, name="podium-flush-queries", daemon=True)
        helper.start()
        try:
            helper.join(timeout_s)
        except KeyboardInterrupt as e:
            self._signum = signals.signum_of(e)
            return
        if helper.is_alive():
            self._flush_error = f"flush_queries did not return within {timeout_s:g} s"
        elif raised:
            self._flush_error = f"flush_queries raised {type(raised[0]).__name__}: {raised[0]}"
        if self._flush_error is not None:
            messages.append(("error_runtime", self._flush_error))

    def _wait_all(self, n_samples: int, timeout_s: float) -> list[int]:
        """Wait for the first `n_samples` samples, at most `timeout_s`; the positions still missing.

        A Ctrl-C ends the wait (recorded in `_signum`).
        """
        try:
            self.ledger.wait_all(n_samples, timeout_s)
        except KeyboardInterrupt as e:
            self._signum = signals.signum_of(e)
        return self.ledger.missing(n_samples)

    def _missing_text(self, missing: list[int], timeout_s: float) -> str:
        shown = ", ".join(str(self.base + p) for p in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        why = ("were outstanding when the run was interrupted" if self._signum is not None
               else "were outstanding when the SUT failed" if self.ledger.failure is not None or self._exc is not None
               else "were outstanding when flush_queries failed" if self._flush_error is not None
               else f"never completed within {timeout_s:g} s")
        return f"{len(missing)} issued samples {why}: sample ids {shown}{more}"

    def _samples_before(self, q: int) -> int:
        sched = self.schedule
        if sched.query_offsets is None:
            return q * sched.samples_per_query
        return int(sched.query_offsets[q])

    def _outcome(self, start: int, n_q: int, n_samples: int, ran_out: bool, messages: Messages,
                 missing: list[int], exc: BaseException | None) -> PassOutcome:
        sched, ledger = self.schedule, self.ledger
        issued = np.frombuffer(self.issued, dtype=np.int64)[:n_q].copy()
        if self.settings.scenario is Scenario.SERVER:
            scheduled = sched.scheduled_ns[:n_q] + start
        elif self.settings.scenario is Scenario.OFFLINE:
            scheduled = np.full(n_q, start, dtype=np.int64)
        else:
            scheduled = issued.copy()  # SingleStream/MultiStream: scheduled when issued
        duplicates, unissued = ledger.audit(n_samples)

        def arr(a: array[int]) -> Int64s:
            return np.frombuffer(a, dtype=np.int64)[:n_samples].copy()

        return PassOutcome(start_ns=start, queries_issued=n_q, samples_issued=n_samples,
                           scheduled_ns=scheduled, issued_ns=issued, done_ns=arr(ledger.done),
                           first_token_ns=None if ledger.first_token is None else arr(ledger.first_token),
                           n_tokens=None if ledger.n_tokens is None else arr(ledger.n_tokens),
                           ran_out_of_generated_queries=ran_out, messages=messages,
                           missing_ids=[self.base + p for p in missing], bad_ids=list(ledger.bad_ids),
                           sut_exception=exc, interrupted=self._signum is not None,
                           final_scheduled_delta_ns=int(sched.scheduled_ns[n_q - 1]) if n_q else 0,
                           signum=self._signum, duplicates=duplicates, unissued_ids=unissued,
                           flush_error=self._flush_error)
