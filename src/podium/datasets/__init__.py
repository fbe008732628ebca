"""podium.datasets: the data benchmarks draw from, one module per layout, found through the `DATASETS` registry.

`DATASETS.get(layout)` returns an opener (the Dataset class): `open(path=None, *, cache_dir=None,
performance_sample_count=None, count=None) -> Dataset`, a sample library as LoadGen sees one. Built-in layouts:
`digits` (scikit-learn's bundled digits, eval split; no path; its module also holds the training split),
`npy` (a directory with `inputs.npy` and `labels.npy`) and `imagenet` (`val_map.txt` and the images,
preprocessed as MLPerf's ResNet-50 reference). Third-party layouts register through the `podium.datasets`
entry-point group. Preprocessed samples are cached under `podium.datasets.cache`'s root.

A new layout is one module here, registered with `@DATASETS.register(name)` (the registry imports every module here
on its first lookup), plus its test under tests/datasets/. The names below are imported on first use (PEP 562):
importing this package imports no numpy, so that `podium --help` stays fast; a lookup in `DATASETS` imports the
layouts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from podium.core.registry import Registry

if TYPE_CHECKING:
    from podium.datasets.base import CacheStats, Dataset, DatasetOpener
    from podium.datasets.cache import cache_root

DATASETS: Registry[DatasetOpener] = Registry("dataset", "podium.datasets", package="podium.datasets")

_HOME = {"CacheStats": "base", "Dataset": "base", "DatasetOpener": "base", "cache_root": "cache"}

__all__ = ["CacheStats", "DATASETS", "Dataset", "DatasetOpener", "cache_root"]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'podium.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"podium.datasets.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
