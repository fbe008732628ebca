"""Run one short test with an inline SUT on `mlperf_loadgen` (or whatever module is aliased to that name).

    python keys_probe.py '{"scenario": "Server", "mode": "PerformanceOnly", "outdir": "...",
                           "tokens": false, "settings": {...}}'
With "tokens", the SUT reports a first token (FirstTokenComplete, not in Offline) and then completes
each sample with n_tokens = 2 + index % 5 and 4 bytes of data, as an LLM SUT does. "work_ns" busy-waits
that long per sample before completing it, so a run's length does not depend on how fast the machine is.
"""

from __future__ import annotations

import array
import json
import sys
import time

import mlperf_loadgen as lg

cfg = json.loads(sys.argv[1])
payload = array.array("B", b"\x01\x02\x03\x04")
ADDR = payload.buffer_info()[0]


WORK_NS = int(cfg.get("work_ns", 0))


def busy(n: int) -> None:
    end = time.perf_counter_ns() + WORK_NS * n
    while WORK_NS and time.perf_counter_ns() < end:
        pass


def issue(samples):
    busy(len(samples))
    if cfg.get("tokens"):
        if cfg["scenario"] != "Offline":
            lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, ADDR, 2) for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ADDR, 4, 2 + s.index % 5) for s in samples])
    else:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ADDR, 4) for s in samples])


settings = lg.TestSettings()
settings.scenario = getattr(lg.TestScenario, cfg["scenario"])
settings.mode = getattr(lg.TestMode, cfg["mode"])
for key, value in cfg.get("settings", {}).items():
    setattr(settings, key, value)
log = lg.LogSettings()
log.log_output.outdir = cfg["outdir"]
log.enable_trace = False
sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(cfg.get("total", 256), cfg.get("performance_count", 128), lambda i: None, lambda i: None)
lg.StartTestWithLogSettings(sut, qsl, settings, log)
lg.DestroyQSL(qsl)
lg.DestroySUT(sut)
