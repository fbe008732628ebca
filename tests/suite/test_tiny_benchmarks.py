"""The suite's detection and segmentation benchmarks, served through the real harness on their generated data:
the FP32 reference measured outside LoadGen is what the accuracy run scores (same model, data, post-processing
and metric), the target is 99 % of it, the records name the benchmark's metric; the backend's user.conf keeps
every benchmark's lines; unknown names are refused."""

from __future__ import annotations

import pytest

from podium.loadgen.settings import Scenario

SETTINGS = {"SingleStream.target_latency": 0.5, "MultiStream.target_latency": 4.0, "Server.target_qps": 10.0,
            "Offline.target_qps": 500.0}


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Per benchmark: an untrained (seeded) model's state dict and ONNX export, the graph `podium run` serves."""
    torch = pytest.importorskip("torch")
    from podium.models import MODELS
    from podium.workloads.torch_program import export_onnx

    models = {}
    for bench, name, dtype in (("tiny-detection", "tiny-detector", "uint8"),
                               ("tiny-segmentation", "tiny-unet3d", "float32")):
        folder = tmp_path_factory.mktemp(bench)
        model = MODELS.get(name)
        torch.manual_seed(0)
        net = model.build().eval()
        torch.save(net.state_dict(), folder / "model.pt")
        models[bench] = {"pt": folder / "model.pt", "onnx": export_onnx(net, model, folder / "model.onnx", dtype)}
    return models


@pytest.mark.parametrize(("name", "metric"), [("tiny-detection", "coco-map"), ("tiny-segmentation", "dice")])
def test_served_accuracy_is_the_reference_measured_outside_loadgen(tmp_path, cache_dir, untrained, name,
                                                                   metric) -> None:
    pytest.importorskip("onnxruntime")
    if name == "tiny-detection":
        pytest.importorskip("cv2")
    from podium.suite import tiny

    bench = tiny.benchmark(name)
    reference = tiny.fp32_accuracy(untrained[name]["pt"], bench)
    records = tiny.serve(tmp_path, "box-onnxruntime", "onnxruntime", untrained[name]["onnx"], reference,
                         lambda r: None, lambda line: None, values=SETTINGS, scenarios=[Scenario.OFFLINE],
                         bench=bench)
    assert [r["mode"] for r in records] == ["performance", "accuracy"]
    perf, acc = records
    assert perf["benchmark"] == name and not perf["errors"] and perf["result"]["validity"] in ("VALID", "INVALID")
    accuracy = acc["accuracy"]
    assert accuracy["metric"] == metric
    assert accuracy["value"] == pytest.approx(reference, abs=1e-6)  # ONNX Runtime and PyTorch agree on this model
    assert accuracy["target"] == pytest.approx(0.99 * reference) and accuracy["passed"]
    conf = (tmp_path / "inference" / "user-onnxruntime.conf").read_text()
    assert f"{name}.Offline.target_qps = " in conf and "digits." not in conf


def test_user_conf_keeps_other_benchmarks_lines(tmp_path) -> None:
    from podium.suite import tiny

    tiny.write_user_conf(tmp_path, "pytorch", {"Offline.target_qps": 100.0})
    tiny.write_user_conf(tmp_path, "pytorch", {"Offline.target_qps": 7.0}, "tiny-segmentation")
    tiny.write_user_conf(tmp_path, "pytorch", {"Offline.target_qps": 200.0})
    lines = (tmp_path / "inference" / "user-pytorch.conf").read_text().splitlines()
    assert lines[0].startswith("# user.conf written by `podium run`")
    assert lines[1:] == ["tiny-segmentation.Offline.target_qps = 7", "digits.Offline.target_qps = 200"]


def test_every_benchmark_of_the_suite_is_in_the_round_and_trainable() -> None:
    from podium.benchmarks import get_round
    from podium.core.errors import ConfigError
    from podium.inference.tasks import TASKS
    from podium.suite import tiny
    from podium.workloads import WORKLOADS

    names = [b.name for b in tiny.BENCHMARKS]
    assert names == ["digits", "tiny-detection", "tiny-segmentation", "tiny-qa", "tiny-ctr", "tiny-speech",
                     "tiny-translation"]
    rnd = get_round(tiny.ROUND)
    for name in names:
        bench = rnd.benchmark(name)
        assert bench.reference_measured_at_run_time and bench.targets == {"99": None}
        assert WORKLOADS.get(name).name == TASKS.get(name).benchmark == name
    assert tiny.backend_options("onnxruntime").intra_op_threads is None  # digits: the runtime's defaults
    assert tiny.backend_options("onnxruntime", tiny.benchmark("tiny-segmentation")).intra_op_threads == 1
    with pytest.raises(ConfigError, match="no tiny benchmark 'resnet50'"):
        tiny.benchmark("resnet50")
