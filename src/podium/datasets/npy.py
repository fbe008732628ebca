"""`npy`: generic preprocessed classification data, a directory with `inputs.npy` (N, ...) and `labels.npy` (N,).

The inputs are already preprocessed, so nothing is cached: `inputs.npy` is memory-mapped where it lies and
`load_samples` copies the requested rows into RAM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset


class NpyDataset(Dataset):
    """Rows of `inputs.npy`, as stored (dtype and shape are the model's business), with `labels.npy`."""

    layout = "npy"
    preprocessing_version = "as-stored"
    expected_layout = ("expected {path}/inputs.npy, an array (N, ...) of preprocessed inputs, and "
                       "{path}/labels.npy, N integer labels")

    def _open(self) -> int:
        assert self.path is not None
        self._inputs = self._array(self.path / "inputs.npy", mmap=True)
        self._labels = self._array(self.path / "labels.npy", mmap=False)
        where = str(self.path / "labels.npy")
        if self._labels.ndim != 1 or not np.issubdtype(self._labels.dtype, np.integer):
            raise ConfigError(f"labels must be a 1-D integer array, got {self._labels.dtype} of shape "
                              f"{self._labels.shape}; {self.expected(self.path)}", path=where)
        if self._inputs.ndim < 1 or len(self._inputs) != len(self._labels):
            raise ConfigError(f"{len(self._labels)} labels for inputs of shape {self._inputs.shape}: the first "
                              f"axes must match; {self.expected(self.path)}", path=where)
        if len(self._labels) == 0:
            raise ConfigError(f"no samples; {self.expected(self.path)}", path=where)
        return len(self._labels)

    def _array(self, file: Path, *, mmap: bool) -> np.ndarray:
        assert self.path is not None
        if not file.is_file():
            raise ConfigError(f"missing {file.name}; {self.expected(self.path)}", path=str(file))
        try:
            array: np.ndarray = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
            return array
        except (OSError, ValueError) as e:
            raise ConfigError(f"not a readable .npy array ({e}); {self.expected(self.path)}",
                              path=str(file)) from None

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        return [np.array(self._inputs[i]) for i in indices]

    def _all_labels(self) -> np.ndarray:
        return self._labels


@DATASETS.register("npy")
def _npy() -> type[NpyDataset]:
    return NpyDataset


def generate(root: Path, count: int = 16, *, shape: tuple[int, ...] = (3, 32, 32), classes: int = 10,
             seed: int = 0) -> Path:
    """Small data in this layout at `root`: `inputs.npy`, float32 (count, *shape) drawn from N(0, 1), and
    `labels.npy`, int64 labels in 0..classes-1. For tests and the tiny suite; returns `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "inputs.npy", rng.standard_normal((count, *shape), dtype=np.float32))
    np.save(root / "labels.npy", rng.integers(0, classes, size=count, dtype=np.int64))
    return root
