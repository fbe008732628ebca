"""`podium infer dlrm` and `dlrm-v2` in every scenario their rounds require, performance and accuracy, on generated
Criteo data in the official layouts: DLRM v1 from a small ONNX graph under the official graph's names and layout
("dense_x" (N, 13), "offsets" and "indices" (26, N) table-major -> "pred" (N, 1), as dlrm_s_pytorch.py exports
`tb00_40M.onnx`) and from a small state dict under DLRM_Net's keys; DLRMv2 from a small state dict under
torchrec's keys. The accuracy line must be the reference script's and match the checker's ACC_PATTERN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from podium.benchmarks import get_round  # noqa: E402
from podium.inference.backends import BACKENDS  # noqa: E402
from podium.inference.encoding import ResponseEncoding  # noqa: E402
from podium.inference.harness import InferenceSpec, run_inference  # noqa: E402
from podium.inference.runners import RunnerConfig  # noqa: E402
from podium.inference.sut import ModelSpec  # noqa: E402
from podium.inference.tasks import TASKS, GraphForm  # noqa: E402
from podium.loadgen.settings import Mode, Scenario  # noqa: E402
from podium.models import MODELS  # noqa: E402

# tools/submission/submission_checker/constants.py ACC_PATTERN["AUC"]
CHECKER_AUC = r"^AUC=([\d\.]+).*"
LINE = r"AUC=\d+\.\d{3}%, accuracy=\d+\.\d{3}%, good=\d+, total=800, queries=4"
COUNT = 4  # aggregated samples: the reference's first four draws, 200 rows each
USER_CONF = """\
*.Server.min_query_count = 16
*.Server.target_qps = 40
*.Offline.min_query_count = 16
*.Offline.target_qps = 40
"""
TABLE_ROWS, DIM = 16, 8
SS, SERVER, OFFLINE = Scenario.SINGLE_STREAM, Scenario.SERVER, Scenario.OFFLINE


def _small_dlrm():
    from podium.models.dlrm import dlrm

    torch.manual_seed(0)
    return dlrm(table_rows=[TABLE_ROWS] * 26, embedding_dim=DIM, bottom=(13, 16, DIM), top=(16, 1)).eval()


def official_graph(module, path: Path) -> Path:
    """DLRM_Net's computation as an ONNX graph named as tb00_40M.onnx, from `module`'s weights: offsets and indices
    table-major (26, N); every bag one index, so a table's lookup is a Gather of its row of indices."""
    from onnx import TensorProto, helper, numpy_helper

    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def mlp(x: str, prefix: str, count: int, last: str) -> str:
        for i in range(count):
            w, b = state[f"{prefix}.{2 * i}.weight"].T.copy(), state[f"{prefix}.{2 * i}.bias"]
            out = f"{prefix}_{i}"
            nodes.append(helper.make_node("Gemm", [x, const(f"{out}_w", w), const(f"{out}_b", b)], [f"{out}_lin"]))
            act = last if i == count - 1 else "Relu"
            nodes.append(helper.make_node(act, [f"{out}_lin"], [out]))
            x = out
        return x

    x = mlp("dense_x", "bot_l", 2, "Relu")
    vectors = ["x_3d"]
    nodes.append(helper.make_node("Unsqueeze", [x, const("axis1", np.array([1], dtype=np.int64))], ["x_3d"]))
    for k in range(26):
        nodes += [helper.make_node("Gather", ["indices", const(f"k{k}", np.array(k, dtype=np.int64))], [f"i{k}"],
                                   axis=0),
                  helper.make_node("Gather", [const(f"emb{k}", state[f"emb_l.{k}.weight"]), f"i{k}"], [f"e{k}"],
                                   axis=0),
                  helper.make_node("Unsqueeze", [f"e{k}", "axis1"], [f"e{k}_3d"])]
        vectors.append(f"e{k}_3d")
    pairs = np.array([i * 27 + j for i in range(27) for j in range(i)], dtype=np.int64)
    nodes += [helper.make_node("Concat", vectors, ["stacked"], axis=1),
              helper.make_node("Transpose", ["stacked"], ["stacked_t"], perm=[0, 2, 1]),
              helper.make_node("MatMul", ["stacked", "stacked_t"], ["products"]),
              helper.make_node("Reshape", ["products", const("flat", np.array([0, 729], dtype=np.int64))],
                               ["products_flat"]),
              helper.make_node("Gather", ["products_flat", const("pairs", pairs)], ["below"], axis=1),
              helper.make_node("Concat", [x, "below"], ["interaction"], axis=1)]
    top = mlp("interaction", "top_l", 2, "Sigmoid")
    nodes.append(helper.make_node("Identity", [top], ["pred"]))
    inputs = [helper.make_tensor_value_info("dense_x", TensorProto.FLOAT, ["batch_size", 13]),
              helper.make_tensor_value_info("offsets", TensorProto.INT64, [26, "batch_size"]),
              helper.make_tensor_value_info("indices", TensorProto.INT64, [26, "batch_size"])]
    outputs = [helper.make_tensor_value_info("pred", TensorProto.FLOAT, ["batch_size", 1])]
    model = helper.make_model(helper.make_graph(nodes, "dlrm", inputs, outputs, initializer=inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def criteo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from podium.datasets.criteo import generate

    return generate(tmp_path_factory.mktemp("criteo") / "day", COUNT)


@pytest.fixture(scope="module")
def multihot_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from podium.datasets.criteo_multihot import generate

    return generate(tmp_path_factory.mktemp("multihot") / "day", COUNT)


def _required(round_name: str, benchmark: str) -> set[Scenario]:
    bench = get_round(round_name).benchmark(benchmark)
    return {s for category in ("edge", "datacenter") for s in bench.scenarios(category)}


def test_the_rounds_require_server_and_offline() -> None:
    """v0.7 requires Offline (Server optional); v2.0 .. v3.0 and dlrm-v2's rounds require Server and Offline."""
    assert _required("v0.7", "dlrm") == {OFFLINE}
    for round_name in ("v2.0", "v3.0"):
        assert _required(round_name, "dlrm") == {SERVER, OFFLINE}
    for round_name in ("v3.1", "v5.1"):
        assert _required(round_name, "dlrm-v2") == {SERVER, OFFLINE}
    assert TASKS.get("dlrm").default_backend == "pytorch" and TASKS.get("dlrm-v2").backends == ("pytorch",)


def _run(benchmark: str, round_name: str, scenario: Scenario, model: Path, data: Path, tmp_path: Path,
         backend: str) -> Path:
    conf = tmp_path / "user.conf"
    conf.write_text(USER_CONF)
    spec = InferenceSpec(benchmark=benchmark, scenario=scenario, model_path=model, mode=Mode.SUBMISSION,
                         round=round_name, backend=backend, dataset_path=data, out=tmp_path / "out", system_id="t",
                         user_conf=conf, short=True, progress=False, completion_timeout_s=120,
                         runner=RunnerConfig("pool", 2, 0, 1))
    result = run_inference(spec)
    perf, acc = result.records
    assert not perf["errors"] and not acc["errors"], (scenario, perf["errors"], acc["errors"])
    assert perf["status"] == acc["status"] == "finished"
    line = (result.scenario_dir / "accuracy" / "accuracy.txt").read_text().strip()
    assert re.fullmatch(LINE, line), line
    assert re.match(CHECKER_AUC, line)
    encoding = ResponseEncoding.from_description(acc["response_encoding"])
    assert encoding == ResponseEncoding("float32", (-1, 2))
    entries = json.loads((result.scenario_dir / "accuracy" / "mlperf_log_accuracy.json").read_text())
    sizes = {e["qsl_idx"]: encoding.decode(bytes.fromhex(e["data"])).shape for e in entries}
    assert sizes == {i: (200, 2) for i in range(COUNT)}
    return result.scenario_dir


@pytest.mark.parametrize("scenario", [SERVER, OFFLINE])
def test_dlrm_official_onnx_graph_in_every_required_scenario(scenario: Scenario, criteo_data: Path, tmp_path: Path,
                                                             cache_dir: Path) -> None:
    graph = official_graph(_small_dlrm(), tmp_path / "dlrm.onnx")
    _run("dlrm", "v3.0", scenario, graph, criteo_data, tmp_path, "onnxruntime")


def test_dlrm_state_dict_on_pytorch_in_every_required_scenario(criteo_data: Path, tmp_path: Path,
                                                               cache_dir: Path) -> None:
    """The reference checkpoint's form (a wrapped DLRM_Net state dict) served through the whole harness on PyTorch,
    its tables memory-mapped from the file."""
    torch.save({"state_dict": _small_dlrm().state_dict()}, tmp_path / "dlrm.pt")
    for scenario in (SERVER, OFFLINE):
        (tmp_path / scenario.value).mkdir()
        _run("dlrm", "v3.0", scenario, tmp_path / "dlrm.pt", criteo_data, tmp_path / scenario.value, "pytorch")


def test_dlrm_v2_state_dict_on_pytorch_in_every_required_scenario(multihot_data: Path, tmp_path: Path,
                                                                  cache_dir: Path) -> None:
    from podium.models.dlrm_v2 import dlrm_v2

    torch.manual_seed(0)
    module = dlrm_v2(table_rows=[TABLE_ROWS] * 26, embedding_dim=DIM, dense=(13, 16, DIM), over=(16, 1),
                     cross_layers=2, cross_rank=4).eval()
    torch.save(module.state_dict(), tmp_path / "dlrm_v2.pt")
    for scenario in (SERVER, OFFLINE):
        (tmp_path / scenario.value).mkdir()
        _run("dlrm-v2", "v5.1", scenario, tmp_path / "dlrm_v2.pt", multihot_data, tmp_path / scenario.value,
             "pytorch")


def _served(task: str, path: Path, backend: str, example: np.ndarray | None):
    """The model as the harness serves it (its task's forms and predictor), outside LoadGen."""
    definition = MODELS.get(TASKS.get(task).model)
    spec = ModelSpec(backend, str(path), torch_model=definition.reference if backend == "pytorch" else None,
                     forms=TASKS.get(task).forms, predictor=TASKS.get(task).predictor,
                     io_names=(definition.input_names, definition.output_names), example_input=example)
    return spec.load()


def test_onnx_graph_and_state_dict_answer_the_same(criteo_data: Path, tmp_path: Path) -> None:
    """The predictor feeds the official graph table-major and the PyTorch definition batch-major: same answers;
    the responses are (prediction, label) rows of each sample."""
    from podium.datasets import DATASETS

    module = _small_dlrm()
    graph = official_graph(module, tmp_path / "dlrm.onnx")
    torch.save({"state_dict": module.state_dict()}, tmp_path / "dlrm.pt")  # as tb00_40M.pt wraps it
    dataset = DATASETS.get("criteo")(criteo_data)
    dataset.load_samples([0, 1, 2])
    samples = dataset.get_samples([0, 1, 2])
    onnx_model = _served("dlrm", graph, "onnxruntime", None)
    torch_model = _served("dlrm", tmp_path / "dlrm.pt", "pytorch", None)
    assert [i.shape for i in onnx_model.model.inputs][1] == (26, None)
    a = onnx_model.respond(samples, [0, 1, 2])
    b = torch_model.respond(samples, [0, 1, 2])
    assert [r.shape for r in a] == [(200, 2)] * 3
    for x, y, sample in zip(a, b, samples):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(x[:, 1], sample["label"])
        assert 0.0 < x[:, 0].min() and x[:, 0].max() < 1.0
    assert not np.allclose(a[0][:, 0], a[0][0, 0])  # the rows differ


def test_dlrm_v2_state_dict_serves_aggregated_samples(multihot_data: Path, tmp_path: Path) -> None:
    from podium.datasets import DATASETS
    from podium.models.dlrm_v2 import dlrm_v2

    torch.manual_seed(0)
    module = dlrm_v2(table_rows=[TABLE_ROWS] * 26, embedding_dim=DIM, dense=(13, 16, DIM), over=(16, 1),
                     cross_layers=2, cross_rank=4).eval()
    torch.save({"module." + k: v for k, v in module.state_dict().items()}, tmp_path / "dlrm_v2.pt")
    dataset = DATASETS.get("criteo-multihot")(multihot_data)
    dataset.load_samples([0, 3])
    samples = dataset.get_samples([0, 3])
    served = _served("dlrm-v2", tmp_path / "dlrm_v2.pt", "pytorch",
                     None)
    out = served.respond(samples, [0, 3])
    assert [r.shape for r in out] == [(200, 2), (200, 2)]
    with torch.no_grad():
        rows = samples[1]
        expected = module(torch.from_numpy(rows["dense_features"].copy()),
                          torch.from_numpy(rows["sparse_features"].copy())).numpy().reshape(-1)
    np.testing.assert_allclose(out[1][:, 0], expected, rtol=1e-5, atol=1e-6)


def test_dlrm_v2_is_served_by_pytorch_only(multihot_data: Path, tmp_path: Path) -> None:
    from podium.core.errors import ConfigError

    with pytest.raises(ConfigError, match="--backend|served by pytorch"):
        _run("dlrm-v2", "v5.1", OFFLINE, tmp_path / "none.onnx", multihot_data, tmp_path, "onnxruntime")


def test_the_graph_forms_read_pred() -> None:
    assert TASKS.get("dlrm").forms[0] == GraphForm("mlperf-onnx", "click-probability", outputs=("pred",))
    assert BACKENDS.get("onnxruntime").name == "onnxruntime"


def test_random_weights_at_full_size_are_refused_in_one_line(criteo_data: Path, tmp_path: Path, cache_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`--model random` builds the full-size definition: 96.1 GB of tables, refused on a machine of 24 GiB."""
    import podium.models.dlrm as definition
    from podium.core.errors import ConfigError

    monkeypatch.setattr(definition, "physical_memory_bytes", lambda: 24 << 30)
    with pytest.raises(ConfigError, match=r"96\.1 GB, more than this machine's 25\.8 GB"):
        _run("dlrm", "v3.0", OFFLINE, Path("random"), criteo_data, tmp_path, "pytorch")


def test_tiny_ctr_trains_to_its_target_and_is_served_by_its_task(tmp_path: Path, cache_dir: Path) -> None:
    """The tiny suite's click-through benchmark: its workload's program reaches AUC 0.72 (the generating model's
    Bayes AUC is 0.784) within its budget, and the saved ONNX export, served by the `tiny-ctr` task's predictor,
    scores what the program's evaluation scored."""
    from podium.core.vocabulary import Division
    from podium.datasets import DATASETS
    from podium.metrics import METRICS
    from podium.workloads import WORKLOADS
    from podium.workloads.base import RunSpec
    from podium.workloads.tiny_ctr import CTR

    workload = WORKLOADS.get("tiny-ctr")
    workload.prepare()
    hp = workload.recipe.resolve({}, Division.CLOSED)
    program = workload.program(workload, RunSpec(seed=0, hyperparameters=hp, per_rank_batch_size=512))
    program.build()
    program.load_data()
    seen, auc = 0, 0.0
    while seen < workload.budget and not workload.quality.reached(auc):
        program.train(workload.cadence.every)
        seen += workload.cadence.every
        auc = program.evaluate()
    assert workload.quality.reached(auc), (seen, auc)
    graph = next(f for f in program.save(tmp_path / "model") if f.suffix == ".onnx")
    dataset = DATASETS.get("criteo")(CTR.split("eval"))
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    responses = _served("tiny-ctr", graph, "onnxruntime", None).respond(dataset.get_samples(indices), indices)
    metric = METRICS.get("auc")
    metric.update(responses, dataset.labels())
    assert metric.compute().value == pytest.approx(100 * auc, abs=1e-3)
