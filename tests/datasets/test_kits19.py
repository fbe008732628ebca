"""The `kits19` layout: generated cases read back in the reference's preprocessed layout (variable shapes, lazy
labels), one-line errors naming the path and the layout, a pickle that is not plain arrays refused; and the
reference's preprocessing steps (resampling, normalization, padding, fitting the sliding window) on small volumes
whose results are worked out by hand."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, SUTError
from podium.datasets import DATASETS
from podium.datasets.kits19 import (
    INDEX_FILE,
    INFERENCE_CASES,
    PADDING_VALUE,
    CaseLabel,
    Kits19Dataset,
    adjust_for_sliding_window,
    generate,
    normalize_intensity,
    pad_to_min_shape,
    preprocess_case,
    resample,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("kits19"), 3, seed=1, shape=(32, 48, 64))


def test_registered() -> None:
    assert DATASETS.get("kits19") is Kits19Dataset
    assert len(INFERENCE_CASES) == 43 and INFERENCE_CASES[0] == "case_00000" and INFERENCE_CASES[-1] == "case_00400"


def test_generated_cases_in_the_reference_layout(data: Path) -> None:
    index = pickle.loads((data / INDEX_FILE).read_bytes())
    assert index["file_list"] == ["case_00000", "case_00003", "case_00005"]
    assert index["cases"]["case_00003"]["image_shape"] == (1, 48, 48, 64)
    image, label = pickle.loads((data / "case_00003.pkl").read_bytes())
    assert (image.shape, image.dtype, label.shape, label.dtype) == ((1, 48, 48, 64), np.float32, (1, 48, 48, 64),
                                                                    np.uint8)


def test_samples_have_their_own_shapes(data: Path, cache: Path) -> None:
    ds = Kits19Dataset(data, cache_dir=cache)
    assert ds.total_sample_count == 3 and ds.variable_shape
    ds.load_samples([0, 1, 2])
    samples = ds.get_samples([1, 0])
    assert isinstance(samples, list)
    assert [s.shape for s in samples] == [(1, 48, 48, 64), (1, 32, 48, 64)]
    assert all(s.dtype == np.float32 for s in samples)
    ds.unload_samples([1])
    with pytest.raises(SUTError, match="sample 1 is not loaded"):
        ds.get_samples([1])
    assert not cache.exists()  # preprocessed data is read where it lies


def test_labels_are_lazy_volumes_of_three_classes(data: Path) -> None:
    ds = Kits19Dataset(data)
    labels = ds.labels()
    assert labels.dtype == object and len(labels) == 3
    assert isinstance(labels[0], CaseLabel) and labels[0].case == "case_00000"
    ds.load_samples([0])
    volume, image = np.asarray(labels[0]), ds.get_samples([0])[0][0]
    assert volume.shape == image.shape and volume.dtype == np.uint8
    counts = np.bincount(volume.ravel(), minlength=3)
    assert len(counts) == 3 and counts.min() > 0  # background, kidney and tumour all drawn
    # the drawn organs stand out: kidney brighter than tumour, tumour brighter than the rest
    kidney, tumour, rest = (float(image[volume == c].mean()) for c in (1, 2, 0))
    assert kidney > tumour > rest


def test_count_limits_the_cases(data: Path) -> None:
    ds = Kits19Dataset(data, count=2)
    assert ds.total_sample_count == 2 and len(ds.labels()) == 2


def test_missing_folder_or_index_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such dataset directory.*preprocessed_files.pkl"):
        Kits19Dataset(tmp_path / "absent")
    with pytest.raises(ConfigError, match=f"{tmp_path}/preprocessed_files.pkl: missing preprocessed_files.pkl"):
        Kits19Dataset(tmp_path)


def test_index_without_file_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / INDEX_FILE).write_bytes(pickle.dumps({"cases": {}}))
    with pytest.raises(ConfigError, match="has no 'file_list' of case names; expected .*<case>.pkl"):
        Kits19Dataset(tmp_path)


def test_missing_case_pickle_is_named(tmp_path: Path) -> None:
    generate(tmp_path, 2, shape=(32, 32, 32))
    (tmp_path / "case_00003.pkl").unlink()
    with pytest.raises(ConfigError, match=r"case_00003.pkl: 1 of 2 listed cases have no pickle"):
        Kits19Dataset(tmp_path)


def test_a_pickle_of_other_objects_is_refused(tmp_path: Path) -> None:
    generate(tmp_path, 1, shape=(32, 32, 32))
    (tmp_path / "case_00000.pkl").write_bytes(pickle.dumps([Path("x"), np.zeros(3)]))
    ds = Kits19Dataset(tmp_path)
    with pytest.raises(ConfigError, match="case_00000.pkl: not a readable preprocessed pickle .*refusing"):
        ds.load_samples([0])


def test_a_case_of_mismatched_shapes_is_refused(tmp_path: Path) -> None:
    generate(tmp_path, 1, shape=(32, 32, 32))
    bad = [np.zeros((1, 32, 32, 32), np.float32), np.zeros((1, 32, 32, 16), np.uint8)]
    (tmp_path / "case_00000.pkl").write_bytes(pickle.dumps(bad))
    with pytest.raises(ConfigError, match=r"image of shape \(1, 32, 32, 32\) and label of shape \(32, 32, 16\)"):
        np.asarray(Kits19Dataset(tmp_path).labels()[0])


# --- the reference's preprocessing ------------------------------------------------------------------------------

def test_normalize_intensity_clips_then_standardizes() -> None:
    hu = np.array([-1000.0, -79.0, 101.0, 304.0, 2000.0], dtype=np.float32)
    out = normalize_intensity(hu)
    low, high = (-79.0 - 101.0) / 76.9, (304.0 - 101.0) / 76.9
    np.testing.assert_allclose(out, [low, low, 0.0, high, high], rtol=1e-6)
    assert out.dtype == np.float32


def test_pad_to_min_shape_repeats_edges_evenly() -> None:
    image = np.arange(100 * 130 * 5, dtype=np.float32).reshape(100, 130, 5)
    label = np.ones_like(image, dtype=np.uint8)
    padded, padded_label = pad_to_min_shape(image, label, roi_voxels=128)
    assert padded.shape == (128, 130, 128) and padded_label.shape == (128, 130, 128)
    # 28 voxels on depth: 14 before, 14 after; 123 on width: 61 before, 62 after
    assert np.array_equal(padded[:15, :, 61], np.repeat(image[:1, :, 0], 15, axis=0))
    assert np.array_equal(padded[14:114, :, 61:66], image)
    assert np.array_equal(padded[:, :, -62:], np.repeat(padded[:, :, 65:66], 62, axis=2))


def test_adjust_for_sliding_window_crops_short_remainders_and_pads_long_ones() -> None:
    # stride 64: 130 = 2 x 64 + 2 -> crop 2 (1 each side) to 128; 160 = 2 x 64 + 32 -> pad 32 (16 each side) to 192;
    # 200 = 3 x 64 + 8 -> crop 8 (4 each side) to 192
    image = np.random.default_rng(0).standard_normal((130, 160, 200)).astype(np.float32)
    label = np.ones(image.shape, dtype=np.uint8)
    out, out_label = adjust_for_sliding_window(image, label, roi_voxels=128, overlap=0.5)
    assert out.shape == (128, 192, 192) == out_label.shape
    assert np.array_equal(out[:, 16:176, :], image[1:129, :, 4:196])
    assert np.all(out[:, :16] == np.float32(PADDING_VALUE)) and np.all(out[:, 176:] == np.float32(PADDING_VALUE))
    assert np.all(out_label[:, :16] == 0) and np.all(out_label[:, 16:176] == 1)


def test_adjust_for_sliding_window_never_leaves_an_edge_under_the_patch() -> None:
    # stride 8: 10 = 8 + 2 -> crop to 8, then a whole stride more (4 + 4) so that a 16-voxel patch fits
    out, _ = adjust_for_sliding_window(np.zeros((10, 16, 24), np.float32), np.zeros((10, 16, 24), np.uint8),
                                       roi_voxels=16, overlap=0.5)
    assert out.shape == (16, 16, 24)
    assert np.all(out[:4] == np.float32(PADDING_VALUE)) and np.all(out[4:12] == 0)


def test_resample_to_the_target_spacing() -> None:
    image = np.zeros((10, 12, 20), dtype=np.float32)
    image[:, :, 10:] = 100.0
    label = (image > 0).astype(np.uint8) * 2
    # (3.2, 1.2, 0.6) mm -> (1.6, 1.2, 1.2) mm: twice as many slices, half as many columns
    out, out_label = resample(image, label, (3.2, 1.2, 0.6))
    assert out.shape == (20, 12, 10) == out_label.shape
    assert out.dtype == np.float32 and out_label.dtype == np.uint8
    assert set(np.unique(out_label)) == {0, 2}  # nearest neighbour: no new classes
    assert np.all(out[:, :, :4] == 0) and np.all(out[:, :, 6:] == 100)
    same, same_label = resample(image, label, (1.6, 1.2, 1.2))
    assert np.array_equal(same, image) and np.array_equal(same_label, label)


def test_preprocess_case_end_to_end() -> None:
    rng = np.random.default_rng(0)
    hu = rng.uniform(-500, 500, size=(20, 30, 40)).astype(np.float32)
    label = (hu > 200).astype(np.uint8)
    image, out_label = preprocess_case(hu, label, (1.6, 1.2, 1.2), roi_voxels=32, overlap=0.5)
    # 20 -> edge-padded to 32; 30 -> 32; 40 = 2 x 16 + 8: not under half a stride -> padded to 48
    assert image.shape == (1, 32, 32, 48) == out_label.shape
    assert image.dtype == np.float32 and out_label.dtype == np.uint8
    assert image.min() >= (-79 - 101) / 76.9 - 1e-6 and image.max() <= (304 - 101) / 76.9 + 1e-6
    assert np.array_equal(image[0, 6:26, 1:31, 4:44], normalize_intensity(hu))


def test_pickles_written_by_numpy_1_are_read(tmp_path: Path) -> None:
    # the published preprocessed data was pickled by numpy 1, whose reconstructor lives in numpy.core.multiarray
    generate(tmp_path, 1, shape=(32, 32, 32))
    image = np.arange(32 ** 3, dtype=np.float32).reshape(1, 32, 32, 32)
    data = pickle.dumps([image, np.zeros((1, 32, 32, 32), np.uint8)], protocol=3)
    old = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert old != data
    (tmp_path / "case_00000.pkl").write_bytes(old)
    ds = Kits19Dataset(tmp_path)
    ds.load_samples([0])
    assert np.array_equal(ds.get_samples([0])[0], image)
