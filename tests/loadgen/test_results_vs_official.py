"""results.summarize / summary_text / detail_result_entries against the official LoadGen.

Short official null-SUT runs (mlperf_loadgen 6.0.17, each group in a subprocess) write their detail
log, summary and trace; the per-sample latencies and final-query times are rebuilt from the trace
(`Sample` events: ts = scheduled time, args complete_ns / issue_start_ns; `Token` events and
`Token_Latency` counters: first-token latencies) and fed to Podium, whose summary file must equal
the official one byte for byte and whose result entries must print as the detail log's.

Not recoverable from the logs: the gap between the official's `start` and the first
SingleStream/MultiStream query (their final-query times are offsets from `start`). The tests look
for a gap inside the bounds the trace gives (GenerateQueries end .. first SampleLoop) that
reproduces every printed value; for SingleStream the printed QPS pins it to a few ns.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from podium.loadgen.results import RawRun, detail_result_entries, summarize
from podium.loadgen.settings import EffectiveSettings, Mode, Scenario, TestSettings
from podium.loadgen.summary_file import ostream_double, summary_text

pytest.importorskip("mlperf_loadgen")
pytestmark = pytest.mark.official

# --------------------------------------------------------------------------------- official runs

_CHILD = textwrap.dedent('''
    import array, json, sys, threading, time
    import mlperf_loadgen as lg
    runs = json.loads(open(sys.argv[1]).read())
    buf = array.array("B", [1, 2, 3, 4]); ADDR, SIZE = buf.buffer_info()
    for run in runs:
        sut_cfg = run["sut"]
        slow = set(sut_cfg.get("slow_indices", ())); slow_s = sut_cfg.get("slow_ns", 0) / 1e9
        tokens = sut_cfg.get("tokens", False); first = sut_cfg.get("first_token", tokens)
        offline_sleep = sut_cfg.get("offline_sleep_ns", 0) / 1e9
        def n_tokens(idx):
            return 2 + idx % 5
        def finish(qs):
            if first:
                lg.FirstTokenComplete([lg.QuerySampleResponse(q.id, ADDR, SIZE) for q in qs])
            if tokens:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, ADDR, SIZE, n_tokens(q.index))
                                         for q in qs])
            else:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, ADDR, SIZE) for q in qs])
        def issue(qs):
            if offline_sleep:
                time.sleep(offline_sleep)
            fast = [q for q in qs if q.index not in slow]
            late = [q for q in qs if q.index in slow]
            if fast:
                finish(fast)
            for q in late:
                threading.Timer(slow_s, finish, args=([q],)).start()
        sut = lg.ConstructSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(run["qsl"][0], run["qsl"][1], lambda s: None, lambda s: None)
        s = lg.TestSettings()
        s.scenario = getattr(lg.TestScenario, run["scenario"])
        s.mode = getattr(lg.TestMode, run["mode"])
        for k, v in run["settings"].items():
            setattr(s, k, v)
        ls = lg.LogSettings(); ls.log_output.outdir = run["outdir"]; ls.enable_trace = run["trace"]
        lg.StartTestWithLogSettings(sut, qsl, s, ls)
        time.sleep(slow_s * 2 if slow else 0)
        lg.DestroyQSL(qsl); lg.DestroySUT(sut)
''')

_COMMON = dict(min_query_count=1)
RUNS: dict[str, dict] = {
    "ss": dict(scenario="SingleStream", settings=dict(min_duration_ms=150,
                                                       single_stream_expected_latency_ns=5000)),
    "ss_ran_out": dict(scenario="SingleStream", settings=dict(min_duration_ms=100,
                                                               single_stream_expected_latency_ns=200_000)),
    "ss_too_few": dict(scenario="SingleStream", settings=dict(min_duration_ms=100, min_query_count=10,
                                                               single_stream_expected_latency_ns=8_000_000)),
    "ss_p99_short": dict(scenario="SingleStream", settings=dict(
        min_duration_ms=0, min_query_count=300, max_query_count=300,
        single_stream_target_latency_percentile=0.95)),
    "ms": dict(scenario="MultiStream", settings=dict(min_duration_ms=100, multi_stream_expected_latency_ns=20_000)),
    "server": dict(scenario="Server", settings=dict(min_duration_ms=150, server_target_qps=8000,
                                                     server_target_latency_ns=20_000_000)),
    "server_few_late": dict(scenario="Server", qsl=[1000, 1000],
                            sut=dict(slow_indices=list(range(5, 1000, 100)), slow_ns=10_000_000),
                            settings=dict(min_duration_ms=300, server_target_qps=2000,
                                          server_target_latency_percentile=0.9,
                                          server_target_latency_ns=5_000_000)),
    "server_many_late": dict(scenario="Server", qsl=[1000, 1000],
                             sut=dict(slow_indices=list(range(0, 1000, 40)), slow_ns=10_000_000),
                             settings=dict(min_duration_ms=200, server_target_qps=2000,
                                           server_target_latency_ns=5_000_000)),
    "offline": dict(scenario="Offline", sut=dict(offline_sleep_ns=60_000_000),
                    settings=dict(min_duration_ms=50, offline_expected_qps=20000)),
    "offline_short": dict(scenario="Offline", settings=dict(min_duration_ms=100, offline_expected_qps=5000)),
    "ss_tokens": dict(scenario="SingleStream", sut=dict(tokens=True),
                      settings=dict(min_duration_ms=100, single_stream_expected_latency_ns=10000,
                                    use_token_latencies=True)),
    "ms_tokens": dict(scenario="MultiStream", sut=dict(tokens=True),
                      settings=dict(min_duration_ms=80, multi_stream_expected_latency_ns=40000,
                                    use_token_latencies=True)),
    "server_tokens": dict(scenario="Server", sut=dict(tokens=True),
                          settings=dict(min_duration_ms=150, server_target_qps=5000, use_token_latencies=True,
                                        ttft_latency=5_000_000, tpot_latency=5_000_000)),
    "server_tokens_fail": dict(scenario="Server", sut=dict(tokens=True),
                               settings=dict(min_duration_ms=100, server_target_qps=5000,
                                             use_token_latencies=True, ttft_latency=1, tpot_latency=1)),
    "offline_tokens": dict(scenario="Offline", sut=dict(tokens=True, first_token=False, offline_sleep_ns=60_000_000),
                           settings=dict(min_duration_ms=50, offline_expected_qps=20000, use_token_latencies=True,
                                         infer_token_latencies=True, token_latency_scaling_factor=21)),
    "server_inferred": dict(scenario="Server", settings=dict(min_duration_ms=100, server_target_qps=5000,
                                                              infer_token_latencies=True,
                                                              token_latency_scaling_factor=7)),
    "ss_equal_issue": dict(scenario="SingleStream", settings=dict(
        min_duration_ms=50, single_stream_expected_latency_ns=100_000, sample_concatenate_permutation=True)),
    "ss_submission": dict(scenario="SingleStream", mode="SubmissionRun", settings=dict(
        min_duration_ms=50, single_stream_expected_latency_ns=20_000)),
    "accuracy": dict(scenario="SingleStream", mode="AccuracyOnly", trace=False, settings=dict(min_duration_ms=10)),
}
# Early stopping over varied query counts and percentiles (SingleStream: exactly N queries).
for _n, _p in [(63, 0.90), (64, 0.90), (661, 0.99), (662, 0.99), (2000, 0.999), (6637, 0.999), (30000, 0.90)]:
    RUNS[f"ss_es_{_n}_{_p}"] = dict(scenario="SingleStream", settings=dict(
        min_duration_ms=0, min_query_count=_n, max_query_count=_n, single_stream_target_latency_percentile=_p))
# Server overlatency counts from a few to dozens (p = .90): `slow` QSL indices complete after the bound.
for _k in (1, 2, 5, 12):
    RUNS[f"server_es_{_k}"] = dict(scenario="Server", qsl=[1000, 1000],
                                   sut=dict(slow_indices=list(range(0, 1000, 100 // _k)), slow_ns=10_000_000),
                                   settings=dict(min_duration_ms=250, server_target_qps=2000,
                                                 server_target_latency_percentile=0.9,
                                                 server_target_latency_ns=5_000_000))
_GROUPS = 4


@dataclass
class Official:
    name: str
    run: dict
    outdir: Path

    @property
    def summary(self) -> str:
        return (self.outdir / "mlperf_log_summary.txt").read_text()

    def detail(self) -> list[tuple[str, str, dict]]:
        """(key, raw value text, metadata) per detail line."""
        out = []
        for line in (self.outdir / "mlperf_log_detail.txt").read_text().splitlines():
            if not line.startswith(":::MLLOG "):
                continue
            obj = json.loads(line[len(":::MLLOG "):])
            raw = line.partition('"value": ')[2].rpartition(', "time_ms": ')[0]
            out.append((obj["key"], raw, obj["metadata"]))
        return out


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Official]:
    root = tmp_path_factory.mktemp("official_results")
    child = root / "child.py"
    child.write_text(_CHILD)
    runs = {}
    for name, spec in RUNS.items():
        outdir = root / name
        outdir.mkdir()
        runs[name] = dict(spec, outdir=str(outdir), mode=spec.get("mode", "PerformanceOnly"),
                          qsl=spec.get("qsl", [100, 100]), sut=spec.get("sut", {}),
                          trace=spec.get("trace", True), settings={**_COMMON, **spec["settings"]})
    groups = [list(runs.values())[i::_GROUPS] for i in range(_GROUPS)]
    procs = []
    for i, group in enumerate(groups):
        cfg = root / f"group{i}.json"
        cfg.write_text(json.dumps(group))
        procs.append(subprocess.Popen([sys.executable, str(child), str(cfg)], cwd=root,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for p in procs:
        out = p.communicate(timeout=300)[0]
        assert p.returncode == 0, out.decode(errors="replace")[-3000:]
    return {name: Official(name, run, Path(run["outdir"])) for name, run in runs.items()}


# ------------------------------------------------------------------------------------ rebuilding


def _ns(ts: str) -> int:
    """A trace timestamp (microseconds, 3 decimals) as integer nanoseconds."""
    whole, _, frac = ts.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


@dataclass
class Trace:
    seq: np.ndarray
    query: np.ndarray
    index: np.ndarray
    sched_ns: np.ndarray  # from the trace origin
    issue_ns: np.ndarray  # issue_start_ns: issued - scheduled
    latency_ns: np.ndarray  # complete_ns
    first_token_ns: dict[int, int]  # sample seq -> TTFT (Token events)
    token_counters: dict[int, int]  # scheduled ts -> TTFT (Server Token_Latency counters)
    generate_end_ns: int
    first_loop_ns: int


def _parse_trace(path: Path) -> Trace:
    rows, ttft, counters = [], {}, {}
    gen_end = first_loop = None
    text = path.read_text()
    # A SubmissionRun traces its accuracy passes first: keep what follows the last GenerateQueries.
    last_gen = max(_ns(ln.partition('"ts":')[2].partition(",")[0])
                   for ln in text.splitlines() if ln.startswith('{"name":"GenerateQueries"'))
    for line in text.splitlines():
        if not line.startswith('{"name":'):
            continue
        name = line[9:line.index('"', 9)]
        if name not in ("Sample", "Token", "Token_Latency", "GenerateQueries", "SampleLoop"):
            continue
        obj = json.loads(line.rstrip(","))
        ts = _ns(line.partition('"ts":')[2].partition(",")[0])
        if ts < last_gen:
            continue
        if name == "GenerateQueries":
            gen_end = ts + _ns(line.partition('"dur":')[2].partition(",")[0])
        elif name == "SampleLoop":
            first_loop = ts if first_loop is None else min(first_loop, ts)
        elif name == "Token_Latency":
            counters[ts] = obj["args"]["issue_delay"] + obj["args"]["issue_to_done"]
        elif obj.get("ph") == "b":
            a = obj["args"]
            if name == "Token":
                ttft[a["sample_seq"]] = a["complete_ns"]
            else:
                rows.append((a["sample_seq"], a["query_seq"], a["sample_idx"], ts, a["issue_start_ns"],
                             a["complete_ns"]))
    arr = np.array(sorted(rows), dtype=np.int64).reshape(-1, 6)
    return Trace(*arr.T, first_token_ns=ttft, token_counters=counters, generate_end_ns=gen_end or 0,
                 first_loop_ns=first_loop or 0)


def _effective(o: Official, detail: dict[str, str]) -> EffectiveSettings:
    """EffectiveSettings from the detail log's effective_* values (and the requested token fields)."""
    r = o.run["settings"]

    def num(key: str) -> int:
        return int(detail[f"effective_{key}"])

    def flag(key: str) -> bool:
        return detail[f"effective_{key}"] == "true"

    ints = ("samples_per_query", "target_latency_ns", "max_async_queries", "target_duration_ms",
            "min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count", "min_sample_count",
            "qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed", "accuracy_log_rng_seed",
            "accuracy_log_sampling_target", "performance_issue_same_index", "performance_sample_count",
            "accuracy_sample_count")
    flags = ("print_timestamps", "performance_issue_unique", "performance_issue_same",
             "sample_concatenate_permutation")
    return EffectiveSettings(
        requested=TestSettings(), scenario=Scenario(o.run["scenario"]), mode=Mode(o.run["mode"]),
        target_qps=float(detail["effective_target_qps"]),
        target_latency_percentile=float(detail["effective_target_latency_percentile"]),
        accuracy_log_probability=float(detail["effective_accuracy_log_probability"]),
        use_token_latencies=r.get("use_token_latencies", False),
        ttft_latency_ns=r.get("ttft_latency", 100_000_000), tpot_latency_ns=r.get("tpot_latency", 100_000_000),
        infer_token_latencies=r.get("infer_token_latencies", False),
        token_latency_scaling_factor=r.get("token_latency_scaling_factor", 0),
        **{k: num(k) for k in ints}, **{k: flag(k) for k in flags})


def _raw_run(o: Official, tr: Trace, eff: EffectiveSettings, start_gap_ns: int) -> RawRun:
    """PerformanceResult from the trace; `start_gap_ns` = first query's scheduled time - start."""
    sc = eff.scenario
    queries = np.unique(tr.query)
    last = tr.query == queries[-1]
    t0 = int(tr.sched_ns.min())  # Server: start + 0; Offline: start; SS/MS: start + gap
    start = t0 if sc in (Scenario.SERVER, Scenario.OFFLINE) else t0 - start_gap_ns
    sched_last = int(tr.sched_ns[last][0]) - start
    issued_last = sched_last + int(tr.issue_ns[last][0])
    done_last = sched_last + int(tr.latency_ns[last].max())
    query_lat = None
    if sc is Scenario.MULTI_STREAM:
        query_lat = np.array([tr.latency_ns[tr.query == q].max() for q in queries], dtype=np.int64)
    ttft = n_tok = None
    if eff.use_token_latencies:
        n_tok = 2 + tr.index % 5
        if sc is Scenario.SERVER:
            ttft = np.array([tr.token_counters[int(t)] for t in tr.sched_ns], dtype=np.int64)
        elif tr.first_token_ns:
            ttft = np.array([tr.first_token_ns[int(s)] for s in tr.seq], dtype=np.int64)
    return RawRun(scenario=sc, settings=eff, sample_latencies_ns=tr.latency_ns, query_latencies_ns=query_lat,
                  queries_issued=len(queries), max_latency_ns=int(tr.latency_ns.max()),
                  final_query_scheduled_ns=sched_last, final_query_issued_ns=issued_last,
                  final_query_all_done_ns=done_last, first_token_latencies_ns=ttft, tokens_per_sample=n_tok)


def _printed(value: object) -> str:
    """A result entry as the official detail log prints its value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ostream_double(value)
    if isinstance(value, str):
        return f'"{value}"'
    assert type(value) is int, (value, type(value))
    return str(value)


def _result_section(lines: list[tuple[str, str, dict]]) -> list[tuple[str, str]]:
    keys = [k for k, _, _ in lines]
    first = keys.index("result_validity")
    last = keys.index("num_errors", first)
    return [(k, raw) for k, raw, _ in lines[first:last + 1]]


def _gap_candidates(tr: Trace, eff: EffectiveSettings, detail: dict[str, str], official_summary: str) -> list[int]:
    """Gaps between `start` and the first query (SingleStream/MultiStream) inside the trace's bounds
    that agree with every rate the official printed from the final query's times."""
    lo = int(tr.sched_ns.min()) - tr.first_loop_ns
    hi = int(tr.sched_ns.min()) - tr.generate_end_ns
    assert 0 <= lo <= hi
    gap = np.arange(lo, hi + 1, dtype=np.float64)
    last = tr.query == tr.query.max()
    issued = float(int(tr.sched_ns[last][0]) - int(tr.sched_ns.min())) + gap  # + issue_start_ns (0)
    done = issued + float(tr.latency_ns[last].max())
    ok = (issued / 1e9 >= eff.min_duration_ms / 1e3) == (detail["result_min_duration_met"] == "true")
    rates = []  # (numerator, times, printed, formatter)
    qps = [ln for ln in official_summary.splitlines() if ln.startswith("QPS w/ loadgen overhead")]
    if qps:
        rates.append((len(tr.seq) - 1, issued, qps[0].rpartition(": ")[2], lambda x: f"{x:.2f}"))
    if eff.use_token_latencies:
        tokens = int((2 + tr.index % 5).sum())
        tps = [ln for ln in official_summary.splitlines() if ln.startswith("TPS w/ loadgen overhead")]
        if tps:
            rates.append((tokens, issued, tps[0].rpartition(": ")[2], lambda x: f"{x:.2f}"))
        for key, t in (("result_token_throughput_with_loadgen_overhead", issued),
                       ("result_completed_tokens_per_second", done)):
            rates.append((tokens, t, detail[key], ostream_double))
    for num, t, printed, _ in rates:  # coarse numeric filter, then exact formatting
        v = float(printed)
        ok &= np.abs(num / (t / 1e9) - v) <= 0.01 + 1e-5 * abs(v)
    found = [i for i in np.flatnonzero(ok)
             if all(fmt(num / (float(t[i]) / 1e9)) == printed for num, t, printed, fmt in rates)]
    return sorted({int(gap[i]) for i in found[:1] + found[len(found) // 2:][:1] + found[-1:]})


def _reproduce(o: Official) -> tuple[str, list[tuple[str, str]], str, list[tuple[str, str]], int]:
    lines = o.detail()
    detail = {}
    for k, raw, _ in lines:
        detail.setdefault(k, raw.strip('"'))
    warnings = sum(m["is_warning"] for _, _, m in lines)
    errors = sum(m["is_error"] for _, _, m in lines)
    official_summary = o.summary
    tr = _parse_trace(o.outdir / "mlperf_log_trace.json")
    eff = _effective(o, detail)
    want = _result_section(lines)
    num_errors = int(dict(want)["num_errors"])
    gaps = ([0] if eff.scenario in (Scenario.SERVER, Scenario.OFFLINE)
            else _gap_candidates(tr, eff, detail, official_summary))
    assert gaps, "no start gap inside the trace's bounds agrees with the printed rates"
    best = None
    for gap in gaps:
        summary = summarize(_raw_run(o, tr, eff, gap))
        got = [(k, _printed(v)) for k, v in detail_result_entries(summary, num_errors)]
        text = summary_text(summary, "PySUT", warnings, errors)
        if got == want and text == official_summary:
            return text, got, official_summary, want, gap
        best = best or (text, got, official_summary, want, gap)
    assert best is not None
    return best


# ------------------------------------------------------------------------------------------ tests

PERF_RUNS = [name for name in RUNS if name != "accuracy"]


@pytest.mark.parametrize("name", PERF_RUNS)
def test_results_reproduce_official(official, name):
    text, got, want_text, want, _gap = _reproduce(official[name])
    assert [k for k, _ in got] == [k for k, _ in want]
    assert got == want
    assert text.splitlines() == want_text.splitlines()
    assert text == want_text


def test_accuracy_only_summary_is_the_footer(official):
    o = official["accuracy"]
    lines = o.detail()
    warnings = sum(m["is_warning"] for _, _, m in lines)
    errors = sum(m["is_error"] for _, _, m in lines)
    assert summary_text(None, "PySUT", warnings, errors) == o.summary


def test_runs_cover_the_cases(official):
    """The official runs exercise what they are meant to: INVALID runs, overlatency, ES failures."""
    def value(name: str, key: str) -> str:
        return dict((k, raw) for k, raw, _ in official[name].detail())[key]

    assert value("ss_ran_out", "result_validity") == '"INVALID"'
    assert value("ss_too_few", "early_stopping_met") == "false"
    assert value("ss_es_63_0.9", "early_stopping_met") == "false"
    assert value("ss_es_64_0.9", "early_stopping_met") == "true"
    assert value("offline_short", "result_min_duration_met") == "false"
    assert value("server_many_late", "early_stopping_met") == "false"
    assert value("server_tokens_fail", "early_stopping_tpot_result").startswith('" * Run unsuccessful')
    assert value("server_tokens_fail", "early_stopping_ttft_result") == '""'
    server = [n for n in RUNS if n.startswith("server") and "tokens" not in n]
    outcomes = {(int(value(n, "result_overlatency_query_count")) > 0, value(n, "early_stopping_met"))
                for n in server}
    assert (True, "true") in outcomes and (True, "false") in outcomes
