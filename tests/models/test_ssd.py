"""The SSD parts: default boxes of both references (counts, known boxes), box decoding, the exportable per-class
NMS against a straightforward one, and both models built from the registry (declared as the official graphs,
state-dict keys of the references, forward answering the official outputs' shapes; SSD-MobileNet through ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podium.models import MODELS, ssd
from podium.models.boxes import box_iou

torch = pytest.importorskip("torch")


def test_default_box_counts_and_known_boxes() -> None:
    anchors = ssd.mobilenet_anchors()
    assert anchors.shape == (ssd.MOBILENET_ANCHORS, 4) == (1917, 4) and anchors.dtype == np.float32
    # the first cell of the 19x19 map: scale 0.1, ratio 1, centred at half a cell
    np.testing.assert_allclose(anchors[0], [0.5 / 19 - 0.05, 0.5 / 19 - 0.05, 0.5 / 19 + 0.05, 0.5 / 19 + 0.05],
                               rtol=1e-6)
    # the last anchor: the 1x1 map, ratio 1 at sqrt(0.95 * 1.0), centred
    half = np.sqrt(0.95) / 2
    np.testing.assert_allclose(anchors[-1], [0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half], rtol=1e-6)
    xywh = ssd.r34_default_boxes_xywh()
    assert xywh.shape == (ssd.R34_DEFAULT_BOXES, 4) == (15130, 4)
    np.testing.assert_allclose(xywh[0], [0.5 / 50, 0.5 / 50, 84 / 1200, 84 / 1200], rtol=1e-6)
    assert xywh.min() >= 0 and xywh.max() <= 1  # clamped, as the reference
    ltrb = ssd.r34_default_boxes_ltrb()
    np.testing.assert_allclose(ltrb[0], [0.01 - 0.035, 0.01 - 0.035, 0.01 + 0.035, 0.01 + 0.035], rtol=1e-5)


def test_decoding_of_known_boxes() -> None:
    from podium.models._ssd_torch import decode_tf, decode_xywh

    anchor = torch.tensor([[0.2, 0.1, 0.6, 0.3]])  # ymin, xmin, ymax, xmax: centre (0.4, 0.2), size (0.4, 0.2)
    codes = torch.tensor([[[1.0, -2.0, 5 * np.log(2.0), 0.0]]])  # ty, tx (x10), th, tw (x5)
    # centre y 0.4 + 0.1 * 0.4, centre x 0.2 - 0.2 * 0.2; height doubled, width kept
    np.testing.assert_allclose(decode_tf(codes, anchor, (10, 10, 5, 5))[0, 0].numpy(),
                               [0.44 - 0.4, 0.16 - 0.1, 0.44 + 0.4, 0.16 + 0.1], rtol=1e-6)
    default = torch.tensor([[0.5, 0.5, 0.2, 0.4]])  # cx, cy, w, h
    codes = torch.tensor([[[1.0], [0.0], [0.0], [5 * np.log(0.5)]]])  # (N, 4, A): x moves 0.1 * w; h halved
    np.testing.assert_allclose(decode_xywh(codes, default, 0.1, 0.2)[0, 0].numpy(),
                               [0.52 - 0.1, 0.5 - 0.1, 0.52 + 0.1, 0.5 + 0.1], rtol=1e-6)


def plain_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, inclusive: bool) -> list[int]:
    """The straightforward greedy NMS, one box at a time, indices by descending score."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        best, order = order[0], order[1:]
        keep.append(int(best))
        iou = box_iou(boxes[best][None], boxes[order])[0] if order else np.zeros(0)
        order = [o for o, v in zip(order, iou, strict=True) if not (v >= threshold if inclusive else v > threshold)]
    return keep


def plain_multiclass(boxes: np.ndarray, scores: np.ndarray, rule: Any, candidates: int | None) -> list[tuple]:
    """(label, box index, score) of the reference's procedure, class by class, then the best of all classes."""
    found = []
    for c in range(scores.shape[1]):
        idx = np.flatnonzero(scores[:, c] > rule.score_threshold)
        idx = idx[np.argsort(-scores[idx, c], kind="stable")][:candidates]
        kept = plain_nms(boxes[idx], scores[idx, c], rule.iou_threshold, rule.inclusive)[:rule.per_class]
        found += [(c + 1, int(idx[k]), float(scores[idx[k], c])) for k in kept]
    return sorted(found, key=lambda f: -f[2])[:rule.max_detections]


@pytest.mark.parametrize("inclusive", [False, True])
def test_suppression_matches_a_straightforward_nms(inclusive: bool) -> None:
    from podium.models._ssd_torch import Suppression, suppress_shared_boxes, suppress_top_candidates

    rng = np.random.default_rng(int(inclusive))
    n, a, c = 2, 120, 4
    corners = rng.random((n, a, 2)) * 0.8
    boxes = np.concatenate([corners, corners + 0.05 + rng.random((n, a, 2)) * 0.3], axis=-1).astype(np.float32)
    scores = rng.permutation(n * a * c).reshape(n, a, c).astype(np.float32) / (n * a * c)  # distinct
    rule = Suppression(score_threshold=0.3, iou_threshold=0.45, per_class=15, max_detections=40, inclusive=inclusive)
    for name, run, candidates in (("shared", lambda b, s: suppress_shared_boxes(b, s, rule), None),
                                  ("top", lambda b, s: suppress_top_candidates(b, s, rule, 30), 30)):
        d = run(torch.from_numpy(boxes), torch.from_numpy(scores))
        assert d.boxes.shape == (n, 40, 4) and d.labels.dtype == torch.int64, name
        for i in range(n):
            expected = plain_multiclass(boxes[i], scores[i], rule, candidates)
            k = int(d.count[i])
            assert k == len(expected), name
            assert d.labels[i, :k].tolist() == [e[0] for e in expected], name
            np.testing.assert_allclose(d.scores[i, :k].numpy(), [e[2] for e in expected])
            np.testing.assert_array_equal(d.boxes[i, :k].numpy(), boxes[i][[e[1] for e in expected]])
            assert not d.scores[i, k:].any() and not d.boxes[i, k:].any() and not d.labels[i, k:].any()


def test_models_are_declared_as_the_official_graphs() -> None:
    small, large = MODELS.get("ssd-mobilenet"), MODELS.get("ssd-resnet34")
    assert (small.input_name, small.output_names, small.layout, small.input_shape, small.classes) == (
        "image_tensor:0", ("num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0"),
        "NHWC", (300, 300, 3), 91)
    assert (large.input_name, large.output_names, large.layout, large.input_shape, large.classes) == (
        "image", ("bboxes", "labels", "scores"), "NCHW", (3, 1200, 1200), 81)
    assert small.reference == "podium.models.ssd_mobilenet:build"


def test_state_dict_keys_of_the_references() -> None:
    small = MODELS.get("ssd-mobilenet").build().state_dict()
    assert len(small) == 107  # as the MLPerf PyTorch port's create_mobilenetv1_ssd(91)
    assert tuple(small["backbone.0.0.weight"].shape) == (32, 3, 3, 3)
    assert tuple(small["backbone.13.depthwise/BatchNorm.scale"].shape) == (1024,)
    assert tuple(small["extras.3.2.weight"].shape) == (128, 64, 3, 3)
    assert tuple(small["predictors.0.classification.weight"].shape) == (3 * 91, 512, 1, 1)
    large = MODELS.get("ssd-resnet34").build().state_dict()
    assert len(large) == 218  # as the reference's SSD_R34
    assert tuple(large["model.layer1.0.weight"].shape) == (64, 3, 7, 7)
    assert tuple(large["model.layer2.0.0.downsample.0.weight"].shape) == (256, 128, 1, 1)
    assert tuple(large["additional_blocks.4.2.weight"].shape) == (256, 128, 3, 3)
    assert tuple(large["conf.1.weight"].shape) == (6 * 81, 512, 3, 3) and "loc.5.bias" in large


def test_ssd_mobilenet_forward_and_onnx_export(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    spec = MODELS.get("ssd-mobilenet")
    torch.manual_seed(0)
    net = spec.build().eval()
    with torch.no_grad():
        for head, anchors in zip(net.predictors, (3, 6, 6, 6, 6, 6), strict=True):  # channels: anchor-major
            head.classification.bias.view(anchors, 91)[:, 18] = 0.0  # class 18 near 0.5: boxes to suppress
    images = torch.randint(0, 256, (1, 300, 300, 3), dtype=torch.uint8)
    with torch.no_grad():
        count, boxes, scores, classes = net(images)
    assert (count.shape, boxes.shape, scores.shape, classes.shape) == ((1,), (1, 100, 4), (1, 100), (1, 100))
    k = int(count[0])
    assert 0 < k <= 100 and boxes.min() >= 0 and boxes.max() <= 1
    assert classes[0, :k].min() >= 1 and classes[0, :k].max() <= 90 and (classes[0, k:] == 1).all()
    assert (scores[0, :k] > 0.3).all() and (scores[0, :k].diff() <= 0).all() and set(classes[0, :k].tolist()) == {18}
    path = tmp_path / "ssd_mobilenet.onnx"
    torch.onnx.export(net, (images,), str(path), input_names=[spec.input_name], output_names=list(spec.output_names),
                      dynamic_axes={spec.input_name: {0: "n"}}, opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    others = torch.randint(0, 256, (2, 300, 300, 3), dtype=torch.uint8)  # not what the trace saw
    outputs = session.run(list(spec.output_names), {spec.input_name: others.numpy()})
    with torch.no_grad():
        expected = net(others)
    np.testing.assert_array_equal(outputs[0], expected[0].numpy())
    for i in range(2):  # equal scores may come in either order: compare the sets of detections
        got = np.column_stack([outputs[1][i], outputs[2][i], outputs[3][i]])
        want = np.column_stack([t[i].numpy().reshape(100, -1) for t in expected[1:]])
        np.testing.assert_allclose(got[np.lexsort(got.T)], want[np.lexsort(want.T)], atol=1e-5)


def test_ssd_resnet34_forward_at_1200() -> None:
    torch.manual_seed(0)
    net = MODELS.get("ssd-resnet34").build().eval()
    with torch.no_grad():
        for conf, per_cell in zip(net.conf, (4, 6, 6, 6, 4, 4), strict=True):  # channels: class-major
            conf.bias[3 * per_cell:4 * per_cell] += 6.0  # class 3 likely everywhere: detections to suppress
        boxes, labels, scores = net(torch.randn(1, 3, 1200, 1200))
    assert (boxes.shape, labels.shape, scores.shape) == ((1, 200, 4), (1, 200), (1, 200))
    assert labels.dtype == torch.int64 and labels.min() >= 0 and labels.max() <= 80
    valid = scores[0] > 0
    assert valid.any() and (scores[0].diff() <= 0).all() and (labels[0][valid] >= 1).all()
    assert not boxes[0][~valid].any() and set(labels[0][valid].tolist()) == {3}
