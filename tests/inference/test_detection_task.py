"""The SSD tasks: their declaration (official outputs, datasets, metrics), the post-processors on hand-made graph
outputs (rows as the reference's PostProcessCoco / PostProcessCocoOnnx write them), and `podium infer` end to end
with random weights on generated COCO data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.inference.tasks import POSTPROCESSORS, TASKS
from podium.inference.tasks.detection import mobilenet_rows, resnet34_rows


def test_tasks_declare_the_official_graphs() -> None:
    small, large = TASKS.get("ssd-mobilenet"), TASKS.get("ssd-resnet34")
    assert (small.dataset, small.metric, small.model) == ("coco-300", "coco-map", "ssd-mobilenet")
    assert (large.dataset, large.metric, large.model) == ("coco-1200", "coco-map-inv", "ssd-resnet34")
    assert small.forms[0].outputs == ("num_detections:0", "detection_boxes:0", "detection_scores:0",
                                      "detection_classes:0")
    assert large.forms[0].outputs == ("bboxes", "labels", "scores")
    for task in (small, large):
        assert (task.encoding.dtype, task.encoding.shape) == ("float32", (-1, 7))
        assert POSTPROCESSORS.get(task.forms[0].postprocess) is not None


def test_mobilenet_rows_keep_the_first_num_detections() -> None:
    count = np.asarray([2.0, 0.0, 1.0], np.float32)
    boxes = np.zeros((3, 4, 4), np.float32)
    boxes[0, :2] = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]
    boxes[2, 0] = [0.0, 0.1, 0.9, 1.0]
    scores = np.zeros((3, 4), np.float32)
    scores[0, :2], scores[2, 0] = [0.9, 0.4], 0.7
    classes = np.ones((3, 4), np.float32)
    classes[0, :2], classes[2, 0] = [18, 90], 1
    rows = mobilenet_rows([count, boxes, scores, classes], [5, 6, 7])
    assert [r.shape for r in rows] == [(2, 7), (0, 7), (1, 7)] and all(r.dtype == np.float32 for r in rows)
    np.testing.assert_allclose(rows[0], [[5, 0.1, 0.2, 0.3, 0.4, 0.9, 18], [5, 0.5, 0.6, 0.7, 0.8, 0.4, 90]])
    np.testing.assert_allclose(rows[2], [[7, 0.0, 0.1, 0.9, 1.0, 0.7, 1]])


def test_resnet34_rows_stop_at_the_first_low_score_and_swap_the_box() -> None:
    boxes = np.asarray([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6], [0.0, 0.0, 1.0, 1.0]],
                        [[0.2, 0.1, 0.4, 0.3], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]], np.float32)
    labels = np.asarray([[3, 80, 1], [1, 0, 0]], np.int64)
    scores = np.asarray([[0.9, 0.6, 0.49], [0.5, 0.0, 0.0]], np.float32)  # 0.5 itself is kept: `< 0.5` stops
    rows = resnet34_rows([boxes, labels, scores], [0, 11])
    np.testing.assert_allclose(rows[0], [[0, 0.2, 0.1, 0.4, 0.3, 0.9, 3], [0, 0.5, 0.5, 0.6, 0.6, 0.6, 80]])
    np.testing.assert_allclose(rows[1], [[11, 0.1, 0.2, 0.3, 0.4, 0.5, 1]])
    # the official ONNX graph answers one image and only its detections: (1, n, 4), (1, n), (1, n)
    single = resnet34_rows([boxes[:1, :2], labels[:1, :2], scores[:1, :2]], [4])
    assert single[0].shape == (2, 7) and single[0][0, 0] == 4


def test_rows_encode_and_score_with_the_metric(tmp_path: Path) -> None:
    """Rows through the task's encoding, decoded, scored: a perfect detection of a generated image is 100 %."""
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from podium.datasets.coco import generate
    from podium.metrics import METRICS

    root = generate(tmp_path / "coco", 1, seed=5)
    data = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    image = data["images"][0]
    annotations = [a for a in data["annotations"] if a["image_id"] == image["id"]]
    n = len(annotations)
    w, h = image["width"], image["height"]
    boxes = np.asarray([[(y + bh) / h, (x + bw) / w, y / h, x / w] for x, y, bw, bh in
                        (a["bbox"] for a in annotations)], np.float32)[None][..., [2, 3, 0, 1]]
    outputs = [np.asarray([n], np.float32), boxes, np.full((1, n), 0.9, np.float32),
               np.asarray([[a["category_id"] for a in annotations]], np.float32)]
    encoding = TASKS.get("ssd-mobilenet").encoding
    decoded = [np.frombuffer(encoding.encode(r), np.float32) for r in mobilenet_rows(outputs, [0])]
    truth = {"image_id": image["id"], "width": w, "height": h, "annotations": annotations,
             "category_ids": tuple(c["id"] for c in data["categories"])}
    metric = METRICS.get("coco-map")
    metric.update(decoded, [truth])
    assert metric.compute().value == pytest.approx(100.0)


@pytest.mark.skipif(sys.platform == "win32", reason="runs the CLI in a subprocess")
def test_infer_ssd_mobilenet_random_weights_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    pytest.importorskip("torch")
    from podium.datasets.coco import generate

    root = generate(tmp_path / "coco", 4, seed=0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "podium", "infer", "ssd-mobilenet", "--model", "random", "--backend",
               "pytorch", "--dataset-path", str(root), "--scenario", "Offline", "--mode", "accuracy", "--short",
               "--count", "4", "--batch-size", "2", "--out", str(out)]
    p = subprocess.run(command, capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "PODIUM_CACHE_DIR": str(tmp_path / "cache")})
    # random weights never pass the accuracy target: the run completes and says so with exit status 1
    assert p.returncode in (0, 1) and "Traceback" not in p.stderr, p.stdout + p.stderr
    accuracy = sorted(out.rglob("accuracy.txt"))
    assert accuracy, sorted(str(f.relative_to(out)) for f in out.rglob("*"))
    assert any(line.startswith("mAP=") and line.endswith("%") for line in accuracy[0].read_text().splitlines())
    logged = json.loads(sorted(out.rglob("mlperf_log_accuracy.json"))[0].read_text())
    assert sorted(entry["qsl_idx"] for entry in logged) == [0, 1, 2, 3]
    for entry in logged:  # whole float32 rows [qsl index, box, score, class], as the reference writes them
        rows = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 7)
        assert (rows[:, 0] == entry["qsl_idx"]).all()
