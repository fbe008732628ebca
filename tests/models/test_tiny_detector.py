"""The tiny suite's detector: its anchors, the outputs it answers as SSD-MobileNet's graph does (eval mode) and what
it answers for training (train mode), its ONNX export answering the same, and the box coder round trip with the
training program's encoder."""

from __future__ import annotations

import numpy as np
import pytest


def test_anchors_are_cell_major_and_centred() -> None:
    from podium.models.tiny_detector import ANCHOR_SIZES, ASPECT_RATIOS, GRID, anchors

    a = anchors()
    per_cell = len(ANCHOR_SIZES) * len(ASPECT_RATIOS)
    assert a.shape == (GRID * GRID * per_cell, 4) and a.dtype == np.float32
    centres = (a[:, :2] + a[:, 2:]) / 2
    assert np.allclose(centres[:per_cell], 0.5 / GRID) and np.allclose(centres[per_cell], [0.5 / GRID, 1.5 / GRID])
    height, width = a[:per_cell, 2] - a[:per_cell, 0], a[:per_cell, 3] - a[:per_cell, 1]
    assert np.allclose(np.sqrt(height * width), np.repeat(ANCHOR_SIZES, len(ASPECT_RATIOS)), atol=1e-6)
    assert np.allclose(width / height, np.tile(ASPECT_RATIOS, len(ANCHOR_SIZES)), atol=1e-5)


def test_forward_answers_ssd_mobilenet_outputs_and_raw_predictions_when_training() -> None:
    torch = pytest.importorskip("torch")
    from podium.models import MODELS
    from podium.models.tiny_detector import CATEGORY_IDS, MAX_DETECTIONS, anchors

    model = MODELS.get("tiny-detector")
    torch.manual_seed(0)
    net = model.build()
    images = torch.randint(0, 255, (2, *model.input_shape), dtype=torch.uint8)
    logits, codes = net.train()(images)
    assert logits.shape == (2, len(anchors()), len(CATEGORY_IDS) + 1) and codes.shape == (2, len(anchors()), 4)
    with torch.no_grad():
        count, boxes, scores, classes = net.eval()(images)
    assert count.shape == (2,) and boxes.shape == (2, MAX_DETECTIONS, 4) and scores.shape == classes.shape
    for i, n in enumerate(count.int().tolist()):
        assert set(classes[i, :n].int().tolist()) <= set(CATEGORY_IDS)
        assert (scores[i, :n] > 0.05).all() and (scores[i, n:] == 0).all() and (classes[i, n:] == 0).all()
        assert (boxes[i, :n, 2:] >= boxes[i, :n, :2]).all() and boxes.min() >= 0 and boxes.max() <= 1
        assert (scores[i, :n].diff() <= 0).all()  # best first


def test_onnx_export_answers_what_pytorch_answers(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from podium.models import MODELS
    from podium.workloads.torch_program import export_onnx

    model = MODELS.get("tiny-detector")
    torch.manual_seed(1)
    net = model.build().eval()
    path = export_onnx(net, model, tmp_path / "m.onnx", "uint8")
    images = np.random.default_rng(0).integers(0, 255, (3, *model.input_shape), dtype=np.uint8)
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == [model.input_name]
    got = session.run(list(model.output_names), {model.input_name: images})
    with torch.no_grad():
        expected = [t.numpy() for t in net(torch.from_numpy(images))]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-4)


def test_box_coder_round_trip() -> None:
    torch = pytest.importorskip("torch")
    from podium.models._ssd_torch import decode_tf
    from podium.models.tiny_detector import SCALE_YXHW, anchors
    from podium.workloads.detection import encode

    a = anchors()[:50]
    rng = np.random.default_rng(0)
    low = rng.uniform(0.0, 0.5, size=(50, 2))
    boxes = np.concatenate([low, low + rng.uniform(0.05, 0.5, size=(50, 2))], axis=1)
    codes = encode(boxes, a, list(SCALE_YXHW))
    decoded = decode_tf(torch.from_numpy(codes)[None], torch.from_numpy(a), SCALE_YXHW)[0].numpy()
    np.testing.assert_allclose(decoded, boxes, atol=1e-5)


def test_match_assigns_each_box_its_best_anchor_and_the_overlapping_ones() -> None:
    from podium.models.boxes import box_iou
    from podium.models.tiny_detector import CATEGORY_IDS, anchors
    from podium.workloads.detection import MATCH_IOU, match

    a = anchors()
    truth = {"width": 200, "height": 100, "annotations": [
        {"bbox": [20, 10, 60, 30], "category_id": 18}, {"bbox": [120, 40, 30, 50], "category_id": 62},
        {"bbox": [0, 0, 10, 10], "category_id": 7}]}  # a category the model does not answer: ignored
    classes, codes = match(a, truth, list(CATEGORY_IDS), [10.0, 10.0, 5.0, 5.0])
    boxes = np.array([[0.1, 0.1, 0.4, 0.4], [0.4, 0.6, 0.9, 0.75]])
    iou = box_iou(a.astype(np.float64), boxes)
    assert classes[iou[:, 0].argmax()] == CATEGORY_IDS.index(18) + 1
    assert classes[iou[:, 1].argmax()] == CATEGORY_IDS.index(62) + 1
    assert set(np.flatnonzero(classes)) == set(np.flatnonzero(iou.max(axis=1) >= MATCH_IOU)) | set(iou.argmax(0))
    assert (codes[classes == 0] == 0).all() and np.abs(codes[classes > 0]).max() > 0
