"""`maskrcnn`: the COCO loader refuses a wrong layout naming it; RoIAlign is the reference's (a bilinear case by
hand, the csrc kernel's loop, gradcheck); suppression is `podium.models.boxes.nms`'s on inclusive boxes; the mask
metric is pycocotools' "segm"; a small network of the same family (96x80 generated shapes, via dataclasses.replace
of the workload: the same Program) learns, reaches box mAP 0.377 and mask mAP 0.339, and its log passes the
official checker under 3.1.0 closed, while the same log with a hyperparameter closed division fixes changed fails it.

Time: the converging run takes 7 to 11 epochs of 17 steps (seeds 0 to 5; its budget is 16), 12 to 20 s of one CPU
core. It runs on one torch thread: on a loaded 2-core machine two OpenMP threads waiting for each other made it
ten to twenty times slower (882 s instead of under a minute)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")
pytest.importorskip("PIL")

from podium.core.errors import ConfigError, RuleViolation  # noqa: E402
from podium.models.maskrcnn import CONFIG  # noqa: E402
from podium.models.roi_align import roi_align  # noqa: E402
from podium.workloads import WORKLOADS  # noqa: E402
from podium.workloads import maskrcnn  # noqa: E402
from podium.workloads.base import Division  # noqa: E402

# A narrow, shallow ResNet-FPN of the reference's family for 80-pixel images: one bottleneck per stage, 32 FPN
# channels, anchors a quarter of the reference's; inputs scaled to unit deviation (its backbone is not pretrained).
TINY_NET = dataclasses.replace(
    CONFIG, stage_blocks=(1, 1, 1, 1), stem_channels=16, bottleneck_channels=8, res2_channels=32, fpn_channels=32,
    freeze_at=0, anchor_sizes=(8, 16, 32, 64, 128), mlp_dim=128, mask_channels=(32,) * 4, roi_batch_per_image=64,
    rpn_batch_per_image=64, pre_nms_top_n_train=300, post_nms_top_n_train=300, pre_nms_top_n_test=300,
    post_nms_top_n_test=300, fpn_post_nms_top_n_test=300, pixel_std=(57.4, 57.1, 58.4))
BATCH = 4
IMAGE = (96, 80)   # generated images' (width, height): the shorter side is min_image_size, so none is resized
# 0.02 / 2 (allowed below a global batch of 16): at 0.02 one seed in a dozen diverged on these 4-image batches
OVERRIDES = {"opt_base_learning_rate": 0.01, "opt_learning_rate_warmup_steps": 20}


def tiny(root: Path, epochs: int = 16):
    """The benchmark's workload with the small network and images, bound to generated data at `root`."""
    workload = WORKLOADS.get("maskrcnn")
    small = maskrcnn.recipe(min_size=IMAGE[1], max_size=133, per_rank_batch=BATCH,
                            decay_steps=maskrcnn.decay_steps_for(BATCH, -9), candidates=1000)
    return dataclasses.replace(workload, recipe=small, program=maskrcnn.program_for(TINY_NET), reference=None,
                               budget=epochs, runs=1).with_data(root)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    # one shape an image: 64 training images make an epoch of 17 steps, 16 val images a short evaluation
    return maskrcnn.generate(tmp_path_factory.mktemp("coco"), train=64, val=16, seed=0, size=IMAGE, shapes=1)


def test_the_loader_refuses_a_wrong_layout_naming_the_path(tmp_path):
    (tmp_path / "annotations").mkdir()
    with pytest.raises(ConfigError, match="instances_train2017.json") as caught:
        WORKLOADS.get("maskrcnn").with_data(tmp_path)
    assert str(tmp_path) in str(caught.value) and "train2017/" in str(caught.value)


def test_roi_align_samples_bilinearly_as_computed_by_hand():
    feature = torch.tensor([[[[5.0, 1.0], [2.0, 7.0]]]])
    # a 1x1 RoI centred on (x 0.25, y 0.5): 0.5 * (0.75 * 5 + 0.25 * 1) + 0.5 * (0.75 * 2 + 0.25 * 7) = 3.625
    inside = torch.tensor([[0.0, -0.25, 0.0, 0.75, 1.0]])
    assert roi_align(feature, inside, 1, 1.0, 1).item() == pytest.approx(3.625)
    # samples at -0.5 and 0.5: the first clamped to the edge, the second between pixels
    corner = torch.tensor([[0.0, -1.0, -1.0, 1.0, 1.0]])
    assert roi_align(feature, corner, 2, 1.0, 1).flatten().tolist() == pytest.approx([5.0, 3.0, 3.5, 3.75])
    # samples at -2 (beyond one pixel outside: zero) and -1 (clamped to the edge); all four in one bin average
    outside = torch.tensor([[0.0, -2.5, -2.5, -0.5, -0.5]])
    assert roi_align(feature, outside, 2, 1.0, 1).flatten().tolist() == pytest.approx([0.0, 0.0, 0.0, 5.0])
    assert roi_align(feature, outside, 1, 1.0, 2).item() == pytest.approx(5.0 / 4)


def _reference_kernel(feature, rois, pooled, scale, ratio):
    """ROIAlign_cpu.cpp's loops, transcribed: one bilinear sample at a time."""
    out = torch.zeros(len(rois), feature.shape[1], pooled, pooled, dtype=feature.dtype)
    height, width = feature.shape[-2:]
    for r, (b, *box) in enumerate(rois.tolist()):
        x1, y1, x2, y2 = (v * scale for v in box)
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        gh, gw = (ratio, ratio) if ratio > 0 else (math.ceil(h / pooled), math.ceil(w / pooled))
        for p in range(pooled * pooled):
            total = torch.zeros(feature.shape[1], dtype=feature.dtype)
            for iy in range(gh):
                for ix in range(gw):
                    y = y1 + (p // pooled) * h / pooled + (iy + 0.5) * h / pooled / gh
                    x = x1 + (p % pooled) * w / pooled + (ix + 0.5) * w / pooled / gw
                    if y < -1 or y > height or x < -1 or x > width:
                        continue
                    y, x = max(y, 0.0), max(x, 0.0)
                    yl, xl = min(int(y), height - 1), min(int(x), width - 1)
                    y, x = (float(yl) if yl == height - 1 else y), (float(xl) if xl == width - 1 else x)
                    yh, xh = min(yl + 1, height - 1), min(xl + 1, width - 1)
                    ly, lx, f = y - yl, x - xl, feature[int(b)]
                    total += ((1 - ly) * (1 - lx) * f[:, yl, xl] + (1 - ly) * lx * f[:, yl, xh]
                              + ly * (1 - lx) * f[:, yh, xl] + ly * lx * f[:, yh, xh])
            out[r, :, p // pooled, p % pooled] = total / (gh * gw)
    return out


def test_roi_align_is_the_reference_kernel_and_has_exact_gradients():
    torch.manual_seed(0)
    feature = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    rois = torch.tensor([[0, 1.0, 2.0, 30.0, 20.0], [1, -10.0, -6.0, 5.0, 50.0], [0, 3.0, 3.0, 3.5, 3.2],
                         [1, 20.0, 10.0, 60.0, 40.0], [0, -20.0, -20.0, -5.0, -5.0]], dtype=torch.float64)
    for ratio in (2, 0):
        assert torch.allclose(roi_align(feature, rois, 3, 0.25, ratio), _reference_kernel(feature, rois, 3, 0.25,
                                                                                        ratio))
    small = feature[:, :1, :5, :5].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois[:3], 2, 0.25, 2), (small,))


def test_suppression_is_the_greedy_nms_of_podium_models_boxes_on_inclusive_boxes():
    from podium.models._maskrcnn_boxes import NMS_BLOCK, suppress
    from podium.models.boxes import nms

    generator = torch.Generator().manual_seed(0)
    # more boxes than a block, integer corners and tied scores (order: the lower index first), several thresholds
    for n, threshold, keep_at_most in ((NMS_BLOCK + 300, 0.7, -1), (400, 0.5, 50), (300, 0.3, -1), (0, 0.5, -1)):
        corner = (torch.rand(n, 2, generator=generator) * 100).round()
        boxes = torch.cat([corner, corner + (torch.rand(n, 2, generator=generator) * 40).round()], dim=1)
        scores = (torch.rand(n, generator=generator) * 8).round() / 8
        expected = nms(boxes.double().numpy() + np.array([0.0, 0.0, 1.0, 1.0]), scores.double().numpy(), threshold)
        expected = expected[:keep_at_most] if keep_at_most >= 0 else expected
        assert suppress(boxes, scores, threshold, keep_at_most).tolist() == expected.tolist()


def test_the_mask_metric_is_pycocotools_segm_on_hand_made_masks():
    import pycocotools.mask as mask_util
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from podium.metrics import METRICS

    square = [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]]
    truth = {"image_id": 7, "width": 16, "height": 16, "category_ids": (1, 3), "annotations": [
        {"id": 1, "category_id": 1, "bbox": [2.0, 2.0, 10.0, 10.0], "area": 100.0, "iscrowd": 0,
         "segmentation": square}]}
    masks = np.zeros((2, 16, 16), dtype=np.uint8)
    masks[0, 2:12, 2:12] = 1     # the square
    masks[1, 4:12, 2:9] = 1      # part of it
    found = {"boxes": [[2, 2, 10, 10], [2, 4, 7, 8]], "scores": [0.4, 0.9], "category_ids": [1, 1], "masks": masks}
    metric = METRICS.get("coco-segm")
    metric.update([found], [truth])
    score = metric.compute()

    gt = COCO()
    gt.dataset = {"images": [{"id": 7, "width": 16, "height": 16}], "categories": [{"id": 1}, {"id": 3}],
                  "annotations": [dict(truth["annotations"][0], image_id=7)]}
    gt.createIndex()
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    dt = gt.loadRes([{"image_id": 7, "category_id": 1, "segmentation": r, "score": s}
                     for r, s in zip(rles, (0.4, 0.9))])
    expected = COCOeval(gt, dt, iouType="segm")
    expected.evaluate()
    expected.accumulate()
    expected.summarize()
    assert score.value == pytest.approx(100 * expected.stats[0]) and 0 < score.value < 100
    assert score.details["bbox_AP"] > 0


def test_closed_division_refuses_what_the_rules_fix(shapes):
    recipe = tiny(shapes).recipe
    for change in ({"opt_learning_rate_decay_factor": 0.2}, {"opt_base_learning_rate": 0.03},
                   {"num_image_candidates": 1500}, {"min_image_size": 100}):
        with pytest.raises(RuleViolation):
            recipe.resolve(change, Division.CLOSED)
    assert maskrcnn.decay_steps_for(16) == [60000, 80000] and maskrcnn.decay_steps_for(32, 2) == [36000, 48000]
    assert maskrcnn.lr_factor(1, {**recipe.resolve({}, Division.CLOSED), **OVERRIDES}) == pytest.approx(
        1 / 3 * (1 - 1 / 20) + 1 / 20)


@pytest.fixture(scope="module")
def converged(shapes, tmp_path_factory):
    """One closed run of the small version to the targets, through the harness (log checked officially), on one
    torch thread (see the module's docstring), the caller's thread count restored after."""
    pytest.importorskip("mlperf_logging")
    from podium.training.campaign import Campaign, CampaignConfig

    out = tmp_path_factory.mktemp("maskrcnn-run")
    config = CampaignConfig(runs=1, seed=5, out=out, save_models=False, overrides=OVERRIDES, loader_workers=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Campaign(tiny(shapes), config).run()
    finally:
        torch.set_num_threads(threads)


def logged(result, key):
    """The values of `key` in the run's MLPerf log, in order."""
    lines = result.layout.result_log(0).read_text().splitlines()
    return [json.loads(line.split(":::MLLOG", 1)[1])["value"] for line in lines if f'"key": "{key}"' in line]


def test_the_small_network_learns(converged):
    """Each evaluation answers both parts as fractions; box mAP rises from near 0 over several epochs."""
    evaluations = logged(converged, "eval_accuracy")
    assert all(set(v) == {"BBOX", "SEGM"} and all(0.0 <= x <= 1.0 for x in v.values()) for v in evaluations)
    assert len(evaluations) >= 2 and evaluations[0]["BBOX"] < 0.2
    assert [e.value for e in converged.records[0].evaluations] == [v["BBOX"] for v in evaluations]


def test_the_small_version_converges_and_its_log_passes_the_official_checker(converged):
    record = converged.records[0]
    assert record.status.value == "success", record.reason
    assert record.compliance is not None and record.compliance.passed, record.compliance
    log = converged.layout.result_log(0).read_text()
    assert '"key": "eval_accuracy", "value": {"BBOX": ' in log and '"submission_benchmark", "value": "maskrcnn"' in log


@pytest.mark.parametrize("key, logged, forbidden", [("opt_learning_rate_decay_factor", "0.1", "0.2"),
                                                    ("opt_base_learning_rate", "0.01", "0.03")])
def test_a_log_with_a_forbidden_change_fails_the_official_checker(converged, tmp_path, key, logged, forbidden):
    from podium.training.compliance import check_log

    text = converged.layout.result_log(0).read_text()
    line = f'"key": "{key}", "value": {logged},'
    assert line in text
    changed = tmp_path / "changed.txt"
    changed.write_text(text.replace(line, f'"key": "{key}", "value": {forbidden},'))
    verdict = check_log(changed, "3.1.0")
    assert not verdict.passed and any(key in m for m in verdict.messages), verdict.messages
