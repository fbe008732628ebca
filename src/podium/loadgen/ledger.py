"""The completion ledger of one issue pass: which samples completed when, recorded from any thread.

Everything per sample lives in flat integer arrays indexed by the sample's position in the schedule (its
id minus the pass's first sequence id): 8 bytes for the completion time of each sample (and, in token
latency mode, 8 each for its first-token time and token count). Completions are recorded without locks
(a lock costs more than the rest of a completion); what that cannot see as it happens (one sample
completed by two threads at once, a sample completed before it was issued) is audited after the pass.

The completers are the engine's hottest path: they bind what they use to locals and call nothing per
sample beyond the array writes.
"""

from __future__ import annotations

import ctypes
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from queue import Empty, SimpleQueue
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from podium.core.errors import SUTError
from podium.loadgen.clock import now_ns

__all__ = ["AccuracySink", "CompletionLedger", "Response", "ResponseCallback", "TokenSink"]

_ZERO = (0,)
# From this many ids on, a completion is recorded with numpy rather than a Python loop.
_VECTOR_MIN = 64
# The first and the longest pause between two looks at the count while waiting for every completion.
_POLL_FIRST_S = 20e-6
_POLL_MAX_S = 0.005


class Response(Protocol):
    """A completed sample as the drop-in API hands it over (mlperf_loadgen.QuerySampleResponse)."""

    @property
    def id(self) -> int: ...

    @property
    def data(self) -> object: ...  # an address (int), or bytes-like

    @property
    def size(self) -> int: ...

    @property
    def n_tokens(self) -> int: ...


ResponseCallback = Callable[[Response], object]
# (sequence id, QSL index, response bytes, token count or None): one accuracy log entry
AccuracySink = Callable[[int, int, bytes, "int | None"], None]
TokenSink = Callable[[int, bytes], None]  # (sequence id, first-token bytes)


class CompletionLedger:
    """Completion times of one pass's samples; `complete*` and `fail` may be called from any thread."""

    def __init__(self, seq_base: int, qsl_index: npt.NDArray[np.int64], *, tokens: bool = False,
                 log_all: bool = False, log_mask: npt.NDArray[np.bool_] | None = None,
                 accuracy_sink: AccuracySink | None = None, first_token_sink: TokenSink | None = None) -> None:
        n = len(qsl_index)
        self.base, self.n_samples = seq_base, n
        self.done = array("q", _ZERO) * n  # completion time per sample (0: not yet)
        self.first_token = array("q", _ZERO) * n if tokens else None
        self.n_tokens = array("q", _ZERO) * n if tokens else None
        self._qsl_index = qsl_index
        # Which responses are copied to the accuracy log: all (accuracy mode), a sampled mask in
        # performance mode (TEST01-style audits), or none.
        self._log_all = log_all
        self._log_mask = None if log_all else log_mask
        self._sink = accuracy_sink
        self._token_sink = first_token_sink
        self._logging = accuracy_sink is not None and (log_all or log_mask is not None)
        # Each completion appends its count to a deque (atomic); the issuing thread sums it when it needs to.
        self._counts: deque[int] = deque()
        self._completed = 0
        # SingleStream/MultiStream: the issuing thread waits for its one outstanding query; a
        # completion from another thread wakes it through this queue while `waiting` is set.
        self.waiting = False
        self._wake: SimpleQueue[int] = SimpleQueue()
        self.bad_ids: list[int] = []
        # A failure the SUT reported from any thread (`fail`): ends the waits and fails the pass.
        self.failure: BaseException | None = None

    # ---- completions (any thread) -------------------------------------------------------------

    def complete_responses(self, t: int, responses: Sequence[Response],
                           response_cb: ResponseCallback | None = None) -> None:
        """Record `responses` (objects with .id, .data address, .size[, .n_tokens]) completed at `t`."""
        good = self._complete_many(t, [r.id for r in responses]) if len(responses) > _VECTOR_MIN else None
        if good is None:
            done, base, n, bad = self.done, self.base, self.n_samples, self.bad_ids
            good = 0
            for r in responses:
                p = r.id - base
                if not 0 <= p < n or done[p]:
                    bad.append(r.id)
                    continue
                done[p] = t
                good += 1
        self._counts.append(good)
        if self.waiting:
            self._wake.put(1)
        if self.n_tokens is not None:
            self._record_tokens([(r.id, r.n_tokens) for r in responses])
        if self._logging:
            self._log_responses(responses, response_cb)
        if good < len(responses):  # this call's own bad ids: a good completion elsewhere never raises
            self._raise_bad(len(responses) - good)

    def responses_completer(self) -> Callable[[int, Sequence[Response], ResponseCallback | None], None]:
        """`complete_responses`, with a shortcut for the commonest call: one response, nothing to log.

        Everything the shortcut needs is bound once per pass, so a Server completion costs a few
        attribute-free operations (this is the hottest path of a Python SUT's completion).
        """
        if self.n_tokens is not None or self._logging:
            return self.complete_responses
        done, base, n, append, slow = self.done, self.base, self.n_samples, self._counts.append, \
            self.complete_responses

        def complete(t: int, responses: Sequence[Response], response_cb: ResponseCallback | None = None) -> None:
            if len(responses) == 1:
                p = responses[0].id - base
                if 0 <= p < n and not done[p]:
                    done[p] = t
                    append(1)
                    if self.waiting:
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
        if self.waiting:
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
        pos: npt.NDArray[np.int64] | slice
        if type(ids) is range and ids.step == 1:
            pos = slice(ids.start - self.base, ids.stop - self.base)
            ok = 0 <= pos.start <= pos.stop <= self.n_samples
        else:
            pos = np.asarray(ids, dtype=np.int64) - self.base
            ok = bool(pos.size == 0 or (pos.min() >= 0 and pos.max() < self.n_samples
                                        and np.unique(pos).size == pos.size))
        if not ok or done[pos].any():
            return None  # the element-wise path names the bad ids
        done[pos] = t
        return len(ids)

    def first_tokens(self, t: int, responses: Sequence[Response], response_cb: ResponseCallback | None = None) -> None:
        """FirstTokenComplete: record the first-token time of each response (token latency mode)."""
        ft, base, n = self.first_token, self.base, self.n_samples
        if ft is None:
            return
        for r in responses:
            p = r.id - base
            if 0 <= p < n and not ft[p]:
                ft[p] = t
                if self._logging and self._token_sink is not None and self._logged(p):
                    if response_cb is not None:
                        response_cb(r)
                    self._token_sink(r.id, _read(r))

    def _logged(self, p: int) -> bool:
        return self._log_all or (self._log_mask is not None and bool(self._log_mask[p]))

    def _record_tokens(self, pairs: Iterable[tuple[int, int]]) -> None:
        nt, base, n = self.n_tokens, self.base, self.n_samples
        if nt is None:
            return
        for i, k in pairs:
            if 0 <= i - base < n:
                nt[i - base] = k

    def _log_responses(self, responses: Sequence[Response], response_cb: ResponseCallback | None) -> None:
        base, n, tokens, sink = self.base, self.n_samples, self.n_tokens is not None, self._sink
        log_all, mask = self._log_all, self._log_mask
        if sink is None:
            return
        for r in responses:
            p = r.id - base
            if not 0 <= p < n or not (log_all or (mask is not None and mask[p])):
                continue
            if response_cb is not None:
                response_cb(r)  # lets the SUT copy device data to the host late (official semantics)
            sink(r.id, int(self._qsl_index[p]), _read(r), int(r.n_tokens) if tokens else None)

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

    # ---- the issuing thread -------------------------------------------------------------------

    def completed(self) -> int:
        """Samples completed so far (called from the issuing thread)."""
        counts = self._counts
        total = self._completed
        while counts:
            total += counts.popleft()
        self._completed = total
        return total

    def wait_samples(self, begin: int, end: int, timeout_s: float) -> bool:
        """Block until samples [begin, end) completed (True), or the SUT failed or `timeout_s` passed (False).

        A completion from another thread wakes this thread while it waits, so a chained query goes out
        as soon as the previous one is done (SingleStream/MultiStream).
        """
        done, wake = self.done, self._wake
        deadline = now_ns() + int(timeout_s * 1e9)
        self.waiting = True
        try:
            while 0 in done[begin:end]:
                remaining = (deadline - now_ns()) / 1e9
                if self.failure is not None or remaining <= 0:
                    return False
                try:
                    wake.get(timeout=min(remaining, 0.1))
                except Empty:
                    pass
        finally:
            self.waiting = False
        return True

    def wait_all(self, n_samples: int, timeout_s: float) -> bool:
        """Wait until the first `n_samples` samples completed (True), at most `timeout_s`, or the SUT failed.

        Polls the lock-free count: completion times are taken by the completing thread, so when this
        thread notices does not change any measurement. The count can run ahead of the samples (one
        sample completed twice), so the samples themselves are checked once it says all are in.
        """
        deadline = now_ns() + int(timeout_s * 1e9)
        done = np.frombuffer(self.done, dtype=np.int64)[:n_samples]
        pause = _POLL_FIRST_S
        while self.failure is None:
            if self.completed() >= n_samples and done.all():
                return True
            if now_ns() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX_S)
        return False

    def missing(self, n_samples: int) -> list[int]:
        """Positions among the first `n_samples` that have not completed."""
        return np.flatnonzero(np.frombuffer(self.done, dtype=np.int64)[:n_samples] == 0).tolist()

    def audit(self, n_samples: int) -> tuple[int, list[int]]:
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


class _Resp:
    """A native completion seen as a compat response, for the accuracy log."""

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(self, i: int, data: bytes, n_tokens: int) -> None:
        self.id, self.data, self.size, self.n_tokens = i, data, len(data), n_tokens


def _read(r: Response) -> bytes:
    """The response bytes at r.data (an address, as the official API takes) — read only when logged."""
    size = int(r.size)
    if not size:
        return b""
    data = r.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:size])
    return ctypes.string_at(cast(int, data), size)  # an int, or whatever else ctypes takes as an address
