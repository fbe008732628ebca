"""Non-maximum suppression: the vectorised `nms` against a straightforward one and ONNX Runtime's operator."""

from __future__ import annotations

import numpy as np
import pytest

from podium.models.boxes import batched_nms, box_iou, nms


def random_boxes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` boxes clustered so that many overlap, and distinct scores."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 100, size=(n // 8 + 1, 2))[rng.integers(0, n // 8 + 1, size=n)]
    centres += rng.normal(0, 4, size=(n, 2))
    sizes = rng.uniform(5, 30, size=(n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    return boxes, rng.permutation(n).astype(np.float64) / n


def straightforward_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """The definition, one pair at a time: visit boxes by descending score; keep one unless it overlaps a kept box
    by more than the threshold."""
    kept: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: -scores[k]):
        x1, y1, x2, y2 = boxes[i]
        ok = True
        for j in kept:
            a1, b1, a2, b2 = boxes[j]
            inter = max(0.0, min(x2, a2) - max(x1, a1)) * max(0.0, min(y2, b2) - max(y1, b1))
            union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
            if union > 0 and inter / union > iou_threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def test_box_iou_of_known_pairs() -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], dtype=np.float64)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], dtype=np.float64)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_keeps_what_the_straightforward_one_keeps(seed: int, threshold: float) -> None:
    boxes, scores = random_boxes(300, seed)
    kept = nms(boxes, scores, threshold)
    assert kept.dtype == np.int64
    assert kept.tolist() == straightforward_nms(boxes, scores, threshold)
    assert 0 < len(kept) < len(boxes)   # the case suppresses some boxes and keeps others


def test_nms_of_nothing_and_of_equal_scores() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    same = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], dtype=np.float64)
    assert nms(same, np.ones(3), 0.5).tolist() == [0, 2]   # ties: the lower index first


def test_batched_nms_never_suppresses_across_labels() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [-20, -20, -10, -10], [-19, -19, -10, -10]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert sorted(batched_nms(boxes, scores, np.array([0, 1, 0, 0]), 0.5).tolist()) == [0, 1, 2]
    assert sorted(batched_nms(boxes, scores, np.array([0, 0, 0, 0]), 0.5).tolist()) == [0, 2]


def onnxruntime_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """ONNX Runtime's NonMaxSuppression (opset 11) on one batch and one class; boxes given as corners."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou"], ["selected"],
                            center_point_box=0)
    graph = helper.make_graph(
        [node], "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, None]),
         helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    selected = session.run(None, {"boxes": boxes[None].astype(np.float32),
                                  "scores": scores[None, None].astype(np.float32),
                                  "max_out": np.array([len(boxes)], dtype=np.int64),
                                  "iou": np.array([iou_threshold], dtype=np.float32)})[0]
    return [int(i) for i in selected[:, 2]]


@pytest.mark.parametrize("seed", range(3))
def test_nms_keeps_what_onnxruntime_keeps(seed: int) -> None:
    boxes, scores = random_boxes(300, seed)
    boxes = boxes.astype(np.float32).astype(np.float64)   # the values ONNX Runtime sees
    assert nms(boxes, scores, 0.5).tolist() == onnxruntime_nms(boxes, scores, 0.5)
