"""MLPerf's OpenImages subset (264 classes) for training RetinaNet, in the layout the training reference reads; and a
generator of small data in that layout.

The layout (mlcommons/training single_stage_detector/ssd/coco_utils.py `get_openimages`, written by
scripts/download_openimages_mlperf.sh; README "the MLPerf subset": 1,170,301 training and 24,781 validation
images):

    <root>/train/data/<file_name>                       the training images
    <root>/train/labels/openimages-mlperf.json          COCO format: images, annotations, categories (ids 0..263)
    <root>/validation/data/<file_name>
    <root>/validation/labels/openimages-mlperf.json

(The inference benchmark's layout, `podium.datasets.openimages`, keeps the validation annotations under
annotations/ instead.) As the reference (`ConvertCocoPolysToMask(filter_iscrowd=False)`, no empty-image filter):
every listed image is kept in both splits, group boxes included; a box's category id is its class column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from podium.datasets.coco_training import DetectionSplit, open_split
from podium.datasets.images import opencv

CLASSES = 264
TRAIN_IMAGES = "train/data"
TRAIN_ANNOTATIONS = "train/labels/openimages-mlperf.json"
VAL_IMAGES = "validation/data"
VAL_ANNOTATIONS = "validation/labels/openimages-mlperf.json"
LAYOUT = (f"{TRAIN_ANNOTATIONS} and {VAL_ANNOTATIONS} (COCO format, 264 categories) with the images under "
          f"{TRAIN_IMAGES}/ and {VAL_IMAGES}/ (MLPerf's OpenImages subset, as the RetinaNet reference reads it)")
# What `generate` draws: (category id, BGR colour, filled shape); one look per category, so a tiny model can tell
# them apart.
DRAWN = ((0, (40, 40, 220), "rectangle"), (1, (220, 60, 40), "ellipse"), (2, (40, 200, 60), "rectangle"),
         (3, (200, 200, 40), "ellipse"))


def open_openimages(root: Path) -> tuple[DetectionSplit, DetectionSplit]:
    """(train, validation) as the RetinaNet reference reads them; a ConfigError naming the path and the layout
    when one is missing or not in COCO format."""
    return (open_split(root, TRAIN_ANNOTATIONS, TRAIN_IMAGES, keep_empty=True, layout=LAYOUT),
            open_split(root, VAL_ANNOTATIONS, VAL_IMAGES, keep_empty=True, layout=LAYOUT))


def generate(root: Path, train: int = 32, val: int = 8, *, seed: int = 0, size: tuple[int, int] | None = None,
             classes: int = CLASSES, drawn: int = len(DRAWN), objects: tuple[int, int] = (1, 3),
             extent: tuple[float, float] = (0.25, 0.5)) -> Path:
    """Small data in the layout at `root`: `train` and `val` JPEG images named like OpenImages' (16 hex digits),
    of `size` (width, height) or of varied sizes, each with `objects` (least, most) filled shapes of the first
    `drawn` categories of `DRAWN`, `extent` (least, most) of the image a side, and their COCO annotations (image
    ids from 1, `classes` categories listed). Returns `root`."""
    if not 1 <= drawn <= min(len(DRAWN), classes):
        raise ValueError(f"drawn must be 1..{min(len(DRAWN), classes)}, got {drawn}")
    rng = np.random.default_rng(seed)
    shapes = Shapes(DRAWN[:drawn], objects, extent)
    for count, folder, file in ((train, TRAIN_IMAGES, TRAIN_ANNOTATIONS), (val, VAL_IMAGES, VAL_ANNOTATIONS)):
        _write_split(root, folder, file, count, rng, size, classes, shapes)
    return root


@dataclass(frozen=True)
class Shapes:
    """What `generate` draws on an image: shapes of `kinds` (`DRAWN` entries), `objects` (least, most) of them,
    `extent` (least, most) of the image a side."""

    kinds: tuple[tuple[int, tuple[int, int, int], str], ...]
    objects: tuple[int, int]
    extent: tuple[float, float]


def _write_split(root: Path, images_dir: str, annotations_file: str, count: int, rng: np.random.Generator,
                 size: tuple[int, int] | None, classes: int, shapes: Shapes) -> None:
    cv2 = opencv()
    (root / images_dir).mkdir(parents=True, exist_ok=True)
    (root / annotations_file).parent.mkdir(parents=True, exist_ok=True)
    names = sorted({f"{int(v):016x}" for v in rng.integers(0, 2**62, size=count)})
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, name in enumerate(names, 1):
        width, height = size or (int(rng.integers(128, 320)), int(rng.integers(128, 320)))
        pixels = np.full((height, width, 3), rng.integers(90, 160), dtype=np.uint8)
        pixels += rng.integers(0, 12, size=pixels.shape, dtype=np.uint8)
        for _ in range(int(rng.integers(shapes.objects[0], shapes.objects[1] + 1))):
            bbox, category = _draw(cv2, pixels, rng, shapes)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0})
        cv2.imwrite(str(root / images_dir / f"{name}.jpg"), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": f"{name}.jpg", "height": height, "width": width})
    document = {"info": {"dataset": "openimages_mlperf", "version": "podium-generated"}, "licenses": [],
                "categories": [{"id": i, "name": f"class {i}", "supercategory": None} for i in range(classes)],
                "images": images, "annotations": annotations}
    (root / annotations_file).write_text(json.dumps(document), encoding="utf-8")


def _draw(cv2: Any, pixels: np.ndarray, rng: np.random.Generator, shapes: Shapes) -> tuple[list[float], int]:
    """One filled shape of one of `shapes.kinds`, `shapes.extent` of the image a side: ([x, y, w, h], id)."""
    height, width = pixels.shape[:2]
    category, colour, shape = shapes.kinds[int(rng.integers(len(shapes.kinds)))]
    low, high = shapes.extent
    w = int(rng.integers(max(1, int(width * low)), max(2, int(width * high))))
    h = int(rng.integers(max(1, int(height * low)), max(2, int(height * high))))
    x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    if shape == "rectangle":
        cv2.rectangle(pixels, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
    else:
        cv2.ellipse(pixels, ((x + (w - 1) / 2, y + (h - 1) / 2), (w - 1, h - 1), 0), colour, thickness=-1)
    return [float(x), float(y), float(w), float(h)], category
