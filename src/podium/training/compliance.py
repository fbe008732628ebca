"""The official MLPerf checkers, run as subprocesses and judged by their output, never by their exit codes.

`check_log` runs `python -m mlperf_logging.compliance_checker` on one result file. For benchmarks the official
rule files do not know (Podium's own), Podium's rule files (checker YAML, in `rules/training_<ruleset>/`) are
written out next to the results and the official engine runs on them: the official `common.yaml` of the ruleset,
with its division rule pointed at Podium's `{closed,open}_common.yaml`, which enqueue `<division>_<benchmark>.yaml`.
`check_package` runs `python -m mlperf_logging.package_checker`, which exits 0 even when it finds errors
(reference §4.2), so its verdict is read from its last line.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from podium.core.errors import CheckerUnavailable
from podium.training.run_record import CheckVerdict

RULES_SOURCE = Path(__file__).with_name("rules")
SEPARATOR = "-" * 30
CHECKER_TIMEOUT_S = 120


def checker_installed() -> bool:
    return importlib.util.find_spec("mlperf_logging") is not None


def official_rules_dir(ruleset: str) -> Path:
    spec = importlib.util.find_spec("mlperf_logging.compliance_checker")
    if spec is None or spec.origin is None:
        raise CheckerUnavailable("mlperf-logging is not installed (pip install 'podium[training]')")
    return Path(spec.origin).parent / f"training_{ruleset}"


def write_podium_rules(ruleset: str, destination: Path) -> Path:
    """Write Podium's rule files for `ruleset` under `destination`; return the common.yaml to pass as --config."""
    source = RULES_SOURCE / f"training_{ruleset}"
    if not source.is_dir():
        raise CheckerUnavailable(f"Podium has no rule files for ruleset {ruleset}")
    destination.mkdir(parents=True, exist_ok=True)
    benchmarks = sorted(p.stem[len("closed_"):] for p in source.glob("closed_*.yaml") if p.stem != "closed_common")
    for path in source.glob("*.yaml"):
        text = path.read_text().replace("@RULES_DIR@", str(destination.resolve()))
        (destination / path.name).write_text(text.replace("@BENCHMARKS@", repr(benchmarks)))
    common = (official_rules_dir(ruleset) / "common.yaml").read_text()
    official_enqueue = f"enqueue_config('training_{ruleset}/{{}}_common.yaml'"
    if common.count(official_enqueue) != 1:
        raise CheckerUnavailable(f"the official training_{ruleset}/common.yaml has no single division rule to redirect")
    ours = common.replace(official_enqueue, f"enqueue_config('{destination.resolve()}/{{}}_common.yaml'")
    (destination / "common.yaml").write_text(ours)
    return destination / "common.yaml"


def check_log(log: Path, ruleset: str, config: Path | None = None) -> CheckVerdict:
    """Run the official compliance checker on one mllog; passed only if it printed SUCCESS."""
    if not checker_installed():
        raise CheckerUnavailable("mlperf-logging is not installed (pip install 'podium[training]')")
    with tempfile.TemporaryDirectory(prefix="podium-cc-") as scratch:   # the checker writes a log into its cwd
        argv = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
                "--ruleset", ruleset, "--log_output", str(Path(scratch) / "checker.log")]
        argv += ["--config", str(config.resolve())] if config else []
        out = _run(argv + [str(log.resolve())], cwd=scratch)
    lines = [line.strip() for line in out.splitlines()]
    passed = "INFO - SUCCESS" in lines and "ERROR - FAILED" not in lines
    return CheckVerdict("compliance_checker", passed, _messages(out))


def check_package(root: Path, ruleset: str) -> CheckVerdict:
    """Run the official package checker on a submission folder (systems/, results/)."""
    if not checker_installed():
        raise CheckerUnavailable("mlperf-logging is not installed (pip install 'podium[training]')")
    with tempfile.TemporaryDirectory(prefix="podium-pc-") as scratch:
        argv = [sys.executable, "-m", "mlperf_logging.package_checker", str(root.resolve()), "training", ruleset,
                "--log_output", str(Path(scratch) / "package_checker.log")]
        out = _run(argv, cwd=scratch)
    passed = "PACKAGE CHECKER FOUND NO ERRORS, SUCCESS !" in out and "FOUND ERRORS" not in out
    errors = tuple(line for line in out.splitlines() if line.startswith("ERROR"))
    return CheckVerdict("package_checker", passed, errors or _messages(out))


def _run(argv: list[str], cwd: str) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=CHECKER_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise CheckerUnavailable(f"{argv[2]} did not finish in {CHECKER_TIMEOUT_S} s") from e
    out = done.stdout + done.stderr
    if "Traceback (most recent call last)" in out:
        raise CheckerUnavailable(f"{argv[2]} crashed: {out.strip().splitlines()[-1]}")
    return out


def _messages(out: str) -> tuple[str, ...]:
    """The checker's complaints: its WARNING block, split on its separator lines."""
    match = re.search(r"WARNING -\s+(.*?)(?:\n(?:INFO|ERROR) - |\Z)", out, re.S)
    if not match:
        return ()
    return tuple(part.strip() for part in match.group(1).split(SEPARATOR) if part.strip())
