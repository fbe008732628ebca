"""`coco-300` and `coco-1200`: COCO 2017 validation in its official layout, preprocessed as MLPerf's SSD references.

The layout is the one the reference reads (vision/classification_and_detection/python/coco.py and
tools/accuracy-coco.py): `<root>/annotations/instances_val2017.json` (COCO instances format) and the images it
lists under `<root>/val2017/<file_name>`. Sample i is the i-th entry of the file's "images", which is how the
official accuracy script maps a LoadGen sample index back to an image; every listed image must exist (the
reference skips missing ones, which would silently shift every later index against the script).

Preprocessing is the reference's (python/dataset.py), with OpenCV as there: the image read as BGR, converted
to float32 RGB, resized to the square input with INTER_LINEAR (no aspect preservation, no crop); then
- `coco-300` (`pre_process_coco_mobilenet`, SSD-MobileNet): cast back to uint8 (truncating), NHWC (300, 300, 3);
- `coco-1200` (`pre_process_coco_resnet34`, SSD-ResNet34): / 255, minus the ImageNet means, over the standard
  deviations, NCHW (3, 1200, 1200) float32.
Each preprocessed image is cached as its own .npy, keyed by the image's path, size and mtime and the OpenCV
version. `labels()` is each image's ground truth, what `podium.metrics.coco_map` scores against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.images import CachedImages, opencv, read_bgr

ANNOTATIONS = "annotations/instances_val2017.json"
IMAGES = "val2017"
EXPECTED = (f"expected {{path}}/{ANNOTATIONS} (COCO instances format: images, annotations, categories) and the "
            f"images it lists under {{path}}/{IMAGES}/")
MEANS_RGB = (0.485, 0.456, 0.406)
STDS_RGB = (0.229, 0.224, 0.225)
IMAGE_FIELDS = ("id", "file_name", "width", "height")

# The 80 categories of COCO 2017 (id, name): ids run 1..90 with gaps, as in instances_val2017.json.
CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"), (47, "cup"),
    (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"), (54, "sandwich"),
    (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"), (60, "donut"), (61, "cake"),
    (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"),
    (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"), (77, "cell phone"),
    (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"), (82, "refrigerator"), (84, "book"),
    (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"))


def resized_rgb(bgr: np.ndarray, size: int) -> np.ndarray:
    """The reference's `maybe_resize`: float32 RGB, resized to size x size with INTER_LINEAR."""
    cv2 = opencv()
    image = np.array(bgr, dtype=np.float32)
    if image.ndim < 3 or image.shape[2] != 3:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)  # type: ignore[no-any-return]


def pre_process_coco_mobilenet(bgr: np.ndarray, size: int = 300) -> np.ndarray:
    """One BGR image -> uint8 (size, size, 3) RGB, as the reference's `pre_process_coco_mobilenet` (NHWC)."""
    return np.asarray(resized_rgb(bgr, size), dtype=np.uint8)


def pre_process_coco_resnet34(bgr: np.ndarray, size: int = 1200) -> np.ndarray:
    """One BGR image -> float32 (3, size, size), as the reference's `pre_process_coco_resnet34` (NCHW)."""
    image = resized_rgb(bgr, size) / 255.0 - np.asarray(MEANS_RGB, dtype=np.float32)
    image = image / np.asarray(STDS_RGB, dtype=np.float32)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def read_annotations(file: Path, expected: str) -> dict[str, Any]:
    """A parsed COCO-format annotations file (COCO's instances, MLPerf's OpenImages subset); a ConfigError naming
    the file (and line) when it is missing, not JSON or not in COCO format."""
    if not file.is_file():
        raise ConfigError(f"missing {file.parent.name}/{file.name}; {expected}", path=str(file))
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"not valid JSON ({e.msg}); {expected}", path=str(file), line=e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read ({e}); {expected}", path=str(file)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"not COCO format: holds no JSON object; {expected}", path=str(file))
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ConfigError(f"not COCO format: has no list {key!r}; {expected}", path=str(file), key=key)
    if not data["images"]:
        raise ConfigError(f"lists no images; {expected}", path=str(file), key="images")
    return data


def ground_truth(data: dict[str, Any], file: Path) -> np.ndarray:
    """One ground-truth dict per entry of "images", in file order (see podium.metrics.coco_map)."""
    category_ids = tuple(int(c["id"]) for c in data["categories"])
    truths: list[dict[str, Any]] = []
    by_id: dict[int, dict[str, Any]] = {}
    for n, image in enumerate(data["images"]):
        missing = [f for f in IMAGE_FIELDS if not isinstance(image, dict) or f not in image]
        if missing:
            raise ConfigError(f"images[{n}] has no {missing[0]!r}", path=str(file), key=f"images[{n}]")
        truth: dict[str, Any] = {"image_id": int(image["id"]), "file_name": str(image["file_name"]),
                                 "width": int(image["width"]), "height": int(image["height"]), "annotations": [],
                                 "category_ids": category_ids}
        truths.append(truth)
        by_id[int(image["id"])] = truth
    for n, a in enumerate(data["annotations"]):
        try:
            owner = by_id.get(int(a["image_id"]))
            if owner is not None:  # as the reference: annotations of unlisted images are ignored
                owner["annotations"].append({"id": int(a["id"]), "category_id": int(a["category_id"]),
                                             "bbox": [float(v) for v in a["bbox"]], "area": float(a["area"]),
                                             "iscrowd": int(a.get("iscrowd", 0))})
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"annotations[{n}] is no COCO box annotation ({type(e).__name__}: {e})",
                              path=str(file), key=f"annotations[{n}]") from None
    labels = np.empty(len(truths), dtype=object)
    labels[:] = truths
    return labels


class CocoDataset(CachedImages):
    """The images of instances_val2017.json, in its order; a subclass says the preprocessing."""

    expected_layout = EXPECTED
    image_size: ClassVar[int]

    def _open(self) -> int:
        assert self.path is not None
        self._check_opencv()
        file = self.path / ANNOTATIONS
        self._labels = ground_truth(read_annotations(file, self.expected(self.path)), file)
        return len(self._labels)

    @staticmethod
    def preprocess(bgr: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _image(self, index: int) -> tuple[Path, str]:
        assert self.path is not None
        return self.path / IMAGES / self._labels[index]["file_name"], f"images[{index}] of {ANNOTATIONS}"

    def _preprocess(self, image: Path) -> np.ndarray:
        return self.preprocess(read_bgr(image))

    def _all_labels(self) -> np.ndarray:
        return self._labels


class Coco300(CocoDataset):
    """COCO for SSD-MobileNet: uint8 NHWC 300x300 (the reference's dataset `coco-300`)."""

    layout = "coco-300"
    preprocessing_version = "coco-mobilenet-300-nhwc-uint8-v1"
    image_size = 300
    sample_shape = (300, 300, 3)
    sample_dtype = np.uint8

    @staticmethod
    def preprocess(bgr: np.ndarray) -> np.ndarray:
        return pre_process_coco_mobilenet(bgr, 300)


class Coco1200(CocoDataset):
    """COCO for SSD-ResNet34: float32 NCHW 1200x1200, ImageNet mean and std (the reference's `coco-1200`)."""

    layout = "coco-1200"
    preprocessing_version = "coco-resnet34-1200-nchw-v1"
    image_size = 1200
    sample_shape = (3, 1200, 1200)
    sample_dtype = np.float32

    @staticmethod
    def preprocess(bgr: np.ndarray) -> np.ndarray:
        return pre_process_coco_resnet34(bgr, 1200)


@DATASETS.register("coco-300")
def _coco_300() -> type[Coco300]:
    return Coco300


@DATASETS.register("coco-1200")
def _coco_1200() -> type[Coco1200]:
    return Coco1200


# Shapes `generate` draws: a few real COCO categories, each in its own colour (BGR).
DRAWN = ((1, (40, 40, 220)), (3, (220, 60, 40)), (18, (40, 200, 60)), (44, (200, 200, 40)), (62, (180, 40, 180)))


def generate(root: Path, count: int = 8, *, seed: int = 0, size: tuple[int, int] | None = None) -> Path:
    """Small data in the official layout at `root`: `count` JPEG images under val2017/ (of `size` (width,
    height), or of varied sizes), each with 1..4 filled rectangles and ellipses of a few COCO categories, and
    annotations/instances_val2017.json with their boxes (all 80 categories listed, ids as COCO's). For tests and
    the tiny suite; returns `root`."""
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    (root / IMAGES).mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    ids = sorted(int(i) for i in rng.choice(np.arange(1, 600_000), size=count, replace=False))
    for image_id in ids:
        width, height = size or (int(rng.integers(160, 480)), int(rng.integers(160, 480)))
        pixels = np.full((height, width, 3), rng.integers(90, 160), dtype=np.uint8)
        pixels += rng.integers(0, 12, size=pixels.shape, dtype=np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            annotations.append(draw_shape(cv2, pixels, rng, image_id, len(annotations) + 1))
        name = f"{image_id:012d}.jpg"
        cv2.imwrite(str(root / IMAGES / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": name, "width": width, "height": height,
                       "coco_url": f"http://images.cocodataset.org/{IMAGES}/{name}"})
    categories = [{"id": i, "name": n, "supercategory": n} for i, n in CATEGORIES]
    document = {"info": {"description": "podium generated COCO-format data"}, "images": images,
                "annotations": annotations, "categories": categories}
    (root / ANNOTATIONS).write_text(json.dumps(document), encoding="utf-8")
    return root


def draw_shape(cv2: Any, pixels: np.ndarray, rng: np.random.Generator, image_id: int, ann_id: int) -> dict[str, Any]:
    """Draw one filled rectangle or ellipse on `pixels` and return its COCO annotation (exact bounding box)."""
    height, width = pixels.shape[:2]
    category, colour = DRAWN[int(rng.integers(len(DRAWN)))]
    w, h = int(rng.integers(width // 8, width // 2)), int(rng.integers(height // 8, height // 2))
    x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    if rng.random() < 0.5:
        cv2.rectangle(pixels, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
        area = float(w * h)
    else:  # an ellipse filling the same box: pixel centres x..x+w-1, so semi-axes (w-1)/2, (h-1)/2
        cv2.ellipse(pixels, ((x + (w - 1) / 2, y + (h - 1) / 2), (w - 1, h - 1), 0), colour, thickness=-1)
        area = float(np.pi * w * h / 4)
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": [x, y, w, h], "area": area,
            "iscrowd": 0}
