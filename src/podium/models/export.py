"""A model definition as an ONNX graph named as the official one: what `--model random` serves on ONNX Runtime and
what the tiny suite's training programs save for serving.

The graph's input and outputs carry the names the `Model` declares (the official graph's), with a dynamic batch
axis, so that a benchmark's graph forms read the export as they read the official file. torch is imported inside.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from podium.models.base import Model

ONNX_OPSET = 17


def export_onnx(module: Any, model: Model, path: Path, dtype: str = "float32") -> Path:
    """`module` as an ONNX graph at `path`, named as `model` declares (input_name, output_names), taking `dtype`,
    batch axis dynamic; exported by TorchScript tracing on one zero sample of `model.input_shape`."""
    import torch

    example = torch.zeros((1, *model.input_shape), dtype=getattr(torch, dtype))
    names = [model.input_name, *model.output_names]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu(), (example,), str(path), input_names=[model.input_name],
                          output_names=list(model.output_names), dynamic_axes={n: {0: "batch"} for n in names},
                          opset_version=ONNX_OPSET, dynamo=False)
    return path
