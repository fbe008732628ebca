"""podium.inference.backends: runtimes that load a model file and run batches, found through `BACKENDS`.

Built-in plugins: `onnxruntime` (threads, graph optimization level, execution providers such as CUDA and
TensorRT when present) and `pytorch` (eager or torch.compile, channels-last, bf16/fp16 autocast; state dicts
and TorchScript). Third-party backends, remote inference servers among them, register through the
`podium.backends` entry-point group; `LoadedModel.submit` is the asynchronous entry point they override.

    backend = BACKENDS.get("onnxruntime")
    model = backend.load(path, BackendOptions(intra_op_threads=2), example_input=batch)
    logits = model.predict(batch)

Registering a backend imports no runtime: torch and onnxruntime are imported inside `load` and `version`.
"""

from __future__ import annotations

from podium.core.registry import Registry
from podium.inference.backends.base import (Backend, BackendOptions, GraphOptimization, LoadedModel, Precision,
                                            WARMUP_ROUNDS)

BACKENDS: Registry[Backend] = Registry(
    "backend", "podium.backends",
    builtins=("podium.inference.backends.onnxruntime", "podium.inference.backends.pytorch"))

__all__ = ["BACKENDS", "Backend", "BackendOptions", "GraphOptimization", "LoadedModel", "Precision",
           "WARMUP_ROUNDS"]
