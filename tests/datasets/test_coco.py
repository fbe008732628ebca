"""The `coco-300` / `coco-1200` layouts: the official layout and its faults, the reference's preprocessing (OpenCV,
as python/dataset.py), lazy per-image caching, ground truth for the metric; `generate` in that layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.coco import ANNOTATIONS, CATEGORIES, MEANS_RGB, STDS_RGB, generate
from tests.datasets.fixtures import files_under

cv2 = pytest.importorskip("cv2")


def test_generate_writes_the_official_layout(tmp_path: Path) -> None:
    root = generate(tmp_path / "coco", 5, seed=3)
    data = json.loads((root / ANNOTATIONS).read_text())
    assert len(data["images"]) == 5 and len(data["categories"]) == 80 == len(CATEGORIES)
    assert {c["id"] for c in data["categories"]} == {i for i, _ in CATEGORIES} and max(i for i, _ in CATEGORIES) == 90
    for image in data["images"]:
        pixels = cv2.imread(str(root / "val2017" / image["file_name"]))
        assert pixels.shape == (image["height"], image["width"], 3)
    for a in data["annotations"]:
        image = next(i for i in data["images"] if i["id"] == a["image_id"])
        x, y, w, h = a["bbox"]
        assert 0 <= x and x + w <= image["width"] and 0 <= y and y + h <= image["height"] and a["area"] > 0
    assert generate(tmp_path / "again", 5, seed=3) and (tmp_path / "again" / ANNOTATIONS).read_text() == \
        (root / ANNOTATIONS).read_text()


def test_coco_300_is_the_references_uint8_nhwc(tmp_path: Path, cache: Path) -> None:
    root = generate(tmp_path / "coco", 3, seed=1)
    ds = DATASETS.get("coco-300")(root, cache_dir=cache)
    assert ds.total_sample_count == 3 and files_under(cache) == []  # nothing preprocessed up front
    ds.load_samples([0, 2])
    batch = ds.get_samples([0, 2])
    assert batch.shape == (2, 300, 300, 3) and batch.dtype == np.uint8
    labels = ds.labels()
    bgr = cv2.imread(str(root / "val2017" / labels[2]["file_name"]))
    resized = cv2.resize(cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2RGB), (300, 300),
                         interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(batch[1], resized.astype(np.uint8))
    assert (ds.cache_stats.hits, ds.cache_stats.computed) == (0, 2) and files_under(Path.cwd()) == []
    again = DATASETS.get("coco-300")(root, cache_dir=cache)
    again.load_samples([0, 1, 2])
    assert (again.cache_stats.hits, again.cache_stats.computed) == (2, 1)


def test_coco_1200_is_normalized_nchw(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "coco"
    generate(root, 1, size=(64, 48))
    name = json.loads((root / ANNOTATIONS).read_text())["images"][0]["file_name"]
    cv2.imwrite(str(root / "val2017" / name), np.full((48, 64, 3), (10, 128, 250), np.uint8))  # BGR
    ds = DATASETS.get("coco-1200")(root, cache_dir=cache)
    ds.load_samples([0])
    sample = ds.get_samples([0])[0]
    assert sample.shape == (3, 1200, 1200) and sample.dtype == np.float32
    rgb = cv2.imread(str(root / "val2017" / name))[24, 32, ::-1].astype(np.float32)  # JPEG: about the colour
    np.testing.assert_allclose(sample[:, 600, 600], (rgb / 255 - MEANS_RGB) / STDS_RGB, rtol=1e-5)


def test_labels_are_each_images_ground_truth_in_file_order(tmp_path: Path, cache: Path) -> None:
    root = generate(tmp_path / "coco", 4, seed=2)
    data = json.loads((root / ANNOTATIONS).read_text())
    labels = DATASETS.get("coco-300")(root, cache_dir=cache, count=3).labels()
    assert labels.dtype == object and len(labels) == 3
    for truth, image in zip(labels, data["images"], strict=False):
        assert (truth["image_id"], truth["width"], truth["height"]) == (image["id"], image["width"], image["height"])
        assert [a["id"] for a in truth["annotations"]] == [a["id"] for a in data["annotations"]
                                                          if a["image_id"] == image["id"]]
        assert truth["category_ids"] == tuple(i for i, _ in CATEGORIES)


def test_layout_faults_name_the_path(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "coco"
    root.mkdir()
    with pytest.raises(ConfigError, match="missing annotations/instances_val2017.json; expected .*val2017/") as e:
        DATASETS.get("coco-300")(root, cache_dir=cache)
    assert e.value.path == str(root.resolve() / ANNOTATIONS)
    (root / "annotations").mkdir()
    (root / ANNOTATIONS).write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ConfigError, match="not valid JSON") as e:
        DATASETS.get("coco-300")(root, cache_dir=cache)
    assert e.value.line == 2
    (root / ANNOTATIONS).write_text('{"images": [{"id": 1}], "annotations": [], "categories": []}')
    with pytest.raises(ConfigError, match=r"images\[0\] has no 'file_name'"):
        DATASETS.get("coco-300")(root, cache_dir=cache)
    generate(root, 2)
    (root / "val2017" / DATASETS.get("coco-300")(root, cache_dir=cache).labels()[1]["file_name"]).unlink()
    ds = DATASETS.get("coco-300")(root, cache_dir=cache)
    with pytest.raises(ConfigError, match=r"images\[1\] of annotations/instances_val2017.json does not exist"):
        ds.load_samples([1])
