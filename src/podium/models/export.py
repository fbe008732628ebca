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
    """`module` as an ONNX graph at `path`, named as `model` declares (its inputs and output_names), batch axis
    dynamic; exported by TorchScript tracing on one zero sample of each input (`dtype` for a one-input model, each
    input's own dtype for a model taking several)."""
    import torch

    inputs = model.graph_inputs
    examples = tuple(torch.zeros((1, *i.shape), dtype=getattr(torch, dtype if not model.inputs else i.dtype))
                     for i in inputs)
    names = [*(i.name for i in inputs), *model.output_names]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu(), examples, str(path), input_names=[i.name for i in inputs],
                          output_names=list(model.output_names), dynamic_axes={n: {0: "batch"} for n in names},
                          opset_version=ONNX_OPSET, dynamo=False)
    return path
