"""The ONNX Runtime backend: one InferenceSession with chosen threads, graph optimization and execution providers.

onnxruntime is imported inside `load` and `version`, never when the backend is registered. Providers are checked
against `onnxruntime.get_available_providers()` before the session is made, and again after: ONNX Runtime falls
back to the CPU with only a logged warning when a requested provider (CUDA, TensorRT) fails to start, and a
result must never name a provider that did not run.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.inference.backends import BACKENDS
from podium.inference.backends.base import (Backend, BackendOptions, GraphOptimization, InputIO, IONames,
                                            LoadedModel, ModelIO, Precision, first_line, refuse, require_file, warm_up)

_LEVELS = {GraphOptimization.DISABLE: "ORT_DISABLE_ALL", GraphOptimization.BASIC: "ORT_ENABLE_BASIC",
           GraphOptimization.EXTENDED: "ORT_ENABLE_EXTENDED", GraphOptimization.ALL: "ORT_ENABLE_ALL"}
_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
           "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
           "tensor(uint8)": "uint8", "tensor(bool)": "bool"}
_SUFFIX = "executionprovider"


def _short(provider: str) -> str:
    """'CUDAExecutionProvider' -> 'cuda': the spelling accepted besides the full name."""
    return provider.lower().removesuffix(_SUFFIX)


def resolve_providers(requested: tuple[str, ...], device: str, available: list[str]) -> list[str]:
    """Full provider names for `requested` (full or short, any case); () means CPU, or CUDA for a cuda device."""
    if not requested:
        requested = ("CUDAExecutionProvider",) if device.startswith("cuda") else ("CPUExecutionProvider",)
    by_name = {p.lower(): p for p in available} | {_short(p): p for p in available}
    resolved = []
    for name in requested:
        match = by_name.get(name.lower())
        if match is None:
            close = difflib.get_close_matches(name.lower(), list(by_name), n=1, cutoff=0.8)
            raise ConfigError(f"execution provider {name!r} is not available in this onnxruntime; "
                              f"available: {', '.join(available)}", key="providers",
                              suggestion=by_name[close[0]] if close else None)
        resolved.append(match)
    return resolved


def _refuse_torch_options(opts: BackendOptions) -> None:
    if opts.compile:
        raise refuse("compile", True, "onnxruntime", "pytorch")
    if opts.channels_last:
        raise refuse("channels_last", True, "onnxruntime", "pytorch")
    if opts.precision is not Precision.FP32:   # an ONNX file carries its own dtypes
        raise ConfigError(f"precision={opts.precision.value!r} is a pytorch option: onnxruntime runs the model "
                          "in the precision it was exported in; export a converted model instead", key="precision")
    if not (opts.device == "cpu" or opts.device.startswith("cuda")):
        raise ConfigError(f"device {opts.device!r}: onnxruntime runs on 'cpu' or 'cuda' (or name providers)",
                          key="device")


def _session_options(ort: Any, opts: BackendOptions) -> Any:
    so = ort.SessionOptions()
    if opts.intra_op_threads is not None:
        so.intra_op_num_threads = opts.intra_op_threads
    if opts.inter_op_threads is not None:
        so.inter_op_num_threads = opts.inter_op_threads
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[opts.graph_optimization])
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return so


def _input_io(node: Any, path: Path) -> InputIO:
    dtype = _DTYPES.get(node.type)
    if dtype is None:
        raise ConfigError(f"input {node.name!r} has type {node.type}, which numpy cannot feed", path=str(path))
    return InputIO(node.name, np.dtype(dtype), tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape))


def _model_io(session: Any, path: Path) -> ModelIO:
    """The graph's inputs (every one, in the graph's order: a model taking several is fed structured records whose
    fields are named as them) and outputs."""
    first, *more = [_input_io(node, path) for node in session.get_inputs()]
    return ModelIO(first.name, first.dtype, first.shape, tuple(o.name for o in session.get_outputs()),
                   more_inputs=tuple(more))


class OnnxModel(LoadedModel):
    """An ONNX Runtime session; a fixed (non-symbolic) leading dimension becomes `batch_size`."""

    backend_name = "onnxruntime"

    def __init__(self, session: Any, path: Path, opts: BackendOptions, version: str) -> None:
        io = _model_io(session, path)
        if opts.inter_op_threads is not None:
            io.notes.append("inter_op_threads has no effect: sessions run in sequential execution mode")
        super().__init__(io, batch_size=io.input_shape[0] if io.input_shape else None)
        self._session, self._path, self._opts, self._version = session, path, opts, version
        self._providers = list(session.get_providers())

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self._session.run(list(self.fetch), {self.input_name: batch}))

    def _run_feeds(self, named: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        return tuple(self._session.run(list(self.fetch), named))

    def output_shape(self, name: str) -> tuple[int | None, ...] | None:
        """The static shape the graph declares for output `name` (None for symbolic dimensions)."""
        for out in self._session.get_outputs():
            if out.name == name:
                return tuple(d if isinstance(d, int) and d > 0 else None for d in out.shape)
        return None

    def describe(self) -> dict[str, Any]:
        options = {k: v for k, v in self._opts.to_dict().items()
                   if k in ("intra_op_threads", "inter_op_threads", "graph_optimization", "device")}
        options["execution_mode"] = "sequential"
        return {"name": self.backend_name, "version": self._version, "options": options,
                "providers": self._providers, "model": {"path": str(self._path.resolve()), "format": "onnx"},
                **self.describe_io(), "notes": list(self.notes)}

    def close(self) -> None:
        self._session = None
        super().close()


class OnnxRuntimeBackend(Backend):
    """Loads `.onnx` files into ONNX Runtime; `model_factory` is not needed (the file carries the graph)."""

    name = "onnxruntime"

    def available(self) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    def version(self) -> str:
        return str(self._import().__version__)

    def _import(self) -> Any:
        if not self.available():
            raise self._missing("onnxruntime")
        import onnxruntime

        return onnxruntime

    def load(self, path: Path, opts: BackendOptions | None = None, *,
             model_factory: Callable[[], Any] | None = None,
             example_input: np.ndarray | None = None,
             io_names: IONames | None = None) -> LoadedModel:
        opts = opts or BackendOptions()
        path = require_file(path, self.name)
        _refuse_torch_options(opts)
        ort = self._import()
        providers = resolve_providers(opts.providers, opts.device, ort.get_available_providers())
        session = self._session(ort, path, opts, providers)
        model = OnnxModel(session, path, opts, ort.__version__)
        warm_up(model, example_input)
        return model

    def _session(self, ort: Any, path: Path, opts: BackendOptions, providers: list[str]) -> Any:
        try:
            session = ort.InferenceSession(str(path), sess_options=_session_options(ort, opts),
                                           providers=providers)
        except Exception as exc:  # onnxruntime raises its own pybind classes (InvalidProtobuf, Fail, ...)
            raise ConfigError(f"onnxruntime cannot load the model: {first_line(exc)}", path=str(path)) from exc
        missing = [p for p in providers if p not in session.get_providers()]
        if missing:
            raise ConfigError(f"execution provider(s) {', '.join(missing)} failed to start; the session would "
                              f"run on {', '.join(session.get_providers())}", path=str(path), key="providers")
        return session


@BACKENDS.register("onnxruntime")
def onnxruntime_backend() -> Backend:
    return OnnxRuntimeBackend()
