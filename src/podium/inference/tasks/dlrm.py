"""Recommendation: MLPerf's DLRM (Criteo Terabyte, v0.7-v3.0) and DLRMv2 (multi-hot Criteo, v3.1-v5.1).

One sample is an aggregated query of 100 to 700 user-item pairs (`podium.datasets.criteo`), so a graph run serves
the rows of every sample of a batch at once and a predictor (`AggregatedRows`) cuts the click probabilities back
into one response per sample, as the reference's `get_samples` / `idx_offsets` do. Each response is the rows of
its sample as float32 (prediction, label) pairs, (n, 2): the bytes the reference SUT logs (main.py: `np.array(
processed_results[s:e], np.float32).tobytes()`, DlrmPostProcess keeping [result, target] per row), which
tools/accuracy-dlrm.py reads with its default `--dtype float32` (no --day-23-file: the labels travel in the log).

DLRM v1's official ONNX graph (`tb00_40M.onnx`, dlrm_s_pytorch.py `--save-onnx`) takes "dense_x" (N, 13) float32
and "offsets" and "indices" (26, N) int64, table-major, and answers "pred" (N, 1); the reference's onnxruntime
backend feeds exactly these names. Podium's PyTorch definition (`podium.models.dlrm`) takes offsets and indices
batch-major (N, 26) (a sample is then one numpy record per row); the predictor feeds each model the layout it
declares: table-major to a graph whose "offsets" input has a fixed first dimension (the official one), batch-major
otherwise. Every bag holds one index, so offsets[k] is 0 .. N-1. Both backends serve it, PyTorch by default (the
reference's default backend, `pytorch-native`).

DLRMv2's reference runs torchrec only (backend_pytorch_native.py); no ONNX graph is published, so the task is
served by the PyTorch backend alone, the model taking "dense_features" (N, 13) and "sparse_features" (N, 214), the
multi-hot ids of the 26 tables one after the other (`podium.models.dlrm_v2`).

`tiny-ctr`, the tiny suite's click-through benchmark, is served as DLRM v1 is: the `tiny-dlrm` model (trained by
`podium train tiny-ctr`, exported to ONNX batch-major) on generated logs in the `criteo` layout, scored by `auc`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import POSTPROCESSORS, PREDICTORS, TASKS, GraphForm, Postprocessor, Predictor, Task

if TYPE_CHECKING:
    from podium.inference.backends.base import LoadedModel

# float32 (prediction, label) per user-item pair of the sample: the reference's response
PAIRS = ResponseEncoding("float32", (-1, 2))
FORMS = (GraphForm("mlperf-onnx", "click-probability", outputs=("pred",)),
         GraphForm("first-output", "click-probability"))

Feeds = Callable[["LoadedModel", np.ndarray], dict[str, np.ndarray]]


def table_major(model: LoadedModel, name: str) -> bool:
    """Whether the model declares input `name` table-major, (tables, N): a fixed first dimension, as the official
    DLRM ONNX graph's "offsets" and "indices" (26, batch_size)."""
    shape = next((i.shape for i in model.inputs if i.name == name), None)
    return shape is not None and len(shape) == 2 and shape[0] is not None and shape[1] is None


def dlrm_feeds(model: LoadedModel, rows: np.ndarray) -> dict[str, np.ndarray]:
    """DLRM v1's inputs for `rows` (records with "dense_x" and "indices"): one-index bags, offsets 0 .. N-1. The
    fields are copied out of the records (a field of one record has strides torch cannot take)."""
    count = len(rows)
    indices = np.array(rows["indices"], dtype=np.int64)
    offsets = np.repeat(np.arange(count, dtype=np.int64)[:, None], indices.shape[1], axis=1)
    if table_major(model, "offsets"):
        offsets, indices = np.ascontiguousarray(offsets.T), np.ascontiguousarray(indices.T)
    return {"dense_x": np.array(rows["dense_x"], dtype=np.float32), "offsets": offsets, "indices": indices}


def dlrm_v2_feeds(model: LoadedModel, rows: np.ndarray) -> dict[str, np.ndarray]:
    """DLRMv2's inputs for `rows` (records with "dense_features" and "sparse_features")."""
    return {"dense_features": np.array(rows["dense_features"], dtype=np.float32),
            "sparse_features": np.array(rows["sparse_features"], dtype=np.int64)}


@dataclass(frozen=True)
class AggregatedRows:
    """Serve samples of many rows: one graph run over the rows of the whole batch, then (prediction, label) rows
    cut back per sample."""

    feeds: Feeds

    def __call__(self, model: LoadedModel, samples: Any, indices: Sequence[int]) -> list[np.ndarray]:
        parts = list(samples)
        if not parts:
            return []
        rows = np.concatenate(parts)
        out = run_rows(model, self.feeds(model, rows))
        if out.size != len(rows):
            raise SUTError(f"dlrm: the model answered {out.shape} for {len(rows)} rows; expected one click "
                           f"probability per row, (N, 1)")
        scores = out.reshape(-1)
        labels = np.asarray(rows["label"], dtype=np.float32)
        bounds = np.cumsum([0, *(len(p) for p in parts)])
        return [np.stack([scores[s:e], labels[s:e]], axis=1) for s, e in zip(bounds[:-1], bounds[1:])]


def run_rows(model: LoadedModel, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The first output for `feeds` (in the forward's order): a PyTorch module is called on them directly, in its
    inference context (its inputs' dtypes are the arrays', whatever the backend declared without an example);
    any other model through `run_feeds`."""
    module = getattr(model, "module", None)
    if module is None:
        return np.asarray(model.run_feeds(feeds)[0], dtype=np.float32)
    import torch

    with model.inference():  # type: ignore[attr-defined]
        out = module(*(torch.from_numpy(a).to(model.device) for a in feeds.values()))  # type: ignore[attr-defined]
    return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


def click_probability(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> list[np.ndarray]:
    """Graph outputs (N, 1) for samples of one row each -> one (1,) float32 click probability per sample (what a
    graph answers; DLRM's tasks serve aggregated samples through their predictor, which adds the labels)."""
    return list(np.asarray(outputs[0], dtype=np.float32).reshape(-1, 1))


@POSTPROCESSORS.register("click-probability")
def _click_probability() -> Postprocessor:
    return click_probability


@PREDICTORS.register("dlrm-rows")
def _dlrm_rows() -> Predictor:
    return AggregatedRows(dlrm_feeds)


@PREDICTORS.register("dlrm-v2-rows")
def _dlrm_v2_rows() -> Predictor:
    return AggregatedRows(dlrm_v2_feeds)


@TASKS.register("dlrm")
def _dlrm() -> Task:
    return Task("dlrm", dataset="criteo", encoding=PAIRS, metric="auc", model="dlrm", predictor="dlrm-rows",
                forms=FORMS, backends=("pytorch", "onnxruntime"))


@TASKS.register("dlrm-v2")
def _dlrm_v2() -> Task:
    return Task("dlrm-v2", dataset="criteo-multihot", encoding=PAIRS, metric="auc", model="dlrm-v2",
                predictor="dlrm-v2-rows", forms=FORMS, backends=("pytorch",))


@TASKS.register("tiny-ctr")
def _tiny_ctr() -> Task:
    return Task("tiny-ctr", dataset="criteo", encoding=PAIRS, metric="auc", model="tiny-dlrm", predictor="dlrm-rows",
                forms=FORMS, backends=("onnxruntime", "pytorch"))
