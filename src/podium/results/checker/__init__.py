"""podium.results.checker: `podium check`, one small rule per MLPerf requirement over inference and training trees.

    from podium.results.checker import check_tree
    report = check_tree("submission", round_name="v6.1")
    print(report.format_text())
    raise SystemExit(report.exit_code)      # 0 ok (notes only), 1 warnings, 2 errors

Rules register with `@rule("<group>.<name>", Scope...)` (registry.py); the built-in ones are in the `*_rules`
modules, imported on first use so that importing this package stays cheap.
"""

from __future__ import annotations

from podium.results.checker.engine import CheckReport, PackageReport, check_tree
from podium.results.checker.finding import Finding, Severity, exit_code, worst
from podium.results.checker.registry import RULES, Rule, Scope, all_rules, rule, select_rules

__all__ = [
    "CheckReport", "Finding", "PackageReport", "RULES", "Rule", "Scope", "Severity", "all_rules", "check_tree",
    "exit_code", "rule", "select_rules", "worst",
]
