"""The PyTorch backend: eager or torch.compile, channels-last, bf16/fp16 autocast, on the CPU or a CUDA device.

A model file is either a state dict (loaded with `weights_only=True` into `model_factory()`, its keys and shapes
checked first) or a TorchScript archive (`torch.jit.load`, no factory). torch is imported inside `load`.

torch.compile specializes on input shapes and recompiles for each new batch size, which would put compilation
inside the timed run. A compiled model therefore runs at one static batch size, that of `example_input`, compiled
during the untimed warm-up: smaller batches are padded with zeros and the padding's outputs dropped, larger ones
are split. Rows do not interact in an eval-mode model, so the outputs are those of the unpadded batch.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError, SUTError
from podium.inference.backends import BACKENDS
from podium.models.checkpoints import SAFE_GLOBALS, unwrap_state_dict
from podium.inference.backends.base import (Backend, BackendOptions, GraphOptimization, InputIO, IONames,
                                            LoadedModel, ModelIO, Precision, first_line, refuse, require_file, warm_up)

_SHOWN_KEYS = 5


def _keys(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(keys[:_SHOWN_KEYS]) + more


def _refuse_ort_options(opts: BackendOptions) -> None:
    if opts.providers:
        raise refuse("providers", list(opts.providers), "pytorch", "onnxruntime")
    if opts.graph_optimization is not GraphOptimization.ALL:
        raise refuse("graph_optimization", opts.graph_optimization.value, "pytorch", "onnxruntime")


def _device(torch: Any, opts: BackendOptions) -> Any:
    try:
        device = torch.device(opts.device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {opts.device!r}: {first_line(exc)}", key="device") from exc
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {opts.device!r}: the pytorch backend runs on 'cpu' or 'cuda'", key="device")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {opts.device!r} asked for, but torch {torch.__version__} sees no CUDA device",
                          key="device")
    return device


def _autocast_dtype(torch: Any, precision: Precision, device: Any) -> Any:
    if precision is Precision.FP16 and device.type != "cuda":
        raise ConfigError("precision 'fp16' needs a CUDA device: CPU autocast runs fp16 slowly or not at all; "
                          "use 'bf16' on the CPU", key="precision")
    return {Precision.FP32: None, Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}[precision]


def _apply_threads(torch: Any, opts: BackendOptions) -> list[str]:
    """Set torch's thread pools (process-wide); notes for what could not be set."""
    notes = ["thread counts are process-wide in PyTorch: the last model loaded sets them"]
    if opts.intra_op_threads is not None:
        torch.set_num_threads(opts.intra_op_threads)
    wanted = opts.inter_op_threads
    if wanted is not None and torch.get_num_interop_threads() != wanted:
        try:
            torch.set_num_interop_threads(wanted)
        except RuntimeError:    # allowed once per process, before any inter-op work
            notes.append(f"inter_op_threads={wanted} not applied: PyTorch sets inter-op threads once per "
                         f"process; {torch.get_num_interop_threads()} in effect")
    return notes


def _read_state_dict(torch: Any, path: Path) -> Mapping[str, Any]:
    """The state dict in `path`, memory-mapped when the file is torch's zip format (the tensors stay on disk until
    read: DLRM's embedding tables, tens of GB, are used in place by its sized build); older files are read whole."""
    import zipfile

    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # truncated zip, bad pickle, a pickled module (refused by weights_only)
        raise ConfigError(f"cannot read a state dict (corrupt or not a weights file): {first_line(exc)}",
                          path=str(path)) from exc
    if isinstance(state, Mapping) and state:  # as training scripts save it: nested, "module." prefixes
        state = unwrap_state_dict(state, path)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"holds a {type(state).__name__}, not a state dict of tensors", path=str(path))
    return state


def _check_state_dict(module: Any, state: Mapping[str, Any], path: Path) -> None:
    """A ConfigError naming the missing, unexpected and mis-shaped keys, if any."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in sorted(set(state) & set(expected))
              if tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = [f"{what}: {_keys(keys)}" for what, keys in
                (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)) if keys]
    if problems:
        raise ConfigError(f"state dict does not match the model: {'; '.join(problems)}", path=str(path))


def _is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip with the module's code), not a saved state dict."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def sized_by_state_dict(factory: Callable[..., Any]) -> bool:
    """Whether a model's build takes `state_dict=`: it then builds the network sized by the state dict's shapes (a
    smaller configuration of the same architecture, under the same keys: the tests', the tiny suite's)."""
    import inspect

    try:
        return "state_dict" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _load_module(torch: Any, path: Path, factory: Callable[..., Any] | None) -> tuple[Any, str]:
    """(module, format): a state dict into `factory()`, or a TorchScript archive (whether or not the benchmark has
    a model definition: MLPerf publishes some models as TorchScript, e.g. 3D U-Net's `.ptc`)."""
    if factory is not None and not _is_torchscript(path):
        state = _read_state_dict(torch, path)
        module = factory(state_dict=state) if sized_by_state_dict(factory) else factory()
        _check_state_dict(module, state, path)
        module.load_state_dict(state)
        return module, "state_dict"
    try:
        with warnings.catch_warnings():   # torch deprecates TorchScript; Podium still reads existing archives
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu"), "torchscript"
    except Exception as exc:  # torch.jit raises RuntimeError or ValueError depending on the damage
        try:
            _read_state_dict(torch, path)
        except ConfigError:
            raise ConfigError(f"not a TorchScript archive: {first_line(exc)}", path=str(path)) from exc
        raise ConfigError("this is a state dict: loading it needs the model's factory (model_factory)",
                          path=str(path)) from exc


class TorchModel(LoadedModel):
    """A torch module in eval mode, run under inference_mode and (for bf16/fp16) autocast."""

    backend_name = "pytorch"

    def __init__(self, torch: Any, module: Any, io: ModelIO, *, device: Any, autocast_dtype: Any,
                 opts: BackendOptions, model: dict[str, str]) -> None:
        super().__init__(io)
        self._torch, self._module, self._device, self._autocast = torch, module, device, autocast_dtype
        self._opts, self._model = opts, model
        self.static_batch: int | None = None   # set for compiled models: every batch runs at this size

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return self._run_arrays([batch])

    def _run_feeds(self, named: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        return self._run_arrays([named[i.name] for i in self.inputs])

    def _run_arrays(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The module run on `arrays`, its inputs in order (a compiled module: at its static batch size)."""
        if self.static_batch is None:
            return self._forward(arrays)
        size, step = len(arrays[0]), self.static_batch
        chunks = [self._forward_padded([a[i:i + step] for a in arrays]) for i in range(0, size, step)]
        return tuple(np.concatenate(parts) for parts in zip(*chunks, strict=True))

    def _forward_padded(self, chunk: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        count = len(chunk[0])
        short = self.static_batch - count
        if short == 0:
            return self._forward(chunk)
        padded = [np.concatenate([a, np.zeros((short, *a.shape[1:]), dtype=a.dtype)]) for a in chunk]
        return tuple(out[:count] for out in self._forward(padded))

    @property
    def module(self) -> Any:
        """The torch module served (eval mode, on `device`): what a task's predictor drives when one sample is
        more than one forward (RNN-T's greedy decoding, GNMT's beam search)."""
        if self._module is None:
            raise SUTError(f"{self.backend_name} model was closed; load it again")
        return self._module

    @property
    def device(self) -> Any:
        return self._device

    def inference(self) -> Any:
        """The context a predictor runs the module in: inference mode and the autocast of the chosen precision."""
        import contextlib

        torch = self._torch
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(torch.autocast(self._device.type, dtype=self._autocast, enabled=self._autocast is not None))
        return stack

    def _forward(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        torch = self._torch
        with self.inference():
            tensors = []
            for array in arrays:
                # torch.from_numpy warns on read-only arrays and refuses strides that are not whole elements (a
                # field of a one-record batch of structured samples, which numpy calls contiguous all the same)
                if not array.flags.writeable or any(stride % array.itemsize for stride in array.strides):
                    array = array.copy()
                x = torch.from_numpy(array).to(self._device)
                if self._opts.channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                tensors.append(x)
            outs = _outputs(self.module(*tensors))
        positions = [self.output_names.index(name) for name in self.fetch]
        if max(positions) >= len(outs):
            raise SUTError(f"the module answered {len(outs)} output(s); output {self.fetch[-1]!r} is number "
                           f"{max(positions) + 1} of {', '.join(self.output_names)}")
        return tuple(_to_numpy(outs[k]) for k in positions)

    def describe(self) -> dict[str, Any]:
        torch = self._torch
        options = {k: v for k, v in self._opts.to_dict().items()
                   if k in ("device", "compile", "channels_last", "precision")}
        options |= {"intra_op_threads": torch.get_num_threads(),
                    "inter_op_threads": torch.get_num_interop_threads(),
                    "requested_intra_op_threads": self._opts.intra_op_threads,
                    "requested_inter_op_threads": self._opts.inter_op_threads,
                    "static_batch": self.static_batch}
        return {"name": self.backend_name, "version": torch.__version__, "options": options,
                "providers": [str(self._device)], "model": dict(self._model), **self.describe_io(),
                "notes": list(self.notes)}

    def close(self) -> None:
        self._module = None
        super().close()


def _outputs(out: Any) -> list[Any]:
    """The outputs of a model returning a tensor, a tuple/list of them, or a dict of them, in order."""
    if isinstance(out, Mapping):
        return list(out.values())
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _to_numpy(out: Any) -> np.ndarray:
    if out.is_floating_point():
        out = out.float()    # numpy has no bfloat16
    return np.asarray(out.cpu().numpy())


class PyTorchBackend(Backend):
    """Loads a state dict (with `model_factory`) or a TorchScript archive (without)."""

    name = "pytorch"

    def available(self) -> bool:
        return importlib.util.find_spec("torch") is not None

    def version(self) -> str:
        return str(self._import().__version__)

    def _import(self) -> Any:
        if not self.available():
            raise self._missing("torch")
        import torch

        return torch

    def load(self, path: Path, opts: BackendOptions | None = None, *,
             model_factory: Callable[[], Any] | None = None,
             example_input: np.ndarray | None = None,
             io_names: IONames | None = None) -> LoadedModel:
        opts = opts or BackendOptions()
        path = require_file(path, self.name)
        _refuse_ort_options(opts)
        torch = self._import()
        device = _device(torch, opts)
        autocast_dtype = _autocast_dtype(torch, opts.precision, device)
        if opts.compile and (model_factory is None or example_input is None or len(example_input) == 0):
            raise ConfigError("compile=True needs model_factory (an eager model, not TorchScript) and "
                              "example_input (compilation happens at load, not in the timed run)", key="compile")
        module, fmt = _load_module(torch, path, model_factory)
        notes = _apply_threads(torch, opts)   # process-wide: only once the model file has passed its checks
        module = self._place(torch, module, device, opts)
        io = self._io(example_input, notes, io_names or ("input", ("output",)))
        model = TorchModel(torch, module, io, device=device, autocast_dtype=autocast_dtype,
                           opts=opts, model={"path": str(path.resolve()), "format": fmt})
        if opts.compile:
            model.static_batch = len(example_input)
        warm_up(model, example_input)
        return model

    @staticmethod
    def _place(torch: Any, module: Any, device: Any, opts: BackendOptions) -> Any:
        module = module.eval().to(device)
        if opts.channels_last:
            module = module.to(memory_format=torch.channels_last)
        if opts.compile:
            module = torch.compile(module, dynamic=False)   # one static shape: see the module docstring
        return module

    @staticmethod
    def _io(example_input: np.ndarray | None, notes: list[str], names: IONames) -> ModelIO:
        """The module's inputs and outputs, named `names` (one input name, or a tuple of them for a module taking
        several, in its forward's order); the inputs' dtypes and shapes are the example's (the fields of its
        records, for several inputs)."""
        input_names, output_names = names
        wanted = (input_names,) if isinstance(input_names, str) else tuple(input_names)
        if example_input is None:
            first, *more = [InputIO(name, np.dtype(np.float32), None) for name in wanted]
        else:
            example = np.asarray(example_input)
            fields = example.dtype.names
            if fields is None:
                first, *more = [InputIO(wanted[0], example.dtype, (None, *example.shape[1:]))]
            else:
                order = wanted if len(wanted) > 1 else fields
                absent = [name for name in order if name not in fields]
                if absent:
                    raise ConfigError(f"the model's input {absent[0]!r} is not a field of the samples "
                                      f"({', '.join(fields)})", key="inputs")
                first, *more = [InputIO(name, example[name].dtype, (None, *example[name].shape[1:]))
                                for name in order]
        return ModelIO(first.name, first.dtype, first.shape, output_names, notes, more_inputs=tuple(more))


@BACKENDS.register("pytorch")
def pytorch_backend() -> Backend:
    return PyTorchBackend()
