"""The `imagenet` layouts: MLPerf ResNet-50 / MobileNet preprocessing, done lazily and cached per image and tensor
layout; layout faults. (Equality with the reference's steps: test_imagenet_reference.py.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.imagenet import CHANNEL_MEANS_RGB, ImagenetDataset
from tests.datasets.fixtures import files_under

cv2 = pytest.importorskip("cv2")


COLOURS = [(200, 10, 60), (0, 128, 255), (90, 90, 90)]


def solid(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """A solid-colour image as OpenCV writes it (BGR)."""
    return np.broadcast_to(np.asarray(rgb[::-1], np.uint8), (height, width, 3)).copy()


def write_imagenet(root: Path) -> Path:
    """Three solid-colour images (lossless PNG, so pixel values survive): landscape, portrait, small grey."""
    root.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "a.png"), solid(400, 300, COLOURS[0]))
    cv2.imwrite(str(root / "b.png"), solid(300, 500, COLOURS[1]))
    cv2.imwrite(str(root / "c.png"), np.full((120, 100), COLOURS[2][0], np.uint8))  # grey, smaller than 256
    (root / "val_map.txt").write_text("a.png 3\nb.png 7\n\nc.png 0\n")
    return root


def test_imagenet_preprocesses_lazily_and_caches_per_sample(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    assert ds.total_sample_count == 3 and files_under(cache) == []  # nothing preprocessed by the constructor
    np.testing.assert_array_equal(ds.labels(), [3, 7, 0])
    ds.load_samples([0, 2])
    assert (ds.cache_stats.hits, ds.cache_stats.computed) == (0, 2)
    assert len(files_under(cache)) == 2 and files_under(Path.cwd()) == []
    batch = ds.get_samples([0, 2])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    for row, colour in zip(batch, (COLOURS[0], COLOURS[2]), strict=True):
        expected = np.asarray(colour, np.float32) - np.asarray(CHANNEL_MEANS_RGB, np.float32)
        np.testing.assert_allclose(row.mean(axis=(1, 2)), expected, atol=1e-3)  # RGB order, means subtracted
    again = DATASETS.get("imagenet")(root, cache_dir=cache)
    again.load_samples([0, 1, 2])
    assert (again.cache_stats.hits, again.cache_stats.computed) == (2, 1)
    np.testing.assert_array_equal(again.get_samples([0, 2]), batch)


def test_imagenet_centre_crop_keeps_the_middle(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "imagenet"
    root.mkdir()
    image = solid(512, 256, (0, 0, 0))  # -> 512x256 stays; the crop takes columns 144..367
    image[:, :100] = 255  # a white band only at the far left, outside the crop
    cv2.imwrite(str(root / "wide.png"), image)
    (root / "val_map.txt").write_text("wide.png 1\n")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([0])
    np.testing.assert_allclose(ds.get_samples([0])[0, 0], -CHANNEL_MEANS_RGB[0])


def test_imagenet_cache_invalidated_when_an_image_changes(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    DATASETS.get("imagenet")(root, cache_dir=cache).load_samples([0])
    cv2.imwrite(str(root / "a.png"), solid(400, 300, (1, 2, 3)))
    os.utime(root / "a.png", ns=(1_000_000_000, 1_000_000_000))
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([0])
    assert ds.cache_stats.computed == 1
    np.testing.assert_allclose(ds.get_samples([0])[0, :, 0, 0], np.subtract((1, 2, 3), CHANNEL_MEANS_RGB),
                               atol=1e-3)


def test_imagenet_cache_invalidated_by_preprocessing_version(tmp_path: Path, cache: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    DATASETS.get("imagenet")(root, cache_dir=cache).load_samples([1])
    monkeypatch.setattr(ImagenetDataset, "preprocessing_version", "test-v2")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([1])
    assert ds.cache_stats.computed == 1 and ds.cache_path.name == "test-v2-vgg-nchw"


def test_imagenet_count(tmp_path: Path, cache: Path) -> None:
    ds = DATASETS.get("imagenet")(write_imagenet(tmp_path / "imagenet"), cache_dir=cache, count=2)
    assert ds.total_sample_count == 2 and list(ds.labels()) == [3, 7]


@pytest.mark.parametrize("fault, message, line", [
    ("no-dir", "no such dataset directory", None),
    ("no-map", "missing val_map.txt", None),
    ("bad-label", "label 'seven' is not an integer", 2),
    ("columns", "expected '<image file> <label>'", 3),
    ("empty", "lists no images", None),
])
def test_imagenet_layout_faults(tmp_path: Path, cache: Path, fault: str, message: str, line: int | None) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    val_map = root / "val_map.txt"
    if fault == "no-dir":
        root = tmp_path / "absent"
    elif fault == "no-map":
        val_map.unlink()
    elif fault == "bad-label":
        val_map.write_text("a.png 3\nb.png seven\n")
    elif fault == "columns":
        val_map.write_text("a.png 3\nb.png 7\nc.png 0 extra\n")
    elif fault == "empty":
        val_map.write_text("\n")
    with pytest.raises(ConfigError, match=message) as err:
        DATASETS.get("imagenet")(root, cache_dir=cache)
    assert str(root) in str(err.value)
    assert err.value.line == line
    if fault in ("no-dir", "no-map", "empty"):
        assert f"expected {root}/val_map.txt with lines '<image file> <label>'" in str(err.value)


def test_imagenet_missing_image_named_at_load(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    (root / "b.png").unlink()
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    with pytest.raises(ConfigError, match="line 2 of val_map.txt does not exist") as err:
        ds.load_samples([1])
    assert str(root / "b.png") in str(err.value)


def test_imagenet_unreadable_image(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    (root / "c.png").write_bytes(b"not an image at all")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    with pytest.raises(ConfigError, match="cannot read image") as err:
        ds.load_samples([0, 2])
    assert str(root / "c.png") in str(err.value)


def test_imagenet_without_opencv(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    monkeypatch.setitem(sys.modules, "cv2", None)  # import now fails as if OpenCV were absent
    for name in ("imagenet", "imagenet-mobilenet"):
        with pytest.raises(ConfigError, match=r"need OpenCV \(pip install opencv-python-headless"):
            DATASETS.get(name)(root, cache_dir=cache)


def test_generated_data_opens_in_the_official_layout(tmp_path: Path, cache: Path) -> None:
    from podium.datasets.imagenet import generate

    root = generate(tmp_path / "val", count=5, classes=10, seed=3)
    assert sorted(p.name for p in root.iterdir())[:2] == ["ILSVRC2012_val_00000001.JPEG",
                                                         "ILSVRC2012_val_00000002.JPEG"]
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    assert ds.total_sample_count == 5
    labels = [int(line.split()[1]) for line in (root / "val_map.txt").read_text().splitlines()]
    assert all(0 <= label < 10 for label in labels)
    ds.load_samples([0, 4])
    assert ds.get_samples([0, 4]).shape == (2, 3, 224, 224)


def test_imagenet_mobilenet_scales_to_plus_minus_one(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    ds = DATASETS.get("imagenet-mobilenet")(root, cache_dir=cache)
    ds.load_samples([0, 1, 2])
    batch = ds.get_samples([0, 1, 2])
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == np.float32
    for row, colour in zip(batch, COLOURS, strict=True):
        np.testing.assert_allclose(row.mean(axis=(1, 2)), np.asarray(colour) / 127.5 - 1, atol=1e-5)
    assert ds.describe()["preprocessing"] == "mobilenet" and ds.cache_path.name.endswith("-mobilenet-nchw")


def test_imagenet_layout_option(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    nchw = DATASETS.get("imagenet")(root, cache_dir=cache)
    nhwc = DATASETS.get("imagenet")(root, cache_dir=cache, layout="NHWC")
    assert nchw.cache_path != nhwc.cache_path and nhwc.describe()["tensor_layout"] == "NHWC"
    nchw.load_samples([0, 1])
    nhwc.load_samples([0, 1])
    assert nhwc.cache_stats.computed == 2  # a layout has its own cache entries
    assert nhwc.get_samples([0, 1]).shape == (2, 224, 224, 3)
    np.testing.assert_array_equal(nhwc.get_samples([0, 1]), nchw.get_samples([0, 1]).transpose(0, 2, 3, 1))
    with pytest.raises(ConfigError, match="layout must be one of NCHW, NHWC, got 'nchw'") as err:
        DATASETS.get("imagenet-mobilenet")(root, cache_dir=cache, layout="nchw")
    assert err.value.key == "layout"
