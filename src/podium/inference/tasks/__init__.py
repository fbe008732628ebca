"""Inference tasks: what serving a benchmark means — its dataset, model definition, the graph outputs it reads and
how, response encoding and accuracy metric — declared as data, once per benchmark (not one `main.py` each).

A task composes the shared benchmark parts by name: a dataset of `podium.datasets`, a model of `podium.models`
(what a state dict loads into, what `--model random` builds), a metric of `podium.metrics`. How the harness reads a
model's outputs is declared as `GraphForm`s, tried in order on the loaded model: the official graphs of a benchmark
come in several forms (MLPerf's ResNet-50 ONNX graph answers an ArgMax over 1001 classes first; a PyTorch export
answers 1000 logits), and `--outputs`/`--postprocess` override the declaration for a graph of another form.

Each module of this package holds one benchmark family: its `TASKS`, its post-processors (`POSTPROCESSORS`: graph
outputs -> one response per sample, inside the timed path, as the references do) and, where one sample is not one
graph run (3D U-Net's sliding window), its predictors (`PREDICTORS`). Every module here is imported on the first
lookup of any of the three registries; a new benchmark is one module, listed nowhere else.

A task is looked up by the benchmark's name in `TASKS`; the numbers that rule the benchmark (targets, latency
bounds, sample counts) live in the benchmark registry (`podium.benchmarks`), not here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podium.core.errors import ConfigError, UnknownNameError
from podium.core.registry import Registry
from podium.inference.encoding import ResponseEncoding
from podium.models import MODELS

if TYPE_CHECKING:
    import numpy as np

    from podium.inference.backends.base import LoadedModel

# A dataset option's value meaning "what the model takes" (the harness reads it off the model: `layout`).
AS_THE_MODEL = "as the model"

# graph outputs (in a GraphForm's order, batch-major) and the batch's qsl indices -> one response per sample
Postprocessor = Callable[[Sequence["np.ndarray"], Sequence[int]], Any]
# a loaded model, the batch's samples (an array, or a list of arrays of different shapes) and qsl indices -> responses
Predictor = Callable[["LoadedModel", Any, Sequence[int]], Any]


@dataclass(frozen=True)
class GraphForm:
    """One way a benchmark's graph is published: the outputs read, in order, and the post-processor taking them.

    `outputs` () reads the model's first output whatever its name. `classes`, when set, is the last dimension the
    first output must have (it tells a 1001-class graph, with its background class, from a 1000-class one).
    """

    name: str
    postprocess: str  # a name in POSTPROCESSORS
    outputs: tuple[str, ...] = ()
    classes: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "outputs": list(self.outputs), "postprocess": self.postprocess,
                "classes": self.classes}


@dataclass(frozen=True)
class Task:
    """How to serve one benchmark; `dataset`, `model` and `metric` are names in the registries of the shared parts."""

    benchmark: str
    dataset: str  # a name in podium.datasets.DATASETS
    encoding: ResponseEncoding
    metric: str  # a name in podium.metrics.METRICS
    forms: tuple[GraphForm, ...]  # tried in order on the loaded model: the first that fits serves
    model: str | None = None  # a name in podium.models.MODELS: what a state dict is loaded into
    # keyword arguments of the dataset opener; AS_THE_MODEL for `layout` reads NCHW or NHWC off the model's input
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    predictor: str | None = None  # a name in PREDICTORS: serves a batch instead of "run the graph, post-process"
    default_model: str | None = None  # where `podium run` leaves the model, relative to its output
    needs_dataset_path: bool = True
    # The backends that can serve it, the default first; () any. A task whose predictor drives a PyTorch module's
    # parts (RNN-T's greedy decoding, GNMT's beam search: the references publish PyTorch checkpoints) names pytorch.
    backends: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.forms:
            raise ConfigError(f"inference task {self.benchmark!r} declares no graph form", key="forms")

    @property
    def default_backend(self) -> str:
        return self.backends[0] if self.backends else "onnxruntime"

    def check_backend(self, backend: str) -> None:
        """A ConfigError naming --backend when this task cannot be served by `backend`."""
        if self.backends and backend not in self.backends:
            raise ConfigError(f"benchmark {self.benchmark} is served by {' or '.join(self.backends)}, not "
                              f"{backend!r} (its reference publishes no graph {backend} can run)", key="--backend")

    @property
    def torch_model(self) -> str | None:
        """"module:function" building the model untrained (how a worker process finds it), or None."""
        return MODELS.get(self.model).reference if self.model else None

    def model_factory(self) -> Callable[[], Any] | None:
        return MODELS.get(self.model).build if self.model else None

    def model_needs(self) -> str:
        """What `--model` takes for this task, in words: the ONNX graphs its forms read (outputs in brackets), the
        PyTorch state dict of its definition, random weights."""
        kinds = []
        if not self.backends or "onnxruntime" in self.backends:
            graphs = ", ".join(f"{f.name} [{' '.join(f.outputs) or 'first output'}]" for f in self.forms)
            kinds.append(f"ONNX graph: {graphs}")
        if self.model is not None:
            kinds += [f"PyTorch state dict of {self.model!r} or TorchScript", "random (performance only)"]
        elif "pytorch" in self.backends:
            kinds.append("TorchScript")
        return " | ".join(kinds)

    def dataset_needs(self) -> str:
        """What `--dataset-path` takes for this task, in words (the layout's own sentence)."""
        from podium.datasets import DATASETS

        opener = DATASETS.get(self.dataset)
        expected = getattr(opener, "expected_layout", None)
        if not self.needs_dataset_path:
            return f"{self.dataset}: none (shipped with Podium)"
        return f"{self.dataset}: " + (expected.format(path="<dataset-path>") if expected else "see its loader")


def task_for(benchmark: str, round_name: str | None = None) -> Task:
    """The task serving `benchmark`: the one registered under that name, else the one of the benchmark the name is a
    checker variant or alias of ("bert-99.9" -> bert); an UnknownNameError with the nearest names otherwise."""
    if benchmark in TASKS.names():
        return TASKS.get(benchmark)
    from podium.benchmarks import find_benchmark

    try:
        return TASKS.get(find_benchmark(benchmark, round_name).name)
    except UnknownNameError:
        return TASKS.get(benchmark)  # the registry's own error, with its suggestions


def resolve(ref: str) -> Any:
    """"package.module:attribute" -> the attribute (how a worker process finds a model definition)."""
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot resolve {ref!r}: {e}") from None


TASKS: Registry[Task] = Registry("inference task", "podium.inference_tasks", package=__name__)
POSTPROCESSORS: Registry[Postprocessor] = Registry("post-processor", "podium.postprocessors", package=__name__)
PREDICTORS: Registry[Predictor] = Registry("predictor", "podium.predictors", package=__name__)

__all__ = ["AS_THE_MODEL", "POSTPROCESSORS", "PREDICTORS", "TASKS", "GraphForm", "Postprocessor", "Predictor", "Task",
           "resolve", "task_for"]
