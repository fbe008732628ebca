"""`criteo-multihot`: DLRMv2's multi-hot day 23 (dense .npy, uncompressed sparse .npz of 26 tables, labels .npy),
memory-mapped, its first half grouped into the reference's aggregated samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.criteo_multihot import (DENSE_FILE, LABELS_FILE, MULTI_HOT_SIZES, SPARSE_FILE, generate,
                                             npz_member)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("multihot") / "day", 5)


def test_files_and_dtypes_are_the_references(day: Path) -> None:
    dense, labels = np.load(day / DENSE_FILE), np.load(day / LABELS_FILE)
    assert dense.dtype == np.float32 and dense.shape == (2 * 1300, 13)
    assert labels.dtype == np.int32 and labels.shape == (2600, 1)
    with np.load(day / SPARSE_FILE) as sparse:
        assert sorted(sparse.files, key=int) == [str(k) for k in range(26)]
        assert [sparse[str(k)].shape[1] for k in range(26)] == list(MULTI_HOT_SIZES)
        assert sparse["20"].dtype == np.int32
        memmapped = npz_member(day / SPARSE_FILE, "20", "")
        assert isinstance(memmapped, np.memmap)
        np.testing.assert_array_equal(memmapped, sparse["20"])


def test_samples_are_records_of_the_first_half(day: Path) -> None:
    dataset = DATASETS.get("criteo-multihot")(day)
    assert dataset.total_sample_count == 5 and dataset.rows == 1300
    assert dataset.multi_hot_sizes == MULTI_HOT_SIZES
    dataset.load_samples([4])
    sample = dataset.get_samples([4])[0]  # rows 800 .. 1300
    assert sample.shape == (500,)
    with np.load(day / SPARSE_FILE) as sparse:
        ids = np.concatenate([sparse[str(k)][800:1300] for k in range(26)], axis=1)
    np.testing.assert_array_equal(sample["sparse_features"], ids)
    np.testing.assert_array_equal(sample["dense_features"], np.load(day / DENSE_FILE)[800:1300])
    np.testing.assert_array_equal(dataset.labels()[4], np.load(day / LABELS_FILE)[800:1300, 0])


def test_a_compressed_npz_is_read_into_memory(day: Path, tmp_path: Path) -> None:
    with np.load(day / SPARSE_FILE) as sparse:
        arrays = {k: sparse[k] for k in sparse.files}
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    member = npz_member(tmp_path / "c.npz", "3", "")
    assert not isinstance(member, np.memmap)
    np.testing.assert_array_equal(member, arrays["3"])


def test_missing_files_are_named(day: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(day, copy)
    (copy / LABELS_FILE).unlink()
    with pytest.raises(ConfigError, match=f"missing {LABELS_FILE}; expected .*{DENSE_FILE}"):
        DATASETS.get("criteo-multihot")(copy)
    np.savez(copy / SPARSE_FILE, **{"0": np.zeros((2, 3), dtype=np.int32)})
    np.save(copy / LABELS_FILE, np.zeros((2600, 1), dtype=np.int32))
    with pytest.raises(ConfigError, match="has no array '1'"):
        DATASETS.get("criteo-multihot")(copy)
