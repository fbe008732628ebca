"""What a registered model is: a builder of the untrained network, and the input it takes, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.core.errors import ConfigError


@dataclass(frozen=True)
class Model:
    """A model definition. `build` is a module-level function: a worker process finds it again by `reference`."""

    name: str
    build: Callable[[], Any]      # () -> an untrained torch.nn.Module (torch is imported inside)
    input_shape: tuple[int, ...]  # one sample's shape, without the batch axis
    classes: int | None = None    # outputs of a classifier; None for other kinds of model
    # The names of the official ONNX graph's input and outputs: `build()`'s forward returns those outputs, in
    # that order, so one output declaration of a task serves the ONNX graph and the PyTorch definition alike.
    input_name: str = "input"
    output_names: tuple[str, ...] = ("output",)
    layout: str = "NCHW"          # of image inputs: NCHW or NHWC (what the official graph takes)

    @property
    def reference(self) -> str:
        """"package.module:function" of `build` (how `podium.inference` names it to a worker process)."""
        module, qualname = self.build.__module__, self.build.__qualname__
        if "<" in qualname or "." in qualname:
            raise ConfigError(f"model {self.name!r}: build must be a module-level function, got {qualname!r}")
        return f"{module}:{qualname}"
