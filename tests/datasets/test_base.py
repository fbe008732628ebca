"""The dataset registry and the sample library every layout shares: load/unload, counts, description."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, PodiumError, SUTError, UnknownNameError
from podium.datasets import DATASETS, Dataset
from podium.datasets import digits as digits_mod


def test_importing_the_package_imports_no_numpy() -> None:
    probe = "import sys, podium.datasets; print('numpy' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_registry_names_and_suggestion() -> None:
    assert DATASETS.names() == sorted(DATASETS.names())
    assert {"digits", "imagenet", "imagenet-mobilenet", "npy"} <= set(DATASETS.names())
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        DATASETS.get("digit")


# --- the sample library -----------------------------------------------------------------------------------------

def test_load_unload_semantics(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    assert ds.loaded_indices() == []  # nothing is loaded up front
    ds.load_samples([7, 2, 7])
    assert ds.loaded_indices() == [2, 7]
    batch = ds.get_samples([7, 2, 7])
    assert batch.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(batch[0], batch[2])
    ds.unload_samples([7, 100])  # unloading one never loaded is harmless
    assert ds.loaded_indices() == [2]
    with pytest.raises(SUTError, match="sample 7 is not loaded"):
        ds.get_samples([2, 7])


def test_loaded_rows_are_private_copies(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    ds.load_samples([0])
    array, _ = ds.loaded_array()
    assert type(array) is np.ndarray and array.flags.writeable and array.flags.c_contiguous


def test_loaded_array_maps_indices_to_rows(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    ds.load_samples([30, 4, 12])
    array, row_of = ds.loaded_array()
    assert row_of == {4: 0, 12: 1, 30: 2}
    np.testing.assert_array_equal(array[row_of[12]], ds.get_samples([12])[0])
    ds.unload_samples([4, 12, 30])
    with pytest.raises(PodiumError, match="no samples are loaded"):
        ds.loaded_array()


def test_count_limits_to_first_samples(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache, count=10, performance_sample_count=64)
    assert ds.total_sample_count == 10 and ds.performance_sample_count == 10
    assert len(ds.labels()) == 10
    with pytest.raises(PodiumError, match="out of range"):
        ds.load_samples([10])
    assert DATASETS.get("digits")(cache_dir=cache, performance_sample_count=64).performance_sample_count == 64
    with pytest.raises(ConfigError, match="count"):
        DATASETS.get("digits")(cache_dir=cache, count=0)


def test_describe(cache: Path) -> None:
    d = DATASETS.get("digits")(cache_dir=cache, count=20).describe()
    assert d["name"] == d["layout"] == "digits" and d["path"] is None and d["count"] == 20
    assert d["preprocessing_version"] == digits_mod.PREPROCESSING_VERSION
    assert d["cache_path"].startswith(str(cache))


def test_digits_takes_no_path(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="takes no path"):
        DATASETS.get("digits")(tmp_path, cache_dir=cache)


def test_dataset_satisfies_engine_protocol(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    assert isinstance(ds, Dataset)
    for attr in ("name", "total_sample_count", "performance_sample_count", "load_samples", "unload_samples"):
        assert hasattr(ds, attr)
