"""podium.results.layout: the on-disk layout of inference and training results and of submissions.

    paths        the names of files and folders in a results tree, and the paths built from them
    discovery    the one walker of results trees and submission trees: packages, runs, benchmarks, scenarios
    files        reading a tree's files: JSON records, `podium_run.json` (`read_run_record`), the MLLOG reader
    runs         the results found, read: `InferenceRun`, `TrainingRun` (with its `TrainingLog`s), `scan`

Everything in podium.results that finds or reads results goes through here: the tables and the report
(`scan`), the submission builder (`run_trees`, `contents`, the path builders) and the checker (`find_packages`,
`benchmark_dirs`, `read_mllog`).
"""

from __future__ import annotations

from podium.results.layout.discovery import (Package, ScenarioFolder, TrainingFolder, benchmark_dirs, compliance_dirs,
                                             compliance_verdicts, contents, find_packages, inference_run_dirs,
                                             is_training_dir, run_records, run_trees, scenario_dirs, training_logs,
                                             training_result_dirs)
from podium.results.layout.files import (UnreadableFile, first_entries, read_json, read_mllog, read_object,
                                         read_peak_record, read_run_record)
from podium.core.layout import (ACCURACY, ACCURACY_JSON, ACCURACY_LOG, ACCURACY_TXT, ACC_FILES, CAMPAIGN_RECORD,
                                COMPLIANCE_PREFIX, DETAIL_LOG, DIR_MODE, DIVISIONS, FIND_PEAK, KINDS,
                                MAX_ACCURACY_LOG_BYTES, MEASUREMENTS, MLPERF_CONF, PEAK_RECORD, PERFORMANCE, PERF_FILES,
                                README, RESULTS, RUN_RECORD, SCALING_FILE, SCENARIO_FILES, SOURCE_FOLDER,
                                SOURCE_FOLDER_BEFORE_V6, SUMMARY_LOG, SYSTEMS, TRACE_LOG, TRAINING_LOGS, USER_CONF,
                                VERIFY_REPORTS, campaign_record, hidden, inference_readme, make_public, package_dir,
                                scenario_dir, subdirs, system_description, training_dir, training_readme)
from podium.results.layout.runs import (InferenceRun, Scan, TrainingLog, TrainingRun, Unreadable, is_number,
                                        read_accuracy_result, read_inference, read_training, read_training_log, scan)

__all__ = [
    "ACCURACY", "ACCURACY_JSON", "ACCURACY_LOG", "ACCURACY_TXT", "ACC_FILES", "CAMPAIGN_RECORD",
    "COMPLIANCE_PREFIX", "DETAIL_LOG", "DIR_MODE", "DIVISIONS", "FIND_PEAK", "InferenceRun", "KINDS",
    "MAX_ACCURACY_LOG_BYTES", "MEASUREMENTS", "MLPERF_CONF", "PEAK_RECORD", "PERFORMANCE", "PERF_FILES", "Package",
    "README", "RESULTS", "RUN_RECORD", "SCALING_FILE", "SCENARIO_FILES", "SOURCE_FOLDER", "SOURCE_FOLDER_BEFORE_V6",
    "SUMMARY_LOG", "SYSTEMS", "Scan", "ScenarioFolder", "TRACE_LOG", "TRAINING_LOGS", "TrainingFolder",
    "TrainingLog", "TrainingRun", "USER_CONF", "Unreadable", "UnreadableFile", "VERIFY_REPORTS", "benchmark_dirs",
    "campaign_record", "compliance_dirs", "compliance_verdicts", "contents", "find_packages", "first_entries",
    "hidden", "inference_readme", "inference_run_dirs", "is_number", "is_training_dir", "make_public",
    "package_dir", "read_accuracy_result", "read_inference", "read_json", "read_mllog", "read_object",
    "read_peak_record", "read_run_record", "read_training", "read_training_log", "run_records", "run_trees",
    "scan", "scenario_dir", "scenario_dirs", "subdirs", "system_description", "training_dir", "training_logs",
    "training_readme", "training_result_dirs",
]
