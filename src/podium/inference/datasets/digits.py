"""`digits`: the eval split of scikit-learn's bundled 8x8 digits (355 images), as the tiny-v1 round uses it.

The split and scaling are the training workload's (`podium.workloads.digits.load_splits`): float32 (N, 1, 8, 8) in
[0, 1], int64 labels. No path: the images ship inside scikit-learn. The cache key fingerprints scikit-learn's
`digits.csv.gz` by content, found without importing scikit-learn, so that a cache hit costs no sklearn import.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from podium.core.errors import ConfigError, PodiumError
from podium.inference.datasets import DATASETS
from podium.inference.datasets.base import Dataset
from podium.inference.datasets.cache import dataset_cache_dir, fingerprint, load_npy, save_npy_atomic

# Bump when `load_splits` changes what the eval split holds or how it is scaled.
PREPROCESSING_VERSION = "eval-split-v1"


def digits_source() -> Path:
    """scikit-learn's digits data file (ConfigError when scikit-learn is not installed)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("dataset 'digits' needs scikit-learn (pip install scikit-learn)")
    source = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not source.is_file():
        raise ConfigError("scikit-learn's bundled digits data is missing", path=str(source))
    return source


class DigitsDataset(Dataset):
    """The 355 held-out digits; the whole (small) preprocessed set is one cached .npy, memory-mapped."""

    layout = "digits"
    preprocessing_version = PREPROCESSING_VERSION
    expected_layout = "scikit-learn's bundled digits are used; give no dataset path"
    needs_path = False

    def _open(self) -> int:
        from podium.workloads.digits import EVAL_SAMPLES

        key = fingerprint(digits_source())
        self._dir = dataset_cache_dir(self.cache_root, self.layout, self.preprocessing_version) / key
        self._inputs: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        return EVAL_SAMPLES

    @property
    def cache_path(self) -> Path:
        return self._dir

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(inputs memory-mapped, labels), preprocessing into the cache on first use."""
        if self._inputs is None or self._labels is None:
            inputs, labels = self._read_cache()
            if inputs is None or labels is None:
                self._write_cache()
                inputs, labels = self._read_cache()
                if inputs is None or labels is None:
                    raise PodiumError(f"cannot read back the digits cache just written in {self._dir}")
            else:
                self.cache_stats.hits += 1
            self._inputs, self._labels = inputs, labels
        return self._inputs, self._labels

    def _read_cache(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return load_npy(self._dir / "inputs.npy", mmap=True), load_npy(self._dir / "labels.npy")

    def _write_cache(self) -> None:
        from podium.workloads.digits import load_splits

        _, (x_eval, y_eval) = load_splits()
        save_npy_atomic(self._dir / "inputs.npy", np.asarray(x_eval, dtype=np.float32))
        save_npy_atomic(self._dir / "labels.npy", np.asarray(y_eval, dtype=np.int64))
        self.cache_stats.computed += 1

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        inputs, _ = self._arrays()
        return [np.array(inputs[i]) for i in indices]

    def _all_labels(self) -> np.ndarray:
        return self._arrays()[1]


@DATASETS.register("digits")
def _digits() -> type[DigitsDataset]:
    return DigitsDataset
