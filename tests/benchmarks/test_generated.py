"""What the registry generates: mlperf.conf files, checker constants, docs; and the files on disk are current."""

from __future__ import annotations

import warnings

import pytest

from podium.benchmarks import (
    TINY_ROUND,
    Scenario,
    checker_constants,
    get_round,
    render_docs_table,
    render_mlperf_conf,
    rounds,
)
from podium.benchmarks.generate import SHIPPED_CONF_ROUND, generated_files, main
from podium.loadgen.config import ConfType, _scan_official, apply_config, mlperf_conf_text
from podium.loadgen.settings import TestSettings


def test_generated_files_are_up_to_date():
    """Fails after a round file changed without `python -m podium.benchmarks.generate`."""
    stale = [str(p) for p, text in generated_files().items() if not p.exists() or p.read_text("utf-8") != text]
    assert stale == [], "run: python -m podium.benchmarks.generate"
    assert main(["--check"]) == 0


def test_shipped_conf_is_the_rendered_round():
    assert mlperf_conf_text() == render_mlperf_conf(get_round(SHIPPED_CONF_ROUND))


@pytest.mark.parametrize("name", rounds())
def test_rendered_conf_reads_back_as_the_round(name):
    r = get_round(name)
    kv, errors = _scan_official(render_mlperf_conf(r))
    assert errors == [] and kv == dict(r.conf)


@pytest.mark.parametrize("scenario", list(Scenario))
def test_tiny_conf_is_accepted_by_the_engine(tmp_path, scenario):
    path = tmp_path / "mlperf.conf"
    path.write_text(render_mlperf_conf(get_round(TINY_ROUND)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning
        ts = apply_config(TestSettings(), path, "digits", scenario, conf_type=ConfType.MLPERF)
    seeds = get_round(TINY_ROUND).seeds
    assert (ts.qsl_rng_seed, ts.sample_index_rng_seed, ts.schedule_rng_seed) == \
        (seeds.qsl_rng_seed, seeds.sample_index_rng_seed, seeds.schedule_rng_seed)
    assert ts.min_duration_ms == 1000 and ts.performance_sample_count_override == 355
    assert ts.min_query_count == {"SingleStream": 100, "MultiStream": 662, "Server": 1000,
                                  "Offline": 1024}[scenario.value]
    assert ts.server_target_latency_ns == 10_000_000 and ts.multi_stream_samples_per_query == 8


def test_checker_constants_of_the_latest_round():
    c = checker_constants(get_round("v6.1"))
    assert c["version"] == "v6.1" and "resnet" in c["models"] and "llama2-70b-99" not in c["models"]
    assert c["accuracy-target"]["resnet"] == ("acc", 76.46 * 0.99)
    assert c["accuracy-upper-limit"]["llama2-70b-99.9"] == ("TOKENS_PER_SAMPLE", 294.45 * 1.1)
    assert c["required-scenarios-edge"]["resnet"] == ["SingleStream", "MultiStream", "Offline"]
    assert c["optional-scenarios-datacenter"]["gpt-oss-120b"] == ["Interactive", "Server"]
    assert c["performance-sample-count"]["wan-2.2-t2v-a14b"] == 50 and c["dataset-size"]["yolo-99"] == 1525
    assert c["seeds"]["schedule_rng_seed"] == 16159082839903944936
    assert c["latency-constraint"]["dlrm-v3"] == {"Server": 60_000_000_000}
    assert c["min-queries"]["resnet"]["MultiStream"] == 270336
    assert "resnet" in c["models_TEST04"] and c["models_TEST08"] == ["dlrm-v3"]
    assert c["loadgen-model"]["llama3.1-8b"] == "llama3_1-8b" and "3d-unet-99" in c["equal-issue"]
    assert c["token-latencies"]["llama2-70b-99.9"] == {"ttft_ns": 2_000_000_000, "tpot_ns": 200_000_000}
    assert c["accuracy-target"]["qwen3-vl-235b-a22b"]["Interactive"] == ("F1_HIERARCHICAL", 0.7878 * 0.99)


def test_checker_constants_of_older_and_tiny_rounds():
    v10 = checker_constants(get_round("v1.0"))
    assert "bert-99.9" not in v10["required-scenarios-edge"]  # the 99.9 % variant was datacenter only
    assert v10["required-scenarios-datacenter-edge"]["bert-99.9"] == ["Offline"]
    assert v10["test05_seeds"]["qsl_rng_seed"] == 313588358309856706
    assert v10["models_TEST04-A"] == ["ssd-small", "ssd-large", "resnet", "3d-unet-99", "3d-unet-99.9"]
    tiny = checker_constants(get_round(TINY_ROUND))
    assert tiny["models"] == ["digits", "tiny-detection", "tiny-segmentation", "tiny-qa", "tiny-translation",
                              "tiny-speech", "tiny-ctr"]
    assert tiny["accuracy-target"]["digits"] == ("acc", None)


def test_docs_table():
    text = render_docs_table(get_round("v6.1"))
    assert text.startswith("## v6.1") and "| `resnet50` | resnet |" in text
    assert "`gptj` (in mlperf.conf only)" in text
