"""`digits`: scikit-learn's bundled 8x8 handwritten digits: the fixed train/eval split, and the eval split as a
sample library (355 images), as the tiny-v1 round serves it.

Real data with no download (1797 images shipped inside scikit-learn). The split does not depend on any RNG: for
each class, every fifth image (in file order) is held out for evaluation. Images are float32 (N, 1, 8, 8) in
[0, 1], labels int64; the training workload (`podium.workloads.digits`) trains on `load_splits()`. The sample
library takes no path. Its cache key fingerprints scikit-learn's `digits.csv.gz` by content, found without
importing scikit-learn, so that a cache hit costs no sklearn import. numpy and scikit-learn are imported where
they are used, so that declaring the workload imports neither.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from podium.core.errors import ConfigError, PodiumError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset
from podium.datasets.cache import dataset_cache_dir, fingerprint, load_npy, save_npy_atomic

if TYPE_CHECKING:
    import numpy as np

EVAL_EVERY_NTH = 5
TRAIN_SAMPLES = 1442
EVAL_SAMPLES = 355
# Bump when `load_splits` changes what the eval split holds or how it is scaled.
PREPROCESSING_VERSION = "eval-split-v1"

Split = tuple["np.ndarray", "np.ndarray"]


def load_splits() -> tuple[Split, Split]:
    """((x_train, y_train), (x_eval, y_eval)): float32 images (N, 1, 8, 8) in [0, 1], int64 labels."""
    import numpy as np
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = data.target.astype(np.int64)
    held_out = np.zeros(len(y), dtype=bool)
    for label in range(10):
        held_out[np.flatnonzero(y == label)[EVAL_EVERY_NTH - 1::EVAL_EVERY_NTH]] = True
    return (x[~held_out], y[~held_out]), (x[held_out], y[held_out])


def import_loader() -> None:
    """Import scikit-learn's loader (e.g. during a training run's untimed init: importing code is not touching
    the data)."""
    import sklearn.datasets  # type: ignore[import-untyped]  # noqa: F401


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
        import numpy as np

        _, (x_eval, y_eval) = load_splits()
        save_npy_atomic(self._dir / "inputs.npy", np.asarray(x_eval, dtype=np.float32))
        save_npy_atomic(self._dir / "labels.npy", np.asarray(y_eval, dtype=np.int64))
        self.cache_stats.computed += 1

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        import numpy as np

        inputs, _ = self._arrays()
        return [np.array(inputs[i]) for i in indices]

    def _all_labels(self) -> np.ndarray:
        return self._arrays()[1]


@DATASETS.register("digits")
def _digits() -> type[DigitsDataset]:
    return DigitsDataset
