"""The tiny suite's 3D U-Net: logits of the 3 classes at the input's size (patches and whole volumes alike), named
as the official graph, its ONNX export answering what PyTorch answers."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("shape", [(16, 16, 16), (32, 32, 32), (48, 32, 32)])
def test_logits_at_the_input_size(shape) -> None:
    torch = pytest.importorskip("torch")
    from podium.models import MODELS

    model = MODELS.get("tiny-unet3d")
    assert (model.input_name, model.output_names, model.layout) == ("input", ("output",), "NCDHW")
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.build().eval()(torch.zeros((2, 1, *shape)))
    assert out.shape == (2, model.classes, *shape)


def test_onnx_export_answers_what_pytorch_answers(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from podium.models import MODELS
    from podium.workloads.torch_program import export_onnx

    model = MODELS.get("tiny-unet3d")
    torch.manual_seed(0)
    net = model.build().eval()
    path = export_onnx(net, model, tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(2, *model.input_shape)).astype(np.float32)
    (got,) = ort.InferenceSession(str(path)).run(["output"], {"input": x})
    with torch.no_grad():
        np.testing.assert_allclose(got, net(torch.from_numpy(x)).numpy(), atol=1e-4)
