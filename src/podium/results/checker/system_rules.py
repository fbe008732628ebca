"""System rules: each system a result names is described, its description is complete and valid for the
round, and in a submission its submitter and division are the path's (reference §4.3, "System")."""

from __future__ import annotations

from collections.abc import Iterator

from podium.core.layout import CALIBRATION, CALIBRATION_TEMPLATE_MARK
from podium.results import system as sysdesc
from podium.results.checker.finding import Finding, error
from podium.results.checker.registry import Scope, rule
from podium.results.checker.tree import SystemView
from podium.results.layout import UnreadableFile, read_json


def _load(entry: SystemView) -> dict | None:
    data = read_json(entry.path)
    if data is not None and not isinstance(data, dict):
        raise UnreadableFile(entry.path, "not a JSON object")
    return data


@rule("system.present", Scope.SYSTEM)
def present(entry: SystemView) -> Iterator[Finding]:
    """Every results/<system>/ has its systems/<system>.json."""
    if (entry.used_for_inference or entry.used_for_training) and not entry.path.is_file():
        yield error("system.present", entry.path, f"missing: results/{entry.system}/ needs a system description")


@rule("system.fields", Scope.SYSTEM)
def fields(entry: SystemView) -> Iterator[Finding]:
    """Required fields present, meaningful ones non-empty, status and system_type among the allowed values."""
    desc = _load(entry)
    if desc is None:
        return
    usages = [sysdesc.Usage.INFERENCE] if entry.used_for_inference or not entry.used_for_training else []
    usages += [sysdesc.Usage.TRAINING] if entry.used_for_training else []
    for usage in usages:
        yield from sysdesc.validate(desc, entry.ctx.round_name or "current", usage, path=str(entry.path))


@rule("system.matches_path", Scope.SYSTEM)
def matches_path(entry: SystemView) -> Iterator[Finding]:
    """In a submission, the description's submitter and division are those of its <division>/<org>/ path."""
    package = entry.ctx.package
    desc = _load(entry)
    if desc is None or not package.is_submission:
        return
    for key, want in (("submitter", package.org), ("division", package.division)):
        got = str(desc.get(key, ""))
        if got.lower() != str(want).lower():
            yield error("system.matches_path", entry.path, f"{key} is {got!r}, the path says {want!r}")


@rule("system.calibration", Scope.SYSTEM)
def calibration(entry: SystemView) -> Iterator[Finding]:
    """A closed inference package has its calibration.md (or documentation/calibration.md), completed: not
    empty, not the template `podium submission build` writes (submission checker, "calibration documentation")."""
    package = entry.ctx.package
    if not (package.is_submission and entry.used_for_inference and package.division in ("closed", "network")):
        return
    paths = [package.root / CALIBRATION, package.root / "documentation" / CALIBRATION]
    found = next((p for p in paths if p.is_file()), None)
    if found is None:
        yield error("system.calibration", paths[0], "missing: the closed division needs the calibration details")
        return
    text = found.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        yield error("system.calibration", found, "empty: describe the calibration (or that there was none)")
    elif CALIBRATION_TEMPLATE_MARK in text:
        yield error("system.calibration", found, "still the template: describe the calibration (or that there was "
                    "none) and remove the template's comment")
