"""The 3d-unet task and its sliding-window predictor, on tiny real models (PyTorch and ONNX Runtime) and tiny
volumes with small patches: the reference's importance map and patch grid; exact results where the answer is known
by hand (a voxel-wise model: every patch agrees, so the labels are the model's own); the Gaussian-weighted
aggregation against a straightforward loop written as the reference's base_SUT.py; a graph of fixed batch size;
voxels no patch covers; the task's declaration."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podium.core.errors import SUTError
from podium.inference.backends import BACKENDS
from podium.inference.backends.base import LoadedModel
from podium.inference.tasks import POSTPROCESSORS, PREDICTORS, TASKS
from podium.inference.tasks.segmentation import (
    LABEL_VOLUME,
    SlidingWindow,
    importance_map,
    patch_corners,
    volume_argmax,
)

torch = pytest.importorskip("torch")
PATCH = 8  # voxels a side: tiny volumes, two or three patches an axis


def voxelwise() -> Any:
    """Logits (0.5, x, -x) at each voxel: x = 2 is kidney, x = -2 tumour, x = 0 background, whatever the patch."""
    net = torch.nn.Conv3d(1, 3, kernel_size=1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([0.0, 1.0, -1.0]).reshape(3, 1, 1, 1, 1))
        net.bias.copy_(torch.tensor([0.5, 0.0, 0.0]))
    return net


class PatchMean(torch.nn.Module):  # type: ignore[misc]
    """Logits constant over a patch, from the patch's mean: each voxel's label depends on how patches are weighted."""

    def forward(self, x: Any) -> Any:
        mean = x.mean(dim=(2, 3, 4), keepdim=True)
        logits = torch.cat([0.1 * torch.ones_like(mean), mean, -mean], dim=1)
        return logits.expand(-1, -1, *x.shape[2:]).contiguous()


def patch_mean() -> Any:
    return PatchMean()


def load_torch(tmp_path: Path, factory: Any) -> LoadedModel:
    path = tmp_path / f"{factory.__name__}.pt"
    torch.save(factory().state_dict(), path)
    return BACKENDS.get("pytorch").load(path, model_factory=factory)


def volumes(*shapes: tuple[int, int, int], seed: int = 0) -> list[np.ndarray]:
    """One-channel volumes of -2, 0 and 2."""
    rng = np.random.default_rng(seed)
    return [rng.choice(np.array([-2.0, 0.0, 2.0], dtype=np.float32), size=(1, *s)) for s in shapes]


def voxelwise_labels(volume: np.ndarray) -> np.ndarray:
    return np.select([volume[0] == 2, volume[0] == -2], [1, 2], 0).astype(np.uint8).reshape(-1)


def test_importance_map_is_the_references() -> None:
    windows = pytest.importorskip("scipy.signal.windows")
    # inference_utils.gaussian_kernel(128, 0.125 * 128): outer products of scipy's window, cube root, max 1
    line = windows.gaussian(128, 16.0)
    cube = np.cbrt(np.outer(np.outer(line, line), line).reshape(128, 128, 128))
    expected = (cube / cube.max()).astype(np.float32)
    got = importance_map()
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert got.max() == 1.0 and got[0, 0, 0] == got[-1, -1, -1] < got[0, 64, 64] < 1.0


def test_patch_grid_as_the_reference() -> None:
    # starts every 64 voxels while a 128-voxel patch fits: depth 0, 64, 128; height 0, 64; width 0
    assert list(patch_corners((256, 192, 128))) == [(0, 0, 0), (0, 64, 0), (64, 0, 0), (64, 64, 0), (128, 0, 0),
                                                    (128, 64, 0)]
    assert list(patch_corners((100, 256, 256))) == []  # shorter than a patch: none (preprocessing prevents it)
    assert list(patch_corners((24, 8, 12), 8, 0.5)) == [(i, 0, k) for i in (0, 4, 8, 12, 16) for k in (0, 4)]


def test_voxelwise_model_gives_its_own_labels_exactly(tmp_path: Path) -> None:
    model = load_torch(tmp_path, voxelwise)
    samples = volumes((24, 16, 32), (16, 16, 16))
    # patches of both volumes share batches: 5*3*7 + 3*3*3 = 132 patches, 3 a batch
    labels = SlidingWindow(PATCH, 0.5, patch_batch=3)(model, samples, [4, 7])
    assert [lab.dtype for lab in labels] == [np.uint8, np.uint8]
    for lab, volume in zip(labels, samples):
        assert np.array_equal(lab, voxelwise_labels(volume))


def reference_loop(model: LoadedModel, volume: np.ndarray, patch: int, dtype: Any) -> np.ndarray:
    """base_SUT.infer_single_query + inference_utils.finalize, straightforwardly: one patch per graph run, sums
    in float32, the division in `dtype` (float64 as the PyTorch reference, float32 as the ONNX one)."""
    result = np.zeros((1, 3, *volume.shape[1:]), dtype=np.float32)
    norm_map = np.zeros_like(result)
    weights = importance_map(patch)
    stride = patch // 2
    size = [(n - patch) // stride + 1 for n in volume.shape[1:]]
    for i in range(0, stride * size[0], stride):
        for j in range(0, stride * size[1], stride):
            for k in range(0, stride * size[2], stride):
                window = (..., slice(i, i + patch), slice(j, j + patch), slice(k, k + patch))
                result[window] += model.run(volume[np.newaxis][window])[0] * weights
                norm_map[window] += weights
    final = result.astype(dtype) / norm_map.astype(dtype)
    return np.argmax(final, axis=1).astype(np.uint8).reshape(-1)


def test_weighted_aggregation_matches_the_reference_loop(tmp_path: Path) -> None:
    model = load_torch(tmp_path, patch_mean)
    rng = np.random.default_rng(3)
    samples = [rng.normal(0.0, 1.0, size=(1, 16, 24, 20)).astype(np.float32) for _ in range(2)]
    labels = SlidingWindow(PATCH, 0.5, patch_batch=4)(model, samples, [0, 1])
    for lab, volume in zip(labels, samples):
        assert np.array_equal(lab, reference_loop(model, volume, PATCH, np.float64))
        assert np.array_equal(lab, reference_loop(model, volume, PATCH, np.float32))
    # the weighting decides: plain averaging of the same patches labels some voxels otherwise
    unweighted = SlidingWindow(PATCH, 0.5)
    flat = np.ones((PATCH,) * 3, dtype=np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("podium.inference.tasks.segmentation.importance_map", lambda *_: flat)
        plain = unweighted(model, samples, [0, 1])
    assert any(not np.array_equal(a, b) for a, b in zip(labels, plain))


def test_graph_of_fixed_batch_size_gets_padded_batches(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "voxelwise.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(voxelwise(), (torch.zeros(2, 1, PATCH, PATCH, PATCH),), str(path), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False)
    model = BACKENDS.get("onnxruntime").load(path)
    assert model.batch_size == 2
    samples = volumes((16, 12, 8)) + volumes((16, 8, 8), seed=1)  # 3 x 2 x 1 + 3 x 1 x 1: 9 patches, an odd number
    labels = SlidingWindow(PATCH, 0.5, patch_batch=4)(model, samples, [0, 1])
    for lab, volume in zip(labels, samples):
        assert np.array_equal(lab, voxelwise_labels(volume))


def test_voxels_no_patch_covers_are_background(tmp_path: Path) -> None:
    model = load_torch(tmp_path, voxelwise)
    volume = np.full((1, 14, 8, 8), 2.0, dtype=np.float32)  # patches at depth 0 and 4 cover 0..11, not 12, 13
    labels = SlidingWindow(PATCH, 0.5)(model, [volume], [0])[0].reshape(14, 8, 8)
    assert np.all(labels[:12] == 1) and np.all(labels[12:] == 0)


def test_a_graph_answering_another_shape_is_a_sut_error(tmp_path: Path) -> None:
    model = load_torch(tmp_path, voxelwise)
    with pytest.raises(SUTError, match=r"logits of shape \(1, 3, 8, 8, 8\) .* expected \(1, 3, 16, 16, 16\)"):
        SlidingWindow(16, 0.5)(_Shrinking(model), [np.zeros((1, 16, 16, 16), np.float32)], [0])  # type: ignore[arg-type]
    with pytest.raises(SUTError, match=r"shape \(16, 16, 16\); expected one-channel volumes"):
        SlidingWindow(16, 0.5)(model, [np.zeros((16, 16, 16), np.float32)], [0])


class _Shrinking:
    """A model whose graph answers half-size logits (a graph exported for another patch size)."""

    def __init__(self, inner: LoadedModel) -> None:
        self.inner, self.batch_size = inner, None

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return (self.inner.run(batch[:, :, ::2, ::2, ::2])[0],)


def test_whole_volume_post_processor() -> None:
    logits = np.zeros((2, 3, 2, 2, 2), dtype=np.float32)
    logits[0, 1] = 1.0
    logits[1, 2, 0] = 1.0
    labels = volume_argmax([logits])
    assert [lab.tolist() for lab in labels] == [[1] * 8, [2] * 4 + [0] * 4]
    assert POSTPROCESSORS.get("unet3d-argmax") is volume_argmax


def test_task_declaration() -> None:
    task = TASKS.get("3d-unet")
    assert (task.dataset, task.metric, task.model, task.predictor) == ("kits19", "dice", "3d-unet",
                                                                       "unet3d-sliding-window")
    assert task.encoding == LABEL_VOLUME and (LABEL_VOLUME.dtype, LABEL_VOLUME.shape) == ("uint8", (-1,))
    assert task.forms[0].outputs == ("output",) and task.needs_dataset_path
    predictor = PREDICTORS.get("unet3d-sliding-window")
    assert predictor == SlidingWindow(128, 0.5)
    labels = np.array([[0, 1], [2, 1]], dtype=np.uint8).reshape(-1)
    assert np.array_equal(LABEL_VOLUME.decode(LABEL_VOLUME.encode(labels)), labels)


def small_unet() -> Any:
    from podium.models.unet3d import unet3d

    torch.manual_seed(0)
    return unet3d(filters=(2, 4, 4, 8, 8))


def test_generated_cases_through_predictor_log_and_dice(tmp_path: Path) -> None:
    """Generated KiTS cases -> a small 3D U-Net (random weights, the reference's shape) through the predictor ->
    responses encoded, logged as LoadGen logs them -> scored by the accuracy step as the official script scores."""
    import json

    from podium.datasets.kits19 import Kits19Dataset, generate
    from podium.inference.accuracy import evaluate, write_accuracy
    from podium.metrics.dice import case_dice

    ds = Kits19Dataset(generate(tmp_path / "kits", 2, shape=(64, 64, 64)))
    ds.load_samples([0, 1])
    model = load_torch(tmp_path, small_unet)
    responses = SlidingWindow(64, 0.5, patch_batch=2)(model, ds.get_samples([1, 0]), [1, 0])
    log = [{"seq_id": n, "qsl_idx": i, "data": LABEL_VOLUME.encode(r).hex()}
           for n, (i, r) in enumerate(zip([1, 0], responses))]
    (tmp_path / "mlperf_log_accuracy.json").write_text(json.dumps(log))
    result = evaluate("dice", tmp_path / "mlperf_log_accuracy.json", ds, LABEL_VOLUME)
    per_case = [case_dice(r, np.asarray(ds.labels()[i])) for i, r in zip([1, 0], responses)]
    assert result.total == 2
    assert result.value == pytest.approx(np.mean([(k + t) / 2 for k, t in per_case]), rel=1e-12)
    txt, _ = write_accuracy(tmp_path / "accuracy", result, target=0.86170 * 0.99)
    assert txt.read_text().startswith(f"Accuracy: mean = {result.value:.5f}, kidney = ")
