"""podium.results: results people can publish — system descriptions, submission trees, the checker.

    podium.results.system       capture this machine into systems/<id>.json; write; validate per round
    podium.results.submission   MLPerf inference and training submission trees from run directories
    podium.results.checker      `podium check`: one small rule per requirement, findings, exit code
    podium.results.tables, .report, .comparison, .plots, .runs    summary tables and the HTML report
"""

from __future__ import annotations

from podium.results.checker import CheckReport, Finding, Severity, check_tree
from podium.results.submission import BuildResult, build_submission, truncate_accuracy_log

__all__ = ["BuildResult", "CheckReport", "Finding", "Severity", "build_submission", "check_tree",
           "truncate_accuracy_log"]
