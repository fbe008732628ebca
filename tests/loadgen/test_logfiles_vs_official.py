"""Podium's log files against the official mlperf_loadgen's, run on the same settings and responses.

One subprocess (this file run as a script) drives mlperf_loadgen through short runs of every
scenario; the tests then check that (a) logparse reads the official files, (b) Podium's header for
the same TestSettings has the same keys, order and value text, (c) every official detail-log value
is re-printed byte-for-byte by `format_value`, the accuracy JSON bytes are equal for the same
responses (plain and token modes), and Podium's trace events equal the official's Sample events.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from podium.loadgen import logfiles, logparse
from podium.loadgen.settings import Mode, Scenario, TestSettings, derive

pytestmark = pytest.mark.official

MLPERF_SEEDS = {"qsl_rng_seed": 1780908523862526354, "sample_index_rng_seed": 14771362308971278857,
                "schedule_rng_seed": 18209322760996052031}
SHORT = {"min_duration_ms": 20, "max_duration_ms": 60000}

# name -> (scenario, mode, qsl_total_count, qsl_performance_count, settings in official field names)
RUNS: dict[str, tuple[str, str, int, int, dict[str, Any]]] = {
    "ss_perf": ("SingleStream", "PerformanceOnly", 20, 10, {
        **SHORT, **MLPERF_SEEDS, "min_query_count": 20, "single_stream_expected_latency_ns": 123456789,
        "single_stream_target_latency_percentile": 0.9, "accuracy_log_rng_seed": 7,
        "accuracy_log_probability": 0.123456789, "performance_sample_count_override": 7,
        "sample_concatenate_permutation": True}),
    "ms_perf": ("MultiStream", "PerformanceOnly", 20, 10, {
        **SHORT, "min_query_count": 16, "multi_stream_samples_per_query": 4,
        "multi_stream_target_latency_percentile": 0.99, "accuracy_log_sampling_target": 3}),
    "server_perf": ("Server", "PerformanceOnly", 20, 10, {
        **SHORT, **MLPERF_SEEDS, "min_query_count": 20, "server_target_qps": 2500.25,
        "server_target_latency_ns": 123456789, "server_target_latency_percentile": 0.975,
        "server_coalesce_queries": True, "server_find_peak_qps_decimals_of_precision": 3,
        "server_find_peak_qps_boundary_step_size": 2.5e7}),
    "offline_perf": ("Offline", "PerformanceOnly", 20, 10, {
        "min_duration_ms": 10, "min_query_count": 25, "offline_expected_qps": 0.00012345678,
        "performance_issue_same": True, "performance_issue_same_index": 3}),
    "offline_bad_qps": ("Offline", "PerformanceOnly", 20, 10, {
        "min_duration_ms": 10, "min_query_count": 5, "offline_expected_qps": -5.0}),
    "ss_acc": ("SingleStream", "AccuracyOnly", 13, 5, {**SHORT}),
    "server_tok_acc": ("Server", "AccuracyOnly", 9, 4, {
        **SHORT, "server_target_qps": 1e5, "use_token_latencies": True, "ttft_latency": 2000000000,
        "tpot_latency": 45000000}),
    "offline_tok_acc": ("Offline", "AccuracyOnly", 9, 4, {**SHORT, "use_token_latencies": True}),
}


def response_bytes(qsl_idx: int) -> bytes:
    """What the test SUT returns for a sample: 0-4 bytes covering 00, 0A and FF."""
    return bytes((qsl_idx * 37 + 10 * k + 245 * (k == 2)) % 256 for k in range(qsl_idx % 5))


def first_token_bytes(qsl_idx: int) -> bytes:
    return bytes([qsl_idx, 0xC3])


def n_tokens(qsl_idx: int) -> int:
    return qsl_idx % 7 + 2  # the official logs an error for fewer than 2 tokens


# ------------------------------------------------------------------------- the official run (script)

def _official_main(spec_path: str) -> None:
    """Run every spec'd test with mlperf_loadgen (called in a subprocess: see `official` below)."""
    import array

    import mlperf_loadgen as lg

    keep: list[array.array] = []

    def buf(data: bytes) -> tuple[int, int]:
        a = array.array("B", data or b"\0")
        keep.append(a)
        return a.buffer_info()[0], len(data)

    for name, out, (scenario, mode, total, perf, fields) in json.loads(Path(spec_path).read_text()):
        tokens = fields.get("use_token_latencies", False)

        def issue(samples: list, tokens: bool = tokens) -> None:
            for s in samples:
                if tokens:
                    lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, *buf(first_token_bytes(s.index)))])
                    resp = lg.QuerySampleResponse(s.id, *buf(response_bytes(s.index)), n_tokens(s.index))
                else:
                    resp = lg.QuerySampleResponse(s.id, *buf(response_bytes(s.index)))
                lg.QuerySamplesComplete([resp])

        sut = lg.ConstructSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(total, perf, lambda s: None, lambda s: None)
        ts = lg.TestSettings()
        ts.scenario, ts.mode = getattr(lg.TestScenario, scenario), getattr(lg.TestMode, mode)
        for key, value in fields.items():
            setattr(ts, key, value)
        log = lg.LogSettings()
        log.log_output.outdir = out
        log.enable_trace = True
        lg.StartTestWithLogSettings(sut, qsl, ts, log)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
        print(name, "done", flush=True)


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Outdir of each run in RUNS, made by the official mlperf_loadgen in one subprocess."""
    pytest.importorskip("mlperf_loadgen")
    root = tmp_path_factory.mktemp("official")
    outdirs = {name: root / name for name in RUNS}
    for d in outdirs.values():
        d.mkdir()
    spec = root / "spec.json"
    spec.write_text(json.dumps([[n, str(outdirs[n]), RUNS[n]] for n in RUNS]))
    proc = subprocess.run([sys.executable, __file__, str(spec)], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return outdirs


# ----------------------------------------------------------------------------------------- helpers

def podium_settings(name: str) -> TestSettings:
    scenario, mode, _, _, fields = RUNS[name]
    return TestSettings(scenario=Scenario(scenario), mode=Mode(mode), **fields)


def raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


_VARIABLE = re.compile(r'"time_ms": [0-9.]+|"file": "[^"]*", "line_no": \d+, "pid": \d+, "tid": \d+')


def normalise(line: str) -> str:
    """A detail line without what differs between any two runs: time, source file/line, pid, tid."""
    return _VARIABLE.sub("#", line)


def raw_value(line: str) -> str:
    start = line.index('"value": ') + len('"value": ')
    return line[start:line.rindex(', "time_ms": ')]


def podium_header(name: str, off: logparse.DetailLogContents) -> list[str]:
    _, _, total, perf, _ = RUNS[name]
    out = io.StringIO()
    log = logfiles.DetailLog(out, origin_ns=0, clock=lambda: 0)
    eff = derive(podium_settings(name), perf, total, checked=False)
    logfiles.write_header(log, eff, test_datetime=off["test_datetime"],
                          sut_name="PySUT", get_sut_name_duration_ns=off["get_sut_name_duration_ns"],
                          qsl_name="PyQSL", qsl_reported_total_count=total, qsl_reported_performance_count=perf)
    return out.getvalue().splitlines()


def header_span(lines: list[str]) -> list[str]:
    """The official lines from test_datetime to the last effective_* entry."""
    keys = [json.loads(x[len(":::MLLOG"):])["key"] for x in lines]
    last = max(i for i, k in enumerate(keys) if k.startswith("effective_"))
    return lines[keys.index("test_datetime"):last + 1]


# ------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("name", list(RUNS))
def test_logparse_reads_official_files(official: dict[str, Path], name: str) -> None:
    d = official[name]
    detail = logparse.read_detail(d / "mlperf_log_detail.txt")
    assert len(detail.entries) == len(raw_lines(d / "mlperf_log_detail.txt"))
    assert detail["sut_name"] == "PySUT" and detail["effective_scenario"] == RUNS[name][0]
    assert detail["effective_test_mode"] == RUNS[name][1]
    summary = logparse.read_summary(d / "mlperf_log_summary.txt")
    if RUNS[name][1] == "PerformanceOnly":
        assert summary["SUT name"] == "PySUT" and summary["Scenario"] == RUNS[name][0]
        assert summary["Result is"] == detail["result_validity"]
        assert detail.num_errors == detail["num_errors"] == len(detail.errors)
    footer = "No errors encountered during test." if not detail.errors else "ERROR"
    assert footer in (d / "mlperf_log_summary.txt").read_text()
    for entry in logparse.read_accuracy(d / "mlperf_log_accuracy.json"):
        assert bytes.fromhex(entry["data"]) == response_bytes(entry["qsl_idx"])


@pytest.mark.parametrize("name", list(RUNS))
def test_header_lines_equal_official(official: dict[str, Path], name: str) -> None:
    lines = raw_lines(official[name] / "mlperf_log_detail.txt")
    podium = podium_header(name, logparse.read_detail(official[name] / "mlperf_log_detail.txt"))
    version_keys = [k for k, _ in logfiles.version_entries()]
    assert [json.loads(x[8:])["key"] for x in lines[:len(version_keys)]] == version_keys
    assert [normalise(x) for x in podium[len(version_keys):]] == [normalise(x) for x in header_span(lines)]


def test_offline_bad_qps_error_line(official: dict[str, Path]) -> None:
    detail = logparse.read_detail(official["offline_bad_qps"] / "mlperf_log_detail.txt")
    assert [e["key"] for e in detail.errors] == ["error_invalid_test_settings"]
    assert detail.num_errors == 1


@pytest.mark.parametrize("name", list(RUNS))
def test_every_official_value_reprinted_byte_for_byte(official: dict[str, Path], name: str) -> None:
    for line in raw_lines(official[name] / "mlperf_log_detail.txt"):
        entry = json.loads(line[len(":::MLLOG"):])
        assert logfiles.format_value(entry["value"]) == raw_value(line), line[:200]
        out = io.StringIO()
        log = logfiles.DetailLog(out, origin_ns=0, clock=lambda: 0)
        write = log.error if entry["metadata"]["is_error"] else (
            log.warning if entry["metadata"]["is_warning"] else log.log)
        write(entry["key"], entry["value"])
        assert normalise(out.getvalue().rstrip("\n")) == normalise(line)


@pytest.mark.parametrize("name", list(RUNS))
def test_accuracy_json_bytes_equal_official(official: dict[str, Path], name: str, tmp_path: Path) -> None:
    scenario, mode, *_ = RUNS[name]
    tokens = RUNS[name][4].get("use_token_latencies", False)
    path = official[name] / "mlperf_log_accuracy.json"
    entries = logparse.read_accuracy(path)
    if mode == "AccuracyOnly" or name == "ss_perf":
        assert entries, "the official run should log responses"
    mine = tmp_path / "acc.json"
    with logfiles.AccuracyLog(mine, use_tokens=tokens, needs_first_token=scenario != "Offline") as acc:
        for e in entries:
            token_data = bytes.fromhex(e["token_data"]) if "token_data" in e else None
            acc.append(e["seq_id"], e["qsl_idx"], bytes.fromhex(e["data"]), e.get("token_count", 0), token_data)
            if tokens:
                assert e["token_count"] == n_tokens(e["qsl_idx"])
            if token_data is not None:
                assert token_data == first_token_bytes(e["qsl_idx"])
    assert mine.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["ss_perf", "server_perf", "offline_perf"])
def test_trace_sample_events_equal_official(official: dict[str, Path], name: str, tmp_path: Path) -> None:
    events = []
    for line in raw_lines(official[name] / "mlperf_log_trace.json"):
        if line.startswith('{"name":"Sample","cat":"default","ph":"b"'):
            events.append(json.loads(line.rstrip(",")))
    events.sort(key=lambda e: e["args"]["sample_seq"])
    sched = [round(e["ts"] * 1000) for e in events]
    args = [e["args"] for e in events]
    assert [a["sample_seq"] for a in args] == list(range(len(args)))
    mine = tmp_path / "trace.json"
    logfiles.write_trace(mine, scheduled_ns=sched, issued_ns=[s + a["issue_start_ns"] for s, a in zip(sched, args)],
                         complete_ns=[s + a["complete_ns"] for s, a in zip(sched, args)],
                         sample_index=[a["sample_idx"] for a in args], query_seq=[a["query_seq"] for a in args],
                         server=name == "server_perf", pid=events[0]["pid"])
    json.loads(mine.read_text())  # valid JSON as a whole
    wanted = ('{"name":"Sample"', '{"name":"Latency"')
    official_lines = {x for x in raw_lines(official[name] / "mlperf_log_trace.json") if x.startswith(wanted)}
    podium_lines = {x for x in raw_lines(mine) if x.startswith(wanted)}
    assert podium_lines == official_lines


if __name__ == "__main__":
    _official_main(sys.argv[1])
