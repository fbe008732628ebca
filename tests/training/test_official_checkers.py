"""The official MLPerf checkers accept the harness's logs, unmodified: closed ResNet-50 (ruleset 4.0.0, LARS)
and closed Llama 3.1 8B (ruleset 6.1.0) driven by scripted workloads; and Podium reads their verdicts from
their output (a broken log is reported as failing although the package checker would exit 0)."""

from __future__ import annotations

import pytest

from podium.training.campaign import Campaign, CampaignConfig
from podium.training.compliance import check_log, check_package
from podium.workloads import WORKLOADS

pytest.importorskip("mlperf_logging")


def _campaign(tmp_path, name: str, runs: int):
    config = CampaignConfig(runs=runs, seed=101, out=tmp_path, save_models=False)
    return Campaign(WORKLOADS.get(name), config).run()


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    return _campaign(tmp_path_factory.mktemp("resnet"), "scripted-resnet50", 5)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return _campaign(tmp_path_factory.mktemp("llama"), "scripted-llama31-8b", 10)


@pytest.mark.parametrize("name", ["resnet", "llama"])
def test_every_log_passes_the_compliance_checker(name, request):
    result = request.getfixturevalue(name)
    verdicts = [r.compliance for r in result.records]
    assert all(v is not None and v.passed for v in verdicts), [v.messages for v in verdicts if v]
    assert result.score.valid


def test_resnet_package_passes_the_package_checker_with_seeds_and_rcps(resnet):
    verdict = check_package(resnet.layout.out, "4.0.0")
    assert verdict.passed, verdict.messages


def test_llama_package_passes_the_package_checker_with_seeds_and_rcps(llama):
    verdict = check_package(llama.layout.out, "6.1.0")
    assert verdict.passed, verdict.messages


def test_a_log_without_the_division_fails_and_says_why(resnet, tmp_path):
    text = resnet.layout.result_log(0).read_text().splitlines()
    broken = tmp_path / "broken.txt"
    broken.write_text("\n".join(line for line in text if '"submission_division"' not in line) + "\n")
    verdict = check_log(broken, "4.0.0")
    assert not verdict.passed
    assert any("submission_division" in m for m in verdict.messages)


def test_a_package_with_a_repeated_seed_fails_although_the_checker_exits_0(resnet, tmp_path):
    import shutil

    copy = tmp_path / "pkg"
    shutil.copytree(resnet.layout.out, copy)
    logs = sorted((copy / "results").rglob("result_*.txt"))
    logs[1].write_text(logs[0].read_text())    # two runs with the same seed on the same line
    verdict = check_package(copy, "4.0.0")
    assert not verdict.passed
