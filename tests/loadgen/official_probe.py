"""Drive the official mlperf_loadgen with a recording null SUT; print what it loaded and issued as JSON.

Run as a script, one run per process (the official keeps process-level logger/config state):
    python official_probe.py '{"scenario": "Server", "mode": "PerformanceOnly", "total": 200,
                               "performance_count": 64, "outdir": "/tmp/x", "settings": {...}}'
`settings` holds official TestSettings fields (ns/ms units as there). Output: outdir/probe.json with
`loaded` (every LoadSamplesToRam set), `issued` (QSL indices of each IssueQuery), `detail` (every
value of the generated_* keys and error messages, in order), `accuracy` ([seq_id, qsl_idx] of every
accuracy-log entry). The SUT completes each sample inline, with an empty response.
The script uses only mlperf_loadgen and the standard library. `load_engine_modules` is for the tests.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types

DETAIL_KEYS = ("generated_query_count", "generated_samples_per_query", "generated_query_duration")


def run(config: dict) -> dict:
    import mlperf_loadgen as lg

    issued: list[list[int]] = []
    loaded: list[list[int]] = []

    def issue(samples):
        issued.append([s.index for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, config["scenario"])
    settings.mode = getattr(lg.TestMode, config["mode"])
    for key, value in config.get("settings", {}).items():
        setattr(settings, key, value)
    log = lg.LogSettings()
    log.log_output.outdir = config["outdir"]
    log.enable_trace = False
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(config["total"], config["performance_count"],
                          lambda idx: loaded.append(list(idx)), lambda idx: None)
    lg.StartTestWithLogSettings(sut, qsl, settings, log)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return {"loaded": loaded, "issued": issued, **_read_logs(config["outdir"])}


def _read_logs(outdir: str) -> dict:
    detail: dict[str, list] = {key: [] for key in DETAIL_KEYS}
    detail["errors"] = []
    with open(os.path.join(outdir, "mlperf_log_detail.txt")) as f:
        for line in f:
            if not line.startswith(":::MLLOG"):
                continue
            entry = json.loads(line[len(":::MLLOG"):])
            if entry["key"] in DETAIL_KEYS:
                detail[entry["key"]].append(entry["value"])
            elif entry["metadata"].get("is_error"):
                detail["errors"].append(str(entry["value"]))
    with open(os.path.join(outdir, "mlperf_log_accuracy.json")) as f:
        accuracy = [[e["seq_id"], e["qsl_idx"]] for e in json.load(f)]
    return {"detail": detail, "accuracy": accuracy}


def load_engine_modules() -> tuple[types.ModuleType, ...]:
    """podium.loadgen's (rng, schedule, settings) modules.

    They need only numpy and each other. When the package's __init__ cannot import (a sibling module
    is mid-development), they are imported under a bare stand-in package, which is removed again so
    that other tests still see the package's own import error.
    """
    names = ("rng", "schedule", "settings")
    try:
        return tuple(importlib.import_module(f"podium.loadgen.{n}") for n in names)
    except ImportError:
        import podium

        stand_in = types.ModuleType("podium.loadgen")
        stand_in.__path__ = [os.path.join(os.path.dirname(podium.__file__), "loadgen")]
        sys.modules["podium.loadgen"] = stand_in
        try:
            return tuple(importlib.import_module(f"podium.loadgen.{n}") for n in names)
        finally:
            del sys.modules["podium.loadgen"]


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    os.makedirs(cfg["outdir"], exist_ok=True)
    result = run(cfg)
    with open(os.path.join(cfg["outdir"], "probe.json"), "w") as out:
        json.dump(result, out)
