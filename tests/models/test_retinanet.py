"""RetinaNet: the reference checkpoint's keys, anchors, box decoding, and the post-processed outputs of a forward
pass, eager and exported to ONNX (run by ONNX Runtime)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from podium.models import MODELS  # noqa: E402
from podium.models.boxes import box_iou  # noqa: E402
from podium.models.checkpoints import unwrap_state_dict  # noqa: E402
from podium.models.retinanet import CONFIG, anchor_count, build_retinanet, feature_sizes  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Any:
    """The 264-class network, run at its input's size, with head weights drawn so that scores are above the
    threshold and distinct (the reference's initial bias makes every score 0.01, below it)."""
    torch.manual_seed(0)
    net = build_retinanet(image_size=None).eval()
    torch.nn.init.normal_(net.head.classification_head.cls_logits.weight, std=0.5)
    torch.nn.init.zeros_(net.head.classification_head.cls_logits.bias)
    torch.nn.init.normal_(net.head.regression_head.bbox_reg.weight, std=0.1)
    return net


def test_state_dict_has_the_reference_checkpoint_keys(model: Any) -> None:
    state = model.state_dict()
    # backbone.body: stem 1 conv + 1 frozen bn (4 buffers); 16 bottlenecks x (3 convs + 3 bns);
    # 4 projections x (conv + bn); fpn: 3 inner + 3 layer convs + p6 + p7 (weight, bias); 2 heads x 5 convs x 2
    assert len(state) == 5 + 16 * 15 + 4 * 5 + 8 * 2 + 2 * 5 * 2 == 301
    shapes = {
        "backbone.body.conv1.weight": (64, 3, 7, 7),
        "backbone.body.bn1.running_var": (64,),
        "backbone.body.layer1.0.conv2.weight": (128, 4, 3, 3),  # 32 groups of width 4
        "backbone.body.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "backbone.body.layer3.5.bn3.weight": (1024,),
        "backbone.body.layer4.2.conv3.weight": (2048, 1024, 1, 1),
        "backbone.fpn.inner_blocks.0.weight": (256, 512, 1, 1),
        "backbone.fpn.inner_blocks.2.bias": (256,),
        "backbone.fpn.layer_blocks.1.weight": (256, 256, 3, 3),
        "backbone.fpn.extra_blocks.p6.weight": (256, 256, 3, 3),
        "backbone.fpn.extra_blocks.p7.bias": (256,),
        "head.classification_head.conv.6.weight": (256, 256, 3, 3),
        "head.classification_head.cls_logits.weight": (9 * 264, 256, 3, 3),
        "head.regression_head.conv.0.bias": (256,),
        "head.regression_head.bbox_reg.weight": (9 * 4, 256, 3, 3),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert not [k for k in state if "num_batches_tracked" in k or k.startswith(("backbone.body.fc", "anchor"))]


def test_a_wrapped_checkpoint_loads_strictly(model: Any) -> None:
    """As the training script saves it: {"model": state dict, ...}, here also with DDP's "module." prefix."""
    checkpoint = {"model": {f"module.{k}": v + 1 for k, v in model.state_dict().items()}, "epoch": 10}
    fresh = build_retinanet(image_size=None)
    fresh.load_state_dict(unwrap_state_dict(checkpoint, "model_10.pth"), strict=True)
    assert torch.equal(fresh.state_dict()["backbone.body.bn1.running_mean"],
                       model.state_dict()["backbone.body.bn1.running_mean"] + 1)


def test_registered_with_the_official_graph_names() -> None:
    entry = MODELS.get("retinanet")
    assert (entry.input_name, entry.output_names, entry.input_shape) == ("images", ("boxes", "scores", "labels"),
                                                                          (3, 800, 800))


def test_anchors_at_800_and_the_feature_sizes_of_the_backbone(model: Any) -> None:
    from podium.models._retinanet_net import grid_anchors

    assert feature_sizes((800, 800)) == [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]
    assert anchor_count((800, 800)) == 120087
    cells = [getattr(model, f"cell_anchors_{level}") for level in range(5)]
    assert sum(len(grid_anchors(c, hw, (800, 800))) for c, hw in zip(cells, feature_sizes((800, 800)))) == 120087
    with torch.no_grad():
        features = model.backbone(torch.zeros(1, 3, 72, 100))
    assert [tuple(f.shape[-2:]) for f in features] == feature_sizes((72, 100))


def test_cell_anchors_and_their_grid() -> None:
    from podium.models._retinanet_net import cell_anchors, grid_anchors

    assert CONFIG.anchor_sizes == ((32, 40, 50), (64, 80, 101), (128, 161, 203), (256, 322, 406), (512, 645, 812))
    cell = cell_anchors((32, 40, 50), (0.5, 1.0, 2.0))
    # ratio 0.5 (height / width), size 32: w = 32 * sqrt(2) = 45.25, h = 22.63, halved and rounded
    assert cell[0].tolist() == [-23.0, -11.0, 23.0, 11.0]
    assert cell[3].tolist() == [-16.0, -16.0, 16.0, 16.0]  # ratio 1, size 32
    grid = grid_anchors(cell, (2, 3), (16, 24))  # stride 8 both ways; location-major, then the 9 cell anchors
    assert grid.shape == (2 * 3 * 9, 4)
    assert grid[9 * 4 + 3].tolist() == [8.0 - 16, 8.0 - 16, 8.0 + 16, 8.0 + 16]  # row 1, column 1


def test_decoding_a_known_box() -> None:
    from podium.models._retinanet_net import decode_boxes

    anchors = torch.tensor([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 40.0, 40.0]])  # 40x80 centred (30, 60)
    deltas = torch.tensor([[0.5, -0.25, math.log(2.0), 0.0], [0.0, 0.0, 10.0, 0.0]])
    boxes = decode_boxes(deltas, anchors, CONFIG.bbox_xform_clip)
    assert boxes[0].tolist() == pytest.approx([10.0, 0.0, 90.0, 80.0])
    assert (boxes[1, 2] - boxes[1, 0]).item() == pytest.approx(40 * 1000 / 16)  # dw clamped at log(1000 / 16)


def test_forward_answers_padded_detections_per_image(model: Any) -> None:
    images = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        boxes, scores, labels = model(images)
    assert (boxes.shape, scores.shape, labels.shape, labels.dtype) == ((2, 300, 4), (2, 300), (2, 300),
                                                                       torch.int64)
    for b, s, lab in zip(boxes.numpy(), scores.numpy(), labels.numpy()):
        real = s > 0
        assert real.sum() > 0 and np.all(s[real] > CONFIG.score_thresh)
        assert np.all(np.diff(s) <= 0)  # descending, padding (score 0, label -1) last
        assert np.all(lab[~real] == -1) and np.all((lab[real] >= 0) & (lab[real] < 264))
        assert np.all(b[real] >= 0) and np.all(b[real][:, [0, 2]] <= 96) and np.all(b[real][:, [1, 3]] <= 64)
        same_class = lab[real][:, None] == lab[real][None, :]
        overlap = box_iou(b[real], b[real]) > CONFIG.nms_thresh
        assert not np.any(np.triu(same_class & overlap, k=1))  # NMS left no same-class pair above 0.5


def test_an_input_of_another_size_is_resized_and_its_boxes_scaled_back() -> None:
    torch.manual_seed(1)
    net = build_retinanet(image_size=(64, 64)).eval()
    torch.nn.init.zeros_(net.head.classification_head.cls_logits.bias)
    with torch.no_grad():
        boxes, scores, _ = net(torch.rand(1, 3, 32, 48))
    real = boxes[scores > 0]
    assert len(real) and real[:, [0, 2]].max() <= 48 and real[:, [1, 3]].max() <= 32


def test_exported_graph_answers_as_the_eager_model(model: Any, tmp_path: Path) -> None:
    """torch.onnx.export (TorchScript path, as `--model random` exports) with a dynamic batch axis; the
    suppression becomes ONNX's NonMaxSuppression."""
    ort = pytest.importorskip("onnxruntime")
    images = torch.rand(2, 3, 64, 96)
    names = ["images", "boxes", "scores", "labels"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (images[:1],), str(tmp_path / "r.onnx"), input_names=names[:1],
                          output_names=names[1:], dynamic_axes={n: {0: "batch"} for n in names}, opset_version=17,
                          dynamo=False)
        expected = [t.numpy() for t in model(images)]
    session = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(names[1:], {"images": images.numpy()})
    assert [o.shape for o in got] == [(2, 300, 4), (2, 300), (2, 300)]
    for image in range(2):   # the same detections; those of equal scores may come in either order
        assert_same_detections([o[image] for o in got], [e[image] for e in expected])


def assert_same_detections(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Each expected (box, score, label) row has its own row in `got` (boxes within 1e-3, scores 1e-5)."""
    free = list(range(len(got[1])))
    for box, score, label in zip(*expected):
        match = next((j for j in free if got[2][j] == label and abs(got[1][j] - score) <= 1e-5
                      and np.allclose(got[0][j], box, atol=1e-3)), None)
        assert match is not None, (box, score, label)
        free.remove(match)
