"""Issuing one pre-generated query schedule to a SUT and recording its completions (loadgen.cc IssueQueries).

One `IssuePass` is one official `IssueQueries` call: a loaded sample set, its schedule, the issue loop of
the scenario (issue_query_controller.cc IssueQueriesInternal + QueryScheduler) and the bookkeeping of
completions that may arrive from any thread. Everything per sample lives in flat integer arrays indexed
by the sample's position in the schedule (its id minus the pass's first sequence id): 8 bytes for the
issue time of each query and 8 for the completion time of each sample, on top of the schedule's 16.
Completions are recorded without locks; what that cannot see as it happens (one sample completed by
two threads at once, a sample completed before it was issued) is audited once after the pass.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue

import numpy as np

from podium.core import signals
from podium.core.errors import SUTError
from podium.loadgen.clock import Clock, fine_timer_slack, now_ns, wait_until
from podium.loadgen.schedule import QuerySchedule
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario

# How many queries' times are turned into Python ints at a time in the issue loops.
_CHUNK = 4096
_ZERO = (0,)
# From this many ids on, a completion is recorded with numpy rather than a Python loop.
_VECTOR_MIN = 64

IssueFn = Callable[[Sequence[int], list[int]], None]  # (sample ids, QSL indices)
# (sequence id, QSL index, response bytes, token count or None); token data: (seq id, bytes)
AccuracySink = Callable[[int, int, bytes, "int | None"], None]


@dataclass
class PassOutcome:
    """What one pass measured: raw times (absolute `now_ns`) and how the issuing ended."""

    start_ns: int
    queries_issued: int
    samples_issued: int
    scheduled_ns: np.ndarray  # absolute scheduled time per issued query
    issued_ns: np.ndarray  # absolute issue time per issued query
    done_ns: np.ndarray  # absolute completion time per issued sample (0: never completed)
    first_token_ns: np.ndarray | None
    n_tokens: np.ndarray | None
    ran_out_of_generated_queries: bool
    messages: list[tuple[str, str]] = field(default_factory=list)  # (detail key, text) to log
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
    """Issues `schedule` to the SUT under `settings`; `complete*` record completions from any thread."""

    def __init__(self, settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
                 issue: IssueFn, *, accuracy_sink: AccuracySink | None = None,
                 log_mask: np.ndarray | None = None, first_token_sink: Callable | None = None,
                 issue_one: Callable[[int, int], None] | None = None,
                 prepare: tuple[Callable, Callable] | None = None, clock: Clock | None = None) -> None:
        self.settings, self.mode, self.schedule, self.base = settings, mode, schedule, seq_base
        # Issue and start times come from `clock` (the engine's, or a test's fake one); the bounds on the
        # waits stay on the real clock: they protect the operator's time, not a measurement.
        self._now, self._wait_until = (now_ns, wait_until) if clock is None else (clock.now_ns, clock.wait_until)
        self._issue = issue
        # A single-sample query may skip building two one-element lists (SUT adapters offer this).
        self._issue_one = issue_one or (lambda i, x: issue([i], [x]))
        # Offline queries are turned into the SUT's argument before the clock starts.
        self._prepare, self._issue_prepared = prepare or (lambda ids, idx: (ids, idx), lambda a: issue(*a))
        self._prepared: list = []
        n = len(schedule.sample_index)
        self.n_samples = n
        self.done = array("q", _ZERO) * n
        self.issued = array("q", _ZERO) * schedule.query_count
        tokens = settings.use_token_latencies
        self.first_token = array("q", _ZERO) * n if tokens else None
        self.n_tokens = array("q", _ZERO) * n if tokens else None
        self._qsl_index = schedule.sample_index
        # Which responses are copied to the accuracy log: all in accuracy mode, a sampled mask in
        # performance mode (TEST01-style audits), none otherwise.
        self._log_all = mode is Mode.ACCURACY
        self._log_mask = None if self._log_all else log_mask
        self._sink = accuracy_sink
        self._token_sink = first_token_sink
        self._logging = accuracy_sink is not None and (self._log_all or self._log_mask is not None)
        # Completions are counted without a lock (a lock costs more than the rest of a completion):
        # each call appends its count to a deque (atomic), the issuing thread sums it when it needs to.
        self._counts: deque[int] = deque()
        self._completed = 0
        # SingleStream/MultiStream: the issuing thread waits for its one outstanding query; a
        # completion from another thread wakes it through this queue when it is waiting.
        self._waiting = False
        self._wake: SimpleQueue[int] = SimpleQueue()
        self.bad_ids: list[int] = []
        # A failure the SUT reported from any thread (`fail`): ends the waits and fails the pass.
        self.failure: BaseException | None = None
        # How issuing ended when not normally (see `_cut_short`).
        self._signum: int | None = None  # the signal that stopped it
        self._stalled = False  # a query stalled or the SUT reported a failure while issuing
        self._exc: BaseException | None = None  # issue_query raised
        self._flush_error: str | None = None  # flush_queries hung or raised

    # ---- completions (any thread) -------------------------------------------------------------

    def complete_responses(self, t: int, responses: Sequence, response_cb: Callable | None = None) -> None:
        """Record `responses` (objects with .id, .data address, .size[, .n_tokens]) completed at `t`."""
        good = None
        if len(responses) > _VECTOR_MIN:
            good = self._complete_many(t, [r.id for r in responses])
        if good is None:
            done, base, n = self.done, self.base, self.n_samples
            good = 0
            for r in responses:
                p = r.id - base
                if not 0 <= p < n or done[p]:
                    self.bad_ids.append(r.id)
                    continue
                done[p] = t
                good += 1
        self._counts.append(good)
        if self._waiting:
            self._wake.put(1)
        if self.n_tokens is not None:
            self._record_tokens([(r.id, r.n_tokens) for r in responses])
        if self._logging:
            self._log_responses(responses, response_cb)
        if good < len(responses):  # this call's own bad ids: a good completion elsewhere never raises
            self._raise_bad(len(responses) - good)

    def responses_completer(self) -> Callable[[int, Sequence, Callable | None], None]:
        """`complete_responses`, with a shortcut for the commonest call: one response, nothing to log.

        Everything the shortcut needs is bound once per pass, so a Server completion costs a few
        attribute-free operations (this is the hottest path of a Python SUT's completion).
        """
        if self.n_tokens is not None or self._logging:
            return self.complete_responses
        done, base, n, append, slow = self.done, self.base, self.n_samples, self._counts.append, \
            self.complete_responses

        def complete(t: int, responses: Sequence, response_cb: Callable | None = None) -> None:
            if len(responses) == 1:
                p = responses[0].id - base
                if 0 <= p < n and not done[p]:
                    done[p] = t
                    append(1)
                    if self._waiting:
                        self._wake.put(1)
                    return
            slow(t, responses, response_cb)

        return complete

    def complete_ids(self, t: int, ids: Sequence[int], data: Sequence[bytes] | None = None,
                     n_tokens: Sequence[int] | None = None) -> None:
        """Native completion: sequence ids, optional response bytes and token counts, in parallel."""
        good = self._complete_many(t, ids) if len(ids) > _VECTOR_MIN else None
        if good is None:
            good = self._complete_each(t, ids)
        self._counts.append(good)
        if self._waiting:
            self._wake.put(1)
        if n_tokens is not None and self.n_tokens is not None:
            self._record_tokens(zip(ids, n_tokens))
        if self._logging:
            empty = [b""] * len(ids) if data is None else data
            toks = [0] * len(ids) if n_tokens is None else n_tokens
            self._log_responses([_Resp(i, d, k) for i, d, k in zip(ids, empty, toks)], None)
        if good < len(ids):
            self._raise_bad(len(ids) - good)

    def _complete_each(self, t: int, ids: Sequence[int]) -> int:
        done, base, n = self.done, self.base, self.n_samples
        good = 0
        for i in ids:
            p = i - base
            if not 0 <= p < n or done[p]:
                self.bad_ids.append(i)
                continue
            done[p] = t
            good += 1
        return good

    def _complete_many(self, t: int, ids: Sequence[int]) -> int | None:
        """A large batch (an Offline query) in one vectorised write; None if any id is bad."""
        done = np.frombuffer(self.done, dtype=np.int64)  # a view: writes land in self.done
        if type(ids) is range and ids.step == 1:
            pos: np.ndarray | slice = slice(ids.start - self.base, ids.stop - self.base)
            ok = 0 <= pos.start <= pos.stop <= self.n_samples
        else:
            pos = np.asarray(ids, dtype=np.int64) - self.base
            ok = pos.size == 0 or (pos.min() >= 0 and pos.max() < self.n_samples
                                   and np.unique(pos).size == pos.size)
        if not ok or done[pos].any():
            return None  # the element-wise path names the bad ids
        done[pos] = t
        return len(ids)

    def first_tokens(self, t: int, responses: Sequence, response_cb: Callable | None = None) -> None:
        """FirstTokenComplete: record the first-token time of each response (token latency mode)."""
        ft, base, n = self.first_token, self.base, self.n_samples
        if ft is None:
            return
        for r in responses:
            p = r.id - base
            if 0 <= p < n and not ft[p]:
                ft[p] = t
                if self._logging and (self._log_all or self._log_mask[p]):
                    if response_cb is not None:
                        response_cb(r)
                    self._token_sink(r.id, _read(r))

    def _record_tokens(self, pairs) -> None:
        nt, base, n = self.n_tokens, self.base, self.n_samples
        for i, k in pairs:
            if 0 <= i - base < n:
                nt[i - base] = k

    def _log_responses(self, responses: Sequence, response_cb: Callable | None) -> None:
        base, n, mask, tokens = self.base, self.n_samples, self._log_mask, self.n_tokens is not None
        for r in responses:
            p = r.id - base
            if not 0 <= p < n or not (self._log_all or mask[p]):
                continue
            if response_cb is not None:
                response_cb(r)  # lets the SUT copy device data to the host late (official semantics)
            self._sink(r.id, int(self._qsl_index[p]), _read(r), int(r.n_tokens) if tokens else None)

    def _raise_bad(self, count: int) -> None:
        ids = ", ".join(str(i) for i in self.bad_ids[-min(count, 10):])  # this call's (the latest)
        raise SUTError(f"completion with an unknown or repeated sample id: {ids}")

    def fail(self, error: BaseException) -> None:
        """The SUT reports that samples will never complete (e.g. its backend raised): stop waiting.

        Any thread may call it; the first failure wins. The issuing thread notices it in its waits
        (SingleStream/MultiStream per query, Server before each sleep to the next arrival, every
        scenario in the final wait), so a failure ends the pass at once.
        """
        if self.failure is None:
            self.failure = error
        self._wake.put(1)

    def progress(self) -> tuple[int, int, np.ndarray]:
        """(queries issued, samples completed, latencies in ns of the samples completed so far).

        For live progress from another thread: reads the flat arrays without touching the lock-free
        counters the issuing thread owns. O(samples) per call, so callers poll about once a second.
        """
        issued = np.frombuffer(self.issued, dtype=np.int64)
        n_q = int(np.count_nonzero(issued))
        done = np.frombuffer(self.done, dtype=np.int64)
        n_s = self._samples_before(n_q)
        finished = done[:n_s]
        ok = finished > 0
        if self.settings.scenario is Scenario.SERVER:
            origin = self.schedule.scheduled_ns[:n_q] + getattr(self, "start_ns", 0)
        else:
            origin = issued[:n_q]
        spq = self.schedule.samples_per_query
        if self.schedule.query_offsets is None and n_q * spq == n_s:
            origin = np.repeat(origin, spq)
        else:
            origin = np.full(n_s, getattr(self, "start_ns", 0), dtype=np.int64)
        return n_q, int(ok.sum()), (finished[ok] - origin[ok])

    def completed(self) -> int:
        """Samples completed so far (called from the issuing thread)."""
        counts = self._counts
        total = self._completed
        while counts:
            total += counts.popleft()
        self._completed = total
        return total

    # ---- issuing (the calling thread) ---------------------------------------------------------

    def run(self, completion_timeout_s: float, flush: Callable[[], None] | None = None) -> PassOutcome:
        """Issue the schedule, flush the SUT, wait for the completions; return what was measured.

        `completion_timeout_s` bounds every wait of the pass: for one query (SingleStream/MultiStream),
        for `flush` (the SUT's flush_queries, called after the last issue as the official does), and
        for the completions still outstanding after it. A pass cut short (Ctrl-C/SIGTERM, a SUT that
        raised or reported `fail`, a stalled query, a hung flush) does not wait again.
        """
        s = self.settings
        loop = {Scenario.SERVER: self._issue_server, Scenario.OFFLINE: self._issue_offline}.get(
            s.scenario, self._issue_streams)
        messages: list[tuple[str, str]] = []
        if s.scenario is Scenario.OFFLINE:
            self._prepared = [self._prepare(*self._query_ids(q)) for q in range(self.schedule.query_count)]
        start = self._now()
        self.start_ns, self._query_timeout_s = start, completion_timeout_s
        ran_out, n_q = self._issue_all(loop, start, messages)
        n_samples = self._samples_before(n_q)
        if flush is not None and not self._cut_short():
            self._flush(flush, completion_timeout_s, messages)
        missing = self._wait_all(n_samples, 0.0 if self._cut_short() else completion_timeout_s)
        exc = self._exc
        if self.failure is not None:  # reported by the SUT, before or during the wait; explains an issue error
            exc = self.failure
            messages.append(("error_runtime", f"the SUT failed: {type(exc).__name__}: {exc}"))
        if missing:
            messages.append(("error_runtime", self._missing_text(missing, completion_timeout_s)))
        return self._outcome(start, n_q, n_samples, ran_out, messages, missing, exc)

    def _issue_all(self, loop: Callable, start: int, messages: list) -> tuple[bool, int]:
        """Run the scenario's issue loop. How it ended, when not normally, is kept on self."""
        gc.freeze()  # existing objects leave the collector's view: no long gen-2 pauses while issuing
        try:
            with fine_timer_slack():
                return loop(start, messages)
        except _Stalled as e:
            self._stalled = True
            messages.append(("error_runtime", str(e)))
        except _Failed:
            self._stalled = True
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM raised as one (podium.core.signals)
            self._signum = signals.signum_of(e)
        except Exception as e:  # noqa: BLE001 - a SUT that raises ends the pass, with its logs
            self._exc = e
            if self.failure is None:
                messages.append(("error_runtime", f"IssueQuery raised {type(e).__name__}: {e}"))
        finally:
            gc.unfreeze()
        return False, self._n_issued  # cut short: "ran out of generated queries" would be false

    def _cut_short(self) -> bool:
        """Issuing ended abnormally, or the SUT reported a failure: nothing more is waited for."""
        return (self._signum is not None or self._stalled or self._exc is not None
                or self.failure is not None or self._flush_error is not None)

    def _flush(self, flush: Callable[[], None], timeout_s: float, messages: list) -> None:
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

    def _missing_text(self, missing: list[int], timeout_s: float) -> str:
        shown = ", ".join(str(self.base + p) for p in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        why = ("were outstanding when the run was interrupted" if self._signum is not None
               else "were outstanding when the SUT failed" if self.failure is not None or self._exc is not None
               else "were outstanding when flush_queries failed" if self._flush_error is not None
               else f"never completed within {timeout_s:g} s")
        return f"{len(missing)} issued samples {why}: sample ids {shown}{more}"

    def _samples_before(self, q: int) -> int:
        sched = self.schedule
        if sched.query_offsets is None:
            return q * sched.samples_per_query
        return int(sched.query_offsets[q])

    def _wait_all(self, n_samples: int, timeout_s: float) -> list[int]:
        """Wait until the first `n_samples` samples completed, at most `timeout_s`; the positions still missing.

        Polls the lock-free count: completion times are taken by the completing thread, so when this
        thread notices does not change any measurement. The count can run ahead of the samples (one
        sample completed twice), so the samples themselves are checked once it says all are in.
        A Ctrl-C ends the wait (recorded in `_signum`).
        """
        deadline = now_ns() + int(timeout_s * 1e9)
        done = np.frombuffer(self.done, dtype=np.int64)[:n_samples]
        pause = 20e-6
        try:
            while self.failure is None:
                if self.completed() >= n_samples and done.all():
                    return []
                if now_ns() >= deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.005)
        except KeyboardInterrupt as e:
            self._signum = signals.signum_of(e)
        return np.flatnonzero(done == 0).tolist()

    def _audit(self, n_samples: int) -> tuple[int, list[int]]:
        """After the pass, off the hot path: completions counted twice, and completions of samples never issued.

        The completers check-then-set `done[p]` without a lock, so two threads completing the same
        sample at once can both pass the check: both are counted, one time is kept. Counted minus
        marked is that excess. The count is read before the marks, so a completion landing in between
        can only hide an excess, never invent one.
        """
        counted = self.completed()
        done = np.frombuffer(self.done, dtype=np.int64)
        marked = int(np.count_nonzero(done))
        unissued = (np.flatnonzero(done[n_samples:]) + n_samples + self.base).tolist()
        return max(0, counted - marked), unissued

    def _outcome(self, start, n_q, n_samples, ran_out, messages, missing, exc) -> PassOutcome:
        sched = self.schedule
        issued = np.frombuffer(self.issued, dtype=np.int64)[:n_q].copy()
        if self.settings.scenario is Scenario.SERVER:
            scheduled = sched.scheduled_ns[:n_q] + start
        elif self.settings.scenario is Scenario.OFFLINE:
            scheduled = np.full(n_q, start, dtype=np.int64)
        else:
            scheduled = issued.copy()  # SingleStream/MultiStream: scheduled when issued
        duplicates, unissued = self._audit(n_samples)

        def arr(a: array | None) -> np.ndarray | None:
            return None if a is None else np.frombuffer(a, dtype=np.int64)[:n_samples].copy()

        return PassOutcome(start_ns=start, queries_issued=n_q, samples_issued=n_samples,
                           scheduled_ns=scheduled, issued_ns=issued, done_ns=arr(self.done),
                           first_token_ns=arr(self.first_token), n_tokens=arr(self.n_tokens),
                           ran_out_of_generated_queries=ran_out, messages=messages,
                           missing_ids=[self.base + p for p in missing], bad_ids=list(self.bad_ids),
                           sut_exception=exc, interrupted=self._signum is not None,
                           final_scheduled_delta_ns=int(sched.scheduled_ns[n_q - 1]) if n_q else 0,
                           signum=self._signum, duplicates=duplicates, unissued_ids=unissued,
                           flush_error=self._flush_error)

    _n_issued = 0

    def _query_ids(self, q: int) -> tuple[range, list[int]]:
        """A query's sample ids (consecutive: a range, O(1) memory) and QSL indices."""
        b, e = self.schedule.query_slice(q)
        return range(self.base + b, self.base + e), self._qsl_index[b:e].tolist()

    def _issue_streams(self, start: int, messages: list) -> tuple[bool, int]:
        """SingleStream/MultiStream: issue a query when the previous one completed (QueryScheduler).

        The end conditions are checked after each issue, as IssueQueriesInternal does; the cheap
        comparison runs inline and the bookkeeping only when one of them may hold.
        """
        s, sched = self.settings, self.schedule
        perf = self.mode is not Mode.ACCURACY
        spq, n = sched.samples_per_query, sched.query_count
        min_q, target_ns = s.min_query_count, s.target_duration_ms * 1_000_000
        limits = bool(s.max_query_count or s.max_duration_ms)
        issue, issue_one, issued, base, done = self._issue, self._issue_one, self.issued, self.base, self.done
        now = self._now
        q = 0
        try:
            for c0 in range(0, n, _CHUNK):
                indices = self._qsl_index[c0 * spq:(c0 + _CHUNK) * spq].tolist()
                for k in range(min(_CHUNK, n - c0)):
                    b = q * spq
                    if q and (not done[b - 1] if spq == 1 else 0 in done[b - spq:b]):
                        self._wait_query(b - spq, b, q)
                    t = now()
                    issued[q] = t
                    q += 1
                    if spq == 1:
                        issue_one(base + b, indices[k])
                    else:
                        issue(range(base + b, base + b + spq), indices[k * spq:(k + 1) * spq])
                    if perf and ((q >= min_q and t - start >= target_ns) or limits):
                        stop = self._end_check(q, t - start, min_q, target_ns, messages)
                        if stop is not None:
                            return stop, q
        finally:
            self._n_issued = q
        return True, n

    def _wait_query(self, b: int, e: int, q: int) -> None:
        """Block until samples [b, e) completed; a completion from another thread wakes us."""
        done, wake = self.done, self._wake
        deadline = now_ns() + int(self._query_timeout_s * 1e9)
        self._waiting = True
        try:
            while 0 in done[b:e]:
                remaining = (deadline - now_ns()) / 1e9
                if self.failure is not None:
                    raise _Failed(self.failure)
                if remaining <= 0:
                    raise _Stalled(q)
                try:
                    wake.get(timeout=min(remaining, 0.1))
                except Empty:
                    pass
        finally:
            self._waiting = False

    _query_timeout_s = 1e9

    def _end_check(self, n_issued: int, elapsed_ns: int, min_q: int, target_ns: int,
                   messages: list) -> bool | None:
        """The per-query end conditions of IssueQueriesInternal (non-Server); None: keep going."""
        if n_issued >= min_q and elapsed_ns >= target_ns:
            messages.append(("generic_message", "Ending naturally: Minimum query count and test duration met."))
            return False
        return self._max_checks(n_issued, elapsed_ns, messages)

    def _max_checks(self, n_issued: int, elapsed_ns: int, messages: list) -> bool | None:
        s = self.settings
        if s.max_query_count and n_issued >= s.max_query_count:
            messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Max query count reached. "
                             f"query_count {n_issued}"))
            return False
        if s.max_duration_ms and elapsed_ns > s.max_duration_ms * 1_000_000:
            messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Max test duration reached. "
                             f"duration_ns {elapsed_ns}"))
            return False
        return None

    def _issue_offline(self, start: int, messages: list) -> tuple[bool, int]:
        """Offline: every query at the start (one in performance mode, a remainder in accuracy mode).

        The SUT's argument (e.g. the list of QuerySample objects the drop-in API hands over) is built
        with the rest of the pre-generated schedule, before the clock starts (see `run`).
        """
        for q, prepared in enumerate(self._prepared):
            self.issued[q] = self._now()
            self._n_issued = q + 1
            self._issue_prepared(prepared)
            if self.mode is not Mode.ACCURACY:
                messages.append(("generic_message",
                                 "Ending naturally: Minimum query count and test duration met."))
                return False, q + 1
        return True, len(self._prepared)

    def _issue_server(self, start: int, messages: list) -> tuple[bool, int]:
        """Server: issue each query at start + its scheduled offset; never wait for completions."""
        s, sched = self.settings, self.schedule
        perf = self.mode is not Mode.ACCURACY
        if s.requested.server_coalesce_queries:
            return self._issue_server_coalesced(start, messages, perf)
        checks = perf and bool(s.max_async_queries or s.max_query_count or s.max_duration_ms)
        issue_one, now, wait = self._issue_one, self._now, self._wait_until
        issued, q, base = self.issued, 0, self.base
        try:
            for c0 in range(0, sched.query_count, _CHUNK):
                self._raise_if_failed()
                deadlines = (sched.scheduled_ns[c0:c0 + _CHUNK] + start).tolist()
                indices = self._qsl_index[c0:c0 + _CHUNK].tolist()
                for deadline, index, i in zip(deadlines, indices, range(base + c0, base + c0 + _CHUNK)):
                    t = now()
                    if t < deadline:
                        # A failure the SUT reported ends issuing; checked only when there is time to
                        # spare (and per chunk above), so a saturated loop pays nothing for it.
                        self._raise_if_failed()
                        t = wait(deadline)
                    issued[q] = t
                    q += 1
                    issue_one(i, index)
                    if checks and self._server_checks(q, t - start, messages):
                        return False, q
        finally:
            self._n_issued = q
        return False, q

    def _raise_if_failed(self) -> None:
        if self.failure is not None:
            raise _Failed(self.failure)

    def _server_checks(self, q: int, elapsed_ns: int, messages: list) -> bool:
        s = self.settings
        if s.max_async_queries:
            outstanding = q - self.completed()
            if outstanding > s.max_async_queries:
                messages.append(("error_runtime", "IssueQueryThread 0 Ending early: Too many outstanding "
                                 f"queries. issued {q} outstanding {outstanding}"))
                return True
        return self._max_checks(q, elapsed_ns, messages) is not None

    def _issue_server_coalesced(self, start: int, messages: list, perf: bool) -> tuple[bool, int]:
        """server_coalesce_queries: overdue queries go out in one IssueQuery, each keeping its schedule."""
        sched = self.schedule
        deadlines = sched.scheduled_ns + start
        n, q, issued, base = sched.query_count, 0, self.issued, self.base
        now, wait = self._now, self._wait_until
        while q < n:
            t = now()
            self._raise_if_failed()
            if t < deadlines[q]:
                t = wait(int(deadlines[q]))
            last = int(np.searchsorted(deadlines, t, side="right"))  # every query due by now
            last = max(last, q + 1)
            for k in range(q, last):
                issued[k] = t
            ids = list(range(base + q, base + last))
            idx = self._qsl_index[q:last].tolist()
            q = last
            self._n_issued = q
            self._issue(ids, idx)
            if perf and self._server_checks(q, t - start, messages):
                return False, q
        return False, n


class _Stalled(Exception):
    """A SingleStream/MultiStream query did not complete within the allowed wait."""

    def __init__(self, q: int) -> None:
        super().__init__(f"query {q - 1} did not complete; issuing stopped")


class _Failed(Exception):
    """The SUT reported a failure (`IssuePass.fail`) while the issuing thread waited for a query."""


class _Resp:
    """A native completion seen as a compat response, for the accuracy log."""

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(self, i: int, data, n_tokens: int) -> None:
        self.id, self.data, self.size, self.n_tokens = i, data, len(data), n_tokens


def _read(r) -> bytes:
    """The response bytes at r.data (an address, as the official API takes) — read only when logged."""
    size = int(r.size)
    if not size:
        return b""
    data = r.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:size])
    return ctypes.string_at(data, size)
