"""3D segmentation: MLPerf's 3D U-Net on KiTS 2019, served by sliding-window inference as the reference serves it.

One sample is one preprocessed CT volume (1, D, H, W) and one graph run is one 128^3 patch, so the task has a
predictor (`SlidingWindow`) rather than a post-processor: it cuts each volume into patches of 128 voxels a side
that overlap by half (starts every 64 voxels on each axis, (n - 128) // 64 + 1 of them), runs them through the
graph a batch at a time, weights each patch's logits by a Gaussian importance map and adds them up, divides by the
sum of the weights, and answers the argmax over the 3 classes as uint8, flat in C order: the bytes the reference
SUT returns (vision/medical_imaging/3d-unet-kits19/base_SUT.py, inference_utils.py), which accuracy_kits.py reads
back with `--output_dtype uint8` (its default) and the case's shape. The importance map is the reference's: the
cube root of a 3D Gaussian of sigma 0.125 x 128 voxels (the outer product of three 1D windows), scaled to a
maximum of 1. Sums run in float32, patch by patch in the reference's order, so a graph that answers the same
logits gives the reference's labels bit for bit; voxels no patch covers (none, for volumes preprocessed as the
reference does) come out as background, as the reference's 0/0 does.

The official graph (`3dunet_kits19_128x128x128[_dynbatch].onnx`) takes "input" (N, 1, 128, 128, 128) and answers
"output", logits (N, 3, 128, 128, 128). A graph with a fixed batch size gets batches of that size, the last one
padded with empty patches; a graph with a static cubic input of another size gets patches of that size (a small
graph for tests, the tiny suite's), one with dynamic spatial axes the reference's 128.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import POSTPROCESSORS, PREDICTORS, TASKS, GraphForm, Postprocessor, Predictor, Task

if TYPE_CHECKING:
    from podium.inference.backends.base import LoadedModel

CLASSES = 3  # background, kidney, tumour
PATCH_VOXELS = 128  # global_vars.ROI_SHAPE
OVERLAP = 0.5  # global_vars.SLIDE_OVERLAP_FACTOR
SIGMA_FRACTION = 0.125  # inference_utils.prepare_arrays: gaussian_kernel(roi, 0.125 * roi)
PATCH_BATCH = 4  # patches per graph run (a graph with a fixed batch size gets its own)
# One uint8 class id per voxel, flat: the reference's response (`final_result.tobytes()`, uint8).
LABEL_VOLUME = ResponseEncoding("uint8", (-1,))

Corner = tuple[int, int, int]


def gaussian_window(points: int, sigma: float) -> np.ndarray:
    """A 1D Gaussian window of `points` samples, peak 1 at the centre, float64 (scipy.signal.windows.gaussian)."""
    offsets = np.arange(points, dtype=np.float64) - (points - 1.0) / 2.0
    return np.asarray(np.exp(-(offsets ** 2) / (2.0 * sigma * sigma)))


def importance_map(patch_voxels: int = PATCH_VOXELS, sigma_fraction: float = SIGMA_FRACTION) -> np.ndarray:
    """The weight of each voxel of a patch, float32 (patch, patch, patch): the cube root of the outer product of
    three Gaussian windows (sigma = sigma_fraction * patch), scaled to a maximum of 1."""
    window = gaussian_window(patch_voxels, sigma_fraction * patch_voxels)
    cube = np.outer(np.outer(window, window), window).reshape((patch_voxels,) * 3)
    cube = np.cbrt(cube)
    weights: np.ndarray = (cube / cube.max()).astype(np.float32)
    return weights


def patch_starts(length: int, patch_voxels: int = PATCH_VOXELS, overlap: float = OVERLAP) -> list[int]:
    """Where patches start along an axis of `length` voxels: every stride from 0, while a whole patch fits."""
    stride = int(patch_voxels * (1 - overlap))
    return [stride * n for n in range((length - patch_voxels) // stride + 1)]


def patch_corners(shape: Sequence[int], patch_voxels: int = PATCH_VOXELS, overlap: float = OVERLAP
                  ) -> Iterator[Corner]:
    """Each patch's first voxel in a (D, H, W) volume, depth slowest (the reference's loop order)."""
    for i in patch_starts(shape[0], patch_voxels, overlap):
        for j in patch_starts(shape[1], patch_voxels, overlap):
            for k in patch_starts(shape[2], patch_voxels, overlap):
                yield i, j, k


@dataclass(frozen=True)
class SlidingWindow:
    """The reference's sliding-window inference as a predictor: volumes (1, D, H, W) -> flat uint8 label volumes.

    Patches of all the volumes of a call are batched together (`patch_batch` per graph run); each volume's sums
    are kept apart and added to in the reference's order.
    """

    patch_voxels: int = PATCH_VOXELS
    overlap: float = OVERLAP
    patch_batch: int = PATCH_BATCH

    def __call__(self, model: LoadedModel, samples: Any, indices: Sequence[int]) -> list[np.ndarray]:
        patch = graph_patch(model)
        if patch is not None and patch != self.patch_voxels:  # the graph's own patch size rules
            return dataclasses.replace(self, patch_voxels=patch)(model, samples, indices)
        volumes = [self._volume(s, n) for n, s in enumerate(samples)]
        weights = importance_map(self.patch_voxels)
        sums = [np.zeros((CLASSES, *v.shape[1:]), dtype=np.float32) for v in volumes]
        norms = [np.zeros(v.shape[1:], dtype=np.float32) for v in volumes]
        patches = [(n, c) for n, v in enumerate(volumes) for c in patch_corners(v.shape[1:], self.patch_voxels,
                                                                                 self.overlap)]
        size = model.batch_size or self.patch_batch
        for start in range(0, len(patches), size):
            chunk = patches[start:start + size]
            logits = self._run(model, [volumes[n][(slice(None), *self._window(c))] for n, c in chunk], size)
            for (n, corner), out in zip(chunk, logits):
                window = self._window(corner)
                sums[n][(slice(None), *window)] += out * weights
                norms[n][window] += weights
        return [labels_from_sums(s, w) for s, w in zip(sums, norms)]

    def _window(self, corner: Corner) -> tuple[slice, slice, slice]:
        p = self.patch_voxels
        return slice(corner[0], corner[0] + p), slice(corner[1], corner[1] + p), slice(corner[2], corner[2] + p)

    def _volume(self, sample: Any, n: int) -> np.ndarray:
        volume = np.asarray(sample, dtype=np.float32)
        if volume.ndim != 4 or volume.shape[0] != 1:
            raise SUTError(f"3d-unet: sample {n} of the batch has shape {volume.shape}; expected one-channel "
                           f"volumes (1, D, H, W)")
        return volume

    def _run(self, model: LoadedModel, inputs: list[np.ndarray], size: int) -> np.ndarray:
        """The logits of `inputs` (patches (1, p, p, p)), run as one batch; padded with empty patches to `size`
        when the graph takes only that batch size."""
        count = len(inputs)
        batch = np.stack(inputs)
        if model.batch_size is not None and count < size:
            batch = np.concatenate([batch, np.zeros((size - count, *batch.shape[1:]), dtype=batch.dtype)])
        logits = np.asarray(model.run(batch)[0])
        expected = (len(batch), CLASSES, *(self.patch_voxels,) * 3)
        if logits.shape != expected:
            raise SUTError(f"3d-unet: the graph answered logits of shape {logits.shape} for patches of shape "
                           f"{batch.shape}; expected {expected}")
        return logits[:count]


def graph_patch(model: LoadedModel) -> int | None:
    """The patch size a graph with a static cubic input (N, 1, p, p, p) takes (the official graph's is 128), or
    None when its spatial dimensions are dynamic."""
    shape = getattr(model, "input_shape", None)
    if shape is None or len(shape) != 5 or any(d is None for d in shape[2:]) or len(set(shape[2:])) != 1:
        return None
    return int(shape[2])  # type: ignore[arg-type]


def labels_from_sums(sums: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Weighted logit sums (3, D, H, W) and weight sums (D, H, W) -> argmax labels, uint8, flat (C order); voxels
    with no weight are background. `sums` is divided in place."""
    np.divide(sums, norm, out=sums, where=norm > 0)
    labels: np.ndarray = np.argmax(sums, axis=0).astype(np.uint8).reshape(-1)
    return labels


def volume_argmax(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> list[np.ndarray]:
    """Logits of whole volumes (N, 3, D, H, W) -> one flat uint8 label volume per sample (a graph run on a whole
    volume at once, without the sliding window)."""
    logits = np.asarray(outputs[0])
    return [np.argmax(volume, axis=0).astype(np.uint8).reshape(-1) for volume in logits]


@PREDICTORS.register("unet3d-sliding-window")
def _sliding_window() -> Predictor:
    return SlidingWindow()


@POSTPROCESSORS.register("unet3d-argmax")
def _volume_argmax() -> Postprocessor:
    return volume_argmax


@TASKS.register("3d-unet")
def _unet3d() -> Task:
    return Task("3d-unet", dataset="kits19", encoding=LABEL_VOLUME, metric="dice", model="3d-unet",
                predictor="unet3d-sliding-window",
                forms=(GraphForm("mlperf-onnx", "unet3d-argmax", outputs=("output",)),
                       GraphForm("first-output", "unet3d-argmax")))
