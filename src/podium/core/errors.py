"""The exception tree of Podium. Expected failures are one of these; the CLI prints them as one line.

    PodiumError
    ├── ConfigError          a config file or setting is wrong (names path, line, key, suggestion)
    │   └── UnknownNameError an unknown plugin name (lists the nearest names)
    ├── SUTError             the system under test raised, or returned something unusable
    ├── IncompleteRunError   samples never completed within the allowed wait (names the sample ids)
    ├── RunAborted           the run was interrupted (Ctrl-C, SIGTERM); logs so far are flushed
    ├── OutputError          a result file or folder cannot be written (names the path and why)
    │   └── OutputBusy       another run holds the output folder (names its PID)
    └── TrainingError        a training run or campaign could not proceed
        ├── RuleViolation        a setting the division's rules forbid (refused before init; names the rule)
        ├── InitBudgetExceeded   untimed initialization ran past its budget (30 min closed, 4 h open)
        ├── NonFiniteLoss        the loss became NaN or inf; the run is aborted, the next one proceeds
        └── CheckerUnavailable   an official checker needed for a verdict is not installed
"""

from __future__ import annotations


def shown(value: object, limit: int = 80) -> str:
    """How an error message quotes a value it refuses: `repr(value)`, cut to about `limit` characters with
    the full length said (a 200 MB token must not flood the terminal)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:max(limit - 20, 10)]}... ({len(text):,} characters)"


class PodiumError(Exception):
    """Base of every expected Podium failure."""


class ConfigError(PodiumError):
    """A config file or setting is invalid; says where and, when it can, what was probably meant."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None, suggestion: str | None = None) -> None:
        self.path, self.line, self.key, self.suggestion = path, line, key, suggestion
        where = ":".join(str(p) for p in (path, line) if p is not None)
        text = f"{where}: {message}" if where else message
        if suggestion:
            text += f" (did you mean {suggestion!r}?)"
        super().__init__(text)


class SUTError(PodiumError):
    """The system under test raised or misbehaved (e.g. completed an unknown or repeated sample id)."""


class IncompleteRunError(PodiumError):
    """Some issued samples were never completed within the configured wait."""

    def __init__(self, message: str, missing_ids: list[int]) -> None:
        self.missing_ids = missing_ids
        super().__init__(message)


class RunAborted(PodiumError):
    """The run was interrupted; what was measured so far is kept and logged.

    `signum` is the signal that stopped it (SIGINT for Ctrl-C, SIGTERM from a scheduler or `timeout`); the
    CLI exits 128 + signum, as a shell reports a process killed by that signal.
    """

    def __init__(self, message: str = "interrupted", signum: int | None = None) -> None:
        from podium.core import signals

        self.signum = int(signum if signum is not None else signals.received() or signals.SIGNALS[0])
        super().__init__(message)


class OutputError(PodiumError):
    """A result file or folder cannot be written (read-only, disk full, permission): names the path."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class OutputBusy(OutputError):
    """Another run (named by PID) holds the output folder: one run at a time per folder."""


class UnknownNameError(ConfigError):
    """A plugin name (workload, backend) is not registered; the message lists the nearest names."""


class TrainingError(PodiumError):
    """A training run or campaign cannot go on as the MLPerf Training rules require."""


class RuleViolation(TrainingError):
    """A setting breaks a division rule (e.g. a closed-division hyperparameter); refused before init."""

    def __init__(self, message: str, *, rule: str) -> None:
        self.rule = rule
        super().__init__(f"{message} [{rule}]")


class InitBudgetExceeded(TrainingError):
    """Untimed initialization ran past its budget (30 min closed, 4 h open: training rules §Run results)."""


class NonFiniteLoss(TrainingError):
    """The training loss became NaN or infinite; the run is aborted and the next one proceeds."""


class CheckerUnavailable(TrainingError):
    """An official MLPerf checker could not be run (mlperf-logging missing or its output unreadable)."""
