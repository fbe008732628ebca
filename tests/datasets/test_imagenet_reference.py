"""The `imagenet` datasets against a straightforward re-implementation of the MLPerf reference's steps
(vision/classification_and_detection/python: imagenet.py reads with `cv2.imread`; dataset.py's `pre_process_vgg`
and `pre_process_mobilenet`), computed here independently of Podium's code path, on images of awkward sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.datasets import DATASETS
from podium.datasets.imagenet import generate

cv2 = pytest.importorskip("cv2")

# (width, height): landscape, portrait with odd sides, smaller than 256 (enlarged), square, long and thin
SIZES = [(500, 375), (333, 499), (150, 97), (256, 256), (1001, 257)]


def reference_preprocess(path: Path, kind: str, nchw: bool) -> np.ndarray:
    """The reference's steps, one after the other, as its scripts write them."""
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    out = 224
    # resize_with_aspectratio(img, 224, 224, scale=87.5, inter_pol=...)
    height, width, _ = img.shape
    new = int(100.0 * out / 87.5)
    if height > width:
        w, h = new, int(new * height / width)
    else:
        h, w = new, int(new * width / height)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if kind == "vgg" else cv2.INTER_LINEAR)
    # center_crop(img, 224, 224)
    height, width, _ = img.shape
    left, right = int((width - out) / 2), int((width + out) / 2)
    top, bottom = int((height - out) / 2), int((height + out) / 2)
    img = np.asarray(img[top:bottom, left:right], dtype="float32")
    if kind == "vgg":
        img -= np.array([123.68, 116.78, 103.94], dtype=np.float32)
    else:
        img = ((img / 255.0) - 0.5) * 2
    return img.transpose([2, 0, 1]) if nchw else img


def write_images(root: Path) -> list[Path]:
    """Noisy-gradient JPEGs of SIZES (real content, so that interpolation differences would show), a greyscale
    PNG, and `generate()`'s images; val_map.txt lists them all."""
    rng = np.random.default_rng(7)
    generate(root, count=3, seed=5)
    names = [line.split()[0] for line in (root / "val_map.txt").read_text().splitlines()]
    for i, (width, height) in enumerate(SIZES):
        ramp = np.add.outer(np.arange(height), np.arange(width))[..., None] * np.array([1, 2, 3])
        noise = rng.integers(0, 60, size=(height, width, 3))
        cv2.imwrite(str(root / f"s{i}.jpg"), ((ramp + noise) % 256).astype(np.uint8))
        names.append(f"s{i}.jpg")
    cv2.imwrite(str(root / "grey.png"), rng.integers(0, 256, size=(300, 260), dtype=np.uint8))
    names.append("grey.png")
    (root / "val_map.txt").write_text("".join(f"{name} 1\n" for name in names))
    return [root / name for name in names]


@pytest.mark.parametrize("dataset, kind", [("imagenet", "vgg"), ("imagenet-mobilenet", "mobilenet")])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_preprocessing_equals_the_reference_steps(tmp_path: Path, cache: Path, dataset: str, kind: str,
                                                  layout: str) -> None:
    images = write_images(tmp_path / "val")
    ds = DATASETS.get(dataset)(tmp_path / "val", cache_dir=cache, layout=layout)
    indices = list(range(len(images)))
    ds.load_samples(indices)
    got = ds.get_samples(indices)
    for i, path in enumerate(images):
        expected = reference_preprocess(path, kind, nchw=layout == "NCHW")
        assert got[i].dtype == np.float32
        np.testing.assert_array_equal(got[i], expected, err_msg=str(path))
