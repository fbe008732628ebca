"""`imagenet` and `imagenet-mobilenet`: ImageNet 2012 validation images listed in `val_map.txt`, preprocessed as
MLPerf's classification reference does for ResNet-50 and for MobileNet.

Both follow vision/classification_and_detection/python/dataset.py, with OpenCV as there: the image is decoded with
`cv2.imread` (BGR, greyscale expanded to three channels) and turned to RGB; resized, keeping its aspect ratio, so
that its shorter side is 224 / 87.5 % = 256 (`resize_with_aspectratio`: the longer side truncated to an integer);
centre-cropped to 224x224; then
- `imagenet` (`pre_process_vgg`, ResNet-50): resized with INTER_AREA; the per-channel means 123.68, 116.78,
  103.94 subtracted;
- `imagenet-mobilenet` (`pre_process_mobilenet`): resized with INTER_LINEAR; scaled to [-1, 1] (x / 255 - 0.5) * 2.
The tensor layout is an option of the dataset (`layout="NCHW"` or `"NHWC"`). The default is NCHW for both: the
reference's ONNX graphs were converted with tf2onnx's `--inputs-as-nchw` (tools/convert-to-onnx.sh) and its ONNX
Runtime backend always asks for NCHW (backend_onnxruntime.py `image_format`); the TensorFlow graphs take NHWC.

Images are preprocessed when loaded, a few at a time, never the whole list up front (the reference's `Imagenet`
preprocesses all 50,000 in its constructor, reference/inference_suite.md §2.1). Each preprocessed image is cached
as its own .npy, under a folder named by the preprocessing version and layout and keyed by the image's path, size
and mtime and the OpenCV version, so that LoadGen's random performance set touches only the images it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.cache import dataset_cache_dir
from podium.datasets.images import CachedImages, opencv, read_bgr

IMAGE_SIZE = 224
RESIZE_SCALE_PERCENT = 87.5  # the shorter side is resized to IMAGE_SIZE * 100 / 87.5 = 256 before the crop
CHANNEL_MEANS_RGB = (123.68, 116.78, 103.94)  # pre_process_vgg
LAYOUTS = ("NCHW", "NHWC")
# Bump when the preprocessing changes: it names the cache directory, so old entries are never read.
# v1: Pillow BOX resize. v2: OpenCV, as the reference.
PREPROCESSING_VERSION = "cv2-v2"
VAL_MAP = "val_map.txt"

PreProcess = Callable[[np.ndarray], np.ndarray]


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


def resize_with_aspect_ratio(image: np.ndarray, interpolation: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """HWC image -> its shorter side 256 (`size` / 87.5 %), the longer one scaled in proportion and truncated (the
    reference's `resize_with_aspectratio` with scale 87.5)."""
    height, width = image.shape[:2]
    short = int(100.0 * size / RESIZE_SCALE_PERCENT)
    if height > width:
        size_wh = (short, int(short * height / width))
    else:
        size_wh = (int(short * width / height), short)
    resized: np.ndarray = opencv().resize(image, size_wh, interpolation=interpolation)
    return resized


def centre_crop(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """The middle `size` x `size` of an HWC image (the reference's `center_crop`: offsets truncated)."""
    height, width = image.shape[:2]
    top, left = int((height - size) / 2), int((width - size) / 2)
    return image[top:top + size, left:left + size]


def resized_rgb_crop(image_bgr: np.ndarray, interpolation: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded BGR image -> the float32 RGB `size` x `size` centre crop after the aspect-preserving resize."""
    rgb = opencv().cvtColor(image_bgr, opencv().COLOR_BGR2RGB)
    return np.asarray(centre_crop(resize_with_aspect_ratio(rgb, interpolation, size), size), dtype=np.float32)


def pre_process_vgg(image_bgr: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """ResNet-50's preprocessing (the reference's `pre_process_vgg`): INTER_AREA resize, crop, means subtracted.
    Returns float32 HWC RGB, `size` pixels a side (224; the tiny training tests use less)."""
    pixels = resized_rgb_crop(image_bgr, opencv().INTER_AREA, size)
    pixels -= np.asarray(CHANNEL_MEANS_RGB, dtype=np.float32)
    return pixels


def pre_process_mobilenet(image_bgr: np.ndarray) -> np.ndarray:
    """MobileNet's preprocessing (the reference's `pre_process_mobilenet`): INTER_LINEAR resize, crop, scaled to
    [-1, 1]. Returns float32 HWC RGB."""
    pixels = resized_rgb_crop(image_bgr, opencv().INTER_LINEAR)
    pixels /= 255.0
    pixels -= 0.5
    pixels *= 2
    return pixels


PRE_PROCESS: dict[str, PreProcess] = {"vgg": pre_process_vgg, "mobilenet": pre_process_mobilenet}


def to_layout(pixels_hwc: np.ndarray, layout: str) -> np.ndarray:
    """A preprocessed HWC image in `layout` (NCHW: channels first), contiguous."""
    return np.ascontiguousarray(pixels_hwc.transpose(2, 0, 1) if layout == "NCHW" else pixels_hwc)


class ImagenetDataset(CachedImages):
    """The images of `val_map.txt`, in its order (qsl index i is its i-th non-blank line), preprocessed for
    ResNet-50 (`pre_process_vgg`); `layout` is the tensor layout of a sample, NCHW or NHWC."""

    layout = "imagenet"
    preprocessing_version = PREPROCESSING_VERSION
    expected_layout = f"expected {{path}}/{VAL_MAP} with lines '<image file> <label>' and the image files beside it"
    preprocessing: ClassVar[str] = "vgg"  # a key of PRE_PROCESS

    def __init__(self, path: Path | str | None = None, *, layout: str = "NCHW", **options: Any) -> None:
        if layout not in LAYOUTS:
            raise ConfigError(f"dataset {self.layout!r}: layout must be one of {', '.join(LAYOUTS)}, "
                              f"got {layout!r}", key="layout")
        self.tensor_layout = layout
        self.sample_shape = (3, IMAGE_SIZE, IMAGE_SIZE) if layout == "NCHW" else (IMAGE_SIZE, IMAGE_SIZE, 3)
        super().__init__(path, **options)

    def _open(self) -> int:
        assert self.path is not None
        self._check_opencv()
        self._files, self._labels = parse_val_map(self.path / VAL_MAP, self.expected(self.path))
        return len(self._files)

    @property
    def cache_path(self) -> Path:
        version = f"{self.preprocessing_version}-{self.preprocessing}-{self.tensor_layout.lower()}"
        return dataset_cache_dir(self.cache_root, self.layout, version)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "preprocessing": self.preprocessing, "tensor_layout": self.tensor_layout}

    def _image(self, index: int) -> tuple[Path, str]:
        assert self.path is not None
        name, line = self._files[index]
        return self.path / name, f"listed on line {line} of {VAL_MAP}"

    def _preprocess(self, image: Path) -> np.ndarray:
        return to_layout(PRE_PROCESS[self.preprocessing](read_bgr(image)), self.tensor_layout)

    def _all_labels(self) -> np.ndarray:
        return self._labels


class ImagenetMobilenetDataset(ImagenetDataset):
    """As `ImagenetDataset`, preprocessed for MobileNet (`pre_process_mobilenet`)."""

    layout = "imagenet-mobilenet"
    preprocessing = "mobilenet"


@DATASETS.register("imagenet")
def _imagenet() -> type[ImagenetDataset]:
    return ImagenetDataset


@DATASETS.register("imagenet-mobilenet")
def _imagenet_mobilenet() -> type[ImagenetMobilenetDataset]:
    return ImagenetMobilenetDataset


def generate(root: Path, count: int = 8, *, classes: int = 1000, seed: int = 0) -> Path:
    """Small data in the official layout at `root`: `count` random JPEG images named as ImageNet 2012's
    validation images (ILSVRC2012_val_00000001.JPEG, ...), of varied sizes and orientations, and their
    `val_map.txt` (labels drawn from 0..classes-1). For tests and the tiny suite; returns `root`."""
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(1, count + 1):
        height, width = (int(v) for v in rng.integers(64, 400, size=2))
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        if not cv2.imwrite(str(root / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise ConfigError("cannot write image", path=str(root / name))
        lines.append(f"{name} {int(rng.integers(0, classes))}\n")
    (root / VAL_MAP).write_text("".join(lines), encoding="utf-8")
    return root
