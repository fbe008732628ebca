"""How a runner hands finished samples to the load generator: Podium's engine or the official LoadGen.

A runner produces post-processed outputs per batch; a `Completer` encodes them with the task's declared
response encoding and completes the samples through the engine in use. A batch that raised is never
completed with empty responses: the completer records the samples and the error and fails the run. Outputs
that arrive when no test is running any more raise `LateCompletion`: the runner drops and counts them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding


@dataclass(frozen=True)
class SampleFailure:
    """A batch that failed: the sample ids it held and the error, as reported in the run's record."""

    sample_ids: tuple[int, ...]
    error: str

    def describe(self) -> dict[str, Any]:
        return {"sample_ids": list(self.sample_ids[:20]), "samples": len(self.sample_ids), "error": self.error}


class LateCompletion(SUTError):
    """Outputs of samples whose test had already ended (e.g. after the completion wait ran out)."""


class Completer(Protocol):
    """Where a runner sends outputs (any thread)."""

    failures: list[SampleFailure]

    def complete(self, ids: Sequence[int], outputs: np.ndarray) -> None: ...

    def fail(self, ids: Sequence[int], error: BaseException) -> None: ...


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Failures:
    """The failed batches of a run, shared by all runner threads."""

    def __init__(self) -> None:
        self.failures: list[SampleFailure] = []
        self._lock = threading.Lock()

    def _record(self, ids: Sequence[int], error: BaseException) -> SUTError:
        ids_t = tuple(int(i) for i in ids)
        with self._lock:
            self.failures.append(SampleFailure(ids_t, _describe_error(error)))
        shown = ", ".join(str(i) for i in ids_t[:8]) + (" ..." if len(ids_t) > 8 else "")
        failed = SUTError(f"inference failed on {len(ids_t)} samples (ids {shown}): {_describe_error(error)}")
        failed.__cause__ = error
        return failed


def _counted(ids: Sequence[int], responses: list[bytes]) -> list[bytes]:
    """`responses`, when there is one per sample id (a SUTError naming both counts otherwise)."""
    if len(responses) != len(ids):
        raise SUTError(f"post-processing answered {len(responses)} responses for a batch of {len(ids)} samples")
    return responses


class NativeCompleter(_Failures):
    """Completes through Podium's engine (`podium.loadgen.complete` / `fail`)."""

    def __init__(self, encoding: ResponseEncoding) -> None:
        super().__init__()
        from podium.loadgen import session

        self._encode, self._session = encoding.encode_batch, session

    def complete(self, ids: Sequence[int], outputs: np.ndarray) -> None:
        data = _counted(ids, self._encode(outputs))
        try:
            self._session.complete(ids, data)
        except SUTError:
            if self._session.progress() is None:  # no pass attached: the test ended before these outputs came
                raise LateCompletion(f"outputs of {len(ids)} samples after their test ended") from None
            raise

    def fail(self, ids: Sequence[int], error: BaseException) -> None:
        self._session.fail(self._record(ids, error))


class OfficialCompleter(_Failures):
    """Completes through the official `mlperf_loadgen` (QuerySamplesComplete with pointers to the bytes).

    The official LoadGen has no way to fail a run from the SUT: a failed batch is recorded here (the
    harness marks the run failed and names the samples) and its samples are completed with their ids
    and no data, so that the official run can end instead of hanging.
    """

    def __init__(self, encoding: ResponseEncoding) -> None:
        super().__init__()
        import mlperf_loadgen as lg

        self._lg, self._encoding = lg, encoding

    def complete(self, ids: Sequence[int], outputs: np.ndarray) -> None:
        enc, make = self._encoding, self._lg.QuerySampleResponse
        if enc.variable:  # one buffer per response, alive until the call returns (LoadGen copies the bytes)
            buffers = [np.frombuffer(b, dtype=np.uint8) for b in _counted(ids, enc.encode_batch(outputs))]
            self._lg.QuerySamplesComplete([make(i, b.ctypes.data if b.size else 0, b.size)
                                           for i, b in zip(ids, buffers, strict=True)])
            return
        buf = np.ascontiguousarray(np.asarray(outputs, dtype=enc.dtype))
        if buf.ndim == 0 or len(buf) != len(ids):
            raise SUTError(f"post-processing answered {buf.shape} for a batch of {len(ids)} samples")
        size = buf.nbytes // max(1, len(ids))
        base = buf.ctypes.data
        self._lg.QuerySamplesComplete([make(i, base + k * size, size) for k, i in enumerate(ids)])

    def fail(self, ids: Sequence[int], error: BaseException) -> None:
        self._record(ids, error)
        self._lg.QuerySamplesComplete([self._lg.QuerySampleResponse(i, 0, 0) for i in ids])
