"""Response encodings: how one sample's output becomes the bytes LoadGen logs, and back.

A task declares its encoding once (dtype and per-sample shape); the SUT encodes with it, the accuracy glue
decodes `mlperf_log_accuracy.json` with the same declaration, which the run record stores (`describe`). The
reference harnesses each pick a private byte layout and the accuracy scripts must be told it again by flag
(`--dtype`, `--output_dtype`; reference/inference_suite.md §2.2); here it travels with the run. Bytes are in
the machine's native order (little-endian on every platform Podium runs on), as LoadGen stores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from podium.core.errors import ConfigError, SUTError


VARIABLE = -1  # as the first dimension: any number of rows (detections, tokens), e.g. shape (-1, 7)


@dataclass(frozen=True)
class ResponseEncoding:
    """Each response is one C-ordered array of `dtype` and `shape` (`()` for a scalar such as a class id).

    A first dimension of -1 (`VARIABLE`) lets responses have any number of rows of `shape[1:]` (detections
    as the reference's [idx, ymin, xmin, ymax, xmax, score, class] rows, token ids).
    """

    dtype: str
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            raise ConfigError(f"response encoding: unknown dtype {self.dtype!r}", key="dtype") from None
        if dtype.kind not in "biufc":  # numbers only: their names round-trip through describe()
            raise ConfigError(f"response encoding: dtype {self.dtype!r} is not numeric", key="dtype")
        shape = tuple(int(n) for n in self.shape)
        if any(n < 0 for n in shape[1:]) or (shape and shape[0] < VARIABLE):
            raise ConfigError(f"response encoding: shape {shape} has a negative dimension (only the first "
                              f"may be -1, any number of rows)", key="shape")
        object.__setattr__(self, "dtype", dtype.name)
        object.__setattr__(self, "shape", shape)

    @property
    def variable(self) -> bool:
        """Whether responses have any number of rows (first dimension -1)."""
        return bool(self.shape) and self.shape[0] == VARIABLE

    @property
    def nbytes(self) -> int | None:
        """Bytes per response; None when the number of rows varies."""
        return None if self.variable else self._unit_nbytes

    @property
    def _unit_nbytes(self) -> int:
        """Bytes per response, or per row when the number of rows varies."""
        return np.dtype(self.dtype).itemsize * math.prod(self.shape[1:] if self.variable else self.shape)

    def _fits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and (shape[1:] == self.shape[1:] if self.variable else
                                                  shape == self.shape)

    def encode(self, row: Any) -> bytes:
        """One response's bytes (a SUTError when `row` does not have the declared shape)."""
        array = np.asarray(row, dtype=self.dtype)
        if not self._fits(array.shape):
            raise SUTError(f"response of shape {array.shape}; the encoding {self} expects {self.shape}")
        return array.tobytes()

    def encode_batch(self, rows: Any) -> list[bytes]:
        """The bytes of each response in `rows` (first axis = samples): one conversion, then slices.

        With a variable number of rows, `rows` is a sequence of arrays, each encoded on its own.
        """
        if self.variable:
            return [self.encode(r) for r in rows]
        array = np.ascontiguousarray(rows, dtype=self.dtype)
        if array.ndim != len(self.shape) + 1 or array.shape[1:] != self.shape:
            raise SUTError(f"batch of shape {array.shape}; the encoding {self} expects (n, *{self.shape})")
        data, size = array.tobytes(), self._unit_nbytes
        return [data[k:k + size] for k in range(0, len(data), size)] if size else [b""] * len(array)

    def decode(self, data: bytes) -> np.ndarray:
        """The array one response's bytes encode (read-only; a SUTError naming both sizes on a mismatch)."""
        unit = self._unit_nbytes
        if self.variable:
            if unit and len(data) % unit:
                raise SUTError(f"response of {len(data)} bytes; the encoding {self} expects a multiple of "
                               f"{unit} bytes")
            return np.frombuffer(data, dtype=self.dtype).reshape((-1, *self.shape[1:]))
        if len(data) != unit:
            raise SUTError(f"response of {len(data)} bytes; the encoding {self} expects {unit} bytes")
        return np.frombuffer(data, dtype=self.dtype).reshape(self.shape)

    def describe(self) -> dict[str, Any]:
        """The JSON form stored in podium_run.json: {"dtype": "int64", "shape": []}."""
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> ResponseEncoding:
        """The encoding `describe` wrote (a ConfigError when a key is missing)."""
        try:
            return cls(str(description["dtype"]), tuple(description["shape"]))
        except (KeyError, TypeError) as e:
            raise ConfigError(f"response encoding needs 'dtype' and 'shape', got {description!r}",
                              key=str(e.args[0]) if isinstance(e, KeyError) else None) from None

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"
