"""Shared fixture trees for the results tests: built once per session by running the engine, copied per test."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from podium.loadgen import Scenario
from podium.results.checker import check_tree
from podium.results.submission import build_submission
from tests.results.fixtures import make_run_tree, make_training_tree, resolve_round


@pytest.fixture(scope="session")
def run_tree(tmp_path_factory) -> Path:
    """A clean inference run directory: all four scenarios of the digits benchmark."""
    return make_run_tree(tmp_path_factory.mktemp("run") / "out")


@pytest.fixture(scope="session")
def short_tree(tmp_path_factory) -> Path:
    """A run directory whose only result (Offline) is marked short."""
    return make_run_tree(tmp_path_factory.mktemp("short") / "out", (Scenario.OFFLINE,), short=True)


@pytest.fixture(scope="session")
def training_tree(tmp_path_factory) -> Path:
    """A clean training run directory: five runs of the scripted closed ResNet-50 workload."""
    return make_training_tree(tmp_path_factory.mktemp("train") / "out")


@pytest.fixture(scope="session")
def submission(run_tree, tmp_path_factory) -> Path:
    """closed/ACME/ built from the clean run directory."""
    out = tmp_path_factory.mktemp("submission") / "sub"
    build_submission([run_tree], out, "ACME", "closed")
    complete_calibration(out / "closed" / "ACME")
    return out


def complete_calibration(package: Path) -> None:
    """What the submitter does with the calibration.md template of a closed package: write the details."""
    (package / "calibration.md").write_text("# Calibration\n\nNo calibration: FP32 weights as published.\n")


@pytest.fixture
def copy_of(tmp_path):
    """copy_of(tree) -> a private copy to break."""

    def copy(tree: Path) -> Path:
        target = tmp_path / f"copy-{tree.parent.name}"
        shutil.copytree(tree, target)
        return target

    return copy


@pytest.fixture
def check():
    """check_tree against the fixture round, without mlperf_logging's subprocesses (fast)."""
    return functools.partial(check_tree, resolve_round=resolve_round, official_tools=False)
