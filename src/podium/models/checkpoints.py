"""Loading a published PyTorch checkpoint into a model definition: unwrapping, key checks, one-line errors.

Checkpoints come as a bare state dict (torchvision's `resnet50-19c8e357.pth`, the file MLPerf's ResNet-50 PyTorch
reference publishes), or wrapped by a training script: under "state_dict", "model" or "best_model_state_dict" (3D
U-Net's `3dunet_kits19_pytorch_checkpoint.pth`), with the "module." prefix
that `DataParallel` / `DistributedDataParallel` add. Loading is strict: a checkpoint whose keys or shapes differ
from the definition is refused, naming the file and the first keys that differ, rather than serving a half-loaded
network. torch is imported inside the functions.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError

# where training scripts nest the state dict ("best_model_state_dict": MLPerf's 3D U-Net checkpoint)
WRAPPER_KEYS = ("state_dict", "model", "best_model_state_dict")
PARALLEL_PREFIX = "module."
# Plain types training scripts save beside the weights, allowed by the weights-only unpickler (RetinaNet's
# `model_10.pth` keeps its command line as an argparse.Namespace under "args").
SAFE_GLOBALS: list[Any] = [argparse.Namespace]
SHOWN_KEYS = 5  # how many differing keys an error names


def read_state_dict(path: Path | str) -> dict[str, Any]:
    """The tensors of the checkpoint at `path` (read with `weights_only`: no code runs), unwrapped; a
    ConfigError naming the path when it is not a PyTorch checkpoint holding a state dict."""
    import torch

    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError("no such checkpoint file", path=str(path)) from None
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise ConfigError(f"cannot read as a PyTorch checkpoint ({type(e).__name__}: {e})".splitlines()[0],
                          path=str(path)) from None
    return unwrap_state_dict(loaded, path)


def unwrap_state_dict(loaded: Any, path: Path | str) -> dict[str, Any]:
    """A checkpoint's state dict: the nested "state_dict"/"model" entry if there is one, "module." prefixes
    removed."""
    for key in WRAPPER_KEYS:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not loaded:
        raise ConfigError(f"holds no state dict (a {type(loaded).__name__}); expected a mapping of parameter "
                          f"names to tensors, optionally under 'state_dict' or 'model'", path=str(path))
    if all(str(k).startswith(PARALLEL_PREFIX) for k in loaded):
        return {str(k)[len(PARALLEL_PREFIX):]: v for k, v in loaded.items()}
    return {str(k): v for k, v in loaded.items()}


def check_state_dict(module: Any, state: Mapping[str, Any], path: Path | str) -> None:
    """A ConfigError naming `path` and the first differing keys unless `state` has exactly `module`'s keys, each
    with its shape."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"{what} {', '.join(keys[:SHOWN_KEYS])}{' ...' if len(keys) > SHOWN_KEYS else ''}"
                 f" ({len(keys)} in all)" for what, keys in (("missing", missing), ("unexpected", unexpected))
                 if keys]
        raise ConfigError(f"checkpoint does not match model {type(module).__name__}: {'; '.join(parts)}",
                          path=str(path))
    wrong = [f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})" for k, v in expected.items()
             if tuple(getattr(state[k], "shape", ())) != tuple(v.shape)]
    if wrong:
        raise ConfigError(f"checkpoint shapes do not match model {type(module).__name__}: "
                          f"{', '.join(wrong[:SHOWN_KEYS])}", path=str(path))


def load_reference_state_dict(module: Any, path: Path | str) -> Any:
    """Load the checkpoint at `path` into `module` (strictly, after unwrapping) and return `module`."""
    state = read_state_dict(path)
    check_state_dict(module, state, path)
    module.load_state_dict(state, strict=True)
    return module
