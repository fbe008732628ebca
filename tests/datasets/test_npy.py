"""The `npy` layout: preprocessed arrays as stored, and the faults of a wrong directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from tests.datasets.fixtures import files_under


def write_npy(root: Path, inputs: np.ndarray, labels: np.ndarray) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "inputs.npy", inputs)
    np.save(root / "labels.npy", labels)
    return root


def test_npy_layout(tmp_path: Path, cache: Path) -> None:
    inputs = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    root = write_npy(tmp_path / "data", inputs, np.array([0, 1, 2, 0, 1, 2]))
    ds = DATASETS.get("npy")(root, cache_dir=cache, performance_sample_count=4)
    assert (ds.total_sample_count, ds.performance_sample_count) == (6, 4)
    ds.load_samples([5, 1])
    np.testing.assert_array_equal(ds.get_samples([1, 5]), inputs[[1, 5]])
    np.testing.assert_array_equal(ds.labels(), [0, 1, 2, 0, 1, 2])
    assert ds.describe()["path"] == str(root) and ds.describe()["cache_path"] is None
    assert files_under(cache) == [] and files_under(Path.cwd()) == []


@pytest.mark.parametrize("fault, message", [
    ("no-dir", "no such dataset directory"),
    ("no-inputs", "missing inputs.npy"),
    ("no-labels", "missing labels.npy"),
    ("mismatch", "5 labels for inputs of shape"),
    ("float-labels", "1-D integer array"),
    ("pickled", "not a readable .npy array"),
])
def test_npy_faults_name_path_and_layout(tmp_path: Path, cache: Path, fault: str, message: str) -> None:
    root = write_npy(tmp_path / "data", np.zeros((4, 3), np.float32), np.arange(4))
    if fault == "no-dir":
        root = tmp_path / "absent"
    elif fault == "no-inputs":
        (root / "inputs.npy").unlink()
    elif fault == "no-labels":
        (root / "labels.npy").unlink()
    elif fault == "mismatch":
        np.save(root / "labels.npy", np.arange(5))
    elif fault == "float-labels":
        np.save(root / "labels.npy", np.zeros(4))
    elif fault == "pickled":
        np.save(root / "inputs.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match=message) as err:
        DATASETS.get("npy")(root, cache_dir=cache)
    assert str(root) in str(err.value)
    assert f"expected {root}/inputs.npy" in str(err.value)


def test_npy_needs_a_path(cache: Path) -> None:
    with pytest.raises(ConfigError, match="needs a path: expected <path>/inputs.npy"):
        DATASETS.get("npy")(cache_dir=cache)


def test_generated_data_opens_in_its_layout(tmp_path: Path, cache: Path) -> None:
    from podium.datasets.npy import generate

    root = generate(tmp_path / "npy", count=6, shape=(2, 4), classes=3, seed=1)
    ds = DATASETS.get("npy")(root, cache_dir=cache)
    assert ds.total_sample_count == 6
    ds.load_samples([1, 5])
    assert ds.get_samples([1, 5]).shape == (2, 2, 4)
    assert np.load(root / "labels.npy").max() < 3
