"""`criteo`: Criteo Terabyte day 23 in its three reference forms (preprocessed .npz, the test .bin, the raw TSV with
the dictionaries), the test half, the reference's transform, and the aggregation into QSL samples (trace file, or
the reference's seeded draw from dist_quantile.txt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.criteo import (BIN_FILE, COUNTS_FILE, NPZ_FILE, RAW_FILE, TRACE_FILE, aggregation_trace,
                                    generate, query_sizes, truth)

# tools/dist_trace_verification.txt: the first lines of the reference's trace ("start, end, count")
VERIFIED = [(0, 200), (200, 400), (400, 600), (600, 800), (800, 1300), (1300, 2000), (2000, 2200), (2200, 2300),
            (2300, 2400), (2400, 2900), (2900, 3200), (3200, 3400), (3400, 3500), (3500, 3800), (3800, 3900)]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("criteo") / "day", 6)


def _open(path: Path, **options):
    return DATASETS.get("criteo")(path, **options)


def _only(day: Path, keep: str, tmp_path: Path) -> Path:
    """A copy of the generated day with one form (and what it needs) only."""
    import shutil

    out = tmp_path / keep
    out.mkdir()
    for f in day.iterdir():
        if f.name in (NPZ_FILE, BIN_FILE, RAW_FILE) and f.name != keep:
            continue
        shutil.copy(f, out / f.name)
    return out


def test_the_reference_trace_is_reproduced() -> None:
    offsets = aggregation_trace(3900)
    assert list(zip(offsets[:-1].tolist(), offsets[1:].tolist())) == VERIFIED
    assert query_sizes(6).tolist() == [200, 200, 200, 200, 500, 700]
    assert aggregation_trace(450).tolist() == [0, 200, 400, 450]  # the last query is cut at the end of the rows


def test_the_three_forms_serve_the_same_samples(day: Path, tmp_path: Path) -> None:
    forms = [_open(_only(day, name, tmp_path)) for name in (NPZ_FILE, BIN_FILE, RAW_FILE)]
    assert [d.form for d in forms] == [NPZ_FILE, BIN_FILE, RAW_FILE]
    for d in forms:
        assert d.total_sample_count == 6
        d.load_samples([0, 5])
    first = forms[0].get_samples([0, 5])
    assert [len(s) for s in first] == [200, 700]
    for d in forms[1:]:
        for a, b in zip(first, d.get_samples([0, 5])):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(forms[0].labels(), forms[2].labels()):
        np.testing.assert_array_equal(a, b)


def test_the_test_half_and_the_reference_transform(day: Path) -> None:
    dataset = _open(day, max_ind_range=5)
    with np.load(day / NPZ_FILE) as data:
        x_int, x_cat, y = data["X_int"], data["X_cat"], data["y"]
    assert dataset.rows == (len(y) + 1) // 2 == 2000
    dataset.load_samples([4])
    sample = dataset.get_samples([4])[0]  # rows 800 .. 1300
    np.testing.assert_array_equal(sample["dense_x"], np.log(x_int[800:1300].astype(np.float32) + 1))
    np.testing.assert_array_equal(sample["indices"], x_cat[800:1300] % 5)
    np.testing.assert_array_equal(sample["label"], y[800:1300])
    assert sample["dense_x"].dtype == np.float32 and sample["indices"].dtype == np.int64
    np.testing.assert_array_equal(dataset.labels()[4], y[800:1300].astype(np.float32))
    assert (day / BIN_FILE).stat().st_size == 2000 * 40 * 4


def test_raw_fields_empty_or_negative_are_zero(tmp_path: Path) -> None:
    src = generate(tmp_path / "src", 1)
    raw = _only(src, RAW_FILE, tmp_path)
    lines = (raw / RAW_FILE).read_text().splitlines()
    fields = lines[0].split("\t")
    fields[1:4] = ["", "-1", "7"]
    lines[0] = "\t".join(fields)
    (raw / RAW_FILE).write_text("\n".join(lines) + "\n")
    (raw / "day_day_count.npz").unlink()
    dataset = _open(raw)
    dataset.load_samples([0])
    np.testing.assert_allclose(dataset.get_samples([0])[0]["dense_x"][0, :3], [0.0, 0.0, np.log(8.0)], rtol=1e-6)


def test_without_a_trace_file_the_reference_draw(day: Path, tmp_path: Path) -> None:
    copy = _only(day, NPZ_FILE, tmp_path)
    (copy / TRACE_FILE).unlink()
    dataset = _open(copy)
    assert dataset.offsets.tolist() == [0, 200, 400, 600, 800, 1300, 2000]  # 2000 rows, drawn as the reference


def test_a_bad_trace_or_missing_files_are_named(day: Path, tmp_path: Path) -> None:
    copy = _only(day, NPZ_FILE, tmp_path)
    (copy / TRACE_FILE).write_text("0, 200, 200\n300, 400, 100\n")
    with pytest.raises(ConfigError, match="contiguous") as e:
        _open(copy)
    assert TRACE_FILE in str(e.value)
    (copy / TRACE_FILE).write_text("0, 5000, 5000\n")
    with pytest.raises(ConfigError, match="past the 2000 rows"):
        _open(copy)
    (copy / COUNTS_FILE).unlink()
    with pytest.raises(ConfigError, match=f"missing {COUNTS_FILE}.*expected in .*{NPZ_FILE}"):
        _open(copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=f"no {NPZ_FILE}, {BIN_FILE} or {RAW_FILE}") as e:
        _open(empty)
    assert str(empty) in str(e.value)


def test_generated_clicks_follow_a_known_logistic_model(day: Path) -> None:
    from podium.metrics.auc import roc_auc

    probability, labels = truth(day)
    assert len(probability) == len(labels) == 2000
    bayes = roc_auc(probability, labels)
    assert 0.7 < bayes < 0.9  # informative, not trivially separable
    assert 0.15 < labels.mean() < 0.45
