"""What a check reports: `Finding(rule_id, severity, path, message)`, and the exit code a set of them earns.

Exit-code policy of `podium check` (documented in its --help): 0 when every finding is `info` (or there are none),
1 when the worst is a `warning`, 2 when there is at least one `error`. The official submission checker logs errors
and can still end with "results look OK" (reference §4.3); here the verdict is computed from the findings only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


class Severity(enum.Enum):
    """How bad a finding is; `rank` orders them (error worst)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    @property
    def exit_code(self) -> int:
        """0 info, 1 warning, 2 error: the process exit code when this is the worst finding."""
        return self.rank


@dataclass(frozen=True)
class Finding:
    """One rule's complaint (or note) about one file or directory."""

    rule_id: str
    severity: Severity
    path: str
    message: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def __str__(self) -> str:
        return f"{self.severity.value}: [{self.rule_id}] {self.path}: {self.message}"


def error(rule_id: str, path: object, message: str) -> Finding:
    return Finding(rule_id, Severity.ERROR, str(path), message)


def warning(rule_id: str, path: object, message: str) -> Finding:
    return Finding(rule_id, Severity.WARNING, str(path), message)


def info(rule_id: str, path: object, message: str) -> Finding:
    return Finding(rule_id, Severity.INFO, str(path), message)


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe finding's severity; None when there are none."""
    ranked = sorted((f.severity for f in findings), key=lambda s: s.rank)
    return ranked[-1] if ranked else None


def exit_code(findings: Iterable[Finding]) -> int:
    worst_seen = worst(findings)
    return 0 if worst_seen is None else worst_seen.exit_code
