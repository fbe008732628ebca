"""The `retinanet` task: the reference's rows from the graph's detections (PostProcessOpenImagesRetinanet), for
Podium's batch-major graph and the official one-image graph; then the whole benchmark end to end with random
weights on generated data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import SUTError
from podium.inference.tasks import POSTPROCESSORS, TASKS
from podium.inference.tasks.retinanet import retinanet_rows


def detections(scores: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's (boxes, labels, scores) as a graph answers them: box i is (10i, 20i, 10i + 80, 20i + 160)."""
    n = len(scores)
    i = np.arange(n, dtype=np.float32)
    boxes = np.stack([10 * i, 20 * i, 10 * i + 80, 20 * i + 160], axis=1)
    return boxes, np.arange(n, dtype=np.int64) + 3, np.asarray(scores, dtype=np.float32)


def test_rows_are_the_references_normalized_y_first_and_stop_at_the_first_low_score() -> None:
    a = detections([0.9, 0.5, 0.05, 0.01, 0.7])  # the reference breaks at 0.01: 0.7 after it is not written
    b = detections([0.3, 0.2, 0.0, 0.0, 0.0])  # Podium's padding (score 0) ends the rows
    outputs = [np.stack([a[k], b[k]]) for k in range(3)]
    rows = POSTPROCESSORS.get("retinanet-rows")(outputs, [11, 4])
    assert [r.shape for r in rows] == [(3, 7), (2, 7)] and rows[0].dtype == np.float32
    # [qsl_idx, ymin, xmin, ymax, xmax] over the 800x800 input, score, class
    np.testing.assert_allclose(rows[0][1], [11, 20 / 800, 10 / 800, 180 / 800, 90 / 800, 0.5, 4], rtol=1e-6)
    np.testing.assert_allclose(rows[0][0, 1:5], [0, 0, 0.2, 0.1])
    np.testing.assert_array_equal(rows[1][:, 0], [4, 4])
    np.testing.assert_allclose(rows[1][:, 5], [0.3, 0.2])


def test_the_official_one_image_graph_is_read_as_a_batch_of_one() -> None:
    boxes, labels, scores = detections([0.8, 0.6])
    (rows,) = retinanet_rows([boxes, labels, scores], [7])
    np.testing.assert_allclose(rows[:, [0, 5, 6]], [[7, 0.8, 3], [7, 0.6, 4]], rtol=1e-6)
    (empty,) = retinanet_rows([np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)], [2])
    assert empty.shape == (0, 7)
    with pytest.raises(SUTError, match="batch size 1"):
        retinanet_rows([boxes, labels, scores], [7, 8])


def test_outputs_that_disagree_in_shape_are_refused() -> None:
    boxes, labels, scores = detections([0.8, 0.6])
    with pytest.raises(SUTError, match="outputs of 2 images expected"):
        retinanet_rows([boxes[None], labels[None], scores[None]], [1, 2])


def test_the_task_reads_the_official_outputs_and_encodes_the_references_rows() -> None:
    task = TASKS.get("retinanet")
    assert (task.dataset, task.model, task.metric) == ("openimages-800", "retinanet", "coco-map")
    assert [f.outputs for f in task.forms] == [("boxes", "labels", "scores")]
    (rows,) = retinanet_rows(list(detections([0.9, 0.4])), [3])
    data = task.encoding.encode(rows)
    # what tools/accuracy-openimages.py reads: float32 values, 7 per detection
    np.testing.assert_array_equal(np.frombuffer(data, np.float32).reshape(-1, 7), rows)


def test_detections_where_the_ground_truth_is_score_100_through_the_official_encoding(tmp_path: Path) -> None:
    """Boxes the graph would answer for each generated object (in pixels of the 800x800 input the image was
    stretched to) -> rows -> response bytes -> coco-map against the dataset's labels: 100 %."""
    pytest.importorskip("pycocotools")
    from podium.datasets import DATASETS
    from podium.datasets.openimages import generate
    from podium.metrics import METRICS

    task = TASKS.get("retinanet")
    dataset = DATASETS.get(task.dataset)(generate(tmp_path / "oi", count=3, seed=2), cache_dir=tmp_path / "cache")
    metric = METRICS.get(task.metric)
    for index, truth in enumerate(dataset.labels()):
        scale = np.array([800 / truth["width"], 800 / truth["height"]] * 2, dtype=np.float32)
        xywh = np.array([a["bbox"] for a in truth["annotations"]], dtype=np.float32)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1) * scale
        labels = np.array([a["category_id"] for a in truth["annotations"]], dtype=np.int64)
        scores = np.linspace(0.9, 0.6, len(labels), dtype=np.float32)
        (rows,) = retinanet_rows([boxes, labels, scores], [index])  # the official one-image graph
        response = task.encoding.decode(task.encoding.encode(rows))
        metric.update([response], [truth])
    score = metric.compute()
    assert score.value == pytest.approx(100.0) and metric.summary_line(score) == "mAP=100.000%"


def test_podium_infer_retinanet_with_random_weights_on_generated_data(tmp_path: Path) -> None:
    """The whole benchmark, as a user runs it: 2 generated images, the model at 800x800 on the CPU (each
    forward takes seconds here: warm-up included, this test takes about a minute on 2 cores)."""
    pytest.importorskip("torch")
    pytest.importorskip("pycocotools")
    from podium.datasets.openimages import generate

    root = generate(tmp_path / "oi", count=2, seed=0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "podium", "infer", "retinanet", "--model", "random", "--backend", "pytorch",
               "--dataset-path", str(root), "--scenario", "Offline", "--mode", "accuracy", "--short", "--count",
               "2", "--batch-size", "1", "--out", str(out)]
    p = subprocess.run(command, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PODIUM_CACHE_DIR": str(tmp_path / "cache")})
    # random weights never pass the accuracy target: the run completes and says so with exit status 1
    assert p.returncode in (0, 1) and "Traceback" not in p.stderr, p.stdout + p.stderr
    folder = out / "results" / "local" / "retinanet" / "Offline" / "accuracy"
    assert {"mlperf_log_accuracy.json", "mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt",
            "accuracy.json"} <= {f.name for f in folder.iterdir()}
    assert re.fullmatch(r"mAP=\d+\.\d{3}%", (folder / "accuracy.txt").read_text().strip())
    logged = json.loads((folder / "mlperf_log_accuracy.json").read_text())
    assert sorted(entry["qsl_idx"] for entry in logged) == [0, 1]
    for entry in logged:  # whole float32 rows [qsl index, ymin, xmin, ymax, xmax, score, class]
        rows = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 7)
        assert (rows[:, 0] == entry["qsl_idx"]).all() and (rows[:, 5] >= 0.05).all()
