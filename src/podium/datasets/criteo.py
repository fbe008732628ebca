"""`criteo`: Criteo Terabyte day 23 as MLPerf's DLRM reads it, grouped into the reference's aggregated samples.

The rows are the test half of day 23: its first ceil(n / 2) rows, in file order (facebookresearch/dlrm
dlrm_data_pytorch.py `CriteoDataset`, split "test", memory-mapped mode; data_loader_terabyte.py `numpy_to_binary`;
the accuracy script reads day_23's labels from its first line on). Three on-disk forms are read, the first found:
- `day_23_reordered.npz`: the preprocessed day (data_utils.py), keys "X_int" (n, 13) int32 (negatives already
  set to 0), "X_cat" (n, 26) int32 (each feature's ids mapped to dense indices by the dictionaries of all days)
  and "y" (n,) int32; with `day_fea_count.npz` ("counts": the 26 table sizes) beside it;
- `terabyte_processed_test.bin`: the test half as int32 rows of 40 (label, 13 integer, 26 categorical features),
  the reference's `--mlperf-bin-loader` file, with `day_fea_count.npz`;
- `day_23`: the raw tab-separated day (label, 13 integer features, 26 categorical features as hexadecimal
  strings; an empty field is 0), with the reference's dictionaries `day_fea_dict_<j>.npz` ("unique": the ids of
  feature j, after the modulo below, in index order). Parsed once, slowly: a small or cut day only.
Each row is then transformed as the reference's collate does: dense_x = log(X_int + 1) in float32 (13), the
categorical indices modulo `--max-ind-range` (40,000,000) as int64 (26), the label as float32.

One sample of the sample library (QSL) is a run of consecutive rows, a query of 100 to 700 user-item pairs. The
runs are read from `dlrm_trace_of_aggregated_samples.txt` ("start, end, count" per line, as criteo.py writes it and
Zenodo publishes it), or, without that file, drawn as the reference draws them: sizes from the quantile of
tools/dist_quantile.txt (100, 100, 200 x 12, 300, 300, 400, 500, 600, 700) picked by numpy's legacy generator
seeded with main.py's `--numpy-rand-seed` 123 (`np.random.randint(0, 20)` per query), the last one cut at the end
of the rows; this reproduces tools/dist_trace_verification.txt. A sample is a (n,) numpy structured array of
records ("dense_x", "indices", "label") — samples differ in length (`variable_shape`) — and its ground truth the
(n,) float32 labels.

`generate` writes a small day in all three forms, with a trace, drawn from a known logistic model (the click
probability of each row, `generator_truth.npz`), so that the best achievable AUC is known (`bayes_auc`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset

DENSE_FEATURES = 13
SPARSE_FEATURES = 26
ROW_FIELDS = 1 + DENSE_FEATURES + SPARSE_FEATURES  # the .bin file's int32 columns
MAX_IND_RANGE = 40_000_000
DAY = 23
NPZ_FILE = f"day_{DAY}_reordered.npz"
BIN_FILE = "terabyte_processed_test.bin"
RAW_FILE = f"day_{DAY}"
COUNTS_FILE = "day_fea_count.npz"
DAY_COUNT_FILE = "day_day_count.npz"
DICT_FILE = "day_fea_dict_{}.npz"
TRACE_FILE = "dlrm_trace_of_aggregated_samples.txt"
TRUTH_FILE = "generator_truth.npz"
# tools/dist_quantile.txt: the inverse CDF of the query size, in steps of 0.05
QUANTILE = (100, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 300, 300, 400, 500, 600, 700)
TRACE_SEED = 123  # main.py --numpy-rand-seed
RECORD = np.dtype([("dense_x", np.float32, (DENSE_FEATURES,)), ("indices", np.int64, (SPARSE_FEATURES,)),
                   ("label", np.float32)])


# --- aggregated samples ----------------------------------------------------------------------------------------

def test_rows(total: int) -> int:
    """Rows of the test half of a day of `total` rows: the first ceil(total / 2)."""
    return (total + 1) // 2


def query_sizes(count: int, quantile: tuple[int, ...] = QUANTILE, seed: int = TRACE_SEED) -> np.ndarray:
    """The first `count` query sizes the reference draws (before any is cut at the end of the rows)."""
    rng = np.random.RandomState(seed)
    return np.array([quantile[rng.randint(low=0, high=len(quantile))] for _ in range(count)], dtype=np.int64)


def aggregation_trace(rows: int, quantile: tuple[int, ...] = QUANTILE, seed: int = TRACE_SEED) -> np.ndarray:
    """Sample boundaries (offsets, first 0, last `rows`) as criteo.py draws them for `rows` rows."""
    rng = np.random.RandomState(seed)
    offsets = [0]
    while offsets[-1] < rows:
        offsets.append(min(offsets[-1] + quantile[rng.randint(low=0, high=len(quantile))], rows))
    return np.asarray(offsets, dtype=np.int64)


def read_trace(path: Path, rows: int, expected: str) -> np.ndarray:
    """Offsets of the trace file at `path` ("start, end, count" lines, contiguous from 0, within `rows`)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        spans = np.array([[int(v) for v in line.split(",")] for line in lines], dtype=np.int64).reshape(-1, 3)
    except (OSError, ValueError) as e:
        raise ConfigError(f"not a readable aggregation trace ({e}); {expected}", path=str(path)) from None
    offsets = np.concatenate(([0], spans[:, 1]))
    if len(spans) == 0 or np.any(spans[:, 0] != offsets[:-1]) or np.any(spans[:, 2] != spans[:, 1] - spans[:, 0]) \
            or np.any(spans[:, 2] <= 0):
        raise ConfigError(f"lines are not contiguous 'start, end, count' runs from row 0; {expected}", path=str(path))
    if offsets[-1] > rows:
        raise ConfigError(f"the trace ends at row {offsets[-1]}, past the {rows} rows of the test half; {expected}",
                          path=str(path))
    return offsets


def write_trace(path: Path, offsets: np.ndarray) -> None:
    path.write_text("".join(f"{s}, {e}, {e - s}\n" for s, e in zip(offsets[:-1], offsets[1:])), encoding="utf-8")


def records(x_int: np.ndarray, x_cat: np.ndarray, y: np.ndarray, max_ind_range: int) -> np.ndarray:
    """Rows as the reference's collate transforms them: log(x + 1) float32, indices modulo the range, labels."""
    out = np.zeros(len(y), dtype=RECORD)
    out["dense_x"] = np.log(np.maximum(x_int, 0).astype(np.float32) + np.float32(1))
    cats = x_cat.astype(np.int64)
    out["indices"] = cats % max_ind_range if max_ind_range > 0 else cats
    out["label"] = y.astype(np.float32)
    return out


# --- the three on-disk forms -----------------------------------------------------------------------------------

def _load_npz(path: Path, keys: tuple[str, ...], expected: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return {k: np.asarray(data[k]) for k in keys}
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"not a readable .npz with keys {', '.join(keys)} ({e}); {expected}",
                          path=str(path)) from None


def parse_raw_day(path: Path, rows: int, dictionaries: list[np.ndarray], max_ind_range: int, expected: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X_int, X_cat, y) of the first `rows` lines of a raw Criteo day: empty fields 0, negative integers 0, the
    hexadecimal ids modulo `max_ind_range` mapped to their indices by the dictionaries (data_utils.py)."""
    x_int = np.zeros((rows, DENSE_FEATURES), dtype=np.int64)
    raw = np.zeros((rows, SPARSE_FEATURES), dtype=np.int64)
    y = np.zeros(rows, dtype=np.int32)
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == rows:
                break
            fields = [v or "0" for v in line.rstrip("\r\n").split("\t")]
            if len(fields) != ROW_FIELDS:
                raise ConfigError(f"line {i + 1} has {len(fields)} tab-separated fields, not {ROW_FIELDS}; {expected}",
                                  path=str(path))
            y[i] = int(fields[0])
            x_int[i] = [int(v) for v in fields[1:1 + DENSE_FEATURES]]
            raw[i] = [int(v, 16) for v in fields[1 + DENSE_FEATURES:]]
    if max_ind_range > 0:
        raw %= max_ind_range
    x_cat = np.zeros_like(raw)
    for j, unique in enumerate(dictionaries):
        order = np.argsort(unique, kind="stable")
        where = np.clip(np.searchsorted(unique[order], raw[:, j]), 0, len(unique) - 1)
        known = unique[order][where] == raw[:, j]
        if not known.all():
            bad = int(raw[np.argmin(known), j])
            raise ConfigError(f"categorical feature {j} has id {bad:x} absent from {DICT_FILE.format(j)}; {expected}",
                              path=str(path))
        x_cat[:, j] = order[where]
    return np.maximum(x_int, 0), x_cat, y


class CriteoTerabyte(Dataset):
    """The aggregated samples of Criteo Terabyte day 23's test half; each sample (n,) records, n = 100 .. 700."""

    layout = "criteo"
    preprocessing_version = "mlperf-dlrm-criteo-1"
    expected_layout = (f"expected in {{path}} {NPZ_FILE} (keys X_int, X_cat, y) or {BIN_FILE} (int32 rows of label, "
                       f"13 integer and 26 categorical features), each with {COUNTS_FILE}; or the raw {RAW_FILE} "
                       f"(tab-separated) with {DICT_FILE.format('<0..25>')}; and optionally {TRACE_FILE} — as "
                       "MLPerf's DLRM reference (facebookresearch/dlrm data_utils.py) writes them")
    variable_shape: ClassVar[bool] = True

    def __init__(self, path: Path | str | None = None, *, max_ind_range: int = MAX_IND_RANGE, **kwargs: Any) -> None:
        if isinstance(max_ind_range, bool) or not isinstance(max_ind_range, int):
            raise ConfigError(f"max_ind_range must be an integer, not {max_ind_range!r}", key="max_ind_range")
        self.max_ind_range = max_ind_range
        self._rows_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        super().__init__(path, **kwargs)

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        found = [name for name in (NPZ_FILE, BIN_FILE, RAW_FILE) if (self.path / name).is_file()]
        if not found:
            raise ConfigError(f"no {NPZ_FILE}, {BIN_FILE} or {RAW_FILE}; {expected}", path=str(self.path))
        self.form = found[0]
        self.rows = self._count_rows(expected)
        trace = self.path / TRACE_FILE
        self.offsets = read_trace(trace, self.rows, expected) if trace.is_file() else aggregation_trace(self.rows)
        return len(self.offsets) - 1

    def _count_rows(self, expected: str) -> int:
        assert self.path is not None
        if self.form == BIN_FILE:
            _load_npz(self.path / COUNTS_FILE, ("counts",), expected)
            size = (self.path / BIN_FILE).stat().st_size
            if size % (4 * ROW_FIELDS):
                raise ConfigError(f"{size} bytes is not a whole number of {ROW_FIELDS} int32 rows; {expected}",
                                  path=str(self.path / BIN_FILE))
            return size // (4 * ROW_FIELDS)  # the test half already
        if self.form == NPZ_FILE:
            _load_npz(self.path / COUNTS_FILE, ("counts",), expected)
            return test_rows(len(_load_npz(self.path / NPZ_FILE, ("y",), expected)["y"]))
        day_count = self.path / DAY_COUNT_FILE
        if day_count.is_file():
            return test_rows(int(_load_npz(day_count, ("total_per_file",), expected)["total_per_file"][DAY]))
        with open(self.path / RAW_FILE, "rb") as f:
            return test_rows(sum(1 for _ in f))

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X_int, X_cat, y) of the test half, read once (the .bin memory-mapped)."""
        if self._rows_cache is None:
            assert self.path is not None
            expected = self.expected(self.path)
            if self.form == BIN_FILE:
                table = np.memmap(self.path / BIN_FILE, dtype=np.int32, mode="r").reshape(-1, ROW_FIELDS)
                self._rows_cache = (table[:, 1:1 + DENSE_FEATURES], table[:, 1 + DENSE_FEATURES:], table[:, 0])
            elif self.form == NPZ_FILE:
                data = _load_npz(self.path / NPZ_FILE, ("X_int", "X_cat", "y"), expected)
                self._rows_cache = (data["X_int"][:self.rows], data["X_cat"][:self.rows], data["y"][:self.rows])
            else:
                dictionaries = [_load_npz(self.path / DICT_FILE.format(j), ("unique",), expected)["unique"]
                                .astype(np.int64) for j in range(SPARSE_FEATURES)]
                self._rows_cache = parse_raw_day(self.path / RAW_FILE, self.rows, dictionaries, self.max_ind_range,
                                                 expected)
        return self._rows_cache

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        x_int, x_cat, y = self._columns()
        spans = [(int(self.offsets[i]), int(self.offsets[i + 1])) for i in indices]
        return [records(x_int[s:e], x_cat[s:e], y[s:e], self.max_ind_range) for s, e in spans]

    def _all_labels(self) -> np.ndarray:
        y = self._columns()[2]
        labels = np.empty(len(self.offsets) - 1, dtype=object)
        for i, (s, e) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            labels[i] = np.asarray(y[s:e], dtype=np.float32)
        return labels

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "form": self.form, "rows": int(self.offsets[-1]),
                "max_ind_range": self.max_ind_range}


@DATASETS.register("criteo")
def _criteo() -> type[CriteoTerabyte]:
    return CriteoTerabyte


# --- small data from a known logistic model --------------------------------------------------------------------

GENERATED_TABLE_ROWS = 16  # rows of each generated table


def click_model(rng: np.random.Generator, table_rows: list[int]) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """(bias, weights of log(x + 1) per dense feature, an effect per index of each table) of a logistic model."""
    return -1.0, rng.normal(0.0, 0.3, DENSE_FEATURES), [rng.normal(0.0, 0.25, n) for n in table_rows]


def draw_rows(rng: np.random.Generator, rows: int, table_rows: list[int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_int raw (may hold -1), X_cat indices, y, click probability) of `rows` rows of one logistic model."""
    bias, weights, effects = click_model(np.random.default_rng(0), table_rows)  # the model is fixed
    x_int = rng.poisson(np.linspace(0.5, 12.0, DENSE_FEATURES), size=(rows, DENSE_FEATURES)).astype(np.int64)
    x_int[:, 1] -= 1  # Criteo's I2 holds -1s: preprocessing sets them to 0
    x_cat = np.stack([rng.integers(0, n, rows) for n in table_rows], axis=1)
    dense = np.log(np.maximum(x_int, 0) + 1.0)
    logit = bias + (dense - dense.mean(axis=0)) @ weights + sum(e[x_cat[:, j]] for j, e in enumerate(effects))
    probability = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(rows) < probability).astype(np.int32)
    return x_int, x_cat, y, probability


def generate(root: Path, count: int = 8, *, seed: int = 0, table_rows: int = GENERATED_TABLE_ROWS,
             raw: bool = True) -> Path:
    """A small day 23 at `root` in the three forms, with its trace: `count` aggregated samples of the official
    sizes (the reference's first `count` draws) in the test half, as many rows again in the second half; 26 tables
    of `table_rows` rows (`day_fea_count.npz`). `raw=False` leaves out the raw TSV and its dictionaries (the
    slowest to write; the .npz and .bin carry the same rows). Returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [table_rows] * SPARSE_FEATURES
    offsets = np.concatenate(([0], np.cumsum(query_sizes(count))))
    total = 2 * int(offsets[-1])
    x_int, x_cat, y, probability = draw_rows(rng, total, sizes)
    counts = np.array(sizes, dtype=np.int32)
    np.savez_compressed(root / NPZ_FILE, X_int=np.maximum(x_int, 0).astype(np.int32), X_cat=x_cat.astype(np.int32),
                        y=y)
    np.savez_compressed(root / COUNTS_FILE, counts=counts)
    np.savez_compressed(root / DAY_COUNT_FILE, total_per_file=np.array([0] * DAY + [total], dtype=np.int64))
    half = test_rows(total)
    table = np.concatenate([y[:half, None], np.maximum(x_int[:half], 0), x_cat[:half]], axis=1).astype(np.int32)
    (root / BIN_FILE).write_bytes(table.tobytes())
    if raw:
        _write_raw(root, rng, x_int, x_cat, y, sizes)
    write_trace(root / TRACE_FILE, offsets)
    np.savez_compressed(root / TRUTH_FILE, probability=probability)
    return root


def _write_raw(root: Path, rng: np.random.Generator, x_int: np.ndarray, x_cat: np.ndarray, y: np.ndarray,
               sizes: list[int]) -> None:
    """The raw TSV (hexadecimal ids, some integer fields left empty) and the dictionaries mapping its ids."""
    raw_ids = []
    for j, n in enumerate(sizes):
        unique = rng.choice(MAX_IND_RANGE, n, replace=False)  # distinct after the modulo
        np.savez_compressed(root / DICT_FILE.format(j), unique=unique.astype(np.int32))
        raw_ids.append(unique + MAX_IND_RANGE * rng.integers(0, 100, n))  # < 2^32, the same after the modulo
    missing = rng.random(x_int.shape) < 0.05
    with open(root / RAW_FILE, "w", encoding="utf-8") as f:
        for i in range(len(y)):
            ints = ["" if missing[i, k] and x_int[i, k] == 0 else str(x_int[i, k]) for k in range(DENSE_FEATURES)]
            cats = [format(int(raw_ids[j][x_cat[i, j]]), "08x") for j in range(SPARSE_FEATURES)]
            f.write("\t".join([str(y[i]), *ints, *cats]) + "\n")


def truth(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(click probability, label) of each traced row of the test half of data `generate` wrote at `root`: the
    AUC of the probabilities is the best any model can expect there (the Bayes AUC)."""
    dataset = CriteoTerabyte(root)
    rows = int(dataset.offsets[-1])
    probability = _load_npz(root / TRUTH_FILE, ("probability",), "written by podium.datasets.criteo.generate")
    return probability["probability"][:rows], np.asarray(dataset._columns()[2][:rows])
