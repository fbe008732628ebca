"""`kits19-training`: KiTS 2019 as MLPerf Training's 3D U-Net reads it: the reference's preprocessed `.npy` pairs.

The layout is what the training reference's preprocess_dataset.py writes (mlcommons/training,
image_segmentation/pytorch, later retired_benchmarks/unet3d/pytorch) and data_loading/data_loader.py reads: one
folder holding, for each case, `case_XXXXX_x.npy` (the image, float32 (1, D, H, W), resampled to 1.6 x 1.2 x 1.2 mm,
clipped to [-79, 304] HU and standardized with mean 101 and std 76.9, each edge padded up to 128 voxels) and
`case_XXXXX_y.npy` (its label, uint8 (1, D, H, W): 0 background, 1 kidney, 2 tumour). The script keeps the 210
cases `case_00000` to `case_00209`. The reference splits by name: the 42 cases of its evaluation_cases.txt
(`EVALUATION_CASES`) evaluate and every other case trains; it logs the two counts as it finds them, and the closed
rules (closed_unet3d.yaml) require 168 and 42.

`open_split` lists the folder (names only: nothing is read before the clock starts, training rules §Data set);
`read_case` reads a case and checks its arrays; a wrong layout is a ConfigError naming the path and the layout.
`generate` writes small cases in the layout: a body with two kidneys and a tumour, one voxel per 1.6 x 1.2 x 1.2 mm
as preprocessed, normalized as preprocess_dataset.py normalizes. The `kits19-training` dataset of `DATASETS` is the
evaluation split as a sample library (images as samples, label volumes as ground truth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIX, LABEL_SUFFIX = "_x.npy", "_y.npy"
CASE_COUNT = 210  # preprocess_dataset.py: MAX_ID = 210, no case excluded
# evaluation_cases.txt of the training reference: the 42 validation cases, a fixed split.
EVALUATION_CASES = tuple(f"case_{n:05d}" for n in (
    0, 3, 5, 6, 12, 24, 34, 41, 44, 49, 52, 56, 61, 65, 66, 70, 76, 78, 80, 84, 86, 87, 92, 111, 112, 125, 128,
    138, 157, 160, 161, 162, 169, 171, 176, 185, 187, 189, 198, 203, 206, 207))
TRAIN_SAMPLES = CASE_COUNT - len(EVALUATION_CASES)  # 168
EVAL_SAMPLES = len(EVALUATION_CASES)  # 42
EXPECTED_LAYOUT = ("expected {path}/case_XXXXX_x.npy (image, float32 (1, D, H, W)) and {path}/case_XXXXX_y.npy "
                   "(label, uint8 (1, D, H, W), classes 0, 1, 2) for each case, as the MLPerf training 3D U-Net "
                   "reference's preprocess_dataset.py writes them; the 42 cases of its evaluation_cases.txt "
                   "evaluate and the others (168) train")
_CASE_FILE = re.compile(r"^(case_\d{5})_([xy])\.npy$")


@dataclass(frozen=True)
class Case:
    """One case's two files: `image` (`<name>_x.npy`) and `label` (`<name>_y.npy`)."""

    name: str
    image: Path
    label: Path


@dataclass(frozen=True)
class Split:
    """The training and evaluation cases of a folder, in name order, as the reference splits them."""

    path: Path
    train: tuple[Case, ...]
    eval: tuple[Case, ...]


def expected(path: Path | str) -> str:
    """The layout sentence for error messages, naming `path`."""
    return EXPECTED_LAYOUT.format(path=path)


def open_split(path: Path | str) -> Split:
    """The cases at `path`, split as the reference splits them; reads file names only. A ConfigError naming the
    path and the layout when the folder is missing, holds no case, pairs an image without a label (or the
    reverse), or lacks one of the 42 evaluation cases."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"no such dataset directory; {expected(root)}", path=str(root))
    files: dict[str, dict[str, Path]] = {}
    for entry in root.iterdir():
        match = _CASE_FILE.match(entry.name)
        if match:
            files.setdefault(match.group(1), {})[match.group(2)] = entry
    if not files:
        raise ConfigError(f"no case_XXXXX_x.npy / case_XXXXX_y.npy files; {expected(root)}", path=str(root))
    for name in sorted(files):
        if len(files[name]) != 2:
            missing = f"{name}{LABEL_SUFFIX if 'x' in files[name] else IMAGE_SUFFIX}"
            raise ConfigError(f"{missing} is missing ({len(files)} cases found); {expected(root)}",
                              path=str(root / missing))
    absent = [c for c in EVALUATION_CASES if c not in files]
    if absent:
        raise ConfigError(f"{len(absent)} of the {EVAL_SAMPLES} evaluation cases are missing (first: {absent[0]}); "
                          f"{expected(root)}", path=str(root / f"{absent[0]}{IMAGE_SUFFIX}"))
    cases = [Case(n, files[n]["x"], files[n]["y"]) for n in sorted(files)]
    train = tuple(c for c in cases if c.name not in EVALUATION_CASES)
    if not train:
        raise ConfigError(f"only evaluation cases, no training case; {expected(root)}", path=str(root))
    return Split(root, train, tuple(c for c in cases if c.name in EVALUATION_CASES))


def read_case(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (1, D, H, W), label uint8 (1, D, H, W)) of `case`; a ConfigError naming the file and the
    layout when either is unreadable or not of that type and shape."""
    return _pair(case, mmap=False)


def check_case(case: Case) -> tuple[int, ...]:
    """The (1, D, H, W) shape of `case`, from its two .npy headers (memory-mapped: no voxel is read); a
    ConfigError naming the file and the layout as `read_case` gives."""
    return tuple(_pair(case, mmap=True)[0].shape)


def _pair(case: Case, *, mmap: bool) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    image = _load(case.image, np.float32, mmap)
    label = _load(case.label, np.uint8, mmap)
    if image.shape != label.shape:
        raise ConfigError(f"image of shape {image.shape} but label of shape {label.shape}; "
                          f"{expected(case.image.parent)}", path=str(case.label))
    return image, label


def _load(file: Path, dtype: Any, mmap: bool) -> np.ndarray:
    import numpy as np

    try:
        array: np.ndarray = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"not a readable .npy array ({e}); {expected(file.parent)}", path=str(file)) from None
    if array.dtype != dtype or array.ndim != 4 or array.shape[0] != 1:
        raise ConfigError(f"an array of {array.dtype} {array.shape}, not {np.dtype(dtype)} (1, D, H, W); "
                          f"{expected(file.parent)}", path=str(file))
    return array


# --- the evaluation split as a sample library ------------------------------------------------------------------

@dataclass(frozen=True)
class LabelFile:
    """One case's ground truth, read when asked for: `numpy.asarray(label)` is its (D, H, W) uint8 volume."""

    case: Case

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        import numpy as np

        volume = np.asarray(read_case(self.case)[1][0])
        return volume if dtype is None else volume.astype(dtype)


class Kits19TrainingDataset(Dataset):
    """The 42 evaluation cases of a training-layout folder: sample i is the image (1, D, H, W) of the i-th."""

    layout = "kits19-training"
    preprocessing_version = "as-stored"  # preprocess_dataset.py's output is read as it is
    expected_layout = EXPECTED_LAYOUT
    variable_shape: ClassVar[bool] = True

    def _open(self) -> int:
        assert self.path is not None
        self._cases = open_split(self.path).eval
        return len(self._cases)

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        return [read_case(self._cases[i])[0] for i in indices]

    def _all_labels(self) -> np.ndarray:
        import numpy as np

        labels = np.empty(len(self._cases), dtype=object)
        for i, case in enumerate(self._cases):  # one by one: np.array would read every LabelFile
            labels[i] = LabelFile(case)
        return labels


@DATASETS.register("kits19-training")
def _kits19_training() -> type[Kits19TrainingDataset]:
    return Kits19TrainingDataset


# --- small data in the layout ----------------------------------------------------------------------------------

def draw_volume(rng: np.random.Generator, shape: tuple[int, int, int], noise_hu: float = 10.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic CT volume in HU and its label: air, a soft-tissue body, two kidneys (ellipsoids, enhanced) and a
    tumour (a ball, less enhanced) inside one; objects big enough that a small network segments them well."""
    import numpy as np

    from podium.datasets.kits19 import KIDNEY, TUMOUR

    grid = np.stack(np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij"))
    image = np.full(shape, -1000.0)
    image[_inside(grid, np.zeros(3), np.array([1.0, 0.95, 0.95]))] = 40.0
    label = np.zeros(shape, dtype=np.uint8)
    for side in (-1.0, 1.0):
        centre = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1), side * rng.uniform(0.42, 0.5)])
        radii = np.array([rng.uniform(0.4, 0.55), rng.uniform(0.3, 0.38), rng.uniform(0.25, 0.32)])
        label[_inside(grid, centre, radii)] = KIDNEY
    kidney = np.argwhere(label == KIDNEY)
    side = rng.choice([-1.0, 1.0])
    near = kidney[np.sign(grid[2][tuple(kidney.T)]) == side]
    centre = grid[(slice(None), *near[rng.integers(len(near))])]
    label[_inside(grid, centre, np.full(3, rng.uniform(0.28, 0.34))) & (label == KIDNEY)] = TUMOUR
    image[label == KIDNEY], image[label == TUMOUR] = 180.0, 90.0
    return image + rng.normal(0.0, noise_hu, size=shape), label


def _inside(grid: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Voxels inside the ellipsoid of `centre` and `radii` (grid coordinates in [-1, 1])."""
    import numpy as np

    return np.asarray(np.sum(((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2, axis=0) <= 1)


def generate(root: Path, *, train_cases: int = TRAIN_SAMPLES, shape: tuple[int, int, int] = (32, 32, 32),
             seed: int = 0) -> Path:
    """Small data in the training layout at `root`: the 42 evaluation cases and the first `train_cases` of the
    others (all 168 by default), each drawn by `draw_volume` and normalized as preprocess_dataset.py normalizes.
    Every third case is half again as deep as `shape` (KiTS cases differ in shape). Returns `root`."""
    if not 0 < train_cases <= TRAIN_SAMPLES:
        raise ConfigError(f"train_cases must be in 1..{TRAIN_SAMPLES}, got {train_cases}", key="train_cases")
    import numpy as np

    from podium.datasets.kits19 import normalize_intensity

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    training = [n for n in (f"case_{i:05d}" for i in range(CASE_COUNT)) if n not in EVALUATION_CASES]
    for i, name in enumerate(sorted([*EVALUATION_CASES, *training[:train_cases]])):
        depth = shape[0] + (shape[0] // 2) * (i % 3 == 2)
        image_hu, label = draw_volume(rng, (depth, shape[1], shape[2]))
        np.save(root / f"{name}{IMAGE_SUFFIX}", normalize_intensity(image_hu)[np.newaxis], allow_pickle=False)
        np.save(root / f"{name}{LABEL_SUFFIX}", label[np.newaxis], allow_pickle=False)
    return root


__all__ = ["CASE_COUNT", "EVALUATION_CASES", "EVAL_SAMPLES", "TRAIN_SAMPLES", "Case", "Split",
           "check_case", "generate", "open_split", "read_case"]
