"""`--model random`: a benchmark's model with random weights, for performance runs that need no download.

The model is the task's definition in `podium.models`, built with a fixed seed, and written once to the cache as
the file the chosen backend loads: a state dict for PyTorch, an ONNX graph (exported with the official input and
output names the definition declares, batch axis dynamic) for ONNX Runtime. The same seed, model and torch version
give the same file, so repeated runs serve the same weights; a changed definition (any source of podium.models)
gets a new one. Results of such a model are performance-only: never
valid for submission, and an accuracy test's score never passes (`podium.inference.plan`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.core.files import output_error
from podium.datasets.cache import cache_root
from podium.models import MODELS, Model

RANDOM = "random"  # the --model value asking for random weights
SEED = 0


def is_random(model_path: Path | str) -> bool:
    return str(model_path) == RANDOM


def random_weights_file(model_name: str | None, backend: str, cache_dir: Path | None = None) -> Path:
    """The cached file of `model_name` with random weights for `backend`, written first when missing."""
    if model_name is None:
        raise ConfigError("--model random needs a benchmark with a model definition in podium.models; this one "
                          "has none: give a model file", key="--model")
    if backend not in ("pytorch", "onnxruntime"):
        raise ConfigError(f"--model random builds PyTorch or ONNX models, not for backend {backend!r}",
                          key="--backend")
    try:
        import torch
    except ImportError:
        raise ConfigError("--model random builds the model with PyTorch, which is not installed (pip install "
                          "'podium[training]')", key="--model") from None

    model = MODELS.get(model_name)
    suffix = "onnx" if backend == "onnxruntime" else "pt"
    name = f"{model_name}-seed{SEED}-torch{torch.__version__}-{definitions_digest()}.{suffix}"
    path = cache_root(cache_dir) / "random-weights" / name
    if not path.is_file():
        _write(model, path, suffix)
    return path


def definitions_digest() -> str:
    """A digest of the model definitions' source (every module of podium.models): a changed definition gets new
    random weights rather than a stale file."""
    import hashlib

    import podium.models

    digest = hashlib.sha256()
    for source in sorted(Path(podium.models.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:12]


def _export(model: Model, module: Any, path: Path) -> None:
    """The ONNX export, or a ConfigError naming the model when torch cannot export it."""
    from podium.models.export import export_onnx

    try:
        export_onnx(module, model, path)
    except Exception as exc:  # torch raises many kinds for a module it cannot trace
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"model {model.name!r} cannot be exported to ONNX with random weights ({first}); "
                          "use --backend pytorch", key="--model") from exc


def _write(model: Model, path: Path, suffix: str) -> None:
    import torch

    torch.manual_seed(SEED)
    module = model.build().eval()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == "pt":
            torch.save(module.state_dict(), tmp)
        else:
            _export(model, module, tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise output_error(e, path, "write") from e
    finally:
        tmp.unlink(missing_ok=True)
