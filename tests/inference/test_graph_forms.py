"""How the harness reads a model's outputs: the task's declared graph forms tried in order, the command line's
override, a model fitting none refused naming its outputs; and `--model random` (performance only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, UnknownNameError
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.inference.sut import ModelSpec
from podium.inference.tasks import TASKS, GraphForm
from podium.loadgen.settings import Mode, Scenario

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CLASSES = 1001


def _two_output_graph(path: Path, *, classes: int = CLASSES, names: tuple[str, str] = ("ArgMax:0", "softmax_tensor:0"),
                      scores_first: bool = False) -> Path:
    """A graph as MLPerf's resnet50_v1.onnx is published: input `input_tensor:0` (N, 4), outputs an ArgMax (int64,
    (N,)) first and the (N, classes) scores second (or the other way round). The scores are x @ W."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((4, classes), dtype=np.float32)
    weights[0, 7], weights[1, 3] = 1.0, 1.0  # feature 0 votes for class 7, feature 1 for class 3
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input_tensor:0", "W"], [names[1]]),
         helper.make_node("ArgMax", [names[1]], [names[0]], axis=1, keepdims=0)],
        "two_outputs",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info(names[0], TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info(names[1], TensorProto.FLOAT, ["N", classes])][::-1 if scores_first else 1],
        [numpy_helper.from_array(weights, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _spec(path: Path, forms: tuple[GraphForm, ...]) -> ModelSpec:
    return ModelSpec("onnxruntime", str(path), forms=forms, example_input=np.zeros((2, 4), dtype=np.float32))


BATCH = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32)  # class 7, then class 3 (background included)


def test_the_first_form_whose_outputs_the_graph_has_serves(tmp_path) -> None:
    forms = TASKS.get("resnet50").forms
    served = _spec(_two_output_graph(tmp_path / "m.onnx"), forms).load()
    assert served.form.name == "mlperf-onnx-argmax" and served.model.fetch == ("ArgMax:0",)
    assert served.respond(BATCH, [0, 1]).tolist() == [6, 2]  # the background class taken off
    assert served.describe()["graph_form"]["outputs"] == ["ArgMax:0"]


def test_a_form_is_told_by_its_class_count(tmp_path) -> None:
    """A 1000-class graph answering logits first: the 1001-class form does not fit, the 1000-class one does."""
    forms = TASKS.get("resnet50").forms
    path = _two_output_graph(tmp_path / "m.onnx", classes=1000, names=("am", "logits"), scores_first=True)
    served = _spec(path, forms).load()
    assert served.form.name == "logits-1000"
    assert served.model.fetch == ("logits",)  # the graph's first output; the form reads it whatever its name
    assert served.respond(BATCH, [0, 1]).tolist() == [7, 3]


def test_a_graph_fitting_no_form_is_refused_naming_its_outputs(tmp_path) -> None:
    forms = (GraphForm("needs-x", "argmax", outputs=("x:0",)),)
    with pytest.raises(ConfigError, match="ArgMax:0, softmax_tensor:0.*--outputs"):
        _spec(_two_output_graph(tmp_path / "m.onnx"), forms).load()


def test_outputs_are_read_in_the_forms_order(tmp_path) -> None:
    spec = _spec(_two_output_graph(tmp_path / "m.onnx"),
                 (GraphForm("both", "argmax-1", outputs=("softmax_tensor:0", "ArgMax:0")),))
    served = spec.load()
    scores, ids = served.model.run(BATCH)
    assert scores.shape == (2, CLASSES) and ids.tolist() == [7, 3]
    assert served.respond(BATCH, [0, 1]).tolist() == [6, 2]


def _run(tmp_path: Path, model: Path | str, **kw) -> object:
    kw.setdefault("mode", Mode.PERFORMANCE)
    return run_inference(InferenceSpec(benchmark="digits", scenario=Scenario.OFFLINE, model_path=Path(model),
                                       out=tmp_path / "out", short=True, system_id="t", progress=False,
                                       target_qps=2000, reference_accuracy=1.0, dataset_count=64,
                                       runner=RunnerConfig("pool", 16, 0, 1), **kw))


def test_the_command_line_names_outputs_and_post_processor(digits_model, cache_dir, tmp_path) -> None:
    with pytest.raises(UnknownNameError, match="argmax"):
        _run(tmp_path, digits_model["onnx"], postprocess="argmx")
    with pytest.raises(ConfigError, match=r"outputs \(logits\) fit none.*command line \(outputs nope\)"):
        _run(tmp_path, digits_model["onnx"], outputs=("nope",))
    result = _run(tmp_path, digits_model["onnx"], postprocess="argmax", mode=Mode.ACCURACY)
    assert result.records[0]["backend"]["graph_form"]["name"] == "command line"


@pytest.mark.parametrize("backend", ["pytorch", "onnxruntime"])
def test_random_weights_run_and_are_marked_performance_only(cache_dir, tmp_path, backend) -> None:
    """`--model random`: the task's model built with random weights, cached once, as a state dict or an ONNX
    graph named as the definition declares; never valid for submission, an accuracy score never passes."""
    result = _run(tmp_path, "random", backend=backend, mode=Mode.SUBMISSION)
    perf, acc = result.records
    assert perf["model"]["random_weights"] is True and perf["valid_for_submission"] is False
    assert "random weights: performance only, not valid for submission" in perf["result"]["reasons"]
    assert acc["accuracy"]["total"] == 64 and acc["accuracy"]["passed"] is False
    cached = list((cache_dir / "random-weights").iterdir())
    assert [p.suffix for p in cached] == [".pt" if backend == "pytorch" else ".onnx"]
    assert Path(perf["model"]["path"]) == cached[0]
    again = _run(tmp_path, "random", backend=backend, mode=Mode.PERFORMANCE)  # the same file, not a new one
    assert again.records[0]["model"]["sha256"] == perf["model"]["sha256"]


def test_a_model_torch_cannot_export_is_refused_in_one_line(tmp_path) -> None:
    """`--model random` on ONNX Runtime with a definition torch cannot trace: a ConfigError naming the model and
    the way out, not a traceback from inside torch.onnx."""
    torch = pytest.importorskip("torch")
    from podium.inference.random_weights import _export
    from podium.models.base import Model

    class Untraceable(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("data-dependent control flow\nmore detail")

    model = Model("untraceable", build=Untraceable, input_shape=(3,))
    with pytest.raises(ConfigError, match=r"model 'untraceable' cannot be exported.*data-dependent control flow\)"
                                          r".*--backend pytorch"):
        _export(model, Untraceable(), tmp_path / "m.onnx")
