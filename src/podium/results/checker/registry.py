"""The rule registry of `podium check`: each rule is a small function over one part of a tree, registered by id.

    @rule("inference.seeds", Scope.SCENARIO)
    def seeds(result: ScenarioView) -> Iterable[Finding]: ...

Rule ids are `<group>.<name>`; the group (inference, consistency, system, training) is what the report groups by.
Built-in rules live in the `*_rules` modules of this package; third-party rules register through the
`podium.check_rules` entry-point group (each entry point loads a zero-argument factory returning a `Rule`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from podium.core.registry import Registry
from podium.results.checker.finding import Finding


class Scope(enum.Enum):
    """What one call of a rule looks at."""

    SCENARIO = "scenario"     # results/<system>/<benchmark>/<scenario>/ of an inference result
    BENCHMARK = "benchmark"   # results/<system>/<benchmark>/ holding inference scenarios
    SYSTEM = "system"         # systems/<system>.json (and the results/<system>/ that need it)
    TRAINING = "training"     # results/<system>/<benchmark>/ holding training result_*.txt logs


@dataclass(frozen=True)
class Rule:
    """A registered rule: its id, what it looks at, the check, and the first line of its docstring."""

    id: str
    scope: Scope
    check: Callable[[Any], Iterable[Finding]]   # the part of the tree -> its findings
    summary: str

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


BUILTIN_RULE_MODULES = (
    "podium.results.checker.inference_rules",
    "podium.results.checker.consistency_rules",
    "podium.results.checker.system_rules",
    "podium.results.checker.training_rules",
)
RULES: Registry[Rule] = Registry("check rule", "podium.check_rules", builtins=BUILTIN_RULE_MODULES)


Check = Callable[[Any], Iterable[Finding]]


def rule(rule_id: str, scope: Scope) -> Callable[[Check], Check]:
    """Decorator: register `fn` as the rule `rule_id` applied to every part of a tree of kind `scope`."""

    def deco(fn: Check) -> Check:
        doc = (fn.__doc__ or rule_id).strip().splitlines()[0]
        registered = Rule(rule_id, scope, fn, doc)
        RULES.register(rule_id)(lambda: registered)
        return fn

    return deco


def all_rules() -> list[Rule]:
    """Every registered rule, by id."""
    return [RULES.get(name) for name in RULES.names()]


def select_rules(names: Iterable[str] = ()) -> list[Rule]:
    """The rules named (ids or group names; UnknownNameError with a suggestion otherwise); all when none."""
    wanted = list(names)
    if not wanted:
        return all_rules()
    rules = all_rules()
    groups = {r.group for r in rules}
    chosen: dict[str, Rule] = {}
    for name in wanted:
        if name in groups:
            chosen.update((r.id, r) for r in rules if r.group == name)
        else:
            found = RULES.get(name)
            chosen[found.id] = found
    return [chosen[k] for k in sorted(chosen)]
