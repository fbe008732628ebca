"""The words every layer shares: scenario, division, precision, engine, runner kind and peak-search method.

Each is an enum whose values are the spellings on disk and on the command line (MLPerf's own where it has one),
so bare strings like `"Offline"` appear only at the edges: a parser turns text into a member, a writer a member
into its value. Two scenario enums, because MLPerf has two lists:

- `Scenario`: the four test scenarios LoadGen runs (the C++ `TestScenario`); the engine takes nothing else.
- `SubmissionScenario`: the scenarios a results tree and the submission checker name, which add `Interactive`
  (LLMs: a Server run of the benchmark's "-interactive" LoadGen model, submitted under its own name).

`Engine`, `RunnerKind`, `PeakMethod` and `Precision` are `StrEnum`s: each is also the text it is written as (a
JSON value, an argparse choice), so code and files that compare or store the text keep working.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from podium.core.errors import ConfigError, UnknownNameError

__all__ = ["Division", "Engine", "PeakMethod", "Precision", "RunnerKind", "Scenario", "SubmissionScenario"]

_E = TypeVar("_E", bound=enum.Enum)


def _by_value(cls: type[_E], text: str) -> _E:
    """The member of `cls` whose value is `text`, case-insensitively; a ConfigError listing the values."""
    for member in cls:
        if member.value == text.lower():
            return member
    raise ConfigError(f"unknown {cls.__name__.lower()} {text!r}; one of {', '.join(m.value for m in cls)}")


def _by_name(cls: type[_E], text: str) -> _E | None:
    """The member whose value is `text` ignoring case, "-" and "_" ("single-stream", "SINGLE_STREAM")."""
    key = text.replace("-", "").replace("_", "").lower()
    return next((member for member in cls if member.value.lower() == key), None)


def _scenario(cls: type[_E], text: str) -> _E:
    """`_by_name`, or a ValueError (argparse's type error) naming the scenarios of `cls`."""
    found = _by_name(cls, text)
    if found is None:
        raise ValueError(f"unknown scenario {text!r}; expected one of {', '.join(s.value for s in cls)}")
    return found


class Scenario(enum.Enum):
    """MLPerf inference scenarios LoadGen runs; values are the names the official logs print."""

    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    SERVER = "Server"
    OFFLINE = "Offline"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """A scenario from its name in any case, with or without "-"/"_"; ValueError (argparse's type error)
        for another."""
        return _scenario(cls, text)


class SubmissionScenario(enum.Enum):
    """The scenarios of a results tree and of the submission checker: LoadGen's four and LLMs' Interactive."""

    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    SERVER = "Server"
    OFFLINE = "Offline"
    INTERACTIVE = "Interactive"

    @property
    def test_scenario(self) -> Scenario:
        """The LoadGen scenario that measures it: Interactive is a Server test (of the "-interactive" model)."""
        return Scenario.SERVER if self is SubmissionScenario.INTERACTIVE else Scenario(self.value)

    @classmethod
    def of(cls, scenario: Scenario) -> SubmissionScenario:
        return cls(scenario.value)

    @classmethod
    def parse(cls, text: str) -> SubmissionScenario:
        """As `Scenario.parse`, Interactive included."""
        return _scenario(cls, text)


class Direction(enum.Enum):
    """Which way a figure improves: upwards (accuracy, throughput) or downwards (loss, latency, time to train)."""

    HIGHER = "higher"
    LOWER = "lower"


class Division(enum.Enum):
    """MLPerf division; its value is the string logged as `submission_division`."""

    CLOSED = "closed"
    OPEN = "open"

    @property
    def init_budget_ms(self) -> int:
        """Untimed initialization allowed before the clock starts (training rules §Run results)."""
        return 30 * 60_000 if self is Division.CLOSED else 240 * 60_000

    @classmethod
    def parse(cls, text: str) -> Division:
        return _by_value(cls, text)


class Precision(enum.StrEnum):
    """The arithmetic a model runs in: training's `--precision`, inference's PyTorch autocast dtype (ONNX models
    run the precision they were exported in). `mllog_name` is the training 6.1 disclosure value."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"

    @property
    def mllog_name(self) -> str:
        return {"fp32": "fp32", "bf16": "bfloat16", "fp16": "fp16"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Precision:
        return _by_value(cls, text)


class Engine(enum.StrEnum):
    """The load generator an inference run is measured with."""

    PODIUM = "podium"
    OFFICIAL = "official"  # mlcommons-loadgen, the C++ LoadGen

    @classmethod
    def parse(cls, text: str) -> Engine:
        if text not in {e.value for e in cls}:
            raise ConfigError(f"unknown engine {text!r}; expected podium or official")
        return cls(text)


class RunnerKind(enum.StrEnum):
    """How an inference runner serves queries."""

    INLINE = "inline"        # on the engine's thread, one query at a time (SingleStream)
    POOL = "pool"            # a batching queue feeding model instances on threads
    PROCESSES = "processes"  # the same, with instances in worker processes (samples in shared memory)

    @classmethod
    def parse(cls, text: str) -> RunnerKind:
        if text not in {k.value for k in cls}:
            raise UnknownNameError(f"unknown runner {text!r}; known: inline, pool, processes")
        return cls(text)


class PeakMethod(enum.StrEnum):
    """How a peak search finds the highest valid Server QPS."""

    LOADGEN = "loadgen"  # the engine's FindPeakPerformance mode (official semantics: latency bound only)
    BISECT = "bisect"    # Podium's: every trial a full performance test under the full validity rules

    @classmethod
    def parse(cls, text: str) -> PeakMethod:
        if text not in {m.value for m in cls}:
            raise ConfigError(f"unknown peak search {text!r}; expected loadgen or bisect", key="peak")
        return cls(text)
