"""The benchmark registry: loading, lookups, "did you mean", accessors, the tiny round."""

from __future__ import annotations

import dataclasses

import pytest

import podium.benchmarks as benchmarks
from podium.benchmarks import (
    INTERACTIVE,
    LATEST_ROUND,
    TINY_ROUND,
    Category,
    Scenario,
    find_benchmark,
    get_round,
    rounds,
)
from podium.core.errors import UnknownNameError

SS, MS, SERVER, OFFLINE = Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.SERVER, Scenario.OFFLINE
MLPERF_ROUNDS = ("v0.5", "v0.7", "v1.0", "v1.1", "v2.0", "v2.1", "v3.0", "v3.1", "v4.0", "v4.1", "v5.0", "v5.1",
                 "v6.0", "v6.1")


def test_public_api_is_sorted_and_present():
    assert benchmarks.__all__ == sorted(benchmarks.__all__)
    assert all(hasattr(benchmarks, name) for name in benchmarks.__all__)


def test_every_round_loads_complete():
    assert rounds() == (*MLPERF_ROUNDS, TINY_ROUND) and LATEST_ROUND == "v6.1"
    for name in rounds():
        r = get_round(name)
        assert r.name == name and r.benchmarks and r.loadgen_version
        assert r.seeds.qsl_rng_seed and r.seeds.sample_index_rng_seed and r.seeds.schedule_rng_seed
        for b in r.benchmarks:
            assert b.round_name == name and b.model and b.dataset and b.performance_sample_count > 0
            assert b.variants or b.interactive_of


def test_unknown_round_suggests_the_nearest():
    with pytest.raises(UnknownNameError) as e:
        get_round("6.1")
    assert "v6.1" in e.value.suggestion


def test_unknown_benchmark_suggests_the_nearest():
    with pytest.raises(UnknownNameError) as e:
        get_round("v6.1").benchmark("resnet5")
    assert "resnet50" in e.value.suggestion
    with pytest.raises(UnknownNameError, match="mlperf.conf only"):
        get_round("v6.1").benchmark("gptj")  # retired: its lines stay in the conf
    with pytest.raises(UnknownNameError) as e:
        find_benchmark("lama2-70b")
    assert "llama2-70b" in e.value.suggestion


def test_lookup_by_loadgen_checker_and_alias_names():
    assert find_benchmark("resnet").name == "resnet50" and find_benchmark("resnet").round_name == LATEST_ROUND
    assert find_benchmark("bert-99.9").name == "bert"
    assert find_benchmark("llama3.1-8b").name == "llama3_1-8b"
    assert find_benchmark("gnmt").round_name == "v0.5"
    assert find_benchmark("ssd-small").name == "ssd-mobilenet" and find_benchmark("ssd-small").round_name == "v2.0"
    assert find_benchmark("bert-99", round="v0.7").round_name == "v0.7"
    assert find_benchmark("digits").round_name == TINY_ROUND
    assert get_round("v4.0").benchmark("ssd-resnet34").name == "retinanet"  # the checker's model_mapping
    assert get_round("v6.1").variant("bert-99.9").level == "99.9"
    # a checker name belongs to its benchmark, not to the "-interactive" model that shares it
    assert get_round("v6.1").benchmark("llama2-70b-99.9").name == "llama2-70b"


def test_resnet50_in_the_latest_round():
    b = get_round("v6.1").benchmark("resnet50")
    assert b.settings(SERVER)["target_latency"] == "15" and b.settings(SERVER)["min_duration"] == "600000"
    assert b.server_latency_ns == 15_000_000 and b.min_duration_ms(OFFLINE) == 600_000
    assert b.min_query_count(OFFLINE) == 24576 and b.min_query_count(MS) == 662 and b.min_query_count(SS) == 100
    assert b.target_latency_percentile(SS) == 90.0 and b.target_latency_percentile(OFFLINE) is None
    assert b.samples_per_query == 8 and not b.equal_issue and b.ttft_ns is None
    assert b.scenarios("edge") == (SS, MS, OFFLINE) and b.scenarios(Category.DATACENTER) == ()
    assert b.audit_tests == ("TEST01", "TEST04")
    assert b.metric == "top1" and b.metric_units == "%" and b.reference_accuracy == 76.46
    assert b.targets == {"99": 76.46 * 0.99} and b.dataset_size == 50000 and b.performance_sample_count == 1024
    assert b.checker_min_queries["MultiStream"] == 270336


def test_llm_token_latencies_and_interactive():
    r = get_round("v6.1")
    b = r.benchmark("llama2-70b")
    assert b.uses_token_latencies and b.server_latency_ns is None
    assert (b.ttft_ns, b.tpot_ns) == (2_000_000_000, 200_000_000) and b.equal_issue
    assert b.interactive_model == "llama2-70b-interactive"
    i = r.benchmark(b.interactive_model)
    assert i.interactive_of == "llama2-70b" and (i.ttft_ns, i.tpot_ns) == (450_000_000, 40_000_000)
    assert i.model == b.model  # what an "-interactive" entry does not state comes from its benchmark
    assert b.scenarios("datacenter") == (OFFLINE,) and b.optional_scenarios("datacenter") == (SERVER,)
    assert INTERACTIVE in b.checker_scenarios("datacenter", optional=True)
    assert [v.name for v in b.variants] == ["llama2-70b-99.9"]
    assert get_round("v6.0").benchmark("gpt-oss-120b-interactive").tpot_ns == 15_000_000


def test_values_that_changed_across_rounds():
    assert get_round("v0.5").benchmark("resnet50").min_duration_ms(SERVER) == 60_000
    assert get_round("v0.5").benchmark("gnmt").target_latency_percentile(SERVER) == 97.0
    assert get_round("v0.5").benchmark("mobilenet").variants[0].targets[0].fraction == 0.98
    assert get_round("v1.1").benchmark("resnet50").samples_per_query == 4  # streams searched by the submitter
    assert get_round("v2.0").benchmark("resnet50").samples_per_query == 8
    assert get_round("v3.0").benchmark("bert").min_query_count(SS) == 1024
    assert get_round("v3.1").benchmark("bert").min_query_count(SS) == 100  # unset in v3.1
    assert get_round("v0.7").benchmark("3d-unet").dataset_size == 67
    assert get_round("v6.0").benchmark("pointpainting").target_latency_percentile(SS) == 99.9
    assert get_round("v6.0").benchmark("3d-unet").equal_issue
    assert get_round("v6.1").seeds != get_round("v6.0").seeds


def test_variants_levels_and_ranges():
    bert = get_round("v6.1").benchmark("bert")
    assert [v.level for v in bert.variants] == ["99", "99.9"]
    assert bert.accuracy_threshold("99.9") == pytest.approx(90.874 * 0.999)
    sdxl = get_round("v6.1").benchmark("stable-diffusion-xl")
    assert sdxl.reference_accuracy is None and sdxl.targets["range"] == (31.68631873, 31.81331801)
    with pytest.raises(UnknownNameError):
        bert.accuracy_threshold("95")


def test_round_objects_are_frozen():
    b = get_round("v6.1").benchmark("resnet50")
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        b.conf["resnet50.Server.target_latency"] = "1"  # type: ignore[index]
    r = get_round("v6.1")
    assert len({b, r.benchmark("resnet"), r.benchmark("bert")}) == 2 and len({r, get_round("v6.1")}) == 1
    assert len(set(r.benchmark("bert").variants)) == 2


def test_tiny_round_digits():
    from podium.benchmarks.tiny import digits

    b = digits()
    r = get_round(TINY_ROUND)
    assert r.seeds == get_round("v6.1").seeds
    assert b.dataset_size == b.performance_sample_count == 355 and b.metric == "top1" and b.metric_units == "%"
    assert b.reference_accuracy is None and b.reference_measured_at_run_time
    assert b.targets == {"99": None} and b.accuracy_threshold(reference=98.0) == pytest.approx(97.02)
    assert b.scenarios("edge") == (SS, MS, OFFLINE) and b.scenarios("datacenter") == (SERVER, OFFLINE)
    assert all(b.min_duration_ms(s) == 1000 for s in Scenario)
    assert (b.min_query_count(SS), b.min_query_count(MS), b.min_query_count(SERVER), b.min_query_count(OFFLINE)) \
        == (100, 662, 1000, 1024)
    assert b.server_latency_ns == 10_000_000 and b.samples_per_query == 8
    assert b.target_latency_percentile(SERVER) == 99.0
    assert b.settings(OFFLINE)["performance_sample_count_override"] == "355"


def test_tiny_query_counts_let_early_stopping_pass():
    """Early stopping (confidence 99 %) can pass with none over the bound at each scenario's minimum."""
    from podium.loadgen.early_stopping import CONFIDENCE, TOLERANCE, MinPassingQueriesFinder

    b = get_round(TINY_ROUND).benchmark("digits")
    for s in (SS, MS, SERVER):
        needed = MinPassingQueriesFinder()(0, b.target_latency_percentile(s) / 100, TOLERANCE, CONFIDENCE)
        assert b.min_query_count(s) >= needed, s
