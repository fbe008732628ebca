"""Run the official mlperf_loadgen once per (model, scenario) with an empty user.conf; keep its detail logs.

    python settings_probe.py job.json
job.json: {"pairs": [[model, scenario, tokens], ...], "outdir": "...", "user_conf": "..."}.
Each pair runs in a child forked after `import mlperf_loadgen`: FromConfig counts user.conf files per process
(only the first loads the embedded mlperf.conf), so every pair needs a fresh process, and forking skips the
import. A child applies FromConfig(user_conf, model, scenario), writes the Server/Offline target QPS it read
to <outdir>/<i>/requested.json, raises the Server QPS (accuracy runs follow the Server schedule; 1 QPS would
take minutes), and runs AccuracyOnly against a 16-sample QSL with an inline SUT. Uses only the standard
library and mlperf_loadgen.
"""

from __future__ import annotations

import array
import json
import os
import sys

import mlperf_loadgen as lg

TOTAL = 16
PAYLOAD = array.array("B", b"\x01\x02\x03\x04")
ADDR = PAYLOAD.buffer_info()[0]


def run_one(model: str, scenario: str, tokens: bool, user_conf: str, outdir: str) -> None:
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    code = settings.FromConfig(user_conf, model, scenario)
    with open(os.path.join(outdir, "requested.json"), "w") as f:
        json.dump({"code": code, "server_target_qps": settings.server_target_qps,
                   "offline_expected_qps": settings.offline_expected_qps}, f)
    settings.mode = lg.TestMode.AccuracyOnly
    settings.server_target_qps = 1e9

    def issue(samples):
        if tokens:
            if scenario != "Offline":
                lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, ADDR, 2) for s in samples])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ADDR, 4, 2) for s in samples])
        else:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ADDR, 4) for s in samples])

    log = lg.LogSettings()
    log.log_output.outdir = outdir
    log.enable_trace = False
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(TOTAL, TOTAL, lambda i: None, lambda i: None)
    lg.StartTestWithLogSettings(sut, qsl, settings, log, os.path.join(outdir, "no-audit.config"))
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


def main(job_path: str) -> int:
    job = json.load(open(job_path))
    failed = []
    for i, (model, scenario, tokens) in enumerate(job["pairs"]):
        outdir = os.path.join(job["outdir"], str(i))
        os.makedirs(outdir, exist_ok=True)
        pid = os.fork()
        if pid == 0:
            try:
                run_one(model, scenario, tokens, job["user_conf"], outdir)
            except BaseException as e:  # noqa: BLE001 - reported through the exit code
                print(f"{model} {scenario}: {e!r}", file=sys.stderr)
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failed.append([model, scenario, status])
    json.dump({"failed": failed}, open(os.path.join(job["outdir"], "done.json"), "w"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
