"""Inference tasks: what serving a benchmark means — its dataset, model definition, post-processing, response
encoding and accuracy metric — declared as data, once per benchmark (not one `main.py` per benchmark).

A task composes the shared benchmark parts by name: a dataset of `podium.datasets`, a model of `podium.models`
(needed only to load a state dict), a metric of `podium.metrics`.

A task is looked up by the benchmark's name in `TASKS`; the numbers that rule the benchmark (targets, latency
bounds, sample counts) live in the benchmark registry (`podium.benchmarks`), not here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.core.registry import Registry
from podium.inference.encoding import ResponseEncoding
from podium.models import MODELS


def argmax(outputs: np.ndarray) -> np.ndarray:
    """Class scores (N, classes) -> predicted class ids, int64 (N,)."""
    return np.asarray(outputs).argmax(axis=1).astype(np.int64)


def argmax_minus_one(outputs: np.ndarray) -> np.ndarray:
    """As `argmax`, for graphs with a background class 0 (1001-class ImageNet graphs; the reference's
    PostProcessCommon(offset=-1))."""
    return argmax(outputs) - 1


POSTPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "argmax": argmax,
    "argmax-1": argmax_minus_one,
}


@dataclass(frozen=True)
class Task:
    """How to serve one benchmark; `dataset`, `model` and `metric` are names in the registries of the shared parts."""

    benchmark: str
    dataset: str  # a name in podium.datasets.DATASETS
    postprocess: str  # a name in POSTPROCESSORS
    encoding: ResponseEncoding
    metric: str  # a name in podium.metrics.METRICS
    model: str | None = None  # a name in podium.models.MODELS: what a state dict is loaded into
    default_model: str | None = None  # where `podium run` leaves the model, relative to its output
    needs_dataset_path: bool = False

    def postprocessor(self) -> Callable[[np.ndarray], np.ndarray]:
        return POSTPROCESSORS[self.postprocess]

    @property
    def torch_model(self) -> str | None:
        """"module:function" building the model untrained (how a worker process finds it), or None."""
        return MODELS.get(self.model).reference if self.model else None

    def model_factory(self) -> Callable[[], Any] | None:
        return MODELS.get(self.model).build if self.model else None


def resolve(ref: str) -> Any:
    """"package.module:attribute" -> the attribute (how a worker process finds a model definition)."""
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot resolve {ref!r}: {e}") from None


TASKS: Registry[Task] = Registry("inference task", "podium.inference_tasks")

_CLASS_ID = ResponseEncoding("int64", ())


@TASKS.register("digits")
def _digits() -> Task:
    return Task("digits", dataset="digits", postprocess="argmax", encoding=_CLASS_ID, metric="top1",
                model="digits")


@TASKS.register("resnet50")
def _resnet50() -> Task:
    # MLPerf's ResNet-50 v1.5 ONNX graph has 1000 classes; a 1001-class graph needs --postprocess argmax-1.
    return Task("resnet50", dataset="imagenet", postprocess="argmax", encoding=_CLASS_ID, metric="top1",
                needs_dataset_path=True)
