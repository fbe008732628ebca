"""podium.results: results people can publish — system descriptions, submission trees, the checker.

    podium.results.layout       the on-disk layout of results and submissions: paths, the one walker of
                                results trees, the one MLLOG reader, the results found (`scan`)
    podium.results.system       system descriptions (systems/<id>.json): fields per round, validate, capture
                                (what this machine reveals of itself: `podium.core.host`, shared with training)
    podium.results.submission   MLPerf inference and training submission trees from run directories
    podium.results.checker      `podium check`: one small rule per requirement, findings, exit code
    podium.results.summary, .runs        one row per result found, and what a training result scores
    podium.results.tables, .comparison, .report, .plots    summary tables, comparisons and the HTML report
"""

from __future__ import annotations

from podium.results.checker import CheckReport, Finding, Severity, check_tree
from podium.results.submission import BuildResult, build_submission, truncate_accuracy_log

__all__ = ["BuildResult", "CheckReport", "Finding", "Severity", "build_submission", "check_tree",
           "truncate_accuracy_log"]
