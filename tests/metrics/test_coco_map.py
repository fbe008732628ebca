"""`coco-map` / `coco-map-inv`: COCO box mAP against pycocotools run the plain way (annotation and result JSON files,
COCO.loadRes, COCOeval), as MLPerf's accuracy-coco.py runs it; trivial cases; the official line."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podium.metrics import METRICS
from podium.metrics.base import MetricInputError

pytest.importorskip("pycocotools")

CATEGORIES = (1, 3, 18, 44)  # non-contiguous COCO ids, in file order


def instances() -> dict[str, Any]:
    """Three images with boxes of several categories, one crowd box and one small box."""
    images = [{"id": 42, "file_name": "a.jpg", "width": 640, "height": 480},
              {"id": 7, "file_name": "b.jpg", "width": 300, "height": 500},
              {"id": 1000, "file_name": "c.jpg", "width": 200, "height": 200}]
    boxes = [(42, 1, [10, 20, 100, 200]), (42, 3, [300, 100, 200, 150]), (42, 3, [50, 300, 60, 40]),
             (7, 18, [0, 0, 150, 250]), (7, 1, [100, 200, 20, 30]), (7, 44, [200, 400, 12, 8]),
             (1000, 1, [5, 5, 190, 190])]
    annotations = [{"id": n + 1, "image_id": i, "category_id": c, "bbox": b, "area": float(b[2] * b[3]),
                    "iscrowd": 0} for n, (i, c, b) in enumerate(boxes)]
    annotations.append({"id": 99, "image_id": 42, "category_id": 1, "bbox": [400, 300, 200, 150],
                        "area": 30000.0, "iscrowd": 1})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": str(c)} for c in CATEGORIES]}


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per image, the ground truth as podium.datasets.coco labels it."""
    ids = tuple(c["id"] for c in data["categories"])
    return [{"image_id": im["id"], "width": im["width"], "height": im["height"], "category_ids": ids,
             "annotations": [a for a in data["annotations"] if a["image_id"] == im["id"]]}
            for im in data["images"]]


def detections(data: dict[str, Any], seed: int = 0) -> list[np.ndarray]:
    """Per image, float32 rows [index, ymin, xmin, ymax, xmax, score, class]: every box jittered, some missed,
    some false ones; normalized coordinates."""
    rng = np.random.default_rng(seed)
    out = []
    for index, t in enumerate(targets(data)):
        rows = []
        for a in t["annotations"]:
            if rng.random() < 0.2:
                continue
            x, y, w, h = np.asarray(a["bbox"], float) + rng.normal(0, 6, 4)
            rows.append([index, y / t["height"], x / t["width"], (y + h) / t["height"], (x + w) / t["width"],
                         rng.random(), a["category_id"]])
        for _ in range(3):
            x, y = rng.random(2) * 0.7
            rows.append([index, y, x, y + 0.2, x + 0.25, rng.random() * 0.5, rng.choice(CATEGORIES)])
        out.append(np.asarray(rows, np.float32))
    return out


def plain_pycocotools(tmp: Path, data: dict[str, Any], rows: list[np.ndarray], inverse: bool = False) -> float:
    """mAP in % computed the plain way: files on disk, COCO(file), loadRes(file), as accuracy-coco.py does."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    (tmp / "gt.json").write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(tmp / "gt.json"))
        inv_map = [0] + truth.getCatIds()
        found, seen = [], set()
        for idx, data_rows in enumerate(rows):
            image = truth.dataset["images"][idx]
            seen.add(image["id"])
            for r in data_rows:
                _, ymin, xmin, ymax, xmax, score, label = r
                ymin, xmin, ymax, xmax = (ymin * image["height"], xmin * image["width"], ymax * image["height"],
                                          xmax * image["width"])
                label = inv_map[int(label)] if inverse else int(label)
                found.append({"image_id": image["id"], "category_id": label, "score": float(score),
                              "bbox": [float(xmin), float(ymin), float(xmax - xmin), float(ymax - ymin)]})
        (tmp / "dt.json").write_text(json.dumps(found))
        evaluation = COCOeval(truth, truth.loadRes(str(tmp / "dt.json")), iouType="bbox")
        evaluation.params.imgIds = list(seen)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return 100.0 * float(evaluation.stats[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_on_hand_made_cases(tmp_path: Path, seed: int) -> None:
    data = instances()
    rows = detections(data, seed)
    metric = METRICS.get("coco-map")
    metric.update(rows[:2], targets(data)[:2])
    metric.update(rows[2:], targets(data)[2:])
    score = metric.compute()
    expected = plain_pycocotools(tmp_path, data, rows)
    assert 0 < expected < 100
    assert score.value == pytest.approx(expected, abs=1e-9)
    assert score.units == "%" and score.total == 3 and score.details["AP"] == score.value


def test_inverse_label_map_as_use_inv_map(tmp_path: Path) -> None:
    data = instances()
    rows = detections(data, 3)
    contiguous = {c: k + 1 for k, c in enumerate(CATEGORIES)}
    for r in rows:
        r[:, 6] = [contiguous[int(c)] for c in r[:, 6]]
    metric = METRICS.get("coco-map-inv")
    metric.update(rows, targets(data))
    assert metric.compute().value == pytest.approx(plain_pycocotools(tmp_path, data, rows, inverse=True), abs=1e-9)
    assert metric.compute().value == pytest.approx(plain_pycocotools(tmp_path, data, detections(data, 3)),
                                                   abs=1e-9)


def test_perfect_detections_score_100_and_none_score_0() -> None:
    data = instances()
    data["annotations"] = [a for a in data["annotations"] if not a["iscrowd"]]
    perfect = []
    for index, t in enumerate(targets(data)):
        perfect.append(np.asarray([[index, y / t["height"], x / t["width"], (y + h) / t["height"],
                                    (x + w) / t["width"], 0.9, a["category_id"]]
                                   for a in t["annotations"] for x, y, w, h in [a["bbox"]]], np.float32))
    metric = METRICS.get("coco-map")
    metric.update(perfect, targets(data))
    assert metric.compute().value == pytest.approx(100.0)
    empty = METRICS.get("coco-map")
    empty.update([np.zeros((0, 7), np.float32)] * 3, targets(data))
    assert empty.compute().value == 0.0 and empty.compute().total == 3


def test_a_sample_logged_twice_counts_once_and_merge_adds_images(tmp_path: Path) -> None:
    data = instances()
    rows = detections(data, 4)
    once = METRICS.get("coco-map")
    once.update(rows, targets(data))
    twice = METRICS.get("coco-map")
    twice.update(rows[:2], targets(data)[:2])
    twice.update([np.zeros((0, 7), np.float32)], targets(data)[:1])  # a repeat of image 0: ignored
    other = METRICS.get("coco-map")
    other.update(rows[2:], targets(data)[2:])
    twice.merge(other)
    assert twice.compute().value == pytest.approx(once.compute().value, abs=1e-12)


def test_official_line_and_refusals() -> None:
    metric = METRICS.get("coco-map")
    data = instances()
    metric.update(detections(data), targets(data))
    assert metric.summary_line(metric.compute()) == f"mAP={metric.compute().value:.3f}%"
    with pytest.raises(MetricInputError, match="no whole number"):
        METRICS.get("coco-map").update([np.zeros(10, np.float32)], targets(data)[:1])
    with pytest.raises(MetricInputError, match="2 predictions for 1 targets"):
        METRICS.get("coco-map").update([np.zeros(7, np.float32)] * 2, targets(data)[:1])
    inverse = METRICS.get("coco-map-inv")
    with pytest.raises(MetricInputError, match="class 5 has no category") as e:
        inverse.update([np.asarray([[0, 0, 0, 1, 1, 0.5, 5]], np.float32)], targets(data)[:1])
    assert e.value.sample == 0
