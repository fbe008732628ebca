"""`podium run` end to end (one backend, to keep it short): the table, the trees, the report, detail logs that
the official MLPerf log parser (mlperf-logging's mlp_parser) reads without an error, and the README's flow
`podium run --org ACME` -> `podium submission build --org ACME` -> `podium check` passing; and the suite's
Server retry at a lower QPS."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest



def test_podium_run_trains_serves_and_reports(tmp_path, cache_dir) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    from mlperf_logging.compliance_checker import mlp_parser

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "podium", "run", "--backend", "onnxruntime", "--org", "ACME",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr  # 1: a result INVALID on a loaded machine; the table says why
    header = next(x for x in r.stdout.splitlines() if x.startswith("benchmark"))
    assert "accuracy" in header and "time to train" in header
    rows = [x for x in r.stdout.splitlines() if x.startswith("digits ")]
    assert {row.split()[2] for row in rows} == {"SingleStream", "MultiStream", "Server", "Offline"}
    details = sorted((out / "inference" / "results").rglob("mlperf_log_detail.txt"))
    # digits' 4 scenarios, tiny detection's, segmentation's and ctr's 2 each, tiny qa's 3, x (performance, accuracy);
    # tiny-speech and tiny-translation are served by PyTorch alone: skipped under --backend onnxruntime
    assert len(details) == 26
    assert "== tiny-speech: served by pytorch alone, which --backend leaves out: skipped" in r.stdout
    for path in details:
        lines, errors = mlp_parser.parse_file(str(path), ruleset="6.1.0")
        assert lines and not errors, (path, errors[:3])
    assert (out / "training" / "results" / "local" / "digits" / "result_0.txt").is_file()
    assert (out / "report.html").is_file() and (out / "inference" / "systems" / "local-onnxruntime.json").is_file()
    for system in (out / "inference" / "systems" / "local-onnxruntime.json", out / "training" / "systems" /
                   "local.json"):
        assert json.loads(system.read_text())["submitter"] == "ACME", system
    assert '"submission_org", "value": "ACME"' in (out / "training" / "results" / "local" / "digits" /
                                                   "result_0.txt").read_text()

    # The package built from this output for the org it ran as passes the checker (when every result was VALID).
    sub = tmp_path / "sub"
    build = [sys.executable, "-m", "podium", "submission", "build", str(out), "--org", "ACME", "--division",
             "closed", "--out", str(sub)] + ([] if r.returncode == 0 else ["--allow-invalid"])
    b = subprocess.run(build, capture_output=True, text=True, timeout=120)
    assert b.returncode == 0, b.stderr
    assert (sub / "inference" / "closed" / "ACME").is_dir() and (sub / "training" / "closed" / "ACME").is_dir()
    templates = list(sub.rglob("calibration.md"))  # a closed package's template, which the submitter completes
    assert templates
    for template in templates:
        template.write_text("# Calibration\n\nNo calibration: FP32 weights as trained.\n")
    c = subprocess.run([sys.executable, "-m", "podium", "check", str(sub), "--json"], capture_output=True,
                       text=True, timeout=300)
    findings = [f for package in json.loads(c.stdout)["packages"] for f in package["findings"]]
    errors = [f for f in findings if f["severity"] == "error"]
    if r.returncode == 0:
        assert c.returncode == 0 and not errors, errors
    else:  # what made podium run fail, and nothing else: an INVALID result, or runs faster than the RCP allows
        expected = {"inference.latency", "inference.result_validity", "training.convergence"}
        assert errors and {f["rule_id"] for f in errors} <= expected, errors


class _FakeRun:
    """run_inference stand-in: the Server performance result is INVALID on latency `invalid` times."""

    def __init__(self, invalid: int, reasons: list[str]) -> None:
        self.invalid, self.reasons, self.specs = invalid, reasons, []

    def __call__(self, spec):
        self.specs.append(spec)
        server = spec.scenario.value == "Server"
        bad = server and sum(s.scenario.value == "Server" for s in self.specs) <= self.invalid
        perf = {"mode": "performance", "errors": [], "scenario": spec.scenario.value,
                "result": {"validity": "INVALID" if bad else "VALID", "reasons": self.reasons if bad else []},
                "qps_conf": spec.user_conf.read_text()}
        return types.SimpleNamespace(records=[perf])


@pytest.mark.parametrize(("invalid", "runs", "kept"), [(0, 1, "VALID"), (1, 2, "VALID"), (5, 3, "INVALID")])
def test_server_invalid_on_latency_runs_again_at_lower_qps(tmp_path, monkeypatch, invalid, runs, kept) -> None:
    from podium.inference import harness
    from podium.suite import tiny

    fake = _FakeRun(invalid, ["early stopping not met"])
    monkeypatch.setattr(harness, "run_inference", fake)
    monkeypatch.setattr(tiny, "calibrate", lambda out, backend, model: {
        "SingleStream.target_latency": 0.5, "MultiStream.target_latency": 2.0, "Server.target_qps": 100.0,
        "Offline.target_qps": 5000.0})
    said: list[str] = []
    records = tiny.serve(tmp_path, "sys", "pytorch", tmp_path / "m.pt", 99.0, lambda r: None, said.append)
    server = [s for s in fake.specs if s.scenario.value == "Server"]
    assert len(server) == runs and len(said) == runs - 1
    assert all(s.options.intra_op_threads == 1 for s in fake.specs)
    qps = [100, 60, 36][:runs]
    assert [r["qps_conf"] for r in records if r["scenario"] == "Server"] == [
        fake_conf for fake_conf in [_conf_with(qps[-1])]]
    assert [r["result"]["validity"] for r in records if r["scenario"] == "Server"] == [kept]
    assert all(f"INVALID at {a} QPS" in line and f"again at {b} QPS" in line
               for line, a, b in zip(said, qps, qps[1:]))


def _conf_with(qps: int) -> str:
    return ("# user.conf written by `podium run` from a calibration of this machine (pytorch)\n"
            "digits.SingleStream.target_latency = 0.5\ndigits.MultiStream.target_latency = 2\n"
            f"digits.Server.target_qps = {qps}\ndigits.Offline.target_qps = 5000\n")


def test_other_invalid_reasons_are_not_retried(tmp_path, monkeypatch) -> None:
    from podium.inference import harness
    from podium.suite import tiny

    fake = _FakeRun(5, ["min queries not met"])
    monkeypatch.setattr(harness, "run_inference", fake)
    monkeypatch.setattr(tiny, "calibrate", lambda out, backend, model: {"Server.target_qps": 100.0})
    tiny.serve(tmp_path, "sys", "onnxruntime", tmp_path / "m.onnx", 99.0, lambda r: None, print)
    assert sum(s.scenario.value == "Server" for s in fake.specs) == 1
    assert all(s.options.intra_op_threads is None for s in fake.specs)


@pytest.mark.parametrize(("valid", "passed", "scaling", "shown"), [
    (True, True, 1.0, "6.0 s"),
    (True, True, 1.25, "7.5 s (x1.250 RCP scaling)"),
    (True, False, 1.4, "invalid: converged too fast: mean 3 < minimum 3.19"),
    (False, True, 1.0, "invalid: 2 runs did not converge"),
])
def test_time_to_train_as_published(valid, passed, scaling, shown) -> None:
    from podium.cli.run_cmd import time_to_train

    score = types.SimpleNamespace(valid=valid, minutes=0.1, reason="2 runs did not converge")
    conv = types.SimpleNamespace(passed=passed, scaling_factor=scaling,
                                 message="converged too fast: mean 3 < minimum 3.19")
    assert time_to_train(types.SimpleNamespace(submitted_score=score, convergence=conv)) == shown
