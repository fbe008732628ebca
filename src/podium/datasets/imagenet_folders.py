"""`imagenet-folders`: ImageNet 2012 as the training references read it, one folder of JPEGs per class, with the
training augmentation and the evaluation preprocessing of MLPerf's ResNet-50 v1.5.

Layout (what the PyTorch references' `ImageFolder` reads, and what the ImageNet tarballs become after the usual
extraction and `valprep.sh`): `<root>/train/<wnid>/*.JPEG` (1,281,167 images of 1,000 classes) and
`<root>/val/<wnid>/*.JPEG` (50,000). Label i is the i-th training folder in sorted order; a validation folder must
name a training class. Listing the folders reads no image (training rules §Data set: counting is not touching).

Training samples (`TrainImages`), as the MLPerf ResNet-50 reference's `preprocess_for_train` does: a random crop
of the decoded image covering 5 % to 100 % of it (and at least 10 %: `min_object_covered` 0.1) with an aspect
ratio in [3/4, 4/3], up to 100 attempts and the whole image otherwise, resized to 224x224 (bilinear), flipped
left-right half the time, and the per-channel RGB means subtracted. Evaluation samples (`EvalImages`) are
preprocessed as the inference benchmark's are (`podium.datasets.imagenet.pre_process_vgg`: aspect-preserving
resize to 256, centre crop 224, means subtracted), so a trained model serves under `podium infer resnet50` as it
was scored. Samples are CHW float32, the layout torch trains in. Random draws use numpy's global generator, which
the training feed seeds in each worker process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets.images import opencv, read_bgr
from podium.datasets.imagenet import CHANNEL_MEANS_RGB, IMAGE_SIZE, pre_process_vgg

TRAIN_IMAGES, VAL_IMAGES, CLASSES = 1_281_167, 50_000, 1000
EXTENSIONS = (".jpeg", ".jpg", ".png")
LAYOUT = "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (ImageNet 2012 class folders)"
# preprocess_for_train's distorted bounding box (MLPerf ResNet-50 reference, imagenet_preprocessing.py).
AREA_RANGE = (0.05, 1.0)
MIN_OBJECT_COVERED = 0.1
ASPECT_RANGE = (0.75, 4.0 / 3.0)
CROP_ATTEMPTS = 100


@dataclass(frozen=True)
class FolderSplit:
    """One split's image files (relative to `root`) and their labels, in sorted class, then file, order."""

    root: Path
    files: tuple[str, ...]
    labels: np.ndarray   # int64

    def __len__(self) -> int:
        return len(self.files)


def list_split(root: Path, classes: tuple[str, ...] | None = None) -> tuple[FolderSplit, tuple[str, ...]]:
    """The split at `root` (one folder per class) and its classes; `classes` (the training split's) when given
    fixes the labels, and a folder outside it is refused."""
    if not root.is_dir():
        raise ConfigError(f"missing folder; expected {LAYOUT}", path=str(root))
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not folders:
        raise ConfigError(f"has no class folders; expected {LAYOUT}", path=str(root))
    known = tuple(folders) if classes is None else classes
    index = {name: i for i, name in enumerate(known)}
    files: list[str] = []
    labels: list[int] = []
    for name in folders:
        if name not in index:
            raise ConfigError("is a class the training split does not have", path=str(root / name))
        images = sorted(p.name for p in (root / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        files += [f"{name}/{image}" for image in images]
        labels += [index[name]] * len(images)
    if not files:
        raise ConfigError(f"has no images (*.JPEG); expected {LAYOUT}", path=str(root))
    return FolderSplit(root, tuple(files), np.asarray(labels, dtype=np.int64)), known


def open_folders(root: Path) -> tuple[FolderSplit, FolderSplit]:
    """(train, val) of an ImageNet-folders tree; a ConfigError naming the path and the layout when it is not one."""
    train, classes = list_split(root / "train")
    val, _ = list_split(root / "val", classes)
    return train, val


def class_count(split: FolderSplit) -> int:
    return int(split.labels.max()) + 1


def distorted_crop(height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) as `preprocess_for_train` samples its distorted bounding box."""
    area = height * width
    for _ in range(CROP_ATTEMPTS):
        target = area * rng.uniform(*AREA_RANGE)
        ratio = rng.uniform(*ASPECT_RANGE)
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < h <= height and 0 < w <= width and h * w >= MIN_OBJECT_COVERED * area:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    return 0, 0, height, width


class TrainImages:
    """A map-style dataset of augmented training samples: (CHW float32 `size` pixels a side, int64 label)."""

    def __init__(self, split: FolderSplit, size: int = IMAGE_SIZE) -> None:
        self.split, self.size = split, size
        self.means = np.asarray(CHANNEL_MEANS_RGB, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        cv2 = opencv()
        rng = np.random.default_rng(np.random.randint(2**31))   # from the worker's seeded global generator
        image = cv2.cvtColor(read_bgr(self.split.root / self.split.files[index]), cv2.COLOR_BGR2RGB)
        top, left, h, w = distorted_crop(image.shape[0], image.shape[1], rng)
        crop = cv2.resize(image[top:top + h, left:left + w], (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        pixels = crop.astype(np.float32) - self.means
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)), self.split.labels[index]


class EvalImages:
    """A map-style dataset of evaluation samples, preprocessed as the inference benchmark's images."""

    def __init__(self, split: FolderSplit, size: int = IMAGE_SIZE) -> None:
        self.split, self.size = split, size

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        pixels = pre_process_vgg(read_bgr(self.split.root / self.split.files[index]), self.size)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)), self.split.labels[index]


def generate(root: Path, *, classes: int = 10, train_per_class: int = 32, val_per_class: int = 8,
             label_noise: float = 0.1, seed: int = 0) -> Path:
    """Small data in the layout at `root`: JPEGs of 48 to 160 pixels a side whose class is their dominant hue
    (hue k x 180 / classes, with pixel noise and grey distractor boxes), under folders named like wnids. A share
    `label_noise` of the validation images shows another class's hue, so the best achievable top-1 is known:
    1 - round(label_noise x val images) / val images (< 1, as the ResNet rule file demands of a logged accuracy).
    For tests and trying the workload; returns `root`."""
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    wnids = [f"n{k:08d}" for k in range(classes)]
    val_total = classes * val_per_class
    wrong = set(rng.choice(val_total, size=round(label_noise * val_total), replace=False).tolist())
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for k, wnid in enumerate(wnids):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                shown = k
                if split == "val" and k * per_class + i in wrong:
                    shown = int((k + rng.integers(1, classes)) % classes)
                path = folder / f"{wnid}_{i:05d}.JPEG"
                if not cv2.imwrite(str(path), _picture(rng, shown, classes), [cv2.IMWRITE_JPEG_QUALITY, 90]):
                    raise ConfigError("cannot write image", path=str(path))
    return root


def _picture(rng: np.random.Generator, shown: int, classes: int) -> np.ndarray:
    """A BGR image of class `shown`'s hue with noise and two grey boxes."""
    cv2 = opencv()
    height, width = (int(v) for v in rng.integers(48, 161, size=2))
    hsv = np.empty((height, width, 3), dtype=np.uint8)
    hsv[..., 0] = (shown * 180 // classes + rng.integers(-3, 4, size=(height, width))) % 180
    hsv[..., 1] = rng.integers(150, 256, size=(height, width))
    hsv[..., 2] = rng.integers(120, 256, size=(height, width))
    image: np.ndarray = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    for _ in range(2):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        grey = int(rng.integers(0, 256))
        cv2.rectangle(image, (x, y), (x + width // 4, y + height // 4), (grey, grey, grey), -1)
    return image
