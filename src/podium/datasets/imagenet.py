"""`imagenet`: ImageNet 2012 validation images listed in `val_map.txt`, preprocessed as MLPerf's ResNet-50 reference.

Preprocessing follows the reference's `pre_process_vgg` (vision/classification_and_detection/python/dataset.py):
RGB; aspect-preserving resize so that the shorter side is 224 / 0.875 = 256; centre crop 224x224; subtract the
per-channel means 123.68, 116.78, 103.94; NCHW float32. The reference resizes with OpenCV's INTER_AREA; here
Pillow's BOX filter, which is the same area averaging when shrinking (bilinear when enlarging, as INTER_AREA is).
Images are preprocessed when loaded, a few at a time, never the whole list up front (the reference's `Imagenet`
preprocesses all 50,000 in its constructor, reference/inference_suite.md §2.1). Each preprocessed image is cached
as its own .npy, keyed by the image's path, size and mtime and the Pillow version, so that LoadGen's random
performance set touches only the images it uses.
"""

from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset
from podium.datasets.cache import dataset_cache_dir, load_npy, save_npy_atomic, stat_key

IMAGE_SIZE = 224
RESIZE_SCALE = 0.875  # the shorter side is resized to IMAGE_SIZE / RESIZE_SCALE before the centre crop
CHANNEL_MEANS_RGB = (123.68, 116.78, 103.94)
SAMPLE_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)
# Bump when the preprocessing changes: it names the cache directory, so old entries are never read.
PREPROCESSING_VERSION = "vgg-224-nchw-v1"
VAL_MAP = "val_map.txt"


def pillow() -> Any:
    """The PIL.Image module (imported here, not at package import); a ConfigError when Pillow is missing."""
    try:
        return importlib.import_module("PIL.Image")
    except ImportError:
        raise ConfigError("the imagenet dataset layout needs Pillow (pip install pillow)") from None


def parse_val_map(file: Path, expected: str) -> tuple[list[tuple[str, int]], np.ndarray]:
    """([(image file, line number)], int64 labels) from `val_map.txt`; blank lines are skipped."""
    if not file.is_file():
        raise ConfigError(f"missing {file.name}; {expected}", path=str(file))
    files: list[tuple[str, int]] = []
    labels: list[int] = []
    try:
        with open(file, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                cols = line.split()
                if not cols:
                    continue
                if len(cols) != 2:
                    raise ConfigError(f"expected '<image file> <label>', got {line.strip()!r}",
                                      path=str(file), line=n)
                try:
                    labels.append(int(cols[1]))
                except ValueError:
                    raise ConfigError(f"label {cols[1]!r} is not an integer", path=str(file), line=n) from None
                files.append((cols[0], n))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read ({e}); {expected}", path=str(file)) from None
    if not files:
        raise ConfigError(f"lists no images; {expected}", path=str(file))
    return files, np.asarray(labels, dtype=np.int64)


def pre_process_vgg(image: Any) -> np.ndarray:
    """One PIL image -> float32 (3, 224, 224), as the reference's `pre_process_vgg` with NCHW output."""
    pil = pillow()
    image = image.convert("RGB")
    width, height = image.size
    short = int(IMAGE_SIZE / RESIZE_SCALE)
    if height > width:
        size = (short, int(short * height / width))
    else:
        size = (int(short * width / height), short)
    shrinking = size[0] <= width and size[1] <= height
    image = image.resize(size, pil.Resampling.BOX if shrinking else pil.Resampling.BILINEAR)
    left, top = int((size[0] - IMAGE_SIZE) / 2), int((size[1] - IMAGE_SIZE) / 2)
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    pixels = np.asarray(image, dtype=np.float32) - np.asarray(CHANNEL_MEANS_RGB, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def read_image(path: Path) -> Any:
    """The decoded image at `path`; a ConfigError naming it when it is missing or not an image."""
    pil = pillow()
    try:
        with pil.open(path) as image:
            image.load()
            return image.copy()
    except (OSError, pil.DecompressionBombError) as e:
        raise ConfigError(f"cannot read image ({e})", path=str(path)) from None


class ImagenetDataset(Dataset):
    """The images of `val_map.txt`, in its order (qsl index i is its i-th non-blank line)."""

    layout = "imagenet"
    preprocessing_version = PREPROCESSING_VERSION
    expected_layout = f"expected {{path}}/{VAL_MAP} with lines '<image file> <label>' and the image files beside it"
    workers = min(8, os.cpu_count() or 1)  # Pillow decodes and resizes without holding the GIL

    def _open(self) -> int:
        assert self.path is not None
        pillow()  # fail now, naming the missing package, rather than at the first load
        self._pil_version = str(importlib.import_module("PIL").__version__)
        self._files, self._labels = parse_val_map(self.path / VAL_MAP, self.expected(self.path))
        return len(self._files)

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
        name, line = self._files[index]
        image = self.path / name
        try:
            key = stat_key(image, self._pil_version)
        except OSError:
            raise ConfigError(f"image listed on line {line} of {VAL_MAP} does not exist; "
                              f"{self.expected(self.path)}", path=str(image)) from None
        entry = self.cache_path / key[:2] / f"{key}.npy"
        cached = load_npy(entry)
        if cached is not None and cached.shape == SAMPLE_SHAPE and cached.dtype == np.float32:
            return cached, True
        row = pre_process_vgg(read_image(image))
        save_npy_atomic(entry, row)
        return row, False

    def _all_labels(self) -> np.ndarray:
        return self._labels


@DATASETS.register("imagenet")
def _imagenet() -> type[ImagenetDataset]:
    return ImagenetDataset


def generate(root: Path, count: int = 8, *, classes: int = 1000, seed: int = 0) -> Path:
    """Small data in the official layout at `root`: `count` random JPEG images named as ImageNet 2012's
    validation images (ILSVRC2012_val_00000001.JPEG, ...), of varied sizes and orientations, and their
    `val_map.txt` (labels drawn from 0..classes-1). For tests and the tiny suite; returns `root`."""
    image = pillow()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(1, count + 1):
        height, width = (int(v) for v in rng.integers(64, 400, size=2))
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        image.fromarray(pixels, "RGB").save(root / name, format="JPEG", quality=90)
        lines.append(f"{name} {int(rng.integers(0, classes))}\n")
    (root / VAL_MAP).write_text("".join(lines), encoding="utf-8")
    return root
