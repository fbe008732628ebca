"""Datasets: the preprocessing cache (where, reuse, invalidation), load/unload semantics, layouts and their faults."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, PodiumError, SUTError, UnknownNameError
from podium.inference.datasets import DATASETS, Dataset, cache_root
from podium.inference.datasets import digits as digits_mod
from podium.inference.datasets.imagenet import CHANNEL_MEANS_RGB, ImagenetDataset

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache dir in tmp; the working directory is another empty tmp dir that must stay empty."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    for var in ("PODIUM_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "cache"


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_registry_names_and_suggestion() -> None:
    assert DATASETS.names() == ["digits", "imagenet", "npy"]
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        DATASETS.get("digit")


# --- the cache ------------------------------------------------------------------------------------------------

def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PODIUM_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "podium"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_root() == tmp_path / "home" / ".cache" / "podium"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "podium"
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


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
    from podium.workloads.digits import load_splits

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

    monkeypatch.setattr("podium.workloads.digits.load_splits", no_recompute)
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


def test_unwritable_cache_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="PODIUM_CACHE_DIR"):
        DATASETS.get("digits")(cache_dir=blocker).labels()


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


# --- npy layout -------------------------------------------------------------------------------------------------

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


# --- imagenet layout --------------------------------------------------------------------------------------------

COLOURS = [(200, 10, 60), (0, 128, 255), (90, 90, 90)]


def write_imagenet(root: Path) -> Path:
    """Three solid-colour images (lossless PNG, so pixel values survive): landscape, portrait, small grey."""
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (400, 300), COLOURS[0]).save(root / "a.png")
    Image.new("RGB", (300, 500), COLOURS[1]).save(root / "b.png")
    Image.new("L", (100, 120), COLOURS[2][0]).save(root / "c.png")  # grey, and smaller than 256: enlarged
    (root / "val_map.txt").write_text("a.png 3\nb.png 7\n\nc.png 0\n")
    return root


def test_imagenet_preprocesses_lazily_and_caches_per_sample(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    assert ds.total_sample_count == 3 and files_under(cache) == []  # nothing preprocessed by the constructor
    np.testing.assert_array_equal(ds.labels(), [3, 7, 0])
    ds.load_samples([0, 2])
    assert (ds.cache_stats.hits, ds.cache_stats.computed) == (0, 2)
    assert len(files_under(cache)) == 2 and files_under(Path.cwd()) == []
    batch = ds.get_samples([0, 2])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    for row, colour in zip(batch, (COLOURS[0], COLOURS[2]), strict=True):
        expected = np.asarray(colour, np.float32) - np.asarray(CHANNEL_MEANS_RGB, np.float32)
        np.testing.assert_allclose(row.mean(axis=(1, 2)), expected, atol=1e-3)  # RGB order, means subtracted
    again = DATASETS.get("imagenet")(root, cache_dir=cache)
    again.load_samples([0, 1, 2])
    assert (again.cache_stats.hits, again.cache_stats.computed) == (2, 1)
    np.testing.assert_array_equal(again.get_samples([0, 2]), batch)


def test_imagenet_centre_crop_keeps_the_middle(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "imagenet"
    root.mkdir()
    image = Image.new("RGB", (512, 256), (0, 0, 0))  # -> 512x256 stays; the crop takes columns 144..367
    image.paste((255, 255, 255), (0, 0, 100, 256))  # a white band only at the far left, outside the crop
    image.save(root / "wide.png")
    (root / "val_map.txt").write_text("wide.png 1\n")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([0])
    np.testing.assert_allclose(ds.get_samples([0])[0, 0], -CHANNEL_MEANS_RGB[0])


def test_imagenet_cache_invalidated_when_an_image_changes(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    DATASETS.get("imagenet")(root, cache_dir=cache).load_samples([0])
    Image.new("RGB", (400, 300), (1, 2, 3)).save(root / "a.png")
    os.utime(root / "a.png", ns=(1_000_000_000, 1_000_000_000))
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([0])
    assert ds.cache_stats.computed == 1
    np.testing.assert_allclose(ds.get_samples([0])[0, :, 0, 0], np.subtract((1, 2, 3), CHANNEL_MEANS_RGB),
                               atol=1e-3)


def test_imagenet_cache_invalidated_by_preprocessing_version(tmp_path: Path, cache: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    DATASETS.get("imagenet")(root, cache_dir=cache).load_samples([1])
    monkeypatch.setattr(ImagenetDataset, "preprocessing_version", "test-v2")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    ds.load_samples([1])
    assert ds.cache_stats.computed == 1 and ds.cache_path.name == "test-v2"


def test_imagenet_count(tmp_path: Path, cache: Path) -> None:
    ds = DATASETS.get("imagenet")(write_imagenet(tmp_path / "imagenet"), cache_dir=cache, count=2)
    assert ds.total_sample_count == 2 and list(ds.labels()) == [3, 7]


@pytest.mark.parametrize("fault, message, line", [
    ("no-dir", "no such dataset directory", None),
    ("no-map", "missing val_map.txt", None),
    ("bad-label", "label 'seven' is not an integer", 2),
    ("columns", "expected '<image file> <label>'", 3),
    ("empty", "lists no images", None),
])
def test_imagenet_layout_faults(tmp_path: Path, cache: Path, fault: str, message: str, line: int | None) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    val_map = root / "val_map.txt"
    if fault == "no-dir":
        root = tmp_path / "absent"
    elif fault == "no-map":
        val_map.unlink()
    elif fault == "bad-label":
        val_map.write_text("a.png 3\nb.png seven\n")
    elif fault == "columns":
        val_map.write_text("a.png 3\nb.png 7\nc.png 0 extra\n")
    elif fault == "empty":
        val_map.write_text("\n")
    with pytest.raises(ConfigError, match=message) as err:
        DATASETS.get("imagenet")(root, cache_dir=cache)
    assert str(root) in str(err.value)
    assert err.value.line == line
    if fault in ("no-dir", "no-map", "empty"):
        assert f"expected {root}/val_map.txt with lines '<image file> <label>'" in str(err.value)


def test_imagenet_missing_image_named_at_load(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    (root / "b.png").unlink()
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    with pytest.raises(ConfigError, match="line 2 of val_map.txt does not exist") as err:
        ds.load_samples([1])
    assert str(root / "b.png") in str(err.value)


def test_imagenet_unreadable_image(tmp_path: Path, cache: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    (root / "c.png").write_bytes(b"not an image at all")
    ds = DATASETS.get("imagenet")(root, cache_dir=cache)
    with pytest.raises(ConfigError, match="cannot read image") as err:
        ds.load_samples([0, 2])
    assert str(root / "c.png") in str(err.value)


def test_imagenet_without_pillow(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_imagenet(tmp_path / "imagenet")
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # import now fails as if Pillow were absent
    with pytest.raises(ConfigError, match="needs Pillow"):
        DATASETS.get("imagenet")(root, cache_dir=cache)
