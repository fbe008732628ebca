"""COCO 2017 instances with segmentations, as MLPerf Training's Mask R-CNN reads them: the layout, the reference's
training and evaluation preprocessing, and a generator of small data in that layout.

The layout is the reference's (mlcommons/training retired_benchmarks/maskrcnn/pytorch, maskrcnn_benchmark/config/
paths_catalog.py `coco_2017_train` / `coco_2017_val`), under one root (the reference's `datasets/coco`):
`annotations/instances_train2017.json` with the images under `train2017/`, `annotations/instances_val2017.json` with
`val2017/`. As the reference's COCODataset (data/datasets/coco.py): images in ascending id order; in training,
images without a usable annotation are dropped (none, or every box 1 pixel wide or high or less); crowd annotations
are not trained on; categories are numbered 1..80 in the file's order of ids (0 is the background); boxes go from
[x, y, w, h] to inclusive corners (x2 = x + w - 1) and are clipped to the image, empty ones dropped.

Preprocessing (data/transforms): the image (PIL, RGB, as torchvision's loader) is resized so that its shorter
side is `min_size` unless the longer would pass `max_size` (Resize.get_size), bilinear as torchvision's
F.resize on a PIL image; in training it is flipped left-right with probability 0.5 (numpy's global generator:
the feed seeds it per worker); then BGR in 0..255 minus the pixel means, over the standard deviations (ToTensor +
Normalize with to_bgr255; the reference's deviations are 1).
Boxes and polygons follow: scaled by the resize ratios, flipped as x -> width - x - 1 (the reference's
BoxList.transpose and Polygons.transpose). Segmentations are polygons (the reference's); an RLE segmentation of
a non-crowd instance is decoded to a bitmask and resized with the image (training rules §Data Representation
allow a polygon or a scalable bitmask). Nothing here imports torch: samples are numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError

SPLITS = {"train": ("annotations/instances_train2017.json", "train2017"),
          "val": ("annotations/instances_val2017.json", "val2017")}
LAYOUT = ("COCO 2017 with instance segmentations: annotations/instances_train2017.json and train2017/, "
          "annotations/instances_val2017.json and val2017/ under one root (the reference's datasets/coco)")
PIXEL_MEAN_BGR = (102.9801, 115.9465, 122.7717)  # INPUT.PIXEL_MEAN of the reference (std 1)


def expected(root: Path) -> str:
    return f"expected {LAYOUT}; {root} is not such a folder"


def check_layout(root: Path) -> None:
    """A ConfigError naming `root` and the layout unless both annotation files and image folders are there."""
    for file, images in SPLITS.values():
        if not (root / file).is_file():
            raise ConfigError(f"missing {file}; {expected(root)}", path=str(root / file))
        if not (root / images).is_dir():
            raise ConfigError(f"missing {images}/; {expected(root)}", path=str(root / images))


def read_instances(root: Path, split: str) -> dict[str, Any]:
    """The parsed annotation file of `split`, checked to be COCO instances; a ConfigError naming it otherwise."""
    file = root / SPLITS[split][0]
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read COCO instances ({e}); {expected(root)}", path=str(file)) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in
                                             ("images", "annotations", "categories")):
        raise ConfigError(f"not COCO instances (images, annotations, categories); {expected(root)}", path=str(file))
    return data


@dataclass
class Instances:
    """One split's images in id order, each with its annotations; category ids and their contiguous numbers."""

    root: Path
    split: str
    images: list[dict[str, Any]]
    annotations: dict[int, list[dict[str, Any]]]
    category_ids: tuple[int, ...]
    contiguous: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.contiguous = {c: i + 1 for i, c in enumerate(self.category_ids)}

    @classmethod
    def open(cls, root: Path, split: str) -> Instances:
        """Read `root`'s `split` (train: images without a usable annotation dropped, as the reference)."""
        check_layout(root)
        data = read_instances(root, split)
        by_image: dict[int, list[dict[str, Any]]] = {}
        for a in data["annotations"]:
            by_image.setdefault(int(a["image_id"]), []).append(a)
        images = sorted(data["images"], key=lambda i: int(i["id"]))
        if split == "train":
            images = [i for i in images if usable(by_image.get(int(i["id"]), []))]
        if not images:
            raise ConfigError(f"{SPLITS[split][0]} lists no usable image; {expected(root)}", path=str(root))
        category_ids = tuple(sorted(int(c["id"]) for c in data["categories"]))
        return cls(root, split, images, by_image, category_ids)

    def image_path(self, index: int) -> Path:
        return self.root / SPLITS[self.split][1] / str(self.images[index]["file_name"])

    def truth(self, index: int) -> dict[str, Any]:
        """Image `index`'s ground truth as `podium.metrics` scores it (image id, size, COCO annotations)."""
        image = self.images[index]
        return {"image_id": int(image["id"]), "width": int(image["width"]), "height": int(image["height"]),
                "annotations": self.annotations.get(int(image["id"]), []), "category_ids": self.category_ids}


def usable(annotations: list[dict[str, Any]]) -> bool:
    """The reference's has_valid_annotation (no keypoints): some annotation whose box is over 1 pixel each way."""
    return bool(annotations) and not all(any(v <= 1 for v in a["bbox"][2:]) for a in annotations)


def resized_size(width: int, height: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(width, height) after the reference's Resize.get_size: the shorter side to `min_size`, unless the longer
    would then pass `max_size` (the shorter side is then rounded down from max_size's)."""
    size = float(min_size)
    short, long = float(min(width, height)), float(max(width, height))
    if long / short * size > max_size:
        size = float(int(round(max_size * short / long)))
    if (width <= height and width == size) or (height <= width and height == size):
        return width, height
    if width < height:
        return int(size), int(size * height / width)
    return int(size * width / height), int(size)


class MaskInstances:
    """A map-style dataset of one split, preprocessed as the reference: sample i is (image (3, H, W) float32 BGR,
    normalized, target). The target holds "boxes" (G, 4) float32 inclusive corners, "labels" (G,) int64
    1..80, "masks" (per instance: a list of float64 polygons or a uint8 bitmask), "size" (H, W) after resizing,
    "index" i. `train` flips at random."""

    def __init__(self, instances: Instances, min_size: int, max_size: int, train: bool,
                 mean_bgr: tuple[float, float, float] = PIXEL_MEAN_BGR,
                 std: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        self.instances, self.min_size, self.max_size, self.train = instances, min_size, max_size, train
        self.mean, self.std = np.asarray(mean_bgr, dtype=np.float32), np.asarray(std, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.instances.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        from PIL import Image

        info = self.instances.images[index]
        with Image.open(self.instances.image_path(index)) as opened:
            rgb = opened.convert("RGB")
        width, height = rgb.size
        new_w, new_h = resized_size(width, height, self.min_size, self.max_size)
        if (new_w, new_h) != (width, height):
            rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
        flip = self.train and np.random.random() < 0.5
        pixels = np.asarray(rgb, dtype=np.float32)[:, ::-1 if flip else 1, ::-1]   # BGR
        image = np.ascontiguousarray(((pixels - self.mean) / self.std).transpose(2, 0, 1))
        kept = [a for a in self.instances.annotations.get(int(info["id"]), []) if not a.get("iscrowd", 0)]
        target = self._target(kept, (width, height), (new_w, new_h), flip)
        target["index"] = index
        return image, target

    def _target(self, annotations: list[dict[str, Any]], size: tuple[int, int], new: tuple[int, int],
                flip: bool) -> dict[str, Any]:
        (width, height), (new_w, new_h) = size, new
        boxes = np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] = boxes[:, :2] + np.maximum(boxes[:, 2:] - 1, 0)   # xywh -> inclusive x1 y1 x2 y2
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width - 1)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height - 1)
        kept = (boxes[:, 3] > boxes[:, 1]) & (boxes[:, 2] > boxes[:, 0])   # clip_to_image(remove_empty=True)
        ratio_w, ratio_h = new_w / width, new_h / height
        boxes = boxes[kept] * np.array([ratio_w, ratio_h, ratio_w, ratio_h])
        masks = [scaled_mask(a["segmentation"], (width, height), (new_w, new_h))
                 for a, k in zip(annotations, kept) if k]
        if flip:
            boxes = np.stack([new_w - boxes[:, 2] - 1, boxes[:, 1], new_w - boxes[:, 0] - 1, boxes[:, 3]], axis=1)
            masks = [flipped_mask(m, new_w) for m in masks]
        labels = [self.instances.contiguous[int(a["category_id"])] for a, k in zip(annotations, kept) if k]
        return {"boxes": boxes.astype(np.float32).reshape(-1, 4), "labels": np.asarray(labels, dtype=np.int64),
                "masks": masks, "size": (new_h, new_w)}


def scaled_mask(segmentation: Any, size: tuple[int, int], new: tuple[int, int]) -> Any:
    """Polygons scaled by the resize ratios (Polygons.resize), or an RLE decoded and resized (nearest)."""
    (width, height), (new_w, new_h) = size, new
    if isinstance(segmentation, list):
        out = []
        for polygon in segmentation:
            p = np.asarray(polygon, dtype=np.float64).copy()
            p[0::2] *= new_w / width
            p[1::2] *= new_h / height
            out.append(p)
        return out
    import pycocotools.mask as mask_util  # type: ignore[import-untyped]

    rle = mask_util.frPyObjects(segmentation, height, width) if isinstance(segmentation.get("counts"), list) \
        else segmentation
    bitmask = np.asarray(mask_util.decode(rle), dtype=np.uint8)
    ys = np.minimum((np.arange(new_h) * height / new_h).astype(np.int64), height - 1)
    xs = np.minimum((np.arange(new_w) * width / new_w).astype(np.int64), width - 1)
    return bitmask[np.ix_(ys, xs)]


def flipped_mask(mask: Any, width: int) -> Any:
    if isinstance(mask, np.ndarray):
        return np.ascontiguousarray(mask[:, ::-1])
    out = []
    for polygon in mask:
        p = polygon.copy()
        p[0::2] = width - p[0::2] - 1
        out.append(p)
    return out


# Shapes `generate` draws: a few real COCO categories, each its own kind of shape and colour (BGR), so that a
# small network learns them quickly.
SHAPES = ((1, "rectangle", (40, 40, 220)), (3, "ellipse", (220, 60, 40)), (18, "triangle", (40, 200, 60)))
ELLIPSE_POINTS = 24


def generate(root: Path, train: int = 64, val: int = 16, *, seed: int = 0, size: tuple[int, int] = (160, 128),
             shapes: int = 2) -> Path:
    """Small data in the layout at `root`: `train` and `val` JPEG images of `size` (width, height), each with 1 to
    `shapes` filled shapes apart from one another (rectangles, ellipses, triangles of three COCO categories), and
    both instances files with their polygon segmentations, boxes and areas (all 80 categories listed, ids as
    COCO's). For tests and small runs; returns `root`."""
    import cv2

    from podium.datasets.coco import CATEGORIES

    rng = np.random.default_rng(seed)
    next_id = 1
    for split, count in (("train", train), ("val", val)):
        annotations_file, folder = SPLITS[split]
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / annotations_file).parent.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for n in range(count):
            image_id = 1 + n + (0 if split == "train" else 500_000)
            pixels, drawn = draw_image(cv2, rng, size, shapes)
            name = f"{image_id:012d}.jpg"
            cv2.imwrite(str(root / folder / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
            for category, polygon in drawn:
                annotations.append(polygon_annotation(next_id, image_id, category, polygon, size))
                next_id += 1
        categories = [{"id": i, "name": c, "supercategory": c} for i, c in CATEGORIES]
        document = {"info": {"description": "podium generated COCO instances"}, "images": images,
                    "annotations": annotations, "categories": categories}
        (root / annotations_file).write_text(json.dumps(document), encoding="utf-8")
    return root


def draw_image(cv2: Any, rng: np.random.Generator, size: tuple[int, int], shapes: int
               ) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """One image on a plain background and its shapes' (category id, polygon), shapes not overlapping."""
    width, height = size
    pixels = np.full((height, width, 3), int(rng.integers(100, 150)), dtype=np.uint8)
    placed: list[tuple[float, float, float, float]] = []
    drawn = []
    for _ in range(int(rng.integers(1, shapes + 1))):
        for _attempt in range(20):
            w, h = (float(rng.uniform(0.3, 0.6)) * s for s in (width, height))
            x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            if all(x + w < a or a + c < x or y + h < b or b + d < y for a, b, c, d in placed):
                break
        else:
            continue
        placed.append((x, y, w, h))
        category, kind, colour = SHAPES[int(rng.integers(len(SHAPES)))]
        polygon = shape_polygon(kind, x, y, w, h)
        cv2.fillPoly(pixels, [np.round(polygon.reshape(-1, 2)).astype(np.int32)], colour)
        drawn.append((category, polygon))
    return pixels, drawn


def shape_polygon(kind: str, x: float, y: float, w: float, h: float) -> np.ndarray:
    """The flat [x0, y0, x1, y1, ...] polygon of a shape filling the box (x, y, w, h)."""
    if kind == "rectangle":
        points = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    elif kind == "triangle":
        points = [(x + w / 2, y), (x + w, y + h), (x, y + h)]
    else:
        angles = np.linspace(0, 2 * np.pi, ELLIPSE_POINTS, endpoint=False)
        points = list(zip(x + w / 2 * (1 + np.cos(angles)), y + h / 2 * (1 + np.sin(angles))))
    return np.round(np.asarray(points, dtype=np.float64).reshape(-1), 2)


def polygon_annotation(ann_id: int, image_id: int, category: int, polygon: np.ndarray, size: tuple[int, int]
                       ) -> dict[str, Any]:
    """A COCO instance annotation of one polygon: its box and area as pycocotools computes them."""
    import pycocotools.mask as mask_util

    rle = mask_util.frPyObjects([polygon.tolist()], size[1], size[0])
    xs, ys = polygon[0::2], polygon[1::2]
    return {"id": ann_id, "image_id": image_id, "category_id": category, "iscrowd": 0,
            "segmentation": [polygon.tolist()], "area": float(mask_util.area(mask_util.merge(rle))),
            "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())]}
