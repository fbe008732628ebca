"""The shared vocabulary: every spelling accepted before the enums moved to podium.core.vocabulary still parses."""

from __future__ import annotations

import pytest

from podium.core.errors import ConfigError, UnknownNameError
from podium.core.vocabulary import (Division, Engine, PeakMethod, Precision, RunnerKind, Scenario,
                                    SubmissionScenario)


@pytest.mark.parametrize(("text", "member"), [
    ("SingleStream", Scenario.SINGLE_STREAM), ("single-stream", Scenario.SINGLE_STREAM),
    ("SINGLE_STREAM", Scenario.SINGLE_STREAM), ("multistream", Scenario.MULTI_STREAM),
    ("Server", Scenario.SERVER), ("offline", Scenario.OFFLINE)])
def test_scenario_parses_its_names_in_any_case_with_or_without_separators(text, member) -> None:
    assert Scenario.parse(text) is member


def test_the_engine_scenarios_are_loadgens_four_and_interactive_is_a_submission_scenario() -> None:
    assert [s.value for s in Scenario] == ["SingleStream", "MultiStream", "Server", "Offline"]
    with pytest.raises(ValueError, match="unknown scenario 'Interactive'"):
        Scenario.parse("Interactive")
    assert SubmissionScenario.parse("interactive") is SubmissionScenario.INTERACTIVE
    assert SubmissionScenario.INTERACTIVE.test_scenario is Scenario.SERVER
    assert all(SubmissionScenario.of(s).test_scenario is s for s in Scenario)


def test_old_import_locations_name_the_same_enums() -> None:
    from podium.inference.backends import Precision as BackendPrecision
    from podium.loadgen.settings import Scenario as LoadgenScenario
    from podium.workloads.base import Division as WorkloadDivision
    from podium.workloads.base import Precision as WorkloadPrecision

    assert LoadgenScenario is Scenario and WorkloadDivision is Division
    assert BackendPrecision is Precision and WorkloadPrecision is Precision


@pytest.mark.parametrize("text", ["fp32", "bf16", "fp16", "FP32", "Bf16"])
def test_precision_parses_the_command_line_spellings(text) -> None:
    assert Precision.parse(text).value == text.lower()
    assert Precision(text.lower()) == text.lower()  # a StrEnum: the text it is written as


def test_precision_names_its_mllog_value_and_refuses_an_unknown_one() -> None:
    assert [p.mllog_name for p in Precision] == ["fp32", "bfloat16", "fp16"]
    with pytest.raises(ConfigError, match="unknown precision 'int8'; one of fp32, bf16, fp16"):
        Precision.parse("int8")


def test_division_parses_and_keeps_its_init_budget() -> None:
    assert Division.parse("Closed") is Division.CLOSED and Division.parse("open") is Division.OPEN
    assert Division.CLOSED.init_budget_ms == 30 * 60_000 and Division.OPEN.init_budget_ms == 240 * 60_000
    with pytest.raises(ConfigError, match="unknown division 'shut'"):
        Division.parse("shut")


@pytest.mark.parametrize(("kind", "texts"), [(Engine, ["podium", "official"]),
                                             (RunnerKind, ["inline", "pool", "processes"]),
                                             (PeakMethod, ["loadgen", "bisect"])])
def test_engine_runner_and_peak_method_parse_their_spellings_and_members(kind, texts) -> None:
    assert [m.value for m in kind] == texts
    for text in texts:
        assert kind.parse(text) is kind(text) and kind.parse(kind(text)) is kind(text)


def test_unknown_engine_runner_and_peak_method_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="unknown engine 'c\\+\\+'; expected podium or official"):
        Engine.parse("c++")
    with pytest.raises(UnknownNameError, match="unknown runner 'gpu'; known: inline, pool, processes"):
        RunnerKind.parse("gpu")
    with pytest.raises(ConfigError, match="unknown peak search 'scan'; expected loadgen or bisect"):
        PeakMethod.parse("scan")
