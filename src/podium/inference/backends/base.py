"""What every inference backend offers: its options, the `Backend` that loads a model, the `LoadedModel` that runs it.

A `Backend` checks everything it can at `load` (file present and readable, weights matching the model, options
the runtime supports, providers and devices present), so a bad setup fails with a `ConfigError` naming the path
before any run starts. A `LoadedModel` runs one batch at a time; an error inside the runtime becomes a `SUTError`
naming the backend and the batch shape, never an empty output (the official reference harness answers a failed
inference with empty responses: inference_suite.md §2.1). `submit` is the asynchronous entry point: the default
runs `predict` inline, and a remote backend can return at once and call `done` later from its own thread.
numpy only here; each backend imports its runtime inside `load`, never at import.
"""

from __future__ import annotations

import abc
import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from podium.core.errors import ConfigError, PodiumError, SUTError
from podium.core.vocabulary import Precision  # pytorch: the autocast dtype; onnxruntime: fp32 only

# Untimed predictions on `example_input` at load: the reference harness warms up with 5 predictions on sample 0
# (inference_suite.md §2.1); three suffice to create lazy kernels, arenas and caches for these runtimes.
WARMUP_ROUNDS = 3

Done = Callable[["np.ndarray | BaseException"], None]
# A model's input name (or names, in its forward's order, for a model taking several) and output names.
IONames = tuple["str | tuple[str, ...]", tuple[str, ...]]


class GraphOptimization(enum.StrEnum):
    """ONNX Runtime's graph optimization level (`GraphOptimizationLevel`), by its short name."""

    DISABLE = "disable"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


def _member(kind: type[enum.StrEnum], value: str, key: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = [m.value for m in kind]
        close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.4)
        raise ConfigError(f"{key} {value!r} is not one of {', '.join(known)}", key=key,
                          suggestion=close[0] if close else None) from None


def _threads(value: int | None, key: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{key} must be a positive integer or None (the runtime's default), not {value!r}",
                          key=key)


@dataclass(frozen=True)
class BackendOptions:
    """How to run a model. Each backend refuses the options that belong to the other one rather than ignore them,
    so a result never claims a setting that was not in effect. `None` threads leave the runtime's default."""

    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    graph_optimization: GraphOptimization = GraphOptimization.ALL   # onnxruntime
    providers: tuple[str, ...] = ()       # onnxruntime execution providers; () = CPU (CUDA when device is cuda)
    device: str = "cpu"                   # "cpu", "cuda", "cuda:1"
    compile: bool = False                 # pytorch: torch.compile
    channels_last: bool = False           # pytorch: NHWC memory format for model and 4-D inputs
    precision: Precision = Precision.FP32  # pytorch: autocast dtype

    def __post_init__(self) -> None:
        _threads(self.intra_op_threads, "intra_op_threads")
        _threads(self.inter_op_threads, "inter_op_threads")
        set_ = object.__setattr__     # frozen: normalize strings to enums once, here
        set_(self, "graph_optimization", _member(GraphOptimization, self.graph_optimization, "graph_optimization"))
        set_(self, "precision", _member(Precision, self.precision, "precision"))
        if isinstance(self.providers, str):
            set_(self, "providers", (self.providers,))
        set_(self, "providers", tuple(self.providers))
        if not self.device or not isinstance(self.device, str):
            raise ConfigError(f"device must be a name such as 'cpu' or 'cuda', not {self.device!r}", key="device")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: enums as their values, providers as a list."""
        return {"intra_op_threads": self.intra_op_threads, "inter_op_threads": self.inter_op_threads,
                "graph_optimization": self.graph_optimization.value, "providers": list(self.providers),
                "device": self.device, "compile": self.compile, "channels_last": self.channels_last,
                "precision": self.precision.value}


def refuse(option: str, value: Any, backend: str, owner: str) -> ConfigError:
    """The error for an option that belongs to another backend."""
    return ConfigError(f"{option}={value!r} is a {owner} option; the {backend} backend does not support it",
                       key=option)


def require_file(path: Path | str, backend: str) -> Path:
    """`path` as a Path, or a ConfigError naming it when there is no file there."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a model file" if path.is_dir() else "not found"
        raise ConfigError(f"{backend} model file {what}", path=str(path))
    return path


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (runtime messages run to many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class InputIO:
    """One input of a model: its name, dtype and shape (dims None where any size is accepted; None: unknown)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None


@dataclass
class ModelIO:
    """A loaded model's inputs and outputs; shape dims are None where the model accepts any size.

    Most graphs take one input (`input_name`...); a model taking several (BERT's input_ids, input_mask and
    segment_ids; DLRM's dense and sparse features) lists the ones after the first in `more_inputs`, in the order
    its forward takes them. Such a model is fed a batch of numpy structured records whose fields are named as its
    inputs (`feeds`), or named arrays (`LoadedModel.run_feeds`)."""

    input_name: str
    input_dtype: np.dtype
    input_shape: tuple[int | None, ...] | None
    output_names: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    more_inputs: tuple[InputIO, ...] = ()

    @property
    def inputs(self) -> tuple[InputIO, ...]:
        return (InputIO(self.input_name, self.input_dtype, self.input_shape), *self.more_inputs)


def feeds(batch: np.ndarray) -> dict[str, np.ndarray] | None:
    """A batch of structured records as named arrays, one per field (None for a plain array): how a sample of a
    model with several inputs is held, so that datasets, queues and shared memory keep handling one array."""
    names = batch.dtype.names if isinstance(batch, np.ndarray) else None
    return {name: batch[name] for name in names} if names else None


class LoadedModel(abc.ABC):
    """A model ready to run. Subclasses implement `_run` (one batch, already cast) and `describe`.

    `predict` is safe to call from several threads when the runtime is (ONNX Runtime sessions and PyTorch
    modules in inference mode are).
    """

    backend_name: str
    asynchronous = False    # True when submit() may return before `done` is called

    def __init__(self, io: ModelIO, batch_size: int | None = None) -> None:
        self.input_name, self.input_dtype, self.input_shape = io.input_name, io.input_dtype, io.input_shape
        self.inputs = io.inputs
        self.output_names = io.output_names
        self.fetch: tuple[str, ...] = io.output_names[:1]  # the outputs `run` reads, in order
        self.batch_size = batch_size    # the only batch size the model accepts; None when any
        self.notes = io.notes
        self.closed = False

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The first output read (`fetch[0]`) for `batch`, batch-major; SUTError when the runtime fails or the
        output is not batch-major."""
        out = self.run(batch)[0]
        count = len(batch)
        if out.ndim == 0 or out.shape[0] != count:
            raise SUTError(f"{self.backend_name} returned output {self.fetch[0]!r} of shape {out.shape} for a batch "
                           f"of {count}; outputs must be batch-major")
        return out

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """The outputs named by `fetch`, in that order, for `batch`, as the graph answers them (some official graphs
        answer one image's outputs unbatched: their post-processor reads them); SUTError when the runtime fails.
        A batch of structured records feeds each of the model's inputs from the field of its name."""
        named = feeds(batch)
        if named is not None:
            return self.run_feeds(named)
        if len(self.inputs) > 1:
            raise SUTError(f"{self.backend_name} model takes {len(self.inputs)} inputs "
                           f"({', '.join(i.name for i in self.inputs)}); feed it records with those fields, "
                           f"not one array of shape {tuple(np.shape(batch))}")
        shape = tuple(np.shape(batch))
        self._check_batch(shape)
        try:
            return self._run(np.ascontiguousarray(batch, dtype=self.input_dtype))
        except PodiumError:
            raise
        except Exception as exc:
            raise SUTError(f"{self.backend_name} failed on a batch of shape {shape}: {first_line(exc)}") from exc

    def run_feeds(self, named: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """As `run`, for arrays named as the model's inputs (fields beyond them are not fed); each is cast to its
        input's dtype. The first input's leading axis is the batch."""
        missing = [i.name for i in self.inputs if i.name not in named]
        if missing:
            raise SUTError(f"{self.backend_name} model input {missing[0]!r} is not among the arrays fed "
                           f"({', '.join(named) or 'none'}); its inputs: {', '.join(i.name for i in self.inputs)}")
        arrays = {i.name: np.ascontiguousarray(named[i.name], dtype=i.dtype) for i in self.inputs}
        shapes = {name: a.shape for name, a in arrays.items()}
        self._check_batch(shapes[self.input_name])
        try:
            return self._run_feeds(arrays)
        except PodiumError:
            raise
        except Exception as exc:
            raise SUTError(f"{self.backend_name} failed on inputs of shapes {shapes}: {first_line(exc)}") from exc

    def select(self, names: tuple[str, ...]) -> None:
        """Read the outputs `names`, in that order, from now on (() = the first output); a ConfigError naming the
        outputs the model has when one is not among them."""
        missing = [n for n in names if n not in self.output_names]
        if missing:
            raise ConfigError(f"the model has no output {missing[0]!r}; its outputs: {', '.join(self.output_names)}",
                              key="outputs")
        self.fetch = names or self.output_names[:1]

    def output_shape(self, name: str) -> tuple[int | None, ...] | None:
        """The shape the model declares for output `name` (None where it declares none: run it to know)."""
        return None

    def submit(self, batch: np.ndarray, done: Done) -> None:
        """Run `batch` and hand `done` the output, or the exception raised; this default runs inline.

        `done` is called outside the try, so an error inside `done` itself is not reported as the model's.
        """
        try:
            out = self.predict(batch)
        except Exception as exc:    # handed to the caller, who decides (Ctrl-C still propagates)
            done(exc)
            return
        done(out)

    def _check_batch(self, shape: tuple[int, ...]) -> None:
        if self.closed:
            raise SUTError(f"{self.backend_name} model was closed; load it again")
        if not shape:
            raise SUTError(f"{self.backend_name} needs a batch (an array with a leading batch axis), got a scalar")
        if self.batch_size is not None and shape[0] != self.batch_size:
            raise SUTError(f"{self.backend_name} model has a fixed batch size of {self.batch_size} and cannot run "
                           f"a batch of shape {shape}; serve it with --batch-size {self.batch_size} (or export it "
                           "with a dynamic batch axis)")

    def describe_io(self) -> dict[str, Any]:
        """The input(s) and outputs, JSON-able: `input` is the first input, `inputs` each (several only for a model
        taking several)."""
        described = [{"name": i.name, "dtype": i.dtype.name, "shape": list(i.shape) if i.shape is not None else None}
                     for i in self.inputs]
        more = {"inputs": described} if len(described) > 1 else {}
        return {"input": described[0], **more, "outputs": list(self.output_names), "outputs_read": list(self.fetch),
                "batch_size": self.batch_size}

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """The outputs named by `fetch`, in order, for a batch already cast to `input_dtype`."""

    def _run_feeds(self, named: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """As `_run`, for each input's array by name, already cast; this default serves one-input models."""
        if len(self.inputs) > 1:
            raise SUTError(f"the {self.backend_name} backend cannot feed a model with several inputs")
        return self._run(named[self.input_name])

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able: backend name and version, options in effect, providers, input name/shape/dtype, notes."""

    def close(self) -> None:
        """Release the runtime's resources; `predict` afterwards raises SUTError."""
        self.closed = True

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def warm_up(model: LoadedModel, example_input: np.ndarray | None, rounds: int = WARMUP_ROUNDS) -> None:
    """Untimed predictions on `example_input`, so lazy initialization happens before any run."""
    if example_input is None:
        return
    for _ in range(rounds):
        model.run(example_input)


class Backend(abc.ABC):
    """A runtime that loads model files. Registered in `BACKENDS`; constructing one imports no runtime."""

    name: str

    @abc.abstractmethod
    def available(self) -> bool:
        """Whether the runtime can be imported here (checked without importing it)."""

    @abc.abstractmethod
    def version(self) -> str:
        """The runtime's version; ConfigError when it is not installed."""

    @abc.abstractmethod
    def load(self, path: Path, opts: BackendOptions | None = None, *,
             model_factory: Callable[[], Any] | None = None,
             example_input: np.ndarray | None = None,
             io_names: IONames | None = None) -> LoadedModel:
        """Load the model at `path`, check it, and warm it up on `example_input` (untimed) when given.

        `io_names` (input name, output names) names the inputs and outputs of a model whose file does not (a
        PyTorch module answering a tuple); a model file that names them (ONNX) keeps its own names."""

    def _missing(self, package: str) -> ConfigError:
        return ConfigError(f"backend {self.name!r} needs the {package!r} package, which is not installed "
                           f"(pip install {package})", key="backend")
