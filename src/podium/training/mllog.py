"""The MLPerf result log writer: `:::MLLOG {...}` lines in mlperf-logging 4.1.68's format, flushed line by line.

Line format (mlperf_logging/mllog/mllog.py `_encode_log`): keys in the order namespace, time_ms, event_type, key,
value, metadata; metadata carries the caller's `file` and `lineno` (the seed checker keys seeds on them). Podium
writes the lines itself, without the package's process-wide logger, from rank 0 only; every value must be
JSON-serializable (numpy and torch scalars are converted; anything else is refused at the call, not in a checker).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from podium.core.errors import TrainingError

TOKEN = ":::MLLOG "
INTERVAL_START, INTERVAL_END, POINT_IN_TIME = "INTERVAL_START", "INTERVAL_END", "POINT_IN_TIME"


def wall_time_ms() -> int:
    """Milliseconds since the Unix epoch, as mllog's `_current_time_ms`."""
    return time.time_ns() // 1_000_000


def _plain(value: Any) -> Any:
    """numpy/torch scalars to Python numbers; non-finite floats to strings JSON can carry ("nan", "inf")."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class MLLogWriter:
    """Writes one run's mllog. `enabled=False` (ranks other than 0) makes every call a no-op."""

    def __init__(self, path: Path | None, *, enabled: bool = True, clock_ms: Callable[[], int] = wall_time_ms,
                 root_dir: str | None = None, echo: IO[str] | None = None) -> None:
        self.enabled = enabled and path is not None
        self.clock_ms = clock_ms
        self._root = root_dir
        self._echo = echo
        self._file: IO[str] | None = None
        if self.enabled:
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
        self.last_time_ms: dict[str, int] = {}

    def start(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None) -> int:
        return self._log(INTERVAL_START, key, value, metadata)

    def end(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None) -> int:
        return self._log(INTERVAL_END, key, value, metadata)

    def event(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None) -> int:
        return self._log(POINT_IN_TIME, key, value, metadata)

    def _log(self, event_type: str, key: str, value: Any, metadata: Mapping[str, Any] | None) -> int:
        """Write one line and return its time_ms (the clock is read even when disabled: ranks agree on phases)."""
        time_ms = self.clock_ms()
        self.last_time_ms[key] = time_ms
        if not self.enabled:
            return time_ms
        meta = {**self._caller(), **(_plain(dict(metadata)) if metadata else {})}
        record = {"namespace": "", "time_ms": time_ms, "event_type": event_type, "key": key,
                  "value": _plain(value), "metadata": meta}
        try:
            line = TOKEN + json.dumps(record, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TrainingError(f"mllog value for {key!r} is not JSON-serializable: {e}") from None
        assert self._file is not None
        self._file.write(line + "\n")
        self._file.flush()     # a killed run still leaves a readable log
        if self._echo is not None:
            print(line, file=self._echo)
        return time_ms

    def _caller(self) -> dict[str, Any]:
        """The file and line that asked for the log line: the first frame outside this module."""
        frame = sys._getframe(3)
        filename = frame.f_code.co_filename
        if self._root and filename.startswith(self._root):
            filename = filename[len(self._root):].lstrip("/")
        return {"file": filename, "lineno": frame.f_lineno}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
