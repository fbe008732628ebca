"""The `digits` layout: its cache (placement, reuse, invalidation, repair) and the training split it serves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.datasets import DATASETS
from podium.datasets import digits as digits_mod
from tests.datasets.fixtures import files_under


def test_digits_cache_lands_in_cache_dir_not_cwd(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    ds.load_samples([0, 1])
    assert ds.cache_path is not None and cache in ds.cache_path.parents
    assert {p.name for p in files_under(cache)} == {"inputs.npy", "labels.npy"}
    assert files_under(Path.cwd()) == []


def test_digits_cache_follows_environment(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(cache / "env"))
    DATASETS.get("digits")().labels()
    assert files_under(cache / "env") and files_under(Path.cwd()) == []
    monkeypatch.delenv("PODIUM_CACHE_DIR")
    DATASETS.get("digits")().labels()
    assert files_under(Path(os.environ["HOME"]) / ".cache" / "podium")


def test_digits_matches_training_eval_split(cache: Path) -> None:
    from podium.datasets.digits import load_splits

    _, (x_eval, y_eval) = load_splits()
    ds = DATASETS.get("digits")(cache_dir=cache)
    assert ds.total_sample_count == ds.performance_sample_count == 355
    ds.load_samples(range(355))
    inputs = ds.get_samples(range(355))
    assert inputs.dtype == np.float32 and inputs.shape == (355, 1, 8, 8)
    np.testing.assert_array_equal(inputs, x_eval)
    np.testing.assert_array_equal(ds.labels(), y_eval)


def test_digits_cache_is_reused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = DATASETS.get("digits")(cache_dir=cache)
    first.labels()
    assert (first.cache_stats.hits, first.cache_stats.computed) == (0, 1)
    mtimes = {p: p.stat().st_mtime_ns for p in files_under(cache)}

    def no_recompute() -> None:
        raise AssertionError("preprocessed again despite a valid cache")

    monkeypatch.setattr("podium.datasets.digits.load_splits", no_recompute)
    second = DATASETS.get("digits")(cache_dir=cache)
    second.load_samples([3])
    assert (second.cache_stats.hits, second.cache_stats.computed) == (1, 0)
    assert {p: p.stat().st_mtime_ns for p in files_under(cache)} == mtimes


def test_digits_cache_invalidated_by_preprocessing_version(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = DATASETS.get("digits")(cache_dir=cache)
    old.labels()
    monkeypatch.setattr(digits_mod.DigitsDataset, "preprocessing_version", "test-v2")
    new = DATASETS.get("digits")(cache_dir=cache)
    new.labels()
    assert new.cache_stats.computed == 1 and new.cache_path != old.cache_path
    assert new.describe()["preprocessing_version"] == "test-v2"


def test_digits_cache_invalidated_by_source_change(cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "digits.csv.gz"
    source.write_bytes(b"version one")
    monkeypatch.setattr(digits_mod, "digits_source", lambda: source)
    before = DATASETS.get("digits")(cache_dir=cache)
    before.labels()
    source.write_bytes(b"version two")
    after = DATASETS.get("digits")(cache_dir=cache)
    after.labels()
    assert after.cache_path != before.cache_path and after.cache_stats.computed == 1


def test_truncated_cache_entry_is_recomputed(cache: Path) -> None:
    ds = DATASETS.get("digits")(cache_dir=cache)
    ds.labels()
    assert ds.cache_path is not None
    (ds.cache_path / "inputs.npy").write_bytes(b"\x93NUMPY broken")
    again = DATASETS.get("digits")(cache_dir=cache)
    again.load_samples([0])
    assert again.cache_stats.computed == 1 and again.get_samples([0]).shape == (1, 1, 8, 8)


def test_module_imports_no_numpy() -> None:
    # The digits training workload is declared on this module: `podium list workloads` stays numpy-free.
    probe = "import sys, podium.datasets.digits; print('numpy' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"
