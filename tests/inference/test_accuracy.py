"""Response encodings and accuracy runs: round trips, the accuracy log reader, scoring a log with a metric by name,
accuracy.txt and accuracy.json. The metrics themselves are tested in tests/metrics/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, PodiumError, SUTError, UnknownNameError
from podium.datasets import DATASETS, Dataset
from podium.inference.accuracy import (AccuracyError, AccuracyResult, evaluate, read_accuracy_log, round_significant,
                                       write_accuracy)
from podium.inference.encoding import ResponseEncoding

CLASS_ID = ResponseEncoding("int64", ())


# --- encodings --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, row", [
    (ResponseEncoding("int64", ()), np.int64(7)),
    (ResponseEncoding("float32", (2, 3)), np.arange(6, dtype=np.float32).reshape(2, 3)),
    (ResponseEncoding("uint8", (4,)), np.array([0, 1, 254, 255])),
])
def test_encoding_round_trip(encoding: ResponseEncoding, row: np.ndarray) -> None:
    data = encoding.encode(row)
    assert len(data) == encoding.nbytes
    decoded = encoding.decode(data)
    assert decoded.dtype == np.dtype(encoding.dtype) and decoded.shape == encoding.shape
    np.testing.assert_array_equal(decoded, row)


def test_encode_batch_matches_encode() -> None:
    enc = ResponseEncoding("float32", (3,))
    rows = np.random.default_rng(0).normal(size=(5, 3))
    assert enc.encode_batch(rows) == [enc.encode(r) for r in rows]
    assert CLASS_ID.encode_batch(np.array([1, 2, 3])) == [CLASS_ID.encode(i) for i in (1, 2, 3)]
    assert CLASS_ID.encode_batch(np.zeros(0, dtype=np.int64)) == []


def test_encoding_shape_and_size_mismatches() -> None:
    with pytest.raises(SUTError, match="expects 8 bytes") as err:
        CLASS_ID.decode(b"\x01\x00\x00\x00")
    assert "4 bytes" in str(err.value)
    with pytest.raises(SUTError, match=r"shape \(2,\)"):
        CLASS_ID.encode(np.array([1, 2]))
    with pytest.raises(SUTError, match=r"batch of shape \(2, 2\)"):
        CLASS_ID.encode_batch(np.zeros((2, 2)))


def test_variable_number_of_rows() -> None:
    detections = ResponseEncoding("float32", (-1, 7))  # rows of [idx, ymin, xmin, ymax, xmax, score, class]
    rows = [np.ones((3, 7)), np.zeros((0, 7)), np.arange(7).reshape(1, 7)]
    encoded = detections.encode_batch(rows)
    assert [len(b) for b in encoded] == [84, 0, 28] and detections.nbytes is None
    for data, row in zip(encoded, rows, strict=True):
        np.testing.assert_array_equal(detections.decode(data), row)
    with pytest.raises(SUTError, match="expects a multiple of 28 bytes"):
        detections.decode(b"\0" * 30)
    with pytest.raises(SUTError, match=r"shape \(2, 6\)"):
        detections.encode(np.zeros((2, 6)))
    assert ResponseEncoding.from_description(detections.describe()) == detections
    with pytest.raises(ConfigError, match="only the first may be -1"):
        ResponseEncoding("float32", (2, -1))


def test_encoding_description_round_trip() -> None:
    enc = ResponseEncoding("f4", [2, 3])  # type: ignore[arg-type]  # normalised to "float32", (2, 3)
    assert enc.describe() == {"dtype": "float32", "shape": [2, 3]}
    assert ResponseEncoding.from_description(json.loads(json.dumps(enc.describe()))) == enc
    assert CLASS_ID.describe() == {"dtype": "int64", "shape": []}
    with pytest.raises(ConfigError, match="needs 'dtype' and 'shape'"):
        ResponseEncoding.from_description({"dtype": "int64"})
    with pytest.raises(ConfigError, match="unknown dtype"):
        ResponseEncoding("int65", ())
    with pytest.raises(ConfigError, match="not numeric"):
        ResponseEncoding("object", ())


# --- accuracy logs ----------------------------------------------------------------------------------------------

LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    root = tmp_path / "data"
    root.mkdir()
    np.save(root / "inputs.npy", np.zeros((len(LABELS), 2), np.float32))
    np.save(root / "labels.npy", LABELS)
    return DATASETS.get("npy")(root, cache_dir=tmp_path / "cache")


def write_log(path: Path, responses: list[tuple[int, bytes]]) -> Path:
    """An mlperf_log_accuracy.json as LoadGen writes it: one entry per completed sample, in completion order."""
    entries = [{"seq_id": k, "qsl_idx": i, "data": data.hex().upper()} for k, (i, data) in enumerate(responses)]
    path.write_text(json.dumps(entries, indent=0))
    return path


def class_ids(predictions: dict[int, int], encoding: ResponseEncoding = CLASS_ID) -> list[tuple[int, bytes]]:
    return [(i, encoding.encode(p)) for i, p in predictions.items()]


def test_top1_on_synthetic_log(tmp_path: Path, dataset: Dataset) -> None:
    predictions = {int(i): int(i) for i in LABELS}
    predictions[3], predictions[8] = 5, 0  # two wrong
    log = write_log(tmp_path / "mlperf_log_accuracy.json",
                    class_ids(predictions) + [(4, CLASS_ID.encode(9))])  # a repeat of sample 4: first one counts
    result = evaluate("top1", log, dataset, CLASS_ID)
    assert (result.good, result.total, result.value, result.units) == (8, 10, 80.0, "%")
    assert result.missing_indices == ()


def test_top1_float32_class_ids(tmp_path: Path, dataset: Dataset) -> None:
    # The reference script's default --dtype is float32: class ids written as floats.
    enc = ResponseEncoding("float32", ())
    predictions = {int(i): int(i) for i in LABELS}
    log = write_log(tmp_path / "log.json", class_ids(predictions, enc)[:-1] + [(9, enc.encode(np.nan))])
    result = evaluate("top1", log, dataset, enc)
    assert (result.good, result.total) == (9, 10)


def test_read_accuracy_log_dedupes_keeping_first(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.json", [(2, b"\x01"), (0, b"\x02"), (2, b"\x03")])
    assert read_accuracy_log(log) == {2: b"\x01", 0: b"\x02"}


@pytest.mark.parametrize("text, message", [
    ('[{"seq_id": 0, "qsl_idx": 0, "data": "01"},\n', "not valid JSON"),  # a killed run: no closing bracket
    ('{"qsl_idx": 0, "data": "01"}', "top level is dict"),
    ('[{"seq_id": 0, "data": "01"}]', "entry 0 is"),
    ('[{"seq_id": 0, "qsl_idx": "zero", "data": "01"}]', "qsl_idx 'zero' is not a non-negative integer"),
    ('[{"seq_id": 0, "qsl_idx": 0, "data": "0G"}]', "data is not hex bytes"),
])
def test_malformed_log_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(text)
    with pytest.raises(AccuracyError, match=message) as err:
        read_accuracy_log(log)
    assert str(log) in str(err.value)


def test_absent_log(tmp_path: Path) -> None:
    with pytest.raises(AccuracyError, match="cannot read the accuracy log"):
        read_accuracy_log(tmp_path / "absent.json")


def test_missing_samples(tmp_path: Path, dataset: Dataset) -> None:
    predictions = {int(i): int(i) for i in LABELS if i not in (3, 7)}
    log = write_log(tmp_path / "log.json", class_ids(predictions))
    with pytest.raises(AccuracyError, match=r"2 of 10 samples have no response \(first: \[3, 7\]\)"):
        evaluate("top1", log, dataset, CLASS_ID)
    result = evaluate("top1", log, dataset, CLASS_ID, allow_missing=True)
    assert result.missing_indices == (3, 7) and (result.good, result.total) == (8, 8)
    assert isinstance(AccuracyError("x"), PodiumError)


def test_log_beyond_dataset(tmp_path: Path, dataset: Dataset) -> None:
    log = write_log(tmp_path / "log.json", class_ids({int(i): int(i) for i in LABELS} | {10: 0}))
    with pytest.raises(AccuracyError, match=r"qsl_idx \[10\] beyond the dataset's 10 samples"):
        evaluate("top1", log, dataset, CLASS_ID)


def test_response_of_wrong_size(tmp_path: Path, dataset: Dataset) -> None:
    responses = class_ids({int(i): int(i) for i in LABELS})
    responses[4] = (4, b"")  # what a failed sample completed with no data leaves
    with pytest.raises(AccuracyError, match="qsl_idx 4: response of 0 bytes.*expects 8 bytes"):
        evaluate("top1", write_log(tmp_path / "log.json", responses), dataset, CLASS_ID)


def test_top1_rejects_vector_responses(tmp_path: Path, dataset: Dataset) -> None:
    enc = ResponseEncoding("float32", (2,))
    log = write_log(tmp_path / "log.json", [(int(i), enc.encode([0, 1])) for i in LABELS])
    with pytest.raises(AccuracyError, match="log.json: qsl_idx 0: top1 expects one real class id per response"):
        evaluate("top1", log, dataset, enc)


def test_unknown_metric(tmp_path: Path, dataset: Dataset) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'top1'"):
        evaluate("top", tmp_path / "log.json", dataset, CLASS_ID)


# --- accuracy.txt and accuracy.json -----------------------------------------------------------------------------

def test_accuracy_files(tmp_path: Path) -> None:
    result = AccuracyResult("top1", 100.0 * 350 / 355, "%", good=350, total=355)
    txt, js = write_accuracy(tmp_path / "accuracy", result, target=97.6)
    assert txt.read_text() == "accuracy=98.592%, good=350, total=355\n"  # accuracy-imagenet.py's line
    record = json.loads(js.read_text())
    assert record == {"schema_version": 1, "metric": "top1", "value": 100.0 * 350 / 355, "value_reported": 98.592,
                      "units": "%", "good": 350, "total": 355, "missing": 0, "target": 97.6, "passed": True}
    assert [p.name for p in sorted((tmp_path / "accuracy").iterdir())] == ["accuracy.json", "accuracy.txt"]


def test_accuracy_passed_uses_reported_value(tmp_path: Path) -> None:
    result = AccuracyResult("top1", 75.694999, "%", good=None, total=1)  # reported as 75.695
    assert json.loads(write_accuracy(tmp_path, result, 75.695)[1].read_text())["passed"] is True
    assert json.loads(write_accuracy(tmp_path, result, 75.696)[1].read_text())["passed"] is False
    assert json.loads(write_accuracy(tmp_path, result, None)[1].read_text())["passed"] is None


def test_end_to_end_file_line(tmp_path: Path, dataset: Dataset) -> None:
    predictions = {int(i): (int(i) if i else 1) for i in LABELS}
    result = evaluate("top1", write_log(tmp_path / "log.json", class_ids(predictions)), dataset, CLASS_ID)
    txt, _ = write_accuracy(tmp_path, result, None)
    assert txt.read_text() == "accuracy=90.000%, good=9, total=10\n"


@pytest.mark.parametrize("value, expected", [
    (98.59154929577464, 98.592),
    (98.5925, 98.592),  # a tie: to even
    (98.5935, 98.594),
    (0.123455, 0.12346),
    (0.123445, 0.12344),
    (76.46, 76.46),
    (100.0, 100.0),
    (123456.5, 123460.0),
    (0.0, 0.0),
])
def test_round_significant_half_even(value: float, expected: float) -> None:
    assert round_significant(value, 5) == expected



def test_scored_a_chunk_at_a_time(tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    # The metric is fed as responses are decoded, a few at a time; a refused response is named by its qsl index.
    monkeypatch.setattr("podium.inference.accuracy.CHUNK_SAMPLES", 3)
    predictions = {int(i): int(i) for i in LABELS}
    predictions[8] = 0
    result = evaluate("top1", write_log(tmp_path / "log.json", class_ids(predictions)), dataset, CLASS_ID)
    assert (result.good, result.total, result.value) == (9, 10, 90.0)
    enc = ResponseEncoding("float32", (-1,))
    rows = [(int(i), enc.encode(np.zeros(2 if i == 7 else 1))) for i in LABELS]
    with pytest.raises(AccuracyError, match="vectors.json: qsl_idx 7: top1 expects one real class id"):
        evaluate("top1", write_log(tmp_path / "vectors.json", rows), dataset, enc)
