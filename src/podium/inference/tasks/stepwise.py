"""What the benchmarks decoded step by step share (RNN-T's greedy search, GNMT's beam search): a predictor drives
the parts of a PyTorch module, so the model must be one the PyTorch backend loaded from a state dict of the
benchmark's definition; and a graph's outputs alone are never an answer.

`driven(model, benchmark, part)` hands such a predictor the module, its device and the inference context (inference
mode and the precision's autocast), or refuses in one line naming what to serve instead. The `decoded-by-predictor`
post-processor is the graph form of these tasks: it names the output the warm-up reads and refuses to turn outputs
into answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.tasks import POSTPROCESSORS, Postprocessor

if TYPE_CHECKING:
    from podium.inference.backends.base import LoadedModel


def driven(model: LoadedModel, benchmark: str, part: str) -> tuple[Any, Any, Any]:
    """(module, device, inference context) of a model whose module has `part` (the method the predictor drives); a
    SUTError naming the benchmark for a graph, a TorchScript archive or another backend's model."""
    module = getattr(model, "module", None)
    if module is None or not hasattr(module, part) or not hasattr(model, "inference"):
        raise SUTError(f"{benchmark} is decoded step by step by driving its PyTorch module's parts; this "
                       f"{model.backend_name} model has none (serve a state dict of the benchmark's model with "
                       f"--backend pytorch, not a graph or a TorchScript archive)")
    return module, getattr(model, "device"), model.inference()  # type: ignore[attr-defined]


def refuse_outputs(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> Any:
    raise SUTError("the answers of this benchmark come from decoding step by step (its task's predictor), never "
                   "from one graph run's outputs")


@POSTPROCESSORS.register("decoded-by-predictor")
def _refuse() -> Postprocessor:
    return refuse_outputs
