"""podium.loadgen.logfiles and logparse without the official LoadGen: formats, files, threads."""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import podium
from podium.loadgen import logfiles, logparse
from podium.loadgen.logfiles import AccuracyLog, DetailLog, format_value
from podium.loadgen.settings import LogSettings, Mode, Scenario, TestSettings, derive


def test_all_is_sorted_and_exported() -> None:
    for module in (logfiles, logparse):
        assert module.__all__ == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)


# --------------------------------------------------------------------------------------- values

@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (np.bool_(True), "true"),
    (0, "0"), (-3, "-3"), (18209322760996052031, "18209322760996052031"), (np.int64(7), "7"),
    (1.0, "1"), (1e6, "1e+06"), (1_500_000.0, "1.5e+06"), (0.99, "0.99"), (198340.47, "198340"),
    (1234567.0, "1.23457e+06"), (1e-5, "1e-05"), (0.0001, "0.0001"), (-0.0, "-0"), (np.float32(0.5), "0.5"),
    (math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN"),
    ("PySUT", '"PySUT"'), ('say "hi"\n', '"say \\"hi\\"\\n"'), ("naïve", '"naïve"'),
    ([0, 2, 1], "[0,2,1]"), (np.array([3, 4]), "[3,4]"), ([], "[]"),
    ({"/a.py": "f00", "/b": "ba"}, '{"/a.py":"f00","/b":"ba"}'), ({}, "{}"),
    (Scenario.SERVER, '"Server"'), (Mode.ACCURACY, '"AccuracyOnly"'), (None, "null"),
])
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_format_value_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="object"):
        format_value(object())


def test_doubles_print_as_c_percent_g() -> None:
    """ostream's default for a double is printf's %g: compare with the C library on 30k doubles."""
    try:
        libc = ctypes.CDLL(None)
        libc.snprintf  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("no C library to compare with")
    buf = ctypes.create_string_buffer(64)
    rnd = random.Random(20260101)
    values = [struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0] for _ in range(10000)]
    values += [rnd.uniform(-1e7, 1e7) for _ in range(10000)] + [10 ** rnd.uniform(-12, 12) for _ in range(10000)]
    values += [999999.5, 9999995.0, 5e-324, 1.7976931348623157e308, 0.1, 100000.0, 123456.5]
    for x in filter(math.isfinite, values):
        libc.snprintf(buf, 64, b"%g", ctypes.c_double(x))
        assert format_value(x) == buf.value.decode(), x


def test_string_values_are_valid_json() -> None:
    nasty = 'quote " back \\ nl \n tab \t nul \x00 esc \x1b del \x7f é 日本'
    assert json.loads(format_value(nasty)) == nasty
    assert json.loads(format_value({"k\"": [nasty, 1.5, True]})) == {"k\"": [nasty, 1.5, True]}


# ----------------------------------------------------------------------------------- detail log

def test_detail_line_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "detail.txt"
    with DetailLog(path, origin_ns=1000, clock=lambda: 1000 + 1_234_567_890) as log:
        log.log("requested_server_target_qps", 1.5e6)
        line_no = sys._getframe().f_lineno - 1  # the metadata names the line that called log()
    expected = (':::MLLOG {"key": "requested_server_target_qps", "value": 1.5e+06, "time_ms": 1234.567890, '
                '"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, '
                f'"is_warning": false, "file": "test_logfiles.py", "line_no": {line_no}, "pid": {os.getpid()}, '
                f'"tid": {threading.get_native_id()}}}}}\n')
    assert path.read_text() == expected


@pytest.mark.parametrize(("ns", "text"), [(0, "0.000000"), (5, "0.000005"), (1_000_000, "1.000000"),
                                          (12_345_678_901, "12345.678901"), (-7, "0.000000")])
def test_time_ms(ns: int, text: str, tmp_path: Path) -> None:
    with DetailLog(tmp_path / "d.txt", origin_ns=100, clock=lambda: 0) as log:
        log.log("k", 1, at_ns=100 + ns)
    assert f'"time_ms": {text}, ' in (tmp_path / "d.txt").read_text()


def test_detail_flushes_every_line_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "detail.txt"
    log = DetailLog(path)
    log.log("generic_message", "Starting performance mode")
    assert logparse.read_detail(path)["generic_message"] == "Starting performance mode"  # before close
    log.warning("warning_generic_message", "w1")
    log.error("error_runtime", "e1")
    log.error("error_runtime", "e2")
    log.log_num_errors()
    detail = logparse.read_detail(path)
    assert (log.num_errors, log.num_warnings) == (2, 1)
    assert detail["num_errors"] == 2 == detail.num_errors
    assert detail["error_runtime"] == "e1" and detail.all("error_runtime") == ["e1", "e2"]
    assert [e["metadata"]["is_error"] for e in detail.entries] == [False, False, True, True, False]
    assert [e["metadata"]["is_warning"] for e in detail.entries] == [False, True, False, False, False]
    log.close()


def test_detail_copy_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with DetailLog(tmp_path / "d.txt", copy_to_stdout=True) as log:
        log.log("sut_name", "PySUT")
    assert capsys.readouterr().out == (tmp_path / "d.txt").read_text()


def test_detail_log_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    with DetailLog(path) as log:
        threads = [threading.Thread(target=lambda i=i: [log.log(f"k{i}", j) for j in range(200)]) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    detail = logparse.read_detail(path)
    assert len(detail.entries) == 1600
    assert all(detail.all(f"k{i}") == list(range(200)) for i in range(8))


# --------------------------------------------------------------------------------------- header

def _header(settings: TestSettings, **kw: object) -> list[tuple[str, object]]:
    eff = derive(settings, 10, 20, checked=False)  # some cases log the official's settings errors
    run = dict(test_datetime="2026-01-01T00:00:00Z", sut_name="PySUT", get_sut_name_duration_ns=5,
               qsl_name="PyQSL", qsl_reported_total_count=20, qsl_reported_performance_count=10)
    return logfiles.header_entries(eff, **{**run, **kw})


def test_header_order_server_with_tokens() -> None:
    keys = [k for k, _ in _header(TestSettings(scenario=Scenario.SERVER, use_token_latencies=True))]
    assert keys[:13] == ["loadgen_version", "loadgen_build_date_local", "loadgen_build_date_utc",
                         "loadgen_git_commit_date", "loadgen_git_log_message", "loadgen_git_status_message",
                         "loadgen_file_sha1", "test_datetime", "sut_name", "get_sut_name_duration_ns",
                         "qsl_name", "qsl_reported_total_count", "qsl_reported_performance_count"]
    requested = [k for k in keys if k.startswith("requested_")]
    assert requested[:10] == ["requested_scenario", "requested_test_mode", "requested_server_target_qps",
                              "requested_server_target_latency_ns", "requested_server_target_latency_percentile",
                              "requested_server_coalesce_queries",
                              "requested_server_find_peak_qps_decimals_of_precision",
                              "requested_server_find_peak_qps_boundary_step_size",
                              "requested_server_max_async_queries", "requested_server_num_issue_query_threads"]
    assert requested[-4:] == ["requested_sample_concatenate_permutation", "requested_use_token_latencies",
                              "requested_server_ttft_latency", "requested_server_tpot_latency"]
    effective = [k for k in keys if k.startswith("effective_")]
    assert len(effective) == 26 and keys[-1] == "effective_sample_concatenate_permutation"
    assert keys.index("requested_server_tpot_latency") + 1 == keys.index("effective_scenario")


def test_header_value_types_follow_the_cpp_fields() -> None:
    """Doubles print as %g even when the Python field holds an int; uint64 fields wrap like C++."""
    entries = dict(_header(TestSettings(single_stream_expected_latency_ns=1_000_000, qsl_rng_seed=-1,
                                        accuracy_log_probability=0)))
    assert format_value(entries["requested_single_stream_expected_latency_ns"]) == "1e+06"
    assert format_value(entries["requested_accuracy_log_probability"]) == "0"
    assert isinstance(entries["requested_accuracy_log_probability"], float)
    assert entries["requested_qsl_rng_seed"] == 2**64 - 1
    assert entries["effective_target_qps"] == 1000.0 and isinstance(entries["effective_target_qps"], float)
    assert entries["effective_print_timestamps"] is False
    assert "requested_use_token_latencies" not in entries
    offline = [k for k, _ in _header(TestSettings(scenario=Scenario.OFFLINE, use_token_latencies=True))]
    assert "requested_use_token_latencies" in offline and "requested_server_ttft_latency" not in offline


def test_write_header_places_warnings_and_issues_before_settings(tmp_path: Path) -> None:
    eff = derive(TestSettings(scenario=Scenario.OFFLINE, offline_expected_qps=-5.0), 10, 20, checked=False)
    with DetailLog(tmp_path / "d.txt") as log:
        logfiles.write_header(log, eff, warnings=["Test05 flag detected Overriding random seeds"],
                              test_datetime="t", sut_name="s", get_sut_name_duration_ns=1, qsl_name="q",
                              qsl_reported_total_count=20, qsl_reported_performance_count=10)
    detail = logparse.read_detail(tmp_path / "d.txt")
    keys = [e["key"] for e in detail.entries]
    i = keys.index("qsl_reported_performance_count")
    assert keys[i + 1:i + 4] == ["warning_generic_message", "error_invalid_test_settings", "requested_scenario"]
    assert detail["error_invalid_test_settings"].endswith("requested: -5 using: 1")
    assert detail.num_errors == 1 and len(detail.warnings) == 1
    assert {e["metadata"]["file"] for e in detail.entries} == {"test_logfiles.py"}


def test_version_entries() -> None:
    entries = dict(logfiles.version_entries())
    assert entries["loadgen_version"] == f"podium {podium.__version__} (mlperf_loadgen 6.0.17 compatible)"
    assert entries["loadgen_git_status_message"] == "NA"
    sha1 = entries["loadgen_file_sha1"]
    assert sha1["/logfiles.py"] == hashlib.sha1(Path(logfiles.__file__).read_bytes()).hexdigest()
    assert list(sha1) == sorted(sha1)


# ------------------------------------------------------------------------------------- accuracy

def test_accuracy_empty(tmp_path: Path) -> None:
    with AccuracyLog(tmp_path / "a.json"):
        pass
    assert (tmp_path / "a.json").read_text() == "[\n]\n"
    assert logparse.read_accuracy(tmp_path / "a.json") == []


def test_accuracy_entries_exact(tmp_path: Path) -> None:
    with AccuracyLog(tmp_path / "a.json") as acc:
        acc.append(0, 5, b"\x00\xab")
        acc.append(3, 1, np.array([1, 2], dtype=np.uint16))  # raw bytes of any buffer
        acc.append(4, 2, memoryview(b""))
    assert (tmp_path / "a.json").read_text() == (
        '[\n{ "seq_id" : 0, "qsl_idx" : 5, "data" : "00AB" },\n{ "seq_id" : 3, "qsl_idx" : 1, "data" : "01000200" }'
        ',\n{ "seq_id" : 4, "qsl_idx" : 2, "data" : "" }\n]\n')


def test_accuracy_token_formats(tmp_path: Path) -> None:
    with AccuracyLog(tmp_path / "o.json", use_tokens=True) as acc:  # Offline: no first token
        acc.append(1, 2, b"\xff", n_tokens=7)
    assert (tmp_path / "o.json").read_text() == (
        '[\n{ "seq_id" : 1, "qsl_idx" : 2, "data" : "FF", "token_count" : 7 }\n]\n')
    with AccuracyLog(tmp_path / "s.json", use_tokens=True, needs_first_token=True) as acc:
        acc.append(1, 2, b"\xff", n_tokens=7, token_data=b"\x0a")
        acc.append(2, 3, b"", n_tokens=2)
    assert (tmp_path / "s.json").read_text() == (
        '[\n{ "seq_id" : 1, "qsl_idx" : 2, "data" : "FF", "token_data" : "0A", "token_count" : 7 },\n'
        '{ "seq_id" : 2, "qsl_idx" : 3, "data" : "", "token_data" : "", "token_count" : 2 }\n]\n')


def test_accuracy_from_many_threads_and_truncated_read(tmp_path: Path) -> None:
    acc = AccuracyLog(tmp_path / "a.json")
    threads = [threading.Thread(target=lambda i=i: [acc.append(i * 1000 + j, j, bytes([i, j % 256]))
                                                    for j in range(300)]) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acc.flush()  # a killed run: no closing bracket
    assert len(logparse.read_accuracy(tmp_path / "a.json")) == 2400
    acc.close()
    entries = logparse.read_accuracy(tmp_path / "a.json")
    assert sorted(e["seq_id"] for e in entries) == sorted(i * 1000 + j for i in range(8) for j in range(300))
    assert all(bytes.fromhex(e["data"]) == bytes([e["seq_id"] // 1000, e["qsl_idx"] % 256]) for e in entries)


# ---------------------------------------------------------------------------------------- trace

@pytest.mark.parametrize("server", [False, True])
def test_trace_is_valid_json_with_official_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: bool) -> None:
    monkeypatch.setattr(logfiles, "_TRACE_CHUNK", 3)  # several chunks
    n = 7
    sched = np.arange(n, dtype=np.int64) * 1_000_500
    issued, done = sched + 250, sched + 12_345 + np.arange(n)
    done[5] = -1  # never completed: no events
    path = tmp_path / "t.json"
    logfiles.write_trace(path, scheduled_ns=sched, issued_ns=issued, complete_ns=done,
                         sample_index=np.arange(n)[::-1], query_seq=np.arange(n) // 2, first_sample_seq=10,
                         origin_epoch_ns=1_700_000_000_123_456_789, server=server, pid=42)
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    assert events[-1] == {"name": "LastTrace"} and trace["displayTimeUnit"] == "ns"
    assert trace["otherData"]["ts"] == pytest.approx(1_700_000_000_123_456.789)
    begins = [e for e in events if e.get("ph") == "b"]
    assert [e["args"]["sample_seq"] for e in begins] == [10, 11, 12, 13, 14, 16]
    assert begins[3]["args"] == {"sample_seq": 13, "query_seq": 1, "sample_idx": 3, "issue_start_ns": 250,
                                 "complete_ns": 12_348}
    assert '"ts":3001.500,' in path.read_text()  # µs with 3 decimals from integers
    ends = [e for e in events if e.get("ph") == "e"]
    assert [e["ts"] for e in ends] == pytest.approx((np.delete(done, 5) / 1000).tolist())
    counters = [e for e in events if e.get("name") == "Latency"]
    assert len(counters) == (n - 1 if server else 0)
    if server:
        assert counters[2]["args"] == {"issue_delay": 250, "issue_to_done": 12_097}


# -------------------------------------------------------------------------------- files, naming

def test_log_paths_naming_and_outdir_creation(tmp_path: Path) -> None:
    settings = LogSettings(outdir=str(tmp_path / "a" / "b"), prefix="run_", suffix="_x", prefix_with_datetime=True)
    paths = logfiles.log_paths(settings, "2026-01-02T03:04:05Z")
    assert paths.summary == tmp_path / "a" / "b" / "run_2026-01-02T03:04:05Z_summary_x.txt"
    assert paths.detail.name == "run_2026-01-02T03:04:05Z_detail_x.txt"
    assert (paths.accuracy.name, paths.trace.name) == ("run_2026-01-02T03:04:05Z_accuracy_x.json",
                                                       "run_2026-01-02T03:04:05Z_trace_x.json")
    assert (tmp_path / "a" / "b").is_dir()
    default = logfiles.log_paths(LogSettings(outdir=str(tmp_path / "c")), "ignored", create=False)
    assert default.detail == tmp_path / "c" / "mlperf_log_detail.txt" and not (tmp_path / "c").exists()


def test_write_summary_is_atomic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mlperf_log_summary.txt"
    path.write_text("old")
    logfiles.write_summary(path, "SUT name : PySUT\nResult is : VALID\n", copy_to_stdout=True)
    assert path.read_text() == "SUT name : PySUT\nResult is : VALID\n" == capsys.readouterr().out
    assert os.listdir(tmp_path) == ["mlperf_log_summary.txt"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_datetimes() -> None:
    assert logfiles.power_datetime(0) == "01-01-1970 00:00:00.000"
    assert logfiles.power_datetime(1_700_000_000_987_654_321) == "11-14-2023 22:13:20.987"
    stamp = logfiles.test_datetime(1_700_000_000)
    assert stamp == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(1_700_000_000)) + "Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", logfiles.test_datetime())


# ------------------------------------------------------------------------------------- logparse

def test_read_detail_first_occurrence_and_invalid_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    with DetailLog(path) as log:
        log.log("k", 1)
        log.log("k", 2)
    with open(path, "a") as f:
        f.write(':::MLLOG {"key": "bad", "value": inf}\nplain text is ignored\n')
    with pytest.raises(ValueError, match=":3: invalid"):
        logparse.read_detail(path)
    detail = logparse.read_detail(path, strict=False)
    assert detail["k"] == 1 and detail.all("k") == [1, 2] and detail.invalid_lines[0][0] == 3
    (tmp_path / "x.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="not a detail log"):
        logparse.read_detail(tmp_path / "x.txt")


def test_read_summary(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("================================================\nMLPerf Results Summary\n"
                    "SUT name : PySUT\nScenario : Server\nCompleted samples per second    : 10009.40\n"
                    "  Min duration satisfied : Yes\n  Early stopping satisfied: Yes\n"
                    " * Early stopping 90.0th percentile estimate: 2906\n90.00 percentile latency (ns)   : 71288\n"
                    "target_latency (ns): 10000000\nResult is : VALID\nResult is : INVALID\n")
    summary = logparse.read_summary(path)
    assert summary == {"SUT name": "PySUT", "Scenario": "Server", "Completed samples per second": "10009.40",
                       "Min duration satisfied": "Yes", "Early stopping satisfied": "Yes",
                       "Early stopping 90.0th percentile estimate": "2906",
                       "90.00 percentile latency (ns)": "71288", "target_latency (ns)": "10000000",
                       "Result is": "VALID"}
