"""What a registered model is: a builder of the untrained network, and the input it takes, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.core.errors import ConfigError


@dataclass(frozen=True)
class Input:
    """One input of a model taking several: its official name, one sample's shape and its dtype (a numpy name)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Model:
    """A model definition. `build` is a module-level function: a worker process finds it again by `reference`."""

    name: str
    # () -> an untrained torch.nn.Module (torch is imported inside). A build that also takes `state_dict=None`
    # sizes the network by a state dict's shapes (layers, widths, vocabulary), so that a smaller configuration
    # of the same architecture under the same keys loads too (the PyTorch backend passes the file's state dict).
    build: Callable[..., Any]
    input_shape: tuple[int, ...]  # one sample's shape, without the batch axis
    classes: int | None = None    # outputs of a classifier; None for other kinds of model
    # The names of the official ONNX graph's input and outputs: `build()`'s forward returns those outputs, in
    # that order, so one output declaration of a task serves the ONNX graph and the PyTorch definition alike.
    input_name: str = "input"
    output_names: tuple[str, ...] = ("output",)
    layout: str = "NCHW"          # of image inputs: NCHW or NHWC (what the official graph takes)
    # A model taking several inputs (BERT's input_ids, input_mask, segment_ids): each, in the order `build()`'s
    # forward takes them, named as the official graph's. Its samples are numpy structured records with a field per
    # input (`sample_dtype`); `input_name` and `input_shape` are then the first input's.
    inputs: tuple[Input, ...] = ()

    @property
    def graph_inputs(self) -> tuple[Input, ...]:
        """Every input the model takes: `inputs`, or the one image-like input (float32) of most models."""
        return self.inputs or (Input(self.input_name, self.input_shape),)

    @property
    def input_names(self) -> str | tuple[str, ...]:
        """The input name, or the names in forward's order for a model taking several (the backends' io_names)."""
        return tuple(i.name for i in self.inputs) if self.inputs else self.input_name

    def sample_dtype(self) -> Any:
        """The numpy dtype of one sample: a structured record of a field per input for a model taking several."""
        import numpy as np

        if not self.inputs:
            return np.dtype(np.float32)
        return np.dtype([(i.name, i.dtype, i.shape) for i in self.inputs])

    @property
    def reference(self) -> str:
        """"package.module:function" of `build` (how `podium.inference` names it to a worker process)."""
        module, qualname = self.build.__module__, self.build.__qualname__
        if "<" in qualname or "." in qualname:
            raise ConfigError(f"model {self.name!r}: build must be a module-level function, got {qualname!r}")
        return f"{module}:{qualname}"
