"""The `openimages-800` layout: MLPerf's OpenImages subset in COCO format, preprocessed for RetinaNet (800x800,
RGB in [0, 1], NCHW), lazily and cached per image; its ground truth; layout faults; the generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.openimages import ANNOTATIONS, IMAGES, generate, pre_process_retinanet
from tests.datasets.fixtures import files_under

cv2 = pytest.importorskip("cv2")


def write_openimages(root: Path) -> Path:
    """Two lossless images (so pixel values survive): a colour gradient with two boxes, and a greyscale one with
    none; the file lists image 7 before image 3, and an annotation of an image it does not list."""
    (root / IMAGES).mkdir(parents=True)
    (root / "annotations").mkdir()
    y, x = np.mgrid[0:60, 0:90]
    bgr = np.stack([x * 2, y * 3, np.full_like(x, 40)], axis=-1).astype(np.uint8)
    cv2.imwrite(str(root / IMAGES / "b.png"), bgr)
    cv2.imwrite(str(root / IMAGES / "a.png"), np.full((50, 40), 128, np.uint8))
    coco = {"images": [{"id": 7, "file_name": "b.png", "height": 60, "width": 90},
                       {"id": 3, "file_name": "a.png", "height": 50, "width": 40}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 12, "bbox": [1, 2, 30, 40], "area": 1200,
                             "iscrowd": 1},
                            {"id": 2, "image_id": 99, "category_id": 5, "bbox": [0, 0, 1, 1], "area": 1},
                            {"id": 3, "image_id": 7, "category_id": 263, "bbox": [10.5, 0, 5, 5], "area": 25,
                             "iscrowd": 0}],
            "categories": [{"id": i, "name": f"c{i}"} for i in range(264)]}
    (root / ANNOTATIONS).write_text(json.dumps(coco))
    return root


def test_samples_follow_the_images_list_with_their_ground_truth(tmp_path: Path, cache: Path) -> None:
    ds = DATASETS.get("openimages-800")(write_openimages(tmp_path / "oi"), cache_dir=cache)
    assert ds.total_sample_count == 2 and files_under(cache) == []  # nothing preprocessed by the constructor
    first, second = ds.labels()
    assert (first["image_id"], first["file_name"], first["height"], first["width"]) == (7, "b.png", 60, 90)
    assert first["annotations"] == [
        {"id": 1, "category_id": 12, "bbox": [1.0, 2.0, 30.0, 40.0], "area": 1200.0, "iscrowd": 1},
        {"id": 3, "category_id": 263, "bbox": [10.5, 0.0, 5.0, 5.0], "area": 25.0, "iscrowd": 0}]
    assert tuple(first["category_ids"]) == tuple(range(264))
    assert second["image_id"] == 3 and second["annotations"] == []
    assert DATASETS.get("openimages-800")(tmp_path / "oi", cache_dir=cache, count=1).labels()[0]["image_id"] == 7


def test_preprocessing_is_the_references(tmp_path: Path, cache: Path) -> None:
    torch = pytest.importorskip("torch")
    root = write_openimages(tmp_path / "oi")
    ds = DATASETS.get("openimages-800")(root, cache_dir=cache)
    ds.load_samples([0, 1])
    batch = ds.get_samples([0, 1])
    assert batch.shape == (2, 3, 800, 800) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], 128 / 255, atol=1e-6)  # greyscale: three equal channels, scaled
    # RGB order, scaled to [0, 1], bilinear resize with half-pixel centres and no antialiasing (cv2's
    # INTER_LINEAR), checked against torch's implementation of the same resize
    rgb = cv2.imread(str(root / IMAGES / "b.png"))[..., ::-1].astype(np.float32) / 255
    expected = torch.nn.functional.interpolate(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None],
                                               size=(800, 800), mode="bilinear", align_corners=False)[0]
    np.testing.assert_allclose(batch[0], expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(batch[0, 0], 40 / 255, atol=1e-6)  # red (last in the BGR file) comes first


def test_preprocessed_images_are_cached_one_file_each(tmp_path: Path, cache: Path) -> None:
    root = write_openimages(tmp_path / "oi")
    ds = DATASETS.get("openimages-800")(root, cache_dir=cache)
    ds.load_samples([1])
    assert (ds.cache_stats.hits, ds.cache_stats.computed) == (0, 1)
    assert len(files_under(cache)) == 1 and files_under(Path.cwd()) == []
    again = DATASETS.get("openimages-800")(root, cache_dir=cache)
    again.load_samples([0, 1])
    assert (again.cache_stats.hits, again.cache_stats.computed) == (1, 1)
    np.testing.assert_array_equal(again.get_samples([1]), ds.get_samples([1]))


def test_a_large_image_shrinks_to_800(tmp_path: Path) -> None:
    image = np.zeros((1000, 1200, 3), np.uint8)
    image[:, 600:, 0] = 255  # right half blue in BGR
    out = pre_process_retinanet(image)
    assert out.shape == (3, 800, 800)
    assert out[2, :, 410:].min() == 1.0 and out[2, :, :390].max() == 0.0 and out[:2].max() == 0.0


@pytest.mark.parametrize("damage, message", [
    ("no-annotations", "missing annotations/openimages-mlperf.json"),
    ("no-images-folder", "missing the images folder validation/data"),
    ("bad-json", "not valid JSON"),
    ("not-coco", "not COCO format: has no list 'annotations'"),
    ("no-images", "lists no images"),
    ("no-file-name", "images[1] has no 'file_name'"),
    ("bad-annotation", "annotations[0] is no COCO box annotation"),
])
def test_layout_faults_name_the_path_and_the_layout(tmp_path: Path, cache: Path, damage: str,
                                                    message: str) -> None:
    root = write_openimages(tmp_path / "oi")
    file = root / ANNOTATIONS
    coco = json.loads(file.read_text())
    if damage == "no-annotations":
        file.unlink()
    elif damage == "no-images-folder":
        for image in (root / IMAGES).iterdir():
            image.unlink()
        (root / IMAGES).rmdir()
    elif damage == "bad-json":
        file.write_text('{"images": [\n  {"id": 1,,}\n]}')
    elif damage == "not-coco":
        file.write_text(json.dumps({"images": []}))
    elif damage == "no-images":
        file.write_text(json.dumps({**coco, "images": []}))
    elif damage == "no-file-name":
        del coco["images"][1]["file_name"]
        file.write_text(json.dumps(coco))
    else:
        del coco["annotations"][0]["area"]
        file.write_text(json.dumps(coco))
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        DATASETS.get("openimages-800")(root, cache_dir=cache)
    assert str(root) in str(e.value)
    if damage == "bad-json":
        assert ":2" in str(e.value)  # the line of the fault
    if damage in ("no-annotations", "no-images-folder"):
        assert "openimages_mlperf.sh" in str(e.value)


def test_a_listed_image_that_is_missing_is_named_when_loaded(tmp_path: Path, cache: Path) -> None:
    root = write_openimages(tmp_path / "oi")
    (root / IMAGES / "a.png").unlink()
    ds = DATASETS.get("openimages-800")(root, cache_dir=cache)
    ds.load_samples([0])
    with pytest.raises(ConfigError, match="image 1 of annotations/openimages-mlperf.json .'images' list.") as e:
        ds.load_samples([1])
    assert str(root / IMAGES / "a.png") in str(e.value)


def test_generated_data_is_in_the_official_layout(tmp_path: Path, cache: Path) -> None:
    coco_api = pytest.importorskip("pycocotools.coco")
    root = generate(tmp_path / "gen", count=3, seed=4)
    ds = DATASETS.get("openimages-800")(root, cache_dir=cache)
    assert ds.total_sample_count == 3
    truth = ds.labels()
    gt = coco_api.COCO(str(root / ANNOTATIONS))  # real pycocotools reads it
    assert sorted(gt.getImgIds()) == [1, 2, 3] and len(gt.getCatIds()) == 264
    for t in truth:
        boxes = np.asarray([a["bbox"] for a in t["annotations"]])
        assert len(boxes) >= 1 and np.all(boxes[:, 2:] >= 8)
        assert np.all(boxes[:, 0] + boxes[:, 2] <= t["width"]) and np.all(boxes[:, 1] + boxes[:, 3] <= t["height"])
    names = [gt.imgs[i]["file_name"] for i in (1, 2, 3)]
    assert names == sorted(names) and all(len(n) == len("0123456789abcdef.jpg") for n in names)
    ds.load_samples([0, 1, 2])
    assert ds.get_samples([2]).shape == (1, 3, 800, 800)
    again = generate(tmp_path / "again", count=3, seed=4)
    assert (again / ANNOTATIONS).read_text() == (root / ANNOTATIONS).read_text()
