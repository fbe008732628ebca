"""Faults in settings and config files: each is refused before anything runs, with one line naming it.

Every test injects one bad value (through TestSettings, a real config file, or a real QSL of the wrong
size), runs the real engine (`derive`, `session.run` with the null SUT, `apply_config`) and checks the
`ConfigError`: its key, its message, and that the SUT and the QSL were never touched. What the official
LoadGen 6.0.17 does with the same value is in each docstring (measured with the installed mlperf_loadgen).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from podium.core.errors import ConfigError
from podium.loadgen import config, schedule, session, settings
from podium.loadgen.null_sut import NullQSL, NullSUT
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings, derive

NAN, INF = math.nan, math.inf


class RecordingQSL(NullQSL):
    """The null QSL, remembering whether the engine loaded anything."""

    def __init__(self, total: int, performance: int | None = None) -> None:
        super().__init__(total, performance)
        self.loaded: list[int] = []

    def load_samples(self, indices: list[int], /) -> None:
        self.loaded += indices


class RecordingSUT(NullSUT):
    """The null SUT, counting the queries it was given."""

    def __init__(self) -> None:
        self.queries = 0

    def issue_query(self, ids, indices, /, _complete=session.complete) -> None:
        self.queries += 1
        super().issue_query(ids, indices)


def _run(tmp_path, ts: TestSettings, qsl: NullQSL | None = None) -> tuple[RecordingSUT, NullQSL]:
    sut, qsl = RecordingSUT(), qsl or RecordingQSL(64)
    session.run(sut, qsl, ts, LogSettings(outdir=str(tmp_path)))
    return sut, qsl


def _short(scenario: Scenario, **fields) -> TestSettings:
    base = dict(scenario=scenario, mode=Mode.PERFORMANCE, min_duration_ms=20, min_query_count=10,
                server_target_qps=2000.0, offline_expected_qps=2000.0,
                single_stream_expected_latency_ns=50_000, multi_stream_expected_latency_ns=100_000)
    return TestSettings(**{**base, **fields})


# ---- numbers out of range, through derive (every API: native, compat, harness) ------------------------------

BAD_NUMBERS = [
    # (field, value, scenario): the official's behaviour is in the comment
    ("server_target_qps", 0.0, Scenario.SERVER),  # official: std::bad_alloc (an endless schedule), SIGSEGV
    ("server_target_qps", -5.0, Scenario.SERVER),  # official: logs error_invalid_test_settings, runs at 1 QPS
    ("server_target_qps", NAN, Scenario.SERVER),  # official: runs at 1 QPS, writes `"value": nan` (not JSON)
    ("server_target_qps", INF, Scenario.SERVER),  # official: std::bad_alloc
    ("offline_expected_qps", 0.0, Scenario.OFFLINE),  # official: runs; generated_query_duration = -2**63
    ("offline_expected_qps", -1.0, Scenario.OFFLINE),  # official: logs an error, uses 1
    ("single_stream_expected_latency_ns", 0.0, Scenario.SINGLE_STREAM),  # official: std::bad_alloc
    ("single_stream_expected_latency_ns", 0.5, Scenario.SINGLE_STREAM),  # a zero query period: endless
    ("multi_stream_expected_latency_ns", NAN, Scenario.MULTI_STREAM),
    ("multi_stream_samples_per_query", 0, Scenario.MULTI_STREAM),  # official: std::bad_alloc
    ("min_duration_ms", -5, Scenario.SERVER),  # official: TypeError from the binding (uint64 field)
    ("min_duration_ms", 1.5, Scenario.SERVER),  # official: TypeError; Podium used to truncate it
    ("min_duration_ms", 10**18, Scenario.SERVER),  # 2 x 10**18 ms in ns overflows int64
    ("min_query_count", -1, Scenario.SERVER),
    ("server_target_latency_percentile", 1.0, Scenario.SERVER),  # official: reads sorted[n], out of bounds
    ("server_target_latency_percentile", NAN, Scenario.SERVER),  # official: accepted, junk in the summary
    ("single_stream_target_latency_percentile", 0.0, Scenario.SINGLE_STREAM),
    ("accuracy_log_probability", 2.0, Scenario.OFFLINE),  # official: accepted silently
    ("qsl_rng_seed", -1, Scenario.OFFLINE),  # official: TypeError from the binding
    ("schedule_rng_seed", 2**64, Scenario.SERVER),
    ("server_find_peak_qps_boundary_step_size", 0.0, Scenario.SERVER),  # find-peak would never widen
    ("server_find_peak_qps_decimals_of_precision", -1, Scenario.SERVER),
    ("server_coalesce_queries", 2, Scenario.SERVER),
]


@pytest.mark.parametrize(("field", "value", "scenario"), BAD_NUMBERS,
                         ids=[f"{f}={v!r}" for f, v, _ in BAD_NUMBERS])
def test_fault_out_of_range_setting_is_refused_naming_it(field, value, scenario):
    """Fault: a setting non-finite or out of its range; refused by derive, never replaced."""
    with pytest.raises(ConfigError) as info:
        derive(_short(scenario, **{field: value}), 64, 64)
    assert info.value.key == field
    assert str(info.value).startswith(f"{field} must be ") and "\n" not in str(info.value)


def test_fault_setting_without_a_range():
    """Fault: a TestSettings field added without a range would go unchecked; every one has a rule."""
    fields = {f.name for f in dataclasses.fields(TestSettings)} - {"scenario", "mode"}
    assert fields == set(settings._RULES)


def test_fault_wrong_type_scenario_is_refused():
    """Fault: scenario given as a string (derive treated every unknown value as Offline)."""
    with pytest.raises(ConfigError, match="scenario must be a Scenario"):
        derive(TestSettings(scenario="Server"), 64, 64)


def test_fault_zero_target_qps_never_reaches_the_sut(tmp_path):
    """Fault: server_target_qps = 0 through session.run: refused before a sample is loaded or issued."""
    sut, qsl = RecordingSUT(), RecordingQSL(64)
    with pytest.raises(ConfigError, match="server_target_qps must be a finite number > 0, not 0.0"):
        session.run(sut, qsl, _short(Scenario.SERVER, server_target_qps=0.0), LogSettings(outdir=str(tmp_path)))
    assert sut.queries == 0 and qsl.loaded == []


def test_fault_negative_min_duration_in_a_run(tmp_path):
    """Fault: min_duration_ms = -5 (was "math domain error" from deep in the Server schedule)."""
    with pytest.raises(ConfigError, match=r"min_duration_ms must be an integer in \[0, "):
        _run(tmp_path, _short(Scenario.SERVER, min_duration_ms=-5))


# ---- the QSL and sample counts ---------------------------------------------------------------------------------


def test_fault_qsl_with_no_samples(tmp_path):
    """Fault: a QSL of 0 samples (was IndexError; the official dies of SIGSEGV)."""
    qsl = RecordingQSL(0)
    with pytest.raises(ConfigError, match="total_sample_count must be an integer >= 1, not 0"):
        _run(tmp_path, _short(Scenario.OFFLINE), qsl)
    assert qsl.loaded == []


@pytest.mark.parametrize("how", ["qsl", "override"])
def test_fault_performance_sample_count_above_the_qsl_is_capped_with_a_warning(tmp_path, how):
    """Fault: performance_sample_count above the QSL's total. The official 6.0.17 loads the QSL's total and
    says nothing (it logs the larger value as effective); Podium does the same and logs a warning."""
    qsl = RecordingQSL(40, 100) if how == "qsl" else RecordingQSL(40)
    fields = {"performance_sample_count_override": 100} if how == "override" else {}
    result = session.run(RecordingSUT(), qsl, _short(Scenario.OFFLINE, **fields), LogSettings(outdir=str(tmp_path)))
    assert result.settings.performance_sample_count == 40 and sorted(qsl.loaded) == list(range(40))
    message = "performance_sample_count 100 exceeds the QSL's 40 samples: using 40"
    assert message in result.warnings
    detail = [json.loads(line[9:]) for line in open(tmp_path / "mlperf_log_detail.txt")]
    assert {"key": "warning_generic_message", "value": message}.items() <= next(
        e for e in detail if e["value"] == message).items()
    assert next(e["value"] for e in detail if e["key"] == "effective_performance_sample_count") == 40


def test_fault_repeated_sample_outside_the_loaded_set():
    """Fault: performance_issue_same_index >= performance_sample_count (the official logs an error, then
    reads past its loaded set)."""
    with pytest.raises(ConfigError) as info:
        derive(_short(Scenario.OFFLINE, performance_issue_same=True, performance_issue_same_index=64), 64, 64)
    assert info.value.key == "performance_issue_same_index"


def test_fault_unique_and_same_both_on():
    """Fault: performance_issue_unique and performance_issue_same together (official: an error, runs unique)."""
    with pytest.raises(ConfigError, match="cannot both be on"):
        derive(_short(Scenario.SERVER, performance_issue_unique=True, performance_issue_same=True), 64, 64)


def test_fault_equal_issue_with_zero_performance_count():
    """Fault: SingleStream equal issue over a QSL whose performance count is 0 (official: SIGFPE)."""
    with pytest.raises(ConfigError, match="sample_concatenate_permutation"):
        derive(_short(Scenario.SINGLE_STREAM, sample_concatenate_permutation=True), 0, 64)


@pytest.mark.parametrize("scenario", [Scenario.SERVER, Scenario.OFFLINE, Scenario.SINGLE_STREAM])
def test_fault_empty_schedule(scenario):
    """Fault: min_duration_ms = 0 and min_query_count = 0: nothing to issue (official Server: SIGSEGV)."""
    with pytest.raises(ConfigError, match="min_query_count") as info:
        derive(_short(scenario, min_duration_ms=0, min_query_count=0), 64, 64)
    assert info.value.key == "min_query_count"


# ---- a schedule that would not fit in memory ----------------------------------------------------------------


def test_fault_schedule_too_big_for_memory_is_refused_before_allocation(tmp_path):
    """Fault: server_target_qps = 1e12 (was `MemoryError: Unable to allocate 7.28 TiB`; the official dies of
    std::bad_alloc): refused with the computed size and the settings to change."""
    sut = RecordingSUT()
    with pytest.raises(ConfigError) as info:
        session.run(sut, RecordingQSL(64), _short(Scenario.SERVER, server_target_qps=1e12, min_duration_ms=2000),
                    LogSettings(outdir=str(tmp_path)))
    text = str(info.value)
    assert "2,000,000,000,001 queries" in text and "TB" in text
    assert "lower server_target_qps, min_duration_ms or min_query_count" in text
    assert info.value.key == "server_target_qps" and sut.queries == 0


@pytest.mark.parametrize(("scenario", "fields", "key"), [
    (Scenario.SERVER, dict(server_target_qps=1e6, min_duration_ms=1000), "server_target_qps"),
    (Scenario.OFFLINE, dict(offline_expected_qps=1e6, min_duration_ms=1000), "offline_expected_qps"),
    (Scenario.SINGLE_STREAM, dict(single_stream_expected_latency_ns=1000, min_duration_ms=1000),
     "single_stream_expected_latency_ns"),
    (Scenario.MULTI_STREAM, dict(multi_stream_expected_latency_ns=1000, min_duration_ms=1000),
     "multi_stream_expected_latency_ns"),
])
def test_fault_schedule_over_the_memory_limit_names_what_shrinks_it(scenario, fields, key):
    """Fault: a schedule just over a given memory limit; each scenario names its own setting."""
    ts = _short(scenario, **fields)
    size = max(schedule.run_sizes(derive(ts, 64, 64), 64), key=lambda z: z.bytes)
    derive(ts, 64, 64, memory_limit_bytes=size.bytes)  # exactly at the limit: runs
    with pytest.raises(ConfigError, match="more than the") as info:
        derive(ts, 64, 64, memory_limit_bytes=size.bytes - 1)
    assert info.value.key == key and f"{size.samples:,} samples" in str(info.value)


def test_fault_accuracy_pass_over_a_huge_qsl():
    """Fault: an accuracy run over a QSL of 10**13 samples: the index shuffle alone would take 80 TB."""
    with pytest.raises(ConfigError, match="shuffle of the QSL indices"):
        derive(_short(Scenario.OFFLINE, mode=Mode.ACCURACY), 1024, 10**13)


def test_pass_size_matches_the_generated_schedule():
    """The closed-form sizes are the counts generate_queries makes (Server: within Poisson noise)."""
    for scenario in Scenario:
        eff = derive(_short(scenario, min_duration_ms=200), 64, 64)
        loaded = schedule.loadable_sets(eff, 64, 64)[0]
        sched = schedule.generate_queries(eff, Mode.PERFORMANCE, loaded)
        size = schedule.pass_size(eff, Mode.PERFORMANCE, loaded.distribution_end)
        assert size.samples == pytest.approx(sched.sample_index.size, rel=0.1 if scenario is Scenario.SERVER else 0)


# ---- config files: file, line and key ------------------------------------------------------------------------


@pytest.mark.parametrize(("conf_type", "line", "key"), [
    (config.ConfType.USER, "*.MultiStream.samples_per_query = 0", "*.MultiStream.samples_per_query"),
    (config.ConfType.USER, "*.*.min_duration = 99999999999999999", "*.*.min_duration"),
    (config.ConfType.USER, "*.SingleStream.target_latency = 0.0000001", "*.SingleStream.target_latency"),
    (config.ConfType.MLPERF, "*.*.accuracy_log_probability = 150", "*.*.accuracy_log_probability"),
    (config.ConfType.AUDIT, "*.MultiStream.samples_per_query = 0", "*.MultiStream.samples_per_query"),
])
def test_fault_config_value_out_of_range_names_file_line_and_key(tmp_path, conf_type, line, key):
    """Fault: a config value of the right type but out of its setting's range (was accepted)."""
    path = tmp_path / "some.conf"
    path.write_text(f"# header\n\n{line}\n")
    scenario = key.split(".")[1] if key.split(".")[1] != "*" else "Server"
    with pytest.raises(ConfigError) as info:
        config.apply_config(TestSettings(), path, "resnet50", scenario, conf_type)
    assert (info.value.path, info.value.line, info.value.key) == (str(path), 3, key)
    assert str(info.value).startswith(f"{path}:3: ")


def test_fault_huge_bad_token_is_not_echoed(tmp_path):
    """Fault: a 60 KB bad value in user.conf (was echoed whole into the one-line error)."""
    path = tmp_path / "user.conf"
    path.write_text("*.Server.target_qps = " + "z" * 60_000 + "\n")
    with pytest.raises(ConfigError) as info:
        config.apply_config(TestSettings(), path, "resnet50", "Server")
    assert len(str(info.value)) < 300 and "60,002 characters" in str(info.value)


def test_fault_huge_bad_key_is_not_echoed_nor_suggested(tmp_path):
    """Fault: a 60 KB key (an unknown key's name and its "did you mean" were echoed whole)."""
    path = tmp_path / "user.conf"
    path.write_text("*.Server." + "target_qps" * 6000 + " = 5\n")
    with pytest.raises(ConfigError) as info:
        config.apply_config(TestSettings(), path, "resnet50", "Server")
    assert len(str(info.value)) < 300


def test_fault_200_mb_line_is_refused_without_reading_it(tmp_path):
    """Fault: a 200 MB line (a sparse file: no disk used) was read and split whole; now at most 64 KiB of
    it is read."""
    path = tmp_path / "user.conf"
    with open(path, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    with pytest.raises(ConfigError, match="line longer than 65,536 bytes") as info:
        config.apply_config(TestSettings(), path, "resnet50", "Server")
    assert info.value.line == 1 and len(str(info.value)) - len(str(path)) < 250


def test_fault_config_file_missing_is_one_line(tmp_path):
    """Fault: the user.conf path does not exist."""
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        config.apply_config(TestSettings(), tmp_path / "nope.conf", "resnet50", "Server")
    assert info.value.path == str(tmp_path / "nope.conf")


def test_fault_base_conf_that_is_a_directory(tmp_path):
    """Fault: the mlperf.conf given as base is a directory."""
    user = tmp_path / "user.conf"
    user.write_text("*.Server.target_qps = 5\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.apply_config(TestSettings(), user, "resnet50", "Server", base_conf=tmp_path)
