"""`criteo-multihot`: the synthetic multi-hot Criteo day 23 of MLPerf's DLRMv2, in the reference's aggregated samples.

The layout is what recommendation/dlrm_v2/pytorch/python/multihot_criteo.py reads for the "multihot-criteo"
dataset (torchrec_dlrm's scripts/materialize_synthetic_multihot_dataset.py writes it):
- `day_23_dense.npy`: (n, 13) float32, the dense features already transformed by torchrec's preprocessing;
- `day_23_sparse_multi_hot.npz`: an uncompressed .npz of 26 int32 arrays "0" .. "25", array k (n, m_k) holding
  each row's m_k ids of table k (m = 3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3,
  1, 1 in the official data; any sizes are read). The reference memory-maps each member inside the zip, which
  requires it stored uncompressed; so does this loader (a compressed member is read into memory instead);
- `day_23_labels.npy`: (n, 1) int32 labels.
The rows served are the first ceil(n / 2) (the reference's "val" stage cut at `second_half_start_index`), grouped
into samples of 100 to 700 consecutive rows exactly as for DLRM v1 (`podium.datasets.criteo`: the trace file
`dlrm_trace_of_aggregated_samples.txt`, or the reference's draw from tools/dist_quantile.txt with seed 123).

A sample is a (n,) structured array of records ("dense_features" (13,) float32, "sparse_features" (sum m_k,) int64:
the 26 tables' ids one after the other, "label" float32); its ground truth the (n,) float32 labels. The dense and
label files are memory-mapped; nothing is read before samples are loaded. `generate` writes the three files and a
trace from a known logistic model over the multi-hot ids (probabilities in `generator_truth.npz`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset
from podium.datasets.criteo import (DENSE_FEATURES, SPARSE_FEATURES, TRACE_FILE, TRUTH_FILE, aggregation_trace,
                                    query_sizes, read_trace, test_rows, write_trace)

DAY = 23
DENSE_FILE = f"day_{DAY}_dense.npy"
SPARSE_FILE = f"day_{DAY}_sparse_multi_hot.npz"
LABELS_FILE = f"day_{DAY}_labels.npy"
MULTI_HOT_SIZES = (3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1)


def record_dtype(multi_hot_sizes: tuple[int, ...]) -> np.dtype:
    return np.dtype([("dense_features", np.float32, (DENSE_FEATURES,)),
                     ("sparse_features", np.int64, (sum(multi_hot_sizes),)), ("label", np.float32)])


def npz_member(path: Path, name: str, expected: str) -> np.ndarray:
    """Array `name` of the .npz at `path`: memory-mapped when stored uncompressed, else read."""
    member = f"{name}.npy"
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
            if info.compress_type != zipfile.ZIP_STORED:
                with archive.open(member) as f:
                    return np.asarray(np.lib.format.read_array(f))
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(f)
                header = f.tell()
        with open(path, "rb") as raw:  # the member's data start: its local header, name and extra, then npy header
            raw.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(raw.read(4), dtype="<u2")
        start = info.header_offset + 30 + int(name_len) + int(extra_len) + header
        return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape, order="F" if fortran else "C")
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except KeyError:
        raise ConfigError(f"has no array {name!r} (members {member} for the 26 tables); {expected}",
                          path=str(path)) from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(f"not a readable .npz ({e}); {expected}", path=str(path)) from None


def _npy(path: Path, expected: str) -> np.ndarray:
    try:
        return np.asarray(np.load(path, mmap_mode="r"))
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"not a readable .npy ({e}); {expected}", path=str(path)) from None


class CriteoMultihot(Dataset):
    """The aggregated samples of the multi-hot Criteo day 23's first half; each sample (n,) records."""

    layout = "criteo-multihot"
    preprocessing_version = "mlperf-dlrm-v2-multihot-1"
    expected_layout = (f"expected {{path}}/{DENSE_FILE} ((n, 13) float32), {{path}}/{SPARSE_FILE} (uncompressed, "
                       f"int32 arrays '0' .. '25' of (n, multi-hot size)) and {{path}}/{LABELS_FILE} ((n, 1) int32), "
                       f"optionally {{path}}/{TRACE_FILE}, as MLPerf's DLRMv2 reference reads them")
    variable_shape: ClassVar[bool] = True

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        self.dense = _npy(self.path / DENSE_FILE, expected)
        self.labels_column = _npy(self.path / LABELS_FILE, expected).reshape(-1)
        self.sparse = [npz_member(self.path / SPARSE_FILE, str(k), expected) for k in range(SPARSE_FEATURES)]
        total = len(self.dense)
        bad = [k for k, a in enumerate(self.sparse) if a.ndim != 2 or len(a) != total]
        if self.dense.ndim != 2 or self.dense.shape[1] != DENSE_FEATURES or len(self.labels_column) != total or bad:
            raise ConfigError(f"dense {self.dense.shape}, labels of {len(self.labels_column)} rows, sparse arrays of "
                              f"other lengths: {bad[:5]}; {expected}", path=str(self.path))
        self.multi_hot_sizes = tuple(int(a.shape[1]) for a in self.sparse)
        self.rows = test_rows(total)
        trace = self.path / TRACE_FILE
        self.offsets = read_trace(trace, self.rows, expected) if trace.is_file() else aggregation_trace(self.rows)
        return len(self.offsets) - 1

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        dtype = record_dtype(self.multi_hot_sizes)
        out = []
        for i in indices:
            s, e = int(self.offsets[i]), int(self.offsets[i + 1])
            sample = np.zeros(e - s, dtype=dtype)
            sample["dense_features"] = self.dense[s:e]
            sample["sparse_features"] = np.concatenate([a[s:e] for a in self.sparse], axis=1)
            sample["label"] = self.labels_column[s:e]
            out.append(sample)
        return out

    def _all_labels(self) -> np.ndarray:
        labels = np.empty(len(self.offsets) - 1, dtype=object)
        for i, (s, e) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            labels[i] = np.asarray(self.labels_column[s:e], dtype=np.float32)
        return labels

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "rows": int(self.offsets[-1]), "multi_hot_sizes": list(self.multi_hot_sizes)}


@DATASETS.register("criteo-multihot")
def _criteo_multihot() -> type[CriteoMultihot]:
    return CriteoMultihot


def generate(root: Path, count: int = 4, *, seed: int = 0, table_rows: int = 16,
             multi_hot_sizes: tuple[int, ...] = MULTI_HOT_SIZES) -> Path:
    """The three files and a trace at `root`: `count` aggregated samples of the official sizes in the first half,
    as many rows again after; ids below `table_rows`, labels from a logistic model of the dense features and the
    mean effect of each table's ids (click probabilities in `generator_truth.npz`). Returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    model = np.random.default_rng(0)  # the same model whatever the seed
    weights = model.normal(0.0, 0.3, DENSE_FEATURES)
    effects = [model.normal(0.0, 0.5, table_rows) for _ in multi_hot_sizes]
    offsets = np.concatenate(([0], np.cumsum(query_sizes(count))))
    total = 2 * int(offsets[-1])
    dense = np.log(rng.poisson(np.linspace(0.5, 12.0, DENSE_FEATURES), (total, DENSE_FEATURES)) + 3.0)
    sparse: dict[str, Any] = {str(k): rng.integers(0, table_rows, (total, m), dtype=np.int32)
                              for k, m in enumerate(multi_hot_sizes)}
    logit = -1.0 + (dense - dense.mean(axis=0)) @ weights + sum(
        effects[k][sparse[str(k)]].mean(axis=1) for k in range(len(multi_hot_sizes)))
    probability = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(total) < probability).astype(np.int32).reshape(-1, 1)
    np.save(root / DENSE_FILE, dense.astype(np.float32))
    np.save(root / LABELS_FILE, labels)
    np.savez(root / SPARSE_FILE, **sparse)  # uncompressed, as the reference memory-maps it
    write_trace(root / TRACE_FILE, offsets)
    np.savez_compressed(root / TRUTH_FILE, probability=probability)
    return root
