"""Question answering: BERT-Large on SQuAD v1.1 (`bert`, checker names `bert-99` and `bert-99.9`).

The reference (language/bert) pre-tokenizes SQuAD into features of 384 tokens (the `squad` dataset, cached, off
the timed path), runs the graph on a feature's input_ids, input_mask and segment_ids, and answers the start and end
logits stacked on the last axis — `np.stack([start, end], axis=-1)`, float32 (384, 2) — which accuracy-squad.py
reads back (`reshape(-1, 2)`, its `--output_dtype float32` default, not `--output_transposed`). Only the graph run
and that stacking are timed here too; turning logits into answer spans is the metric's (`squad`).

The official graphs (README's model table; onnxruntime_SUT.py; bert_tf_to_pytorch.py):
- FP32 `model.onnx`: inputs `input_ids`, `input_mask`, `segment_ids`, int64 (batch, 384); outputs
  `output_start_logits`, `output_end_logits`, float32 (batch, 384). Podium's `bert` PyTorch definition (the
  reference's `model.pytorch` keys) declares the same names, and `--model random` exports it under them.
- INT8 `bert_large_v1_1_fake_quant.onnx`: the reference feeds it `input_ids`, `attention_mask`,
  `token_type_ids` (int64); the dataset's records answer those names too (the same arrays), so it is fed by its
  own names. The reference reads its outputs in graph order, start then end, whatever their names, which it does
  not state: the forms below take the FP32 names, or Hugging Face's `start_logits`/`end_logits`, or one output
  already stacked (batch, 384, 2); a graph with other names is read with `--outputs START,END`.
`podium infer bert`, `bert-99` and `bert-99.9` serve this one task (the registry's LoadGen model is `bert`; the
checker's names are its two accuracy levels, each held to its own target: `podium.inference.tasks.task_for`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from podium.core.errors import SUTError
from podium.datasets.squad import TINY_DOC_STRIDE, TINY_MAX_QUERY_LENGTH, TINY_MAX_SEQ_LENGTH
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import POSTPROCESSORS, TASKS, GraphForm, Postprocessor, Task

SEQ_LENGTH = 384
# float32 (384, 2): start logits in column 0, end logits in column 1, as the reference SUTs answer.
START_END_LOGITS = ResponseEncoding("float32", (SEQ_LENGTH, 2))
FORMS = (
    GraphForm("mlperf-onnx-fp32", "bert-start-end", outputs=("output_start_logits", "output_end_logits")),
    GraphForm("huggingface-names", "bert-start-end", outputs=("start_logits", "end_logits")),
    GraphForm("stacked-logits", "bert-start-end", classes=2),
)


def stack_start_end(outputs: Sequence[np.ndarray], indices: Sequence[int] = ()) -> np.ndarray:
    """Start and end logits (N, L) each -> (N, L, 2) float32, start first; one output already (N, L, 2) is
    taken as it is."""
    if len(outputs) == 1:
        stacked = np.asarray(outputs[0], dtype=np.float32)
    elif len(outputs) == 2:
        stacked = np.stack([np.asarray(o, dtype=np.float32) for o in outputs], axis=-1)
    else:
        raise SUTError(f"bert: expected start and end logits (two outputs) or one stacked output, got "
                       f"{len(outputs)} outputs")
    if stacked.ndim != 3 or stacked.shape[-1] != 2:
        raise SUTError(f"bert: the graph answered logits of shape {stacked.shape}; expected (batch, "
                       f"sequence length, 2) once start and end are stacked")
    return stacked


@POSTPROCESSORS.register("bert-start-end")
def _stack_start_end() -> Postprocessor:
    return stack_start_end


@TASKS.register("bert")
def _bert() -> Task:
    return Task("bert", dataset="squad", encoding=START_END_LOGITS, metric="squad", model="bert", forms=FORMS)


@TASKS.register("tiny-qa")
def _tiny_qa() -> Task:
    """The tiny suite's question answering: the `tiny-bert` model (BERT's keys, graph names and forms, features of
    64 tokens) on generated SQuAD-layout passages, start and end logits float32 (64, 2), scored by `squad`."""
    return Task("tiny-qa", dataset="squad", encoding=ResponseEncoding("float32", (TINY_MAX_SEQ_LENGTH, 2)),
                metric="squad", model="tiny-bert", forms=FORMS,
                dataset_options={"max_seq_length": TINY_MAX_SEQ_LENGTH, "doc_stride": TINY_DOC_STRIDE,
                                 "max_query_length": TINY_MAX_QUERY_LENGTH})
