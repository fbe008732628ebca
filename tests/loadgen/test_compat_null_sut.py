"""shared/peer/null_sut.py — written for the official mlperf_loadgen — runs on Podium with one line changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT.parent / "shared" / "peer" / "null_sut.py"

pytestmark = pytest.mark.skipif(not PEER.exists(), reason="shared/peer/null_sut.py is not beside the repo")

CASES = {
    # Pre-generation hints sized for a null SUT (µs per query), as the official needs them too.
    "SingleStream": ["--expected-latency-ns", "2000"],
    "MultiStream": ["--expected-latency-ns", "4000", "--spq", "8"],
    "Server": ["--qps", "2000"],
    # Offline: 10 µs of work per sample, so the query outlasts the minimum duration on any machine
    "Offline": ["--qps", "100000", "--work-us", "10"],
}


def _harness(tmp_path: Path) -> Path:
    text = PEER.read_text()
    assert "import mlperf_loadgen as lg" in text
    h = tmp_path / "null_sut_podium.py"
    h.write_text(text.replace("import mlperf_loadgen as lg", "import podium.loadgen.compat as lg", 1))
    return h


@pytest.mark.parametrize("variant", ["inline", "thread", "fast"])
@pytest.mark.parametrize("scenario", list(CASES))
def test_peer_null_sut_runs_unchanged(tmp_path, scenario, variant):
    # A generous latency bound: this test is about the API, not about timing on a busy machine.
    args = ["--scenario", scenario, "--variant", variant, "--min-duration-ms", "300", "--latency-ms", "200",
            "--outdir", str(tmp_path / "out"), *CASES[scenario]]
    if variant != "inline":
        args.append("--no-trace")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run([sys.executable, str(_harness(tmp_path)), *args], capture_output=True, text=True,
                       timeout=120, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["n_errors"] == 0, res["errors"]
    assert res["result_validity"] == "VALID", res
    assert res["samples"] > 0 and res["generated_query_count"] > 0
