"""Backends that misbehave on purpose, for fault tests. Named as "tests.inference.fake_backends:<factory>", which
worker processes can import too."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np

from podium.inference.backends import BACKENDS


class _Wrapped:
    """An ONNX Runtime model whose `run` does something else on batch number `on_batch` (0-based)."""

    def __init__(self, inner: Any, on_batch: int, action: str) -> None:
        self.inner, self.on_batch, self.action, self.calls = inner, on_batch, action, 0

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        k, self.calls = self.calls, self.calls + 1
        if k >= self.on_batch and self.action == "raise":
            raise RuntimeError(f"injected failure on batch {k}")
        if k == self.on_batch and self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.run(batch)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Backend:
    def __init__(self, on_batch: int, action: str) -> None:
        self.on_batch, self.action = on_batch, action
        self.name = f"fake-{action}"

    def load(self, path: Path, opts: Any = None, **kwargs: Any) -> _Wrapped:
        kwargs.pop("example_input", None)  # warm-up batches would count against on_batch
        return _Wrapped(BACKENDS.get("onnxruntime").load(path, opts, **kwargs), self.on_batch, self.action)


def raises_on_third_batch() -> _Backend:
    return _Backend(2, "raise")


def killed_on_third_batch() -> _Backend:
    return _Backend(2, "kill")
