"""What the image datasets share: OpenCV (imported when used), decoding as the references decode, and loading the
images a few threads at a time, each preprocessed once and cached on disk.

The MLPerf vision references decode with `cv2.imread` (BGR uint8) and preprocess with OpenCV; so do Podium's
`imagenet`, `coco` and `openimages` layouts, each a `CachedImages` subclass that says where image i is, how its
layout names it in an error, and how it is preprocessed. A cache entry is keyed by the image file's path, size
and modification time and by OpenCV's version, under a folder named by the dataset's preprocessing version
(`podium.datasets.cache`), and is used only when it has the sample's shape and dtype.
"""

from __future__ import annotations

import abc
import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets.base import Dataset
from podium.datasets.cache import dataset_cache_dir, load_npy, save_npy_atomic, stat_key

OPENCV_PACKAGE = "opencv-python-headless"


def opencv() -> Any:
    """The cv2 module (imported here, not at package import); a ConfigError naming the package when missing."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        raise ConfigError(f"the image dataset layouts need OpenCV (pip install {OPENCV_PACKAGE}, or podium's "
                          "`inference` extra): the references decode and preprocess with it") from None


def read_bgr(path: Path) -> np.ndarray:
    """The image at `path` as the references decode it (`cv2.imread`: BGR uint8, three channels); a ConfigError
    naming it when OpenCV cannot decode it."""
    image = opencv().imread(str(path))
    if image is None:
        raise ConfigError("cannot read image (OpenCV cannot decode it)", path=str(path))
    decoded: np.ndarray = image
    return decoded


class CachedImages(Dataset):
    """Image files preprocessed one at a time, `workers` threads at once (OpenCV decodes and resizes without
    holding the GIL), each kept in the cache. Subclasses set `sample_shape` and `sample_dtype` (class or instance
    attributes) and implement `_image` and `_preprocess`; `_open` calls `_check_opencv` first."""

    workers: ClassVar[int] = min(8, os.cpu_count() or 1)
    sample_shape: tuple[int, ...]
    sample_dtype: type[np.generic] = np.float32

    @abc.abstractmethod
    def _image(self, index: int) -> tuple[Path, str]:
        """Image `index`'s file and how the layout names it in an error ("listed on line 3 of val_map.txt")."""

    @abc.abstractmethod
    def _preprocess(self, image: Path) -> np.ndarray:
        """The preprocessed sample of the image file `image`."""

    def _check_opencv(self) -> None:
        """Fail when the layout is opened, naming the package, not at the first load; keys the cache entries."""
        self._opencv_version = str(opencv().__version__)

    @property
    def cache_path(self) -> Path:
        return dataset_cache_dir(self.cache_root, self.layout, self.preprocessing_version)

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        if len(indices) > 1 and self.workers > 1:
            with ThreadPoolExecutor(min(self.workers, len(indices))) as pool:
                results = list(pool.map(self._one, indices))
        else:
            results = [self._one(i) for i in indices]
        hits = sum(hit for _, hit in results)
        self.cache_stats.hits += hits
        self.cache_stats.computed += len(results) - hits
        return [row for row, _ in results]

    def _one(self, index: int) -> tuple[np.ndarray, bool]:
        """(preprocessed image `index`, whether it came from the cache)."""
        assert self.path is not None
        image, where = self._image(index)
        try:
            key = stat_key(image, self._opencv_version)
        except OSError:
            raise ConfigError(f"image {where} does not exist; {self.expected(self.path)}", path=str(image)) from None
        entry = self.cache_path / key[:2] / f"{key}.npy"
        cached = load_npy(entry)
        if cached is not None and cached.shape == tuple(self.sample_shape) and cached.dtype == self.sample_dtype:
            return cached, True
        row = self._preprocess(image)
        save_npy_atomic(entry, row)
        return row, False
