"""podium.inference.datasets: the sample libraries inference runs draw from, found through the `DATASETS` registry.

`DATASETS.get(layout)` returns an opener (the Dataset class): `open(path=None, *, cache_dir=None,
performance_sample_count=None, count=None) -> Dataset`. Built-in layouts: `digits` (scikit-learn's bundled digits,
eval split; no path), `npy` (a directory with `inputs.npy` and `labels.npy`) and `imagenet` (`val_map.txt` and
the images, preprocessed as MLPerf's ResNet-50 reference). Third-party layouts register through the
`podium.datasets` entry-point group. Preprocessed samples are cached under `podium.inference.datasets.cache`'s root.
"""

from __future__ import annotations

from podium.core.registry import Registry
from podium.inference.datasets.base import CacheStats, Dataset, DatasetOpener
from podium.inference.datasets.cache import cache_root

DATASETS: Registry[DatasetOpener] = Registry(
    "dataset", "podium.datasets",
    builtins=("podium.inference.datasets.digits", "podium.inference.datasets.imagenet",
              "podium.inference.datasets.npy"))

__all__ = ["CacheStats", "DATASETS", "Dataset", "DatasetOpener", "cache_root"]
