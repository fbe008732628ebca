"""podium.loadgen.config: lookups, units, the official quirks (compat) and Podium's strict diagnostics.

The same behaviour is compared with the official library in test_config_vs_official.py.
"""

from __future__ import annotations

import warnings
from importlib.resources import files
from pathlib import Path

import pytest

from podium.core.errors import ConfigError, PodiumError
from podium.loadgen.config import (
    EINVAL,
    ENOENT,
    ConfigState,
    ConfType,
    ConfigWarning,
    apply_config,
    from_config_compat,
    known_keys,
)
from podium.loadgen.settings import Mode, TestSettings

MULTIPLE = "Multiple conf files are used. This is not valid for official submission."


@pytest.fixture
def conf(tmp_path):
    """Write a config file; returns its path."""
    def write(text: str, name: str = "user.conf") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def apply(path, model="resnet50", scenario="Server", conf_type=1, **kw) -> TestSettings:
    return apply_config(TestSettings(), path, model, scenario, conf_type, **kw)


# ---- the shipped mlperf.conf ---------------------------------------------------------------------------------


def test_shipped_mlperf_conf_values():
    ts = apply_config(TestSettings(), None, "resnet50", "Server", conf_type=0)
    assert (ts.qsl_rng_seed, ts.sample_index_rng_seed, ts.schedule_rng_seed) == (
        2085463073848966840, 2747215439041700203, 16159082839903944936)
    assert (ts.performance_sample_count_override, ts.server_target_latency_ns, ts.min_duration_ms) == (
        1024, 15_000_000, 600_000)
    assert ts.test05_schedule_rng_seed == 15816800565822761601 and not ts.test05
    llama = apply_config(TestSettings(), None, "llama2-70b", "Server", conf_type=0)
    assert llama.use_token_latencies
    assert (llama.ttft_latency, llama.tpot_latency) == (2_000_000_000, 200_000_000)
    assert llama.server_target_latency_ns == 0 and llama.sample_concatenate_permutation
    gptj = apply_config(TestSettings(), None, "gptj", "Offline", conf_type=0)
    assert gptj.infer_token_latencies and gptj.token_latency_scaling_factor == 69 and gptj.min_query_count == 13368
    pp = apply_config(TestSettings(), None, "pointpainting", "SingleStream", conf_type=0)
    assert pp.single_stream_target_latency_percentile == 99.9 * 0.01  # the official's double product
    unet = apply_config(TestSettings(), None, "3d-unet", "Offline", conf_type=0)
    assert unet.performance_sample_count_override == 0 and unet.min_query_count == 43
    retinanet = apply_config(TestSettings(), None, "retinanet", "MultiStream", conf_type=0)
    assert retinanet.multi_stream_expected_latency_ns == 528e6


def test_shipped_mlperf_conf_passes_the_strict_reader():
    path = files("podium.loadgen").joinpath("data/mlperf.conf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        for scenario in ("SingleStream", "MultiStream", "Server", "Offline"):
            assert apply_config(TestSettings(), str(path), "gptj", scenario, conf_type=0) == apply_config(
                TestSettings(), None, "gptj", scenario, conf_type=0)


# ---- lookups and units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "expected"), [(4, 1), (3, 2), (2, 3), (1, 4)])
def test_precedence_model_scenario_then_wildcards(conf, lines, expected):
    levels = ["resnet50.Server.min_duration = 1", "*.Server.min_duration = 2", "resnet50.*.min_duration = 3",
              "*.*.min_duration = 4"]
    path = conf("\n".join(levels[4 - lines:]) + "\n")
    assert apply(path, conf_type=2).min_duration_ms == expected


def test_units_and_fixed_scenario_keys(conf):
    path = conf("*.SingleStream.target_latency = 0.25\n*.Server.target_latency = 7\n"
                "*.MultiStream.target_latency_percentile = 99.9\n*.Server.target_qps = 2.5\n"
                "*.Offline.target_qps = 40\n*.MultiStream.samples_per_query = 4\n")
    ts = apply(path, scenario="Offline", conf_type=2)  # fixed-scenario keys are read in every run
    assert ts.single_stream_expected_latency_ns == 0.25 * 1e6 and ts.server_target_latency_ns == 7_000_000
    assert ts.multi_stream_target_latency_percentile == 99.9 * 0.01
    assert (ts.server_target_qps, ts.offline_expected_qps, ts.multi_stream_samples_per_query) == (2.5, 40.0, 4)


def test_every_key_sets_its_field(conf):
    path = conf("*.*.use_token_latencies = 1\n*.*.ttft_latency = 3\n*.*.tpot_latency = 4\n"
                "*.*.infer_token_latencies = 1\n*.*.token_latency_scaling_factor = 5\n"
                "*.*.performance_issue_same = 1\n*.*.performance_issue_same_index = 6\n"
                "*.*.coalesce_queries = 1\n*.*.max_async_queries = 7\n*.*.max_duration = 8\n"
                "*.*.max_query_count = 9\n*.*.accuracy_sample_count_override = 10\n*.*.print_timestamps = 1\n"
                "*.*.accuracy_log_rng_seed = 11\n*.*.accuracy_log_sampling_target = 12\n*.*.mode = 1\n"
                "*.*.performance_issue_unique = 1\n*.*.sample_concatenate_permutation = 1\n")
    ts = apply(path, "mymodel", "Server", 2)
    assert (ts.ttft_latency, ts.tpot_latency, ts.token_latency_scaling_factor) == (3_000_000, 4_000_000, 5)
    assert ts.performance_issue_same and ts.performance_issue_same_index == 6 and ts.server_coalesce_queries
    assert (ts.server_max_async_queries, ts.max_duration_ms, ts.max_query_count) == (7, 8, 9)
    assert (ts.accuracy_sample_count_override, ts.accuracy_log_rng_seed, ts.accuracy_log_sampling_target) == (
        10, 11, 12)
    assert ts.print_timestamps and ts.mode is Mode.ACCURACY and ts.performance_issue_unique
    assert ts.sample_concatenate_permutation and ts.use_token_latencies and ts.infer_token_latencies


def test_mlperf_conf_only_keys_from_a_given_mlperf_conf(conf):
    path = conf("*.*.accuracy_log_probability = 12.5\n*.*.test05 = 1\n*.*.qsl_rng_seed = 0x10\n", "m.conf")
    ts = apply(path, conf_type=0)
    assert ts.accuracy_log_probability == 12.5 * 0.01 and ts.test05 and ts.qsl_rng_seed == 16


def test_integer_parsing_follows_strtoull_in_compat(conf):
    cases = {"0x1F": 31, "010": 8, "08": 0, "1.9": 1, "1e3": 1, "-1": 2**64 - 1, "99999999999999999999": 2**64 - 1,
             "+7": 7, ".5": 0, "inf": 0}
    for text, expected in cases.items():
        ts = TestSettings()
        assert from_config_compat(ts, conf(f"*.*.min_query_count = {text}\n"), "m", "Server", 2,
                                  state=ConfigState()) == 0
        assert ts.min_query_count == expected, text
    ts = TestSettings()
    from_config_compat(ts, conf("*.*.max_async_queries = 2147483648\n"), "m", "Server", 2, state=ConfigState())
    assert ts.server_max_async_queries == 2**64 - 2**31  # through a C int


# ---- the official's behaviour (compat) ------------------------------------------------------------------------


def test_compat_user_conf_loads_mlperf_conf_once_per_state(conf):
    state, path = ConfigState(), conf("*.Server.target_qps = 250\n")
    first, second = TestSettings(), TestSettings()
    assert from_config_compat(first, path, "resnet50", "Server", state=state) == 0
    assert first.server_target_qps == 250 and first.performance_sample_count_override == 1024
    assert from_config_compat(second, path, "resnet50", "Server", state=state) == 0
    assert second.server_target_qps == 250 and second.performance_sample_count_override == 0
    assert state.take_logged_errors() == [("error_invalid_config", MULTIPLE)] and state.logged_errors == []
    other = TestSettings()
    from_config_compat(other, path, "resnet50", "Server", state=ConfigState())  # no hidden global
    assert other.performance_sample_count_override == 1024


def test_compat_failures_keep_mlperf_conf_and_log_errors(conf):
    state, ts = ConfigState(), TestSettings()
    assert from_config_compat(ts, "/nonexistent/user.conf", "resnet50", "Server", state=state) == ENOENT
    assert ts.performance_sample_count_override == 1024  # applied before the file failed
    assert from_config_compat(ts, conf("*.*.min_duration = 5 # ms\n*.*.x y\n"), "r", "Server", 2,
                              state=state) == EINVAL
    assert ts.min_duration_ms == 600_000  # a rejected file changes nothing
    assert from_config_compat(ts, conf("*.*.mode = 9\na.b.c=5\n*.*.min_duration = 5\n"), "r", "Server", 2,
                              state=state) == 0
    assert ts.min_duration_ms == 5 and ts.mode is Mode.PERFORMANCE
    assert [m for _, m in state.logged_errors] == [
        "can't open file /nonexistent/user.conf", "value needs to be integer or double, line=1",
        "expected 'key=value', line=2", "Invalid value passed to Mode key in config."]


# ---- Podium's strict reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "words", "suggestion"), [
    ("*.*.min_duraton = 5", "unknown key 'min_duraton'", "*.*.min_duration"),
    ("*.*.min_duration=5", "spaces around '='", None),
    ("*.*.min_duration = 5 # ms", "trailing comment", None),
    ("*.server.target_qps = 5", "unknown scenario 'server'", "*.Server.target_qps"),
    ("target_qps = 5", "'model.scenario.name'", "*.*.target_qps"),
    ("Server.target_qsp = 5", "'model.scenario.name'", "*.Server.target_qps"),
    ("#note about qps", "comment needs '#' then a space", None),
    ("*.*.min_duration = 5 6", "one value per line", None),
    ("*.*.min_duration = 5ms", "not an integer or a number", None),
    ("*.*.qsl_rng_seed = 5", "read only from mlperf.conf", None),
    ("*.Server.target_latency = 0.5", "reads '0.5' as 0", None),
    ("*.*.min_query_count = 010", "leading 0 means octal", None),
    ("*.*.min_query_count = 1e3", "reads '1e3' as 1", None),
    ("*.*.min_query_count = -1", "must not be negative", None),
    ("*.*.max_async_queries = 2147483648", "C int", None),
    ("*.Server.target_latency = 20000000000000", "exceeds the 64-bit range", None),
    ("*.*.mode = 4", "mode must be 0 (SubmissionRun)", None),
    ("*.*.use_token_latencies = 2", "is 0 or 1", None),
    ("*.Server.ttft_latency = 500", "read only when use_token_latencies = 1", None),
    ("*.Server.target_latency_percentile = 100", "percent between 0 and 100", None),
    ("*.Offline.target_qps = inf", "finite", None),
    ("*.Server.target_latency_percentile = 99 # c", "trailing comment", None),
    ("resnet50.Server.coalesce_querie = 1", "unknown key", "resnet50.Server.coalesce_queries"),
])
def test_strict_errors_name_file_line_key_and_suggestion(conf, text, words, suggestion):
    path = conf("# header\n*.Server.target_qps = 100\n" + text + "\n")
    with pytest.raises(ConfigError) as info:
        apply(path)
    err = info.value
    assert words in str(err) and (err.path, err.line, err.suggestion) == (str(path), 3, suggestion)
    assert err.key is not None and text.startswith(err.key)
    assert isinstance(err, PodiumError)


def test_strict_scenario_scoped_key_in_the_wrong_scenario(conf):
    path = conf("*.SingleStream.target_qps = 5\n")
    with pytest.raises(ConfigError, match="read only for Offline, Server"):
        apply(path, scenario="SingleStream")
    with pytest.warns(ConfigWarning, match="read only for Offline, Server"):
        apply(path, scenario="Server")  # not this run's scenario: a warning


def test_the_official_mlperf_conf_s_out_of_scope_line_is_not_the_user_s_warning(conf, recwarn):
    """The official mlperf.conf sets *.Offline.target_latency_percentile, which no Offline run reads: every
    Offline run would warn about a file the user did not write. The same line in a user.conf still warns."""
    path = conf("*.Offline.target_latency_percentile = 90\n")
    apply_config(TestSettings(), path, "resnet50", "Offline", ConfType.MLPERF)
    assert not [w for w in recwarn if issubclass(w.category, ConfigWarning)]
    with pytest.warns(ConfigWarning, match="read only for"):
        apply_config(TestSettings(), path, "resnet50", "Server", ConfType.USER)


def test_strict_counts_further_errors(conf):
    with pytest.raises(ConfigError, match=r"and 1 more error"):
        apply(conf("*.*.min_duraton = 5\n*.*.max_duraton = 5\n"))


def test_strict_warnings_for_lines_that_do_not_apply(conf):
    path = conf("bert.*.min_duraton = 5\n*.*.min_duration = 1\n*.*.min_duration = 2\n"
                "*.Server.target_duration = 0\nresnet5.*.min_query_count = 3\n")
    state = ConfigState()
    with pytest.warns(ConfigWarning):
        ts = apply(path, state=state)
    assert ts.min_duration_ms == 2
    assert [(w.line, w.suggestion) for w in state.warnings] == [
        (1, "bert.*.min_duration"), (3, None), (4, None), (5, "resnet50.*.min_query_count")]
    assert all(not w.is_error for w in state.warnings)


def test_strict_accepts_compliance_audit_configs(conf):
    """Lines as in the official compliance audit.config files (TEST01, TEST04, TEST06/07/09)."""
    path = conf("# audit\n*.*.mode = 2\n*.*.accuracy_log_rng_seed = 720381539243781796\n"
                "*.*.accuracy_log_sampling_target = 4096\n*.Server.performance_issue_same = 1\n"
                "*.Server.performance_issue_same_index = 3\nstable-diffusion-xl.Offline.min_query_count = 500\n"
                "*.*.min_duration = 0\n*.*.sample_concatenate_permutation = 0\n"
                "*.*.test07_accuracy_threshold = 60.698\n*.*.test09_min_output_tokens = 1150.38\n", "audit.config")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = apply(path, model="*", conf_type=2)
    assert ts.mode is Mode.PERFORMANCE and ts.accuracy_log_sampling_target == 4096
    assert ts.performance_issue_same and ts.performance_issue_same_index == 3 and ts.min_duration_ms == 0


def test_strict_second_user_conf_on_a_state_fails_fast(conf):
    state, path = ConfigState(), conf("*.Server.target_qps = 5\n")
    base = TestSettings()
    ts = apply_config(base, path, "resnet50", "Server", state=state)
    assert base == TestSettings() and ts.performance_sample_count_override == 1024  # input unchanged
    assert state.user_conf_count == 1
    with pytest.raises(ConfigError, match="second user.conf"):
        apply_config(ts, path, "resnet50", "Server", state=state)
    assert apply_config(ts, path, "resnet50", "Server", conf_type=2, state=state) == ts


def test_strict_call_errors(conf, tmp_path):
    with pytest.raises(ConfigError, match="cannot read") as info:
        apply(tmp_path / "missing.conf")
    assert info.value.path == str(tmp_path / "missing.conf")
    with pytest.raises(ConfigError, match="unknown scenario"):
        apply(conf(""), scenario="Sever")
    with pytest.raises(ConfigError, match="conf_type"):
        apply(conf(""), conf_type=5)
    assert apply(conf(""), scenario="server", conf_type=2) == TestSettings()  # names are normalized


def test_public_api():
    import podium.loadgen.config as config

    assert config.__all__ == sorted(config.__all__) and all(hasattr(config, n) for n in config.__all__)


def test_known_keys():
    assert "target_qps" in known_keys() and "ttft_latency" in known_keys() and len(known_keys()) == 33
