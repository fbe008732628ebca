"""`kits19`: the 43 KiTS 2019 inference cases of MLPerf's 3D U-Net, in the reference's preprocessed layout.

The layout is what vision/medical_imaging/3d-unet-kits19/preprocess.py writes and kits_QSL.py and accuracy_kits.py
read: `preprocessed_files.pkl`, a pickled {"file_list": [case names, in qsl order], "cases": {case: {"image_shape",
"original_affine", "reshaped_affine", "zoom_factor", "case"}}}, and one `<case>.pkl` per case, a pickled
[image float32 (1, D, H, W), label uint8 (1, D, H, W)]. Sample i is the image of `file_list[i]`; its ground truth
is the label beside it, the same array preprocess.py also writes as `nifti/<case>/segmentation.nii.gz` (which the
official accuracy script reads; Podium reads the pickle, so it needs no NIfTI reader). Shapes differ from case to
case (`variable_shape`). Pickles are read with an unpickler that admits numpy arrays and plain containers only,
never arbitrary objects. Labels are lazy (`CaseLabel`): a case's volume is read when a metric asks for it.

The preprocessing itself (`preprocess_case`), for raw KiTS volumes (`case_XXXXX/imaging.nii.gz` in Hounsfield
units with its voxel spacing): resampling to the common spacing (1.6, 1.2, 1.2) mm (linear for the image, nearest
for the label, scipy's `zoom`), clipping to [-79, 304] HU and normalizing with mean 101 and std 76.9, edge padding
up to the 128-voxel patch, then cropping or constant padding (-2.2) each edge to a multiple of the 64-voxel stride,
as preprocess.py does (global_vars.py holds the constants). `generate` writes small cases in the preprocessed
layout: kidneys drawn as ellipsoids with a tumour sphere inside one.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset

# The reference's constants (vision/medical_imaging/3d-unet-kits19/global_vars.py).
MEAN_HU = 101.0
STDDEV_HU = 76.9
CLIP_MIN_HU = -79.0
CLIP_MAX_HU = 304.0
PADDING_VALUE = -2.2  # of normalized images; labels are padded with 0 (background)
TARGET_SPACING_MM = (1.6, 1.2, 1.2)
ROI_VOXELS = 128
OVERLAP = 0.5
INDEX_FILE = "preprocessed_files.pkl"
BACKGROUND, KIDNEY, TUMOUR = 0, 1, 2
# meta/inference_cases.json: the 43 cases of the inference set, in qsl order.
INFERENCE_CASES = tuple(f"case_{n:05d}" for n in (
    0, 3, 5, 6, 12, 24, 34, 41, 44, 49, 52, 56, 61, 65, 66, 70, 76, 78, 80, 84, 86, 87, 92, 111, 112, 125, 128,
    138, 157, 160, 161, 162, 169, 171, 176, 185, 187, 189, 198, 203, 206, 207, 400))

# What a preprocessed pickle may name: numpy's array and scalar reconstructors (numpy 1 and 2 spellings).
_NUMPY_GLOBALS = {"_reconstruct", "_frombuffer", "scalar", "ndarray", "dtype"}
_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric"}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            module = module.replace("numpy.core.", "numpy._core.")  # numpy 1 pickles, read by numpy 2
            return super().find_class(module, name)
        if module.startswith("numpy") and name.endswith("DType"):  # numpy 2 pickles of dtypes
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")


def read_pickle(path: Path, expected: str) -> Any:
    """The object pickled at `path`, numpy arrays and containers only; a ConfigError naming `path` otherwise."""
    try:
        with open(path, "rb") as f:
            return _ArraysOnly(f).load()
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise ConfigError(f"not a readable preprocessed pickle ({e}); {expected}", path=str(path)) from None


@dataclass(frozen=True)
class CaseLabel:
    """One case's ground truth, read when asked for: `numpy.asarray(label)` is its (D, H, W) uint8 volume of
    0 (background), 1 (kidney) and 2 (tumour), read from the case's pickle."""

    case: str
    path: Path
    expected: str

    def volume(self) -> np.ndarray:
        """The label volume, (D, H, W) uint8."""
        return case_arrays(self.path, self.expected)[1]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        volume = self.volume()
        return volume if dtype is None else volume.astype(dtype)


def case_arrays(path: Path, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (1, D, H, W), label uint8 (D, H, W)) of one preprocessed case pickle."""
    content = read_pickle(path, expected)
    if not isinstance(content, (list, tuple)) or len(content) < 2 or not all(
            isinstance(a, np.ndarray) for a in content[:2]):
        raise ConfigError(f"expected a pickled [image, label] pair of arrays; {expected}", path=str(path))
    image, label = content[0], content[1]
    if image.ndim == 3:
        image = image[np.newaxis]
    label = label.reshape(label.shape[1:]) if label.ndim == 4 and label.shape[0] == 1 else label
    if image.ndim != 4 or image.shape[0] != 1 or label.shape != image.shape[1:]:
        raise ConfigError(f"image of shape {image.shape} and label of shape {label.shape}: expected (1, D, H, W) "
                          f"and the same (D, H, W); {expected}", path=str(path))
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(label, dtype=np.uint8)


class Kits19Dataset(Dataset):
    """The cases of `preprocessed_files.pkl`'s file list, in its order; each sample a (1, D, H, W) float32 image."""

    layout = "kits19"
    preprocessing_version = "mlperf-kits19-preprocessed"  # as stored: preprocess.py's output
    expected_layout = (f"expected {{path}}/{INDEX_FILE} (a pickled {{{{'file_list': [case names], 'cases': "
                       f"{{{{...}}}}}}}}) and {{path}}/<case>.pkl for each case (a pickled [image, label]), as the "
                       f"MLPerf 3D U-Net reference's preprocess.py writes them")
    variable_shape: ClassVar[bool] = True  # every case has its own shape: get_samples answers a list

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        index = read_pickle(self.path / INDEX_FILE, expected)
        cases = index.get("file_list") if isinstance(index, dict) else None
        if not isinstance(cases, (list, tuple)) or not cases or not all(isinstance(c, str) for c in cases):
            raise ConfigError(f"has no 'file_list' of case names; {expected}", path=str(self.path / INDEX_FILE))
        missing = [c for c in cases if not (self.path / f"{c}.pkl").is_file()]
        if missing:
            raise ConfigError(f"{len(missing)} of {len(cases)} listed cases have no pickle (first: {missing[0]}.pkl); "
                              f"{expected}", path=str(self.path / f"{missing[0]}.pkl"))
        self._cases = [str(c) for c in cases]
        return len(self._cases)

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        assert self.path is not None
        expected = self.expected(self.path)
        return [case_arrays(self.path / f"{self._cases[i]}.pkl", expected)[0] for i in indices]

    def _all_labels(self) -> np.ndarray:
        assert self.path is not None
        labels = np.empty(len(self._cases), dtype=object)
        expected = self.expected(self.path)
        for i, case in enumerate(self._cases):  # one by one: a CaseLabel must not be read by np.array
            labels[i] = CaseLabel(case, self.path / f"{case}.pkl", expected)
        return labels


@DATASETS.register("kits19")
def _kits19() -> type[Kits19Dataset]:
    return Kits19Dataset


# --- the reference's preprocessing -----------------------------------------------------------------------------

def resample(image_hu: np.ndarray, label: np.ndarray, spacing_mm: tuple[float, float, float],
             target_mm: tuple[float, float, float] = TARGET_SPACING_MM) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W) image and label resampled from `spacing_mm` to `target_mm`: linear for the image, nearest for the
    label, outside filled with each volume's minimum (preprocess.py's `load_and_resample`, scipy's `zoom`)."""
    if tuple(float(s) for s in spacing_mm) == tuple(target_mm):
        return image_hu.astype(np.float32), label.astype(np.uint8)
    from scipy.ndimage import zoom  # type: ignore[import-untyped]

    factor = np.asarray(spacing_mm, dtype=np.float64) / np.asarray(target_mm, dtype=np.float64)
    image: np.ndarray = zoom(image_hu.astype(np.float32), factor, order=1, mode="constant", cval=float(image_hu.min()),
                 grid_mode=False)
    resampled: np.ndarray = zoom(label.astype(np.uint8), factor, order=0, mode="constant", cval=int(label.min()),
                     grid_mode=False)
    return image, resampled


def normalize_intensity(image_hu: np.ndarray) -> np.ndarray:
    """Hounsfield units clipped to [CLIP_MIN_HU, CLIP_MAX_HU], then standardized with MEAN_HU and STDDEV_HU, in
    float32 (the reference reads the volume as float32 first)."""
    clipped = np.clip(image_hu.astype(np.float32), CLIP_MIN_HU, CLIP_MAX_HU)
    normalized: np.ndarray = ((clipped - MEAN_HU) / STDDEV_HU).astype(np.float32)
    return normalized


def pad_to_min_shape(image: np.ndarray, label: np.ndarray, roi_voxels: int = ROI_VOXELS
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Edges shorter than `roi_voxels` padded up to it, split evenly (the extra voxel after), repeating the edge."""
    short = [max(0, roi_voxels - n) for n in image.shape]
    widths = [(s // 2, s - s // 2) for s in short]
    return np.pad(image, widths, mode="edge"), np.pad(label, widths, mode="edge")


def adjust_for_sliding_window(image: np.ndarray, label: np.ndarray, roi_voxels: int = ROI_VOXELS,
                              overlap: float = OVERLAP) -> tuple[np.ndarray, np.ndarray]:
    """Each edge cropped or padded to a multiple of the window stride: a remainder under half the stride is
    cropped (split evenly, the extra voxel after), a longer one padded with PADDING_VALUE (labels with 0), as
    preprocess.py's `adjust_shape_for_sliding_window`; an edge is never left shorter than `roi_voxels`."""
    stride = int(roi_voxels * (1 - overlap))
    crop = [n % stride if n % stride < stride // 2 else 0 for n in image.shape]
    window = tuple(slice(c // 2, n - (c - c // 2)) for n, c in zip(image.shape, crop))
    image, label = image[window], label[window]
    pad = [(stride - n % stride) % stride for n in image.shape]
    pad = [p if n + p >= roi_voxels else p + stride for n, p in zip(image.shape, pad)]
    widths = [(p // 2, p - p // 2) for p in pad]
    return (np.pad(image, widths, mode="constant", constant_values=PADDING_VALUE),
            np.pad(label, widths, mode="constant", constant_values=BACKGROUND))


def preprocess_case(image_hu: np.ndarray, label: np.ndarray, spacing_mm: tuple[float, float, float], *,
                    roi_voxels: int = ROI_VOXELS, overlap: float = OVERLAP) -> tuple[np.ndarray, np.ndarray]:
    """A raw (D, H, W) CT volume in HU and its label -> (image float32 (1, D', H', W'), label uint8 (1, D', H', W')),
    as preprocess.py's `preprocess_case`: resample, normalize, pad to the patch, fit the sliding window."""
    image, resampled = resample(image_hu, label, spacing_mm)
    image = normalize_intensity(image)
    image, resampled = pad_to_min_shape(image, resampled, roi_voxels)
    image, resampled = adjust_for_sliding_window(image, resampled, roi_voxels, overlap)
    return image.astype(np.float32)[np.newaxis], resampled.astype(np.uint8)[np.newaxis]


# --- small data in the layout ----------------------------------------------------------------------------------

def draw_case(rng: np.random.Generator, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic CT volume in HU and its label: air around a soft-tissue body, two kidneys (ellipsoids,
    enhanced), a tumour (a sphere, less enhanced) inside one of them; Gaussian noise on top."""
    grid = np.stack(np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij"))
    image = np.full(shape, -1000.0)
    image[np.sum((grid / np.array([1.0, 0.9, 0.9])[:, None, None, None]) ** 2, axis=0) <= 1.0] = 40.0
    label = np.zeros(shape, dtype=np.uint8)
    for side in (-1.0, 1.0):
        centre = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1), side * rng.uniform(0.35, 0.5)])
        radii = np.array([rng.uniform(0.3, 0.45), rng.uniform(0.15, 0.22), rng.uniform(0.12, 0.18)])
        label[_inside(grid, centre, radii)] = KIDNEY
    tumour_side = rng.choice([-1.0, 1.0])
    kidney_voxels = np.argwhere(label == KIDNEY)
    near = kidney_voxels[np.sign(grid[2][tuple(kidney_voxels.T)]) == tumour_side]
    centre = grid[(slice(None), *near[rng.integers(len(near))])]
    label[_inside(grid, centre, np.full(3, rng.uniform(0.1, 0.14))) & (label == KIDNEY)] = TUMOUR
    image[label == KIDNEY], image[label == TUMOUR] = 180.0, 90.0
    return image + rng.normal(0.0, 10.0, size=shape), label


def _inside(grid: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Voxels inside the ellipsoid of `centre` and `radii` (grid coordinates in [-1, 1])."""
    return np.asarray(np.sum(((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2, axis=0) <= 1)


def generate(root: Path, count: int = 4, *, seed: int = 0, shape: tuple[int, int, int] = (64, 64, 64)) -> Path:
    """Small data in the preprocessed layout at `root`: `count` cases named as the inference cases, drawn at the
    target spacing and normalized as preprocess.py normalizes, with their labels, and `preprocessed_files.pkl`.
    Odd-numbered cases are half again as deep as `shape` (as KiTS cases differ in shape); keep each edge a
    multiple of 32 for the 3D U-Net. The `nifti/` copies of the reference are not written. Returns `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [INFERENCE_CASES[i] if i < len(INFERENCE_CASES) else f"case_{1000 + i:05d}" for i in range(count)]
    affine = np.diag([*TARGET_SPACING_MM, 1.0])
    aux: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        case_shape = (shape[0] + (shape[0] // 2) * (i % 2), shape[1], shape[2])
        image_hu, label = draw_case(rng, case_shape)
        image = normalize_intensity(image_hu)[np.newaxis]
        with open(root / f"{name}.pkl", "wb") as f:
            pickle.dump([image, label[np.newaxis]], f)
        aux[name] = {"case": name, "image_shape": image.shape, "original_affine": affine,
                     "reshaped_affine": affine, "zoom_factor": np.ones(3)}
    with open(root / INDEX_FILE, "wb") as f:
        pickle.dump({"file_list": names, "cases": aux}, f)
    return root
