"""Issuing one pre-generated query schedule to a SUT and recording its completions (loadgen.cc IssueQueries).

One `IssuePass` is one official `IssueQueries` call: a loaded sample set, its schedule, the issue loop of
the scenario (issue_query_controller.cc IssueQueriesInternal + QueryScheduler) and the bookkeeping of
completions that may arrive from any thread. Everything per sample lives in flat integer arrays indexed
by the sample's position in the schedule (its id minus the pass's first sequence id): 8 bytes for the
issue time of each query and 8 for the completion time of each sample, on top of the schedule's 16.
"""

from __future__ import annotations

import ctypes
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from podium.core.errors import SUTError
from podium.loadgen.clock import fine_timer_slack, now_ns, wait_until
from podium.loadgen.schedule import QuerySchedule
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario

# How many queries' times are turned into Python ints at a time in the issue loops.
_CHUNK = 4096

IssueFn = Callable[[list[int], list[int]], None]
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


class IssuePass:
    """Issues `schedule` to the SUT under `settings`; `complete*` record completions from any thread."""

    def __init__(self, settings: EffectiveSettings, mode: Mode, schedule: QuerySchedule, seq_base: int,
                 issue: IssueFn, *, accuracy_sink: AccuracySink | None = None,
                 log_mask: np.ndarray | None = None, first_token_sink: Callable | None = None) -> None:
        self.settings, self.mode, self.schedule, self.base = settings, mode, schedule, seq_base
        self._issue = issue
        n = len(schedule.sample_index)
        self.n_samples = n
        self.done = array("q", bytes(8 * n))
        self.issued = array("q", bytes(8 * schedule.query_count))
        tokens = settings.use_token_latencies
        self.first_token = array("q", bytes(8 * n)) if tokens else None
        self.n_tokens = array("q", bytes(8 * n)) if tokens else None
        self._qsl_index = schedule.sample_index
        # Which responses are copied to the accuracy log: all in accuracy mode, a sampled mask in
        # performance mode (TEST01-style audits), none otherwise.
        self._log_all = mode is Mode.ACCURACY
        self._log_mask = None if self._log_all else log_mask
        self._sink = accuracy_sink
        self._token_sink = first_token_sink
        self._lock = threading.Lock()
        self._completed = 0
        self._target = 1 << 62  # samples to wait for; known once issuing ends
        self._all_done = threading.Event()
        # SingleStream/MultiStream: one query outstanding; its last completion releases this lock.
        self._per_query = settings.scenario in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM)
        self._query_done = threading.Lock()
        self._remaining = 0
        self.bad_ids: list[int] = []
        self._stop = False

    # ---- completions (any thread) -------------------------------------------------------------

    def complete_responses(self, t: int, responses: Sequence, response_cb: Callable | None = None) -> None:
        """Record `responses` (objects with .id, .data address, .size[, .n_tokens]) completed at `t`."""
        done, base, n = self.done, self.base, self.n_samples
        logged = None
        mask = self._log_mask
        log_all = self._log_all
        bad = 0
        with self._lock:
            for r in responses:
                p = r.id - base
                if not 0 <= p < n or done[p]:
                    self.bad_ids.append(r.id)
                    bad += 1
                    continue
                done[p] = t
                if log_all or (mask is not None and mask[p]):
                    if logged is None:
                        logged = []
                    logged.append((p, r))
            self._count(len(responses) - bad)
        if self.n_tokens is not None:
            nt = self.n_tokens
            for r in responses:
                p = r.id - base
                if 0 <= p < n:
                    nt[p] = r.n_tokens
        if logged is not None:
            self._log_responses(logged, response_cb)
        if self.bad_ids:
            self._raise_bad()

    def complete_ids(self, t: int, ids: Sequence[int], data: Sequence[bytes] | None = None,
                     n_tokens: Sequence[int] | None = None) -> None:
        """Native completion: sequence ids, optional response bytes and token counts, in parallel."""
        done, base, n = self.done, self.base, self.n_samples
        bad = 0
        with self._lock:
            for i in ids:
                p = i - base
                if not 0 <= p < n or done[p]:
                    self.bad_ids.append(i)
                    bad += 1
                    continue
                done[p] = t
            self._count(len(ids) - bad)
        if n_tokens is not None and self.n_tokens is not None:
            for i, k in zip(ids, n_tokens):
                if 0 <= i - base < n:
                    self.n_tokens[i - base] = k
        if self._sink is not None and (self._log_all or self._log_mask is not None):
            mask = self._log_mask
            for k, i in enumerate(ids):
                p = i - base
                if 0 <= p < n and (self._log_all or mask[p]):
                    tok = n_tokens[k] if n_tokens is not None else None
                    self._sink(i, int(self._qsl_index[p]), bytes(data[k]) if data is not None else b"", tok)
        if self.bad_ids:
            self._raise_bad()

    def first_tokens(self, t: int, responses: Sequence, response_cb: Callable | None = None) -> None:
        """FirstTokenComplete: record the first-token time of each response (token latency mode)."""
        ft, base, n = self.first_token, self.base, self.n_samples
        if ft is None:
            return
        for r in responses:
            p = r.id - base
            if 0 <= p < n and not ft[p]:
                ft[p] = t
                if self._token_sink is not None and (self._log_all or (self._log_mask is not None
                                                                       and self._log_mask[p])):
                    self._token_sink(r.id, _read(r))

    def _count(self, k: int) -> None:
        # Called with self._lock held.
        self._completed += k
        if self._per_query:
            self._remaining -= k
            if self._remaining == 0:
                self._query_done.release()
        if self._completed >= self._target:
            self._all_done.set()

    def _log_responses(self, logged: list, response_cb: Callable | None) -> None:
        if self._sink is None:
            return
        for p, r in logged:
            if response_cb is not None:
                response_cb(r)  # lets the SUT copy device data to the host late (official semantics)
            self._sink(self.base + p, int(self._qsl_index[p]), _read(r), getattr(r, "n_tokens", None)
                       if self.n_tokens is not None else None)

    def _raise_bad(self) -> None:
        ids = ", ".join(str(i) for i in self.bad_ids[:10])
        raise SUTError(f"completion with an unknown or repeated sample id: {ids}")

    # ---- issuing (the calling thread) ---------------------------------------------------------

    def run(self, completion_timeout_s: float) -> PassOutcome:
        """Issue the schedule, wait (bounded) for the completions, return what was measured."""
        s = self.settings
        loop = {Scenario.SERVER: self._issue_server, Scenario.OFFLINE: self._issue_offline}.get(
            s.scenario, self._issue_streams)
        messages: list[tuple[str, str]] = []
        exc: BaseException | None = None
        interrupted = False
        start = now_ns()
        self.start_ns = start
        self._query_timeout_s = completion_timeout_s
        ran_out, n_q = True, 0
        with fine_timer_slack():
            try:
                ran_out, n_q = loop(start, messages)
            except _Stalled as e:
                n_q = self._n_issued
                messages.append(("error_runtime", str(e)))
            except KeyboardInterrupt:
                interrupted, n_q = True, self._n_issued
            except Exception as e:  # noqa: BLE001 - a SUT that raises ends the pass, with its logs
                exc, n_q = e, self._n_issued
                messages.append(("error_runtime", f"IssueQuery raised {type(e).__name__}: {e}"))
        n_samples = self._samples_before(n_q)
        missing = self._wait_all(n_samples, 0.0 if exc and n_samples == 0 else completion_timeout_s)
        if missing:
            shown = ", ".join(str(self.base + p) for p in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            messages.append(("error_runtime", f"{len(missing)} issued samples never completed within "
                             f"{completion_timeout_s:g} s: sample ids {shown}{more}"))
        return self._outcome(start, n_q, n_samples, ran_out, messages, missing, exc, interrupted)

    def _samples_before(self, q: int) -> int:
        sched = self.schedule
        if sched.query_offsets is None:
            return q * sched.samples_per_query
        return int(sched.query_offsets[q])

    def _wait_all(self, n_samples: int, timeout_s: float) -> list[int]:
        with self._lock:
            self._target = n_samples
            if self._completed >= n_samples:
                self._all_done.set()
        try:
            self._all_done.wait(timeout_s)
        except KeyboardInterrupt:
            pass
        done = np.frombuffer(self.done, dtype=np.int64)[:n_samples]
        return np.flatnonzero(done == 0).tolist() if not self._all_done.is_set() else []

    def _outcome(self, start, n_q, n_samples, ran_out, messages, missing, exc, interrupted) -> PassOutcome:
        sched = self.schedule
        issued = np.frombuffer(self.issued, dtype=np.int64)[:n_q].copy()
        if self.settings.scenario is Scenario.SERVER:
            scheduled = sched.scheduled_ns[:n_q] + start
        elif self.settings.scenario is Scenario.OFFLINE:
            scheduled = np.full(n_q, start, dtype=np.int64)
        else:
            scheduled = issued.copy()  # SingleStream/MultiStream: scheduled when issued
        arr = lambda a: None if a is None else np.frombuffer(a, dtype=np.int64)[:n_samples].copy()
        return PassOutcome(start_ns=start, queries_issued=n_q, samples_issued=n_samples,
                           scheduled_ns=scheduled, issued_ns=issued, done_ns=arr(self.done),
                           first_token_ns=arr(self.first_token), n_tokens=arr(self.n_tokens),
                           ran_out_of_generated_queries=ran_out, messages=messages,
                           missing_ids=[self.base + p for p in missing], bad_ids=list(self.bad_ids),
                           sut_exception=exc, interrupted=interrupted,
                           final_scheduled_delta_ns=int(sched.scheduled_ns[n_q - 1]) if n_q else 0)

    _n_issued = 0

    def _query_ids(self, q: int) -> tuple[list[int], list[int]]:
        b, e = self.schedule.query_slice(q)
        return list(range(self.base + b, self.base + e)), self._qsl_index[b:e].tolist()

    def _issue_streams(self, start: int, messages: list) -> tuple[bool, int]:
        """SingleStream/MultiStream: issue a query when the previous one completed (QueryScheduler)."""
        s, sched = self.settings, self.schedule
        perf = self.mode is not Mode.ACCURACY
        spq, n = sched.samples_per_query, sched.query_count
        min_q, target_ns = s.min_query_count, s.target_duration_ms * 1_000_000
        issue, issued, base, qd = self._issue, self.issued, self.base, self._query_done
        index = self._qsl_index
        qd.acquire()
        for q in range(n):
            if q and not qd.acquire(timeout=self._query_timeout_s):
                raise _Stalled(q)
            b = q * spq
            ids, idx = list(range(base + b, base + b + spq)), index[b:b + spq].tolist()
            self._remaining = spq
            t = now_ns()
            issued[q] = t
            self._n_issued = q + 1
            issue(ids, idx)
            if perf:
                stop = self._end_check(q + 1, t - start, min_q, target_ns, messages)
                if stop is not None:
                    return stop, q + 1
        return True, n

    _query_timeout_s = 1e9

    def _end_check(self, n_issued: int, elapsed_ns: int, min_q: int, target_ns: int,
                   messages: list) -> bool | None:
        """The per-query end conditions of IssueQueriesInternal (non-Server); None: keep going."""
        s = self.settings
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
        """Offline: every query at the start (one in performance mode, a remainder in accuracy mode)."""
        n = self.schedule.query_count
        for q in range(n):
            ids, idx = self._query_ids(q)
            t = now_ns()
            self.issued[q] = t
            self._n_issued = q + 1
            self._issue(ids, idx)
            if self.mode is not Mode.ACCURACY:
                messages.append(("generic_message",
                                 "Ending naturally: Minimum query count and test duration met."))
                return False, q + 1
        return True, n

    def _issue_server(self, start: int, messages: list) -> tuple[bool, int]:
        """Server: issue each query at start + its scheduled offset; never wait for completions."""
        s, sched = self.settings, self.schedule
        perf = self.mode is not Mode.ACCURACY
        checks = perf and bool(s.max_async_queries or s.max_query_count or s.max_duration_ms)
        if s.requested.server_coalesce_queries:
            return self._issue_server_coalesced(start, messages, perf)
        issue, issued, base = self._issue, self.issued, self.base
        n = sched.query_count
        q = 0
        for c0 in range(0, n, _CHUNK):
            deadlines = (sched.scheduled_ns[c0:c0 + _CHUNK] + start).tolist()
            indices = self._qsl_index[c0:c0 + _CHUNK].tolist()
            for k, deadline in enumerate(deadlines):
                t = now_ns()
                if t < deadline:
                    t = wait_until(deadline)
                issued[q] = t
                q += 1
                self._n_issued = q
                issue([base + q - 1], [indices[k]])
                if checks and self._server_checks(q, t - start, messages):
                    return False, q
        return False, n

    def _server_checks(self, q: int, elapsed_ns: int, messages: list) -> bool:
        s = self.settings
        if s.max_async_queries:
            outstanding = q - self._completed
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
        while q < n:
            t = now_ns()
            if t < deadlines[q]:
                t = wait_until(int(deadlines[q]))
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


def _read(r) -> bytes:
    """The response bytes at r.data (an address, as the official API takes) — read only when logged."""
    size = int(r.size)
    if not size:
        return b""
    data = r.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:size])
    return ctypes.string_at(data, size)
