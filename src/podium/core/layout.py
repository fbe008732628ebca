"""Where results live on disk: the names of their files and folders, and the paths built from them, for the
harnesses that write them and the readers (`podium.results.layout`: discovery, reading) alike.

A *tree* (a run directory or a submission package) is a folder holding `systems/` and `results/`:

    <tree>/systems/<system>.json                                      the system description
    <tree>/results/<system>/<benchmark>/<scenario>/                   an inference result (`scenario_dir`)
        performance/run_1/{mlperf_log_detail.txt, mlperf_log_summary.txt, podium_run.json}
        accuracy/{mlperf_log_detail.txt, mlperf_log_summary.txt, mlperf_log_accuracy.json, accuracy.txt,
                  accuracy.json, podium_run.json}
        TEST0x/...                  compliance runs: performance/run_1/, accuracy/, verify_*.txt
        find_peak/podium_peak.json, user.conf, mlperf.conf, measurements.json, README.md
    <tree>/results/<system>/<benchmark>/result_<i>.txt                training mllogs (`training_dir`)
    <tree>/results/<system>/<benchmark>/scaling.json                  the RCP score scaling, when there is one
    <tree>/podium/<system>/<benchmark>/campaign.json                  Podium's training record (run trees only)
    <tree>/podium/<system>/<benchmark>/<scenario>/...                 a submission's Podium records (`podium_mirror`)

A submission puts its tree at `<division>/<org>/` (`package_dir`), with the implementation's README at
`src/<benchmark>/README.md` (inference; `code/` before v6.0) or `benchmarks/<benchmark>/implementations/podium/
README.md` (training). The official checker compares the file lists of a submission's result folders with its
own, so a package keeps Podium's records (podium_run.json, accuracy.json, podium_peak.json) out of them, at the
same place under `podium/` (`podium_mirror`), and a closed package has its `calibration.md`. Folders whose
name starts with "." are never results (`hidden`, `subdirs`): a run in progress or one that failed
(`.podium/staging/`, `.podium/partial/`), a submission build in progress.
"""

from __future__ import annotations

import os
from pathlib import Path

from podium.core.files import FILE_MODE

RESULTS, SYSTEMS, PODIUM = "results", "systems", "podium"
KINDS = ("inference", "training")           # `podium run` and a two-kind submission build: <out>/<kind>/<tree>
DIVISIONS = ("closed", "open", "network")
PERFORMANCE = Path("performance") / "run_1"
ACCURACY = Path("accuracy")
FIND_PEAK = "find_peak"
COMPLIANCE_PREFIX = "TEST"                  # TEST01, TEST04, ...: audit tests, not results of their own

DETAIL_LOG, SUMMARY_LOG = "mlperf_log_detail.txt", "mlperf_log_summary.txt"
ACCURACY_LOG, TRACE_LOG = "mlperf_log_accuracy.json", "mlperf_log_trace.json"
ACCURACY_TXT, ACCURACY_JSON = "accuracy.txt", "accuracy.json"
RUN_RECORD, PEAK_RECORD, CAMPAIGN_RECORD = "podium_run.json", "podium_peak.json", "campaign.json"
MEASUREMENTS, USER_CONF, MLPERF_CONF, README = "measurements.json", "user.conf", "mlperf.conf", "README.md"
SCALING_FILE = "scaling.json"
TRAINING_LOGS = "result_*.txt"              # result_<i>.txt, one mllog per training run
VERIFY_REPORTS = "verify_*.txt"             # a compliance run's verdicts (TEST01/verify_accuracy.txt, ...)
VERIFY_ACCURACY, VERIFY_PERFORMANCE = "verify_accuracy.txt", "verify_performance.txt"
BASELINE_ACCURACY, COMPLIANCE_ACCURACY = "baseline_accuracy.txt", "compliance_accuracy.txt"   # TEST01, when they differ
AUDIT_CONFIG = "audit.config"
CALIBRATION = "calibration.md"              # <division>/<org>/calibration.md: required in the closed division
CALIBRATION_TEMPLATE_MARK = "podium: calibration template"   # in the template a build writes, until completed
PODIUM_RECORDS = (RUN_RECORD, ACCURACY_JSON, PEAK_RECORD)   # Podium's own files, kept out of a package's results/

# What a submission's scenario folder carries (inference_suite.md §4.1); mlperf.conf is optional.
PERF_FILES = (DETAIL_LOG, SUMMARY_LOG, RUN_RECORD)
ACC_FILES = (DETAIL_LOG, SUMMARY_LOG, ACCURACY_LOG, ACCURACY_TXT, ACCURACY_JSON, RUN_RECORD)
SCENARIO_FILES = (USER_CONF, MEASUREMENTS, MLPERF_CONF)
MAX_ACCURACY_LOG_BYTES = 10 * 1024          # a truncated accuracy log's limit (constants.py MAX_ACCURACY_LOG_SIZE)
SOURCE_FOLDER, SOURCE_FOLDER_BEFORE_V6 = "src", "code"   # the checker's SRC_PATH
COMPLIANCE = "compliance"   # before v6.0 a package's audits lie in compliance/<system>/<benchmark>/<scenario>/TEST0x
MEASUREMENTS_DIR = "measurements"   # and its user.conf, README.md, <system>_podium_<scenario>.json under measurements/
IMPLEMENTATION = "podium"   # the implementation name in a measurements file's name (<system>_<impl>_<scenario>.json)

DIR_MODE = FILE_MODE | (FILE_MODE & 0o444) >> 2   # searchable where readable: 0755 beside 0644


def system_description(tree: Path, system_id: str) -> Path:
    """systems/<system>.json."""
    return tree / SYSTEMS / f"{system_id}.json"


def scenario_dir(tree: Path, system_id: str, benchmark: str, scenario: str) -> Path:
    """results/<system>/<benchmark>/<scenario>/: one inference result."""
    return tree / RESULTS / system_id / benchmark / scenario


def training_dir(tree: Path, system_id: str, benchmark: str) -> Path:
    """results/<system>/<benchmark>/: one benchmark's training logs."""
    return tree / RESULTS / system_id / benchmark


def campaign_record(tree: Path, system_id: str, benchmark: str) -> Path:
    """podium/<system>/<benchmark>/campaign.json: Podium's record of a training campaign."""
    return tree / PODIUM / system_id / benchmark / CAMPAIGN_RECORD


def podium_mirror(path: Path, tree: Path) -> Path:
    """The place under `<tree>/podium/` of a path under `<tree>/results/` (or under `<tree>/compliance/`, where
    a package of a round before v6.0 keeps its audits): where a submission package keeps Podium's record of that
    result (results/<s>/<b>/<scenario>/accuracy/accuracy.json -> podium/<s>/<b>/<scenario>/accuracy/accuracy.json;
    compliance/<s>/<b>/<scenario>/TEST01/... -> podium/<s>/<b>/<scenario>/TEST01/...)."""
    top = tree / COMPLIANCE if path.is_relative_to(tree / COMPLIANCE) else tree / RESULTS
    return tree / PODIUM / path.relative_to(top)


def compliance_mirror(path: Path, tree: Path) -> Path:
    """The place under `<tree>/compliance/` of a scenario folder under `<tree>/results/`: where a package of a
    round before v6.0 keeps that scenario's audits (the checker's COMPLIANCE_PATH; from v6.0 they lie in the
    scenario folder itself)."""
    return tree / COMPLIANCE / path.relative_to(tree / RESULTS)


def measurements_mirror(path: Path, tree: Path) -> Path:
    """The place under `<tree>/measurements/` of a scenario folder under `<tree>/results/`: where a package of a
    round before v6.0 keeps that scenario's user.conf, README.md and measurements file (MEASUREMENTS_PATH)."""
    return tree / MEASUREMENTS_DIR / path.relative_to(tree / RESULTS)


def measurements_file(system_id: str, scenario: str) -> str:
    """The name of a measurements file under measurements/ (rounds before v6.0): <system>_podium_<scenario>.json,
    which the checker finds by the system's name and the scenario's."""
    return f"{system_id}_{IMPLEMENTATION}_{scenario}.json"


def audits_beside_results(round_key: tuple[int, int]) -> bool:
    """Whether a package of the round (`(6, 0)` for v6.0) keeps its audits and measurements in the scenario
    folders (v6.0 onwards) rather than under compliance/ and measurements/ (every earlier round)."""
    return round_key >= (6, 0)


def package_dir(out: Path, division: str, org: str) -> Path:
    """<division>/<org>/: a submission package under `out`."""
    return out / division / org


def inference_readme(package: Path, benchmark: str, source_folder: str = SOURCE_FOLDER) -> Path:
    """src/<benchmark>/README.md (`code/` before v6.0): the implementation's README in an inference package."""
    return package / source_folder / benchmark / README


def training_readme(package: Path, benchmark: str) -> Path:
    """benchmarks/<benchmark>/implementations/podium/README.md in a training package (training.md §4.4)."""
    return package / "benchmarks" / benchmark / "implementations" / PODIUM / README


def hidden(path: Path, top: Path) -> bool:
    """Whether `path` lies below a folder of `top` whose name starts with "." (staging, partial runs)."""
    try:
        parts = path.relative_to(top).parts
    except ValueError:
        return False
    return any(part.startswith(".") for part in parts[:-1])


def subdirs(path: Path) -> list[Path]:
    """The folders in `path`, except those whose name starts with "." (a run's staging or partial files, a
    submission build in progress or killed): they are no part of the results."""
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def make_public(folder: Path) -> None:
    """Give every file below `folder` FILE_MODE and every folder DIR_MODE: a package is for others to read,
    whatever the modes of the files copied into it (a 0600 record) or of a 0700 staging folder."""
    os.chmod(folder, DIR_MODE)
    for path, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(path, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(path, name), FILE_MODE)
