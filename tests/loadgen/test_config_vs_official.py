"""podium.loadgen.config against the official mlperf_loadgen 6.0.17 TestSettings.FromConfig.

Each official session runs in its own subprocess: FromConfig keeps a per-process count of user.conf files
(the first loads the embedded mlperf.conf). A session applies many files to fresh TestSettings objects,
reads every field back, and ends with a tiny run whose detail log holds the errors FromConfig buffered.
Podium replays the same calls with `from_config_compat` on one `ConfigState` and must agree on return
codes, every field and the logged errors; files `apply_config` accepts must give the official's fields.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("mlperf_loadgen")

from podium.core.errors import ConfigError  # noqa: E402
from podium.loadgen.config import (  # noqa: E402
    ConfigState,
    _scan_official,
    apply_config,
    from_config_compat,
    known_keys,
    mlperf_conf_text,
)
from podium.loadgen.settings import Mode, Scenario, TestSettings  # noqa: E402

pytestmark = pytest.mark.official

FIELDS = [f.name for f in dataclasses.fields(TestSettings)]
SCENARIOS = [s.value for s in Scenario]

DRIVER = r"""
import json, os, sys
import mlperf_loadgen as lg

job = json.load(open(sys.argv[1]))
def read(ts):
    out = {}
    for name in job["fields"]:
        v = getattr(ts, name)
        out[name] = v.name if hasattr(v, "name") else v
    return out
results = []
for group in job["groups"]:
    ts = lg.TestSettings()
    for k, v in group["preset"].items():
        setattr(ts, k, getattr(lg.TestScenario, v) if k == "scenario" else
                getattr(lg.TestMode, v) if k == "mode" else v)
    codes = [ts.FromConfig(*call) for call in group["calls"]]
    results.append({"codes": codes, "fields": read(ts)})
# A tiny Offline run: its detail log starts with the errors FromConfig buffered.
sut = lg.ConstructSUT(lambda qs: lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs]),
                      lambda: None)
qsl = lg.ConstructQSL(1, 1, lambda s: None, lambda s: None)
ts = lg.TestSettings()
ts.scenario, ts.mode = lg.TestScenario.Offline, lg.TestMode.PerformanceOnly
ts.min_duration_ms, ts.min_query_count = 0, 1
log = lg.LogSettings()
log.log_output.outdir, log.enable_trace = job["outdir"], False
lg.StartTestWithLogSettings(sut, qsl, ts, log, os.path.join(job["outdir"], "no-audit.config"))
logged = []
for line in open(os.path.join(job["outdir"], "mlperf_log_detail.txt")):
    entry = json.loads(line.split(":::MLLOG ", 1)[1])
    if entry["metadata"]["is_error"]:
        logged.append([entry["key"], entry["value"]])
json.dump({"results": results, "logged": logged}, open(job["result"], "w"))
"""


# ---- running both sides --------------------------------------------------------------------------------------


def group(calls, preset=None):
    """One TestSettings object: preset fields, then FromConfig(path, model, scenario, conf_type) calls."""
    return {"preset": preset or {}, "calls": [[str(c[0]), c[1], c[2], c[3]] for c in calls]}


def run_official(groups, workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    job = {"fields": FIELDS, "groups": groups, "outdir": str(workdir), "result": str(workdir / "result.json")}
    (workdir / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(workdir / "job.json")], cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / "result.json").read_text())


def preset_settings(preset) -> TestSettings:
    ts = TestSettings()
    for k, v in preset.items():
        setattr(ts, k, Scenario(v) if k == "scenario" else Mode(v) if k == "mode" else v)
    return ts


def read_fields(ts: TestSettings) -> dict:
    return {n: (v.value if isinstance(v, (Scenario, Mode)) else v)
            for n, v in ((n, getattr(ts, n)) for n in FIELDS)}


def run_podium(groups):
    state = ConfigState()
    results = []
    for g in groups:
        ts = preset_settings(g["preset"])
        codes = [from_config_compat(ts, *call, state=state) for call in g["calls"]]
        results.append({"codes": codes, "fields": read_fields(ts)})
    return {"results": results, "logged": [list(e) for e in state.logged_errors]}


def norm(fields: dict) -> dict:
    """Exact comparison: NaN equal to NaN; bools kept apart from ints (True == 1 otherwise)."""
    def one(v):
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        return ("bool", v) if isinstance(v, bool) else v
    return {k: one(v) for k, v in fields.items()}


def assert_same(official, podium, groups):
    assert podium["logged"] == official["logged"]
    for g, o, p in zip(groups, official["results"], podium["results"], strict=True):
        assert p["codes"] == o["codes"], g
        diff = {k: (o["fields"][k], p["fields"][k]) for k in FIELDS
                if norm(o["fields"])[k] != norm(p["fields"])[k]}
        assert not diff, (g, diff)


# ---- generated config files ---------------------------------------------------------------------------------

NUMBERS = ["0", "1", "2", "3", "4", "7", "15", "600000", "010", "08", "0x1F", "0X10", "-1", "-0", "+7", "1.5",
           "0.5", "1.9", "2.5", "1e3", "1e-3", ".5", "5.", "99.9", "99.99", "50.5", "inf", "-INF", "infinity",
           "nan", "nan(x1)", "0x1p3", "0x1.8p1", "18446744073709551615", "18446744073709551616",
           "99999999999999999999", "4294967297", "2147483648", "4294967295", "1.0", "600000.0",
           "2085463073848966840", "16159082839903944936"]
BAD_VALUES = ["abc", "1,5", "0x", "1e", "5ms", "#", "--1", "nan("]


# A value for every key FromConfig reads (mlperf.conf-only keys included: conf_type 2 must ignore them).
EVERY_KEY = {
    "mode": "0x1", "qsl_rng_seed": "3", "sample_index_rng_seed": "4", "schedule_rng_seed": "5",
    "accuracy_log_probability": "10", "test05": "1", "test05_qsl_rng_seed": "6",
    "test05_sample_index_rng_seed": "7", "test05_schedule_rng_seed": "8", "use_token_latencies": "1",
    "ttft_latency": "11", "tpot_latency": "12", "infer_token_latencies": "1",
    "token_latency_scaling_factor": "13", "target_latency_percentile": "99.5", "samples_per_query": "16",
    "target_latency": "21", "performance_issue_unique": "1", "performance_issue_same": "1",
    "performance_issue_same_index": "17", "sample_concatenate_permutation": "1", "coalesce_queries": "1",
    "max_async_queries": "18", "min_duration": "19", "max_duration": "20", "min_query_count": "22",
    "max_query_count": "23", "performance_sample_count_override": "24", "accuracy_sample_count_override": "25",
    "target_qps": "2.5", "print_timestamps": "1", "accuracy_log_rng_seed": "26",
    "accuracy_log_sampling_target": "27",
}


def hand_files() -> list[tuple[str, str, str, dict]]:
    """(file text, model, scenario, preset) covering every key, precedence, units and the parser's quirks."""
    every = "\n".join(f"*.*.{k} = {v}" for k, v in EVERY_KEY.items())
    cases = [(every, m, s, {}) for m in ("resnet50", "*") for s in SCENARIOS]
    levels = ["resnet50.Server.min_duration = 1", "*.Server.min_duration = 2", "resnet50.*.min_duration = 3",
              "*.*.min_duration = 4"]
    cases += [("\n".join(levels[i:]), "resnet50", s, {}) for i in range(4) for s in ("Server", "Offline")]
    scoped = ("*.Offline.target_qps = 7\n*.Server.target_qps = 9\nresnet50.Server.target_qps = 11\n"
              "*.SingleStream.target_latency = 0.5\n*.Server.target_latency = 2.5\n*.MultiStream.target_latency"
              " = 1e3\n*.Offline.target_latency_percentile = 50\n*.Server.coalesce_queries = 3\n"
              "*.SingleStream.samples_per_query = 4\n*.MultiStream.samples_per_query = 12\n")
    cases += [(scoped, m, s, {}) for m in ("resnet50", "bert") for s in SCENARIOS]
    for key in ("min_query_count", "max_async_queries", "target_latency", "mode", "use_token_latencies",
                "performance_issue_unique", "target_latency_percentile", "target_qps", "print_timestamps"):
        cases += [(f"*.*.{key} = {v}\n", "x", "Server", {}) for v in NUMBERS]
    token = "*.Server.ttft_latency = 1.5\n*.*.tpot_latency = 7\n*.*.token_latency_scaling_factor = 0x10\n"
    cases += [(token, "m", "Server", {}), (token, "m", "Offline", {"use_token_latencies": True}),
              (token, "m", "Server", {"infer_token_latencies": True}),
              ("*.*.use_token_latencies = 0\n" + token, "m", "Server", {"use_token_latencies": True})]
    quirks = ["a.b.c=5", "*.*.min_query_count=5", "*.*.min_query_count = 5 # note", "#foo bar", "#foo = 5",
              "*.*.min_query_count # 5", "= 5", "*.*.min_query_count = 5 6", "*.*.min_query_count = 5 x",
              "*.*.min_query_count =", "*.*.min_query_count", "*.*.min_query_count = 5\r",
              "\t*.*.min_query_count\t=\t6  ", "  # indented comment", "#", "", "*.*.min_query_count == 5",
              "wan-2.2-t2v-a14b.*.min_query_count = 9", "*.*.min_query_count = 5\x00", "*.*.min_query_count = = 5",
              "# caf\udce9 (a latin-1 byte)\n\udcff.*.min_query_count = 5", "*.*.min_query_count = 5\v\f"]
    quirks += [f"*.*.min_query_count = {v}" for v in BAD_VALUES]
    cases += [(q + "\n", m, "Offline", {}) for q in quirks for m in ("x", "wan-2.2-t2v-a14b")]
    cases += [("*.*.max_query_count = 3\n*.*.min_query_count = 1 # c\n*.*.max_duration = 4\n", "x", "Server", {}),
              ("", "x", "Server", {}), ("# only\n\n#\n", "x", "Server", {}),
              ("*.*.min_duration = 5", "x", "Server", {}),  # no final newline
              ("*.Server.min_duration = 5\n", "x", "server", {}),  # scenario taken verbatim
              ("resnet50.*.min_duration = 5\n*.*.max_duration = 6\n", "*", "Offline", {})]
    return cases


def fuzz_files(seed: int, count: int, clean: bool) -> list[tuple[str, str, str, dict]]:
    """Random files; `clean` ones use known keys and plain values so that many pass apply_config."""
    rng = random.Random(seed)
    names = list(known_keys()) + (["target_duration"] if clean else ["min_duraton", "target_qsp", "test07_x"])
    models = ["*", "resnet50", "llama2-70b", "gptj"] + ([] if clean else ["mymodel", "Resnet50"])
    scens = ["*"] + SCENARIOS + ([] if clean else ["server"])
    values = ["0", "1", "3", "15", "600000", "0x20", "1.0", "2.5", "99", "12.25", "24576"] if clean else NUMBERS
    shapes = ["{k}={v}", "{k} = {v} # c", "# comment", "#x", "{k} # {v}", "{k} = {v} {w}", "{k} =", "{k}",
              "", "\t{k}\t=  {v}\r", "{k} = {b}"]
    cases = []
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(1, 10)):
            k = f"{rng.choice(models)}.{rng.choice(scens)}.{rng.choice(names)}"
            shape = "{k} = {v}" if clean or rng.random() < 0.93 else rng.choice(shapes)
            lines.append(shape.format(k=k, v=rng.choice(values), w=rng.choice(values), b=rng.choice(BAD_VALUES)))
        preset = {f: True for f in ("use_token_latencies", "infer_token_latencies") if rng.random() < 0.3}
        cases.append(("\n".join(lines) + "\n", rng.choice(["resnet50", "llama2-70b", "gptj", "mymodel"]),
                      rng.choice(SCENARIOS), preset))
    return cases


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every generated file as an audit.config-style call (conf_type 2: no mlperf.conf, no counting)."""
    root = tmp_path_factory.mktemp("conf")
    cases = hand_files() + fuzz_files(1, 300, clean=False) + fuzz_files(2, 150, clean=True)
    groups = []
    for i, (text, model, scenario, preset) in enumerate(cases):
        path = root / f"c{i}.conf"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        groups.append(group([(path, model, scenario, 2)], preset))
    (root / "adir").mkdir()
    groups += [group([(root / "missing.conf", "x", "Server", 2)]), group([("", "x", "Server", 2)]),
               group([(root / "adir", "x", "Server", 2)]), group([(root / "c0.conf", "resnet50", "Server", 3)]),
               group([(root / "c0.conf", "resnet50", "Server", -1)])]
    return groups, run_official(groups, root / "official")


# ---- tests -------------------------------------------------------------------------------------------------


def test_every_generated_file_matches_official(batch):
    assert set(EVERY_KEY) == set(known_keys())
    groups, official = batch
    assert_same(official, run_podium(groups), groups)
    codes = {r["codes"][0] for r in official["results"]}
    assert codes == {0, -2, -22}  # the batch exercises success, unopened files and rejected files


def test_files_apply_config_accepts_give_official_settings(batch):
    groups, official = batch
    accepted = 0
    for g, o in zip(groups, official["results"], strict=True):
        path, model, scenario, conf_type = g["calls"][0]
        if conf_type != 2 or scenario not in SCENARIOS:  # apply_config canonicalizes scenario names
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts = apply_config(preset_settings(g["preset"]), path, model, scenario, conf_type=2)
        except ConfigError:
            continue
        accepted += 1
        assert o["codes"] == [0], g

        assert norm(read_fields(ts)) == norm(o["fields"]), (g, Path(path).read_text())
    assert accepted >= 100


def test_user_conf_sessions_match_official(tmp_path):
    """conf_type 1: the first call loads mlperf.conf (even if the file then fails); later ones log an error."""
    good = tmp_path / "user.conf"
    good.write_text("*.Server.target_qps = 250\nresnet50.*.min_query_count = 77\n*.*.mode = 1\n")
    bad = tmp_path / "bad.conf"
    bad.write_text("*.Server.target_qps = 250 # qps\n")
    mode = tmp_path / "mode.conf"
    mode.write_text("*.*.mode = 9\n*.*.min_duration = 5\n")
    sessions = [
        [group([(good, "resnet50", "Server", 1)]), group([(good, "resnet50", "Server", 1)])],
        [group([(tmp_path / "missing", "llama2-70b", "Server", 1), (good, "llama2-70b", "Server", 2)]),
         group([(good, "bert", "Offline", 1)])],
        [group([(bad, "gptj", "Server", 1), (mode, "gptj", "Server", 2)])],
        [group([("", "resnet50", "Offline", 0), (good, "resnet50", "Offline", 1), (mode, "x", "Offline", 1)])],
    ]
    for i, groups in enumerate(sessions):
        official = run_official(groups, tmp_path / f"s{i}")
        assert_same(official, run_podium(groups), groups)
        if i == 0:  # the strict reader agrees on a clean user.conf
            strict = apply_config(TestSettings(), good, "resnet50", "Server", conf_type=1)
            assert norm(read_fields(strict)) == norm(official["results"][0]["fields"])


def test_mlperf_conf_for_every_model_and_scenario_matches_official(tmp_path):
    """conf_type 0 (the embedded mlperf.conf only) for every model it names, plus unknown and '*' models."""
    models = sorted({k.rsplit(".", 2)[0] for k in _scan_official(mlperf_conf_text())[0]} | {"unknown-model"})
    presets = [{}, {"use_token_latencies": True, "infer_token_latencies": True}]
    groups = [group([("", m, s, 0)], p) for m in models for s in SCENARIOS for p in presets]
    official = run_official(groups, tmp_path)
    assert_same(official, run_podium(groups), groups)
    for g in groups:
        _, model, scenario, _ = g["calls"][0]
        expected = from_config_compat(ts := preset_settings(g["preset"]), "", model, scenario, 0,
                                      state=ConfigState())
        assert expected == 0 and apply_config(preset_settings(g["preset"]), None, model, scenario, 0) == ts


def test_shipped_mlperf_conf_equals_the_wheels_embedded_copy():
    """The official library embeds mlperf.conf as a C string: same keys and values as data/mlperf.conf."""
    import mlperf_loadgen

    blob = Path(mlperf_loadgen.__file__).read_bytes()
    at = blob.find(b"*.*.qsl_rng_seed")
    assert at > 0
    start, end = blob.rfind(b"\0", 0, at) + 1, blob.find(b"\0", at)
    embedded = _scan_official(blob[start:end].decode("utf-8"))
    assert embedded[1] == []
    assert embedded[0] == _scan_official(mlperf_conf_text())[0]
