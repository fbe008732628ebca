"""podium.models: the model definitions benchmarks train and serve, one module per model, in the `MODELS` registry.

`MODELS.get(name)` returns a `Model`: how to build the network untrained (`build()`, torch imported then, not
before) and the input it takes, as data beside it (timm's habit). A training workload builds it to train; an
inference task names it so that a state dict can be loaded into it. Built-in: the MLPerf vision models
(`resnet50`, `mobilenet`, `ssd-mobilenet`, `ssd-resnet34`, `retinanet`, `3d-unet`, each loading its reference
checkpoint's keys and declaring its official graph's input and output names) and the tiny suite's (`digits`,
`tiny-detector`, `tiny-unet3d`). Third-party models register through the `podium.models` entry-point group.

A new model is one module here, registered with `@MODELS.register(name)` (the registry imports every module here on
its first lookup), plus its test under tests/models/. Importing this package, or looking a model up, imports no
torch.
"""

from __future__ import annotations

from podium.core.registry import Registry
from podium.models.base import Model

MODELS: Registry[Model] = Registry("model", "podium.models", package="podium.models")

__all__ = ["MODELS", "Model"]
