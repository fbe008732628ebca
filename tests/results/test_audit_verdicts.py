"""The audits' verdicts as the official verify scripts decide them (compliance/TEST0x/verify_*.py), on made-up
detail-log values: tolerances, directions, the reports' lines."""

from __future__ import annotations

import pytest

from podium.results.checker import compliance


def log(scenario: str, value: float, *, valid: bool = True, target_latency_ns: int = 10_000_000) -> dict:
    return {"effective_scenario": scenario, compliance.SCORE_KEYS[scenario]: value,
            "result_validity": "VALID" if valid else "INVALID", "effective_target_latency_ns": target_latency_ns}


@pytest.mark.parametrize(("test", "scenario", "ref", "got", "passed"), [
    ("TEST01", "Offline", 1000.0, 1099.0, True), ("TEST01", "Offline", 1000.0, 1101.0, False),   # ±10 %
    ("TEST01", "Offline", 1000.0, 899.0, False),
    ("TEST01", "SingleStream", 150_000, 179_000, True),                                         # <= 0.2 ms: ±20 %
    ("TEST01", "SingleStream", 5_000_000, 5_600_000, False),
    ("TEST04", "Offline", 1000.0, 1099.0, True), ("TEST04", "Offline", 1000.0, 1101.0, False),   # no faster
    ("TEST04", "Offline", 1000.0, 10.0, True),                                                  # slower is fine
    # 1e9 / latency is compared with the ns bounds: 5 ms -> 200 samples/s <= 200000: 20 %, as the script does
    ("TEST04", "SingleStream", 5_000_000, 4_200_000, True), ("TEST04", "SingleStream", 5_000_000, 4_100_000, False),
    ("TEST05", "Offline", 1000.0, 951.0, True), ("TEST05", "Offline", 1000.0, 949.0, False),     # no slower, 5 %
    ("TEST05", "Server", 1000.0, 5000.0, True),
    ("TEST05", "SingleStream", 5_000_000, 5_240_000, True), ("TEST05", "SingleStream", 5_000_000, 5_260_000, False),
    ("TEST05", "MultiStream", 1_000_000, 1_190_000, True),                                      # <= 1.6 ms: 20 %
])
def test_performance_tolerances(test, scenario, ref, got, passed) -> None:
    verdict = compliance.verify_performance(test, log(scenario, ref), log(scenario, got))
    assert verdict.passed is passed
    assert verdict.lines[-1] == ("TEST PASS" if passed else "TEST FAIL: Test score invalid")


def test_reports_print_the_scores_as_the_official_scripts() -> None:
    assert compliance.verify_performance("TEST01", log("Offline", 1000.5), log("Offline", 1001.0)).text == \
        "Verifying performance.\nReference score = 1000.5\nTest score = 1001.0\nTEST PASS\n"
    stream = log("SingleStream", 2_000_000)
    assert compliance.verify_performance("TEST04", stream, stream).lines == \
        ("Verifying performance.", "reference score = 500.0", "test score = 500.0", "TEST PASS")


def test_invalid_runs_and_mismatched_settings_fail() -> None:
    bad = compliance.verify_performance("TEST01", log("Offline", 1.0), log("Offline", 1.0, valid=False),
                                        audit_path="TEST01/mlperf_log_detail.txt")
    assert bad.lines == ("Verifying performance.", "TEST FAIL: Invalid results in TEST01/mlperf_log_detail.txt")
    assert compliance.verify_performance("TEST04", log("Offline", 1.0, valid=False), log("Offline", 1.0)).lines[-1] \
        == "TEST FAIL: Reference results are invalid"
    assert not compliance.verify_performance("TEST01", log("Offline", 1.0), log("Server", 1.0)).passed
    latency = compliance.verify_performance("TEST04", log("Server", 9.0), log("Server", 9.0, target_latency_ns=1))
    assert latency.lines[-1] == "TEST FAIL: Server target latency mismatch"


def entries(pairs: list[tuple[int, str]]) -> list[dict]:
    return [{"seq_id": i, "qsl_idx": q, "data": d} for i, (q, d) in enumerate(pairs)]


def test_responses_compared_whole() -> None:
    accuracy = entries([(0, "0000803F"), (1, "00000040"), (1, "00000040"), (2, "0000A040")])
    same = compliance.compare_responses(accuracy, entries([(1, "00000040"), (2, "0000a040")]))
    assert (same.acc_duplicates, same.perf_matched, same.perf_mismatches, same.perf_missing) == (1, 2, 0, 0)
    assert compliance.verify_accuracy(same).passed
    # the first byte equal, the response not: the official script (dtype byte) would pass it
    differ = compliance.compare_responses(accuracy, entries([(0, "00008040"), (7, "00")]))
    assert (differ.perf_mismatches, differ.perf_missing, differ.differing) == (1, 1, (0,))
    verdict = compliance.verify_accuracy(differ)
    assert not verdict.passed and "num_perf_log_data_mismatch = 1" in verdict.lines
    assert not compliance.verify_accuracy(compliance.compare_responses(accuracy, [])).passed   # nothing compared


def test_test01_accuracy_delta_and_audit_configs() -> None:
    assert compliance.accuracy_delta(76.0, 76.5) == pytest.approx(abs(1 - 76.0 / 76.5) * 100)
    assert compliance.accuracy_delta(0.0, 76.5) is None

    class Variant:
        name, delta_percent = "bert-99.9", {}

    assert compliance.allowed_delta_percent(Variant(), "F1") == 0.1
    assert compliance.allowed_delta_percent(None, "acc") == 1.0
    assert "*.*.accuracy_log_sampling_target = 256" in compliance.audit_config("TEST01", "retinanet")
    assert "*.*.test05_qsl_rng_seed = 7" in compliance.audit_config("TEST05", "bert", {"qsl_rng_seed": 7})
    with pytest.raises(KeyError):
        compliance.audit_config("TEST01", "no-such-benchmark")
