"""COCO 2017 for training detectors, in the layout MLPerf's SSD reference reads; and what the training loaders of
COCO-format layouts share (`DetectionSplit`); a generator of small data in that layout.

The layout (mlcommons/training single_stage_detector/ssd/train.py, v1.x: `--data` holds both splits):

    <root>/annotations/instances_train2017.json   COCO instances format
    <root>/train2017/<file_name>                   the training images it lists
    <root>/annotations/instances_val2017.json
    <root>/val2017/<file_name>                     the validation images (the layout `podium.datasets.coco` reads)

As the reference's `COCODetection` (utils.py): the training split keeps only the images with at least one
annotation (117,266 of train2017's 118,287), crowd boxes included; the validation split keeps every listed image,
scored by pycocotools. A split is opened by parsing its annotation file (listing, not reading samples: training
rules §Data set); images are decoded when a sample is asked for, in the training feed's worker processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets.coco import CATEGORIES, DRAWN, ground_truth, read_annotations
from podium.datasets.images import opencv, read_bgr

TRAIN_ANNOTATIONS = "annotations/instances_train2017.json"
TRAIN_IMAGES = "train2017"
VAL_ANNOTATIONS = "annotations/instances_val2017.json"
VAL_IMAGES = "val2017"
LAYOUT = (f"{TRAIN_ANNOTATIONS} and {VAL_ANNOTATIONS} (COCO instances format) with the images they list under "
          f"{TRAIN_IMAGES}/ and {VAL_IMAGES}/ (COCO 2017, as MLPerf's SSD reference reads it)")


@dataclass(frozen=True)
class DetectionSplit:
    """One split of a COCO-format detection layout: its images folder and, per kept image, its ground truth as
    `podium.datasets.coco.ground_truth` gives it (what the `coco-map` metric scores)."""

    images: Path
    annotations: Path
    labels: np.ndarray            # object array of ground-truth dicts, in the file's order
    category_ids: tuple[int, ...]  # the file's categories, in its order

    def __len__(self) -> int:
        return len(self.labels)

    def image_path(self, index: int) -> Path:
        return self.images / str(self.labels[index]["file_name"])

    def read_rgb(self, index: int) -> np.ndarray:
        """Image `index` decoded as the references decode it (three channels), as RGB uint8 (H, W, 3)."""
        path = self.image_path(index)
        if not path.is_file():
            raise ConfigError(f"image {index} of {self.annotations.name} does not exist", path=str(path))
        bgr = read_bgr(path)
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (n, 4) float32 [x1, y1, x2, y2] in pixels, category ids (n,) int64) of image `index`."""
        found = self.labels[index]["annotations"]
        xywh = np.asarray([a["bbox"] for a in found], dtype=np.float32).reshape(-1, 4)
        corners = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return corners, np.asarray([a["category_id"] for a in found], dtype=np.int64)


def open_split(root: Path, annotations: str, images: str, *, keep_empty: bool, layout: str = LAYOUT
               ) -> DetectionSplit:
    """A split of a COCO-format layout under `root`; a ConfigError naming the path and `layout` (the sentence
    describing the whole layout) when it is not there. `keep_empty` False drops the images without annotations
    (the references' training splits)."""
    folder = root / images
    if not folder.is_dir():
        raise ConfigError(f"missing the images folder {images}/; expected {layout}", path=str(folder))
    file = root / annotations
    data = read_annotations(file, f"expected {layout}")
    labels = ground_truth(data, file)
    if not keep_empty:
        kept = [t for t in labels if t["annotations"]]
        labels = np.empty(len(kept), dtype=object)
        labels[:] = kept
    if not len(labels):
        raise ConfigError(f"lists no image with annotations; expected {layout}", path=str(file))
    return DetectionSplit(folder, file, labels, tuple(int(c["id"]) for c in data["categories"]))


def open_coco(root: Path) -> tuple[DetectionSplit, DetectionSplit]:
    """(train, val) of COCO 2017 as the SSD reference reads them."""
    return (open_split(root, TRAIN_ANNOTATIONS, TRAIN_IMAGES, keep_empty=False),
            open_split(root, VAL_ANNOTATIONS, VAL_IMAGES, keep_empty=True))


def generate(root: Path, train: int = 32, val: int = 8, *, seed: int = 0, size: tuple[int, int] | None = None,
             drawn: int = len(DRAWN), objects: tuple[int, int] = (1, 4), extent: tuple[float, float] = (0.125, 0.5),
             every_category: bool = True) -> Path:
    """Small data in the layout at `root`: `train` and `val` JPEG images of `size` (width, height) or of varied
    sizes, each with `objects` (least, most) filled rectangles and ellipses, `extent` (least, most) of the image a
    side, of the first `drawn` categories of `podium.datasets.coco.DRAWN`, each in its own colour; and their
    annotations files, listing all 80 COCO categories (`every_category`) or only the drawn ones. Returns `root`."""
    if not 1 <= drawn <= len(DRAWN):
        raise ValueError(f"drawn must be 1..{len(DRAWN)}, got {drawn}")
    kinds = DRAWN[:drawn]
    listed = CATEGORIES if every_category else tuple(c for c in CATEGORIES if c[0] in dict(kinds))
    categories = [{"id": i, "name": n, "supercategory": n} for i, n in listed]
    rng = np.random.default_rng(seed)
    shapes = Shapes(kinds, objects, extent)
    for count, folder, file in ((train, TRAIN_IMAGES, TRAIN_ANNOTATIONS), (val, VAL_IMAGES, VAL_ANNOTATIONS)):
        _write_split(root / folder, root / file, count, rng, size, shapes, categories)
    return root


@dataclass(frozen=True)
class Shapes:
    """What `generate` draws on an image: shapes of `kinds` ((category id, BGR colour) of `DRAWN`), `objects`
    (least, most) of them, `extent` (least, most) of the image a side."""

    kinds: tuple[tuple[int, tuple[int, int, int]], ...]
    objects: tuple[int, int]
    extent: tuple[float, float]


def _write_split(folder: Path, file: Path, count: int, rng: np.random.Generator, size: tuple[int, int] | None,
                 shapes: Shapes, categories: list[dict[str, Any]]) -> None:
    cv2 = opencv()
    folder.mkdir(parents=True, exist_ok=True)
    file.parent.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id in range(1, count + 1):
        width, height = size or (int(rng.integers(160, 480)), int(rng.integers(160, 480)))
        pixels = np.full((height, width, 3), rng.integers(90, 160), dtype=np.uint8)
        pixels += rng.integers(0, 12, size=pixels.shape, dtype=np.uint8)
        for _ in range(int(rng.integers(shapes.objects[0], shapes.objects[1] + 1))):
            annotations.append(_draw(cv2, pixels, rng, shapes, image_id, len(annotations) + 1))
        name = f"{image_id:012d}.jpg"
        cv2.imwrite(str(folder / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
    document = {"info": {"description": "podium generated COCO-format data"}, "images": images,
                "annotations": annotations, "categories": categories}
    file.write_text(json.dumps(document), encoding="utf-8")


def _draw(cv2: Any, pixels: np.ndarray, rng: np.random.Generator, shapes: Shapes, image_id: int, ann_id: int
          ) -> dict[str, Any]:
    """One filled rectangle or ellipse of one of `shapes.kinds`; its COCO annotation (exact bounding box)."""
    height, width = pixels.shape[:2]
    category, colour = shapes.kinds[int(rng.integers(len(shapes.kinds)))]
    low, high = shapes.extent
    w = int(rng.integers(max(1, int(width * low)), max(2, int(width * high))))
    h = int(rng.integers(max(1, int(height * low)), max(2, int(height * high))))
    x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    if rng.random() < 0.5:
        cv2.rectangle(pixels, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
        area = float(w * h)
    else:  # an ellipse filling the same box (as `podium.datasets.coco.draw_shape`)
        cv2.ellipse(pixels, ((x + (w - 1) / 2, y + (h - 1) / 2), (w - 1, h - 1), 0), colour, thickness=-1)
        area = float(np.pi * w * h / 4)
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": [x, y, w, h], "area": area,
            "iscrowd": 0}


DRAWN_CATEGORIES = tuple(c for c, _ in DRAWN)  # the categories `generate` draws
