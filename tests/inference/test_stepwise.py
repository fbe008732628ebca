"""Benchmarks decoded step by step (RNN-T, GNMT): their predictors drive a PyTorch module's parts, and refuse in one
line a model that has none; their graph form never turns outputs into answers."""

from __future__ import annotations

import numpy as np
import pytest

from podium.core.errors import SUTError
from podium.inference.tasks import POSTPROCESSORS, TASKS
from podium.inference.tasks.stepwise import driven

pytest.importorskip("onnxruntime")


def test_a_graph_is_refused_naming_the_benchmark_and_the_backend(digits_model) -> None:
    from podium.inference.backends import BACKENDS

    graph = BACKENDS.get("onnxruntime").load(digits_model["onnx"])
    with pytest.raises(SUTError, match=r"^gnmt is decoded step by step .* --backend pytorch"):
        driven(graph, "gnmt", "encode")


def test_a_module_without_the_part_is_refused(digits_model) -> None:
    from podium.inference.backends import BACKENDS
    from podium.models import MODELS

    model = BACKENDS.get("pytorch").load(digits_model["pt"], model_factory=MODELS.get("digits").build)
    with pytest.raises(SUTError, match="rnnt is decoded step by step"):
        driven(model, "rnnt", "encode")
    module, device, context = driven(model, "digits", "forward")
    assert module is model.module and str(device) == "cpu"
    with context:
        import torch

        assert torch.is_inference_mode_enabled()


def test_their_graph_form_refuses_outputs() -> None:
    for name in ("rnnt", "gnmt"):
        assert TASKS.get(name).forms[0].postprocess == "decoded-by-predictor"
    with pytest.raises(SUTError, match="decoding step by step"):
        POSTPROCESSORS.get("decoded-by-predictor")([np.zeros((1, 3))], [0])
