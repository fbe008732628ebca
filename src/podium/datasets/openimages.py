"""`openimages-800`: MLPerf's OpenImages subset (264 classes) in COCO format, preprocessed for RetinaNet at 800x800.

The layout is the one the reference's download script writes (vision/classification_and_detection/tools/
openimages_mlperf.sh -> openimages.py) and its accuracy script reads (tools/accuracy-openimages.py
`--openimages-dir`):

    <path>/annotations/openimages-mlperf.json   COCO format: images (id from 1, file_name "<ImageID>.jpg",
                                                height, width), annotations (bbox [x, y, w, h] in pixels,
                                                category_id 0..263, iscrowd = IsGroupOf, area), categories
    <path>/validation/data/<file_name>          the images

Sample i is the i-th entry of the file's "images" list: the accuracy script maps a response's qsl index to
`images[qsl_idx]`, so an image that is missing is an error here (the reference's loader skips it, which would shift
every later index against the accuracy script).

Preprocessing is the reference's `pre_process_openimages_retinanet` (python/dataset.py) with the
`openimages-800-retinanet` settings of main.py: `cv2.imread` (BGR; a greyscale file decodes to three channels),
float32, BGR to RGB, `cv2.resize` to 800x800 with INTER_LINEAR, divided by 255, NCHW. Each preprocessed image is
cached as its own .npy, keyed by the image's path, size and mtime and the OpenCV version.

The ground truth of a sample (`labels()[i]`) is the image's COCO record as `podium.datasets.coco` gives COCO's
(one format for both, what `coco-map` scores): "image_id", "file_name", "width", "height" (of the original
image), "annotations" (dicts: "id", "category_id", "bbox" [x, y, w, h] in pixels, "area", "iscrowd" = IsGroupOf)
and "category_ids" (the file's 264 category ids). tools/accuracy-openimages.py computes exactly what
tools/accuracy-coco.py does (the two differ only in paths), so the `coco-map` metric serves this dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.images import CachedImages, opencv, read_bgr
from podium.datasets.coco import ground_truth, read_annotations

IMAGE_SIZE = 800
SAMPLE_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)
CLASSES = 264
ANNOTATIONS = "annotations/openimages-mlperf.json"
IMAGES = "validation/data"
# Bump when the preprocessing changes: it names the cache directory, so old entries are never read.
PREPROCESSING_VERSION = "cv2-linear-800-nchw-v1"


def pre_process_retinanet(image_bgr: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded BGR uint8 image -> float32 (3, size, size) RGB in [0, 1], as the reference's
    `pre_process_openimages_retinanet` (its `maybe_resize` converts to float32 before resizing)."""
    cv2 = opencv()
    pixels = np.asarray(image_bgr, dtype=np.float32)
    if pixels.ndim < 3 or pixels.shape[2] != 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    pixels = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_LINEAR)
    pixels /= 255.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


class OpenImagesDataset(CachedImages):
    """The images of openimages-mlperf.json, in its order, preprocessed for RetinaNet at 800x800 (NCHW)."""

    layout = "openimages-800"
    preprocessing_version = PREPROCESSING_VERSION
    expected_layout = (f"expected {{path}}/{ANNOTATIONS} (COCO format) and the images under {{path}}/{IMAGES}/, "
                       f"as MLPerf's openimages_mlperf.sh writes them")
    sample_shape = SAMPLE_SHAPE

    def _open(self) -> int:
        assert self.path is not None
        self._check_opencv()
        if not (self.path / IMAGES).is_dir():
            raise ConfigError(f"missing the images folder {IMAGES}; {self.expected(self.path)}",
                              path=str(self.path / IMAGES))
        file = self.path / ANNOTATIONS
        self._labels = ground_truth(read_annotations(file, self.expected(self.path)), file)
        return len(self._labels)

    def _image(self, index: int) -> tuple[Path, str]:
        assert self.path is not None
        return self.path / IMAGES / self._labels[index]["file_name"], f"{index} of {ANNOTATIONS} ('images' list)"

    def _preprocess(self, image: Path) -> np.ndarray:
        return pre_process_retinanet(read_bgr(image))

    def _all_labels(self) -> np.ndarray:
        return self._labels


@DATASETS.register("openimages-800")
def _openimages_800() -> type[OpenImagesDataset]:
    return OpenImagesDataset


def _draw_shapes(rng: np.random.Generator, height: int, width: int,
                 classes: int) -> tuple[np.ndarray, list[tuple[list[float], int]]]:
    """A noisy BGR background with 1-3 filled rectangles or ellipses: (image, [(bbox [x, y, w, h], class)])."""
    cv2 = opencv()
    image = rng.integers(0, 64, size=(height, width, 3), dtype=np.uint8)
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        w, h = int(rng.integers(8, max(9, width // 2))), int(rng.integers(8, max(9, height // 2)))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        colour = tuple(int(c) for c in rng.integers(96, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
        else:
            cv2.ellipse(image, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, thickness=-1)
        shapes.append(([float(x), float(y), float(w), float(h)], int(rng.integers(0, classes))))
    return image, shapes


def generate(root: Path, count: int = 8, *, classes: int = CLASSES, seed: int = 0) -> Path:
    """Small data in the official layout at `root`: `count` JPEG images of drawn rectangles and ellipses (64 to
    200 pixels a side), named like OpenImages' (16 hex digits), and their COCO annotations in
    annotations/openimages-mlperf.json (image ids from 1, categories 0..classes-1, one box per shape). For tests
    and the tiny suite; returns `root`."""
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    images_dir = root / IMAGES
    images_dir.mkdir(parents=True, exist_ok=True)
    (root / ANNOTATIONS).parent.mkdir(parents=True, exist_ok=True)
    # sorted, as the reference's export sorts by ImageID
    names = sorted({f"{int(v):016x}" for v in rng.integers(0, 2**62, size=count)})
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, name in enumerate(names, 1):
        height, width = (int(v) for v in rng.integers(64, 201, size=2))
        pixels, shapes = _draw_shapes(rng, height, width, classes)
        cv2.imwrite(str(images_dir / f"{name}.jpg"), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": f"{name}.jpg", "height": height, "width": width,
                       "license": None, "coco_url": None})
        for bbox, category in shapes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0})
    coco = {"info": {"dataset": "openimages_mlperf", "version": "podium-generated"}, "licenses": [],
            "categories": [{"id": i, "name": f"class {i}", "supercategory": None} for i in range(classes)],
            "images": images, "annotations": annotations}
    (root / ANNOTATIONS).write_text(json.dumps(coco), encoding="utf-8")
    return root
