"""Speech recognition: MLPerf's RNN-T on LibriSpeech dev-clean, served as the reference SUT serves it.

The reference (retired_benchmarks/speech_recognition/rnnt/pytorch_SUT.py) keeps waveforms in its QSL and, per query,
computes the log-mel features (AudioPreprocessing, inside the timed path), runs the encoder and decodes greedily
(ScriptGreedyDecoder, at most 30 symbols per encoder frame), answering the symbol ids as int64
(`array.array("q", transcript)`), which accuracy_eval.py reads back with its default `--output_dtype int64`. It
publishes a PyTorch checkpoint only (`rnnt.pt`), so the task is served by the PyTorch backend, through the
`rnnt-greedy` predictor, which drives the module's parts (`podium.models.rnnt`): features of each utterance alone
(as the reference's batches of one), the encoder over the batch's utterances together (padded; each row's outputs
are those it has alone) and the greedy decoding of the batch, each utterance decoded as the reference decodes it.

`tiny-speech` (round `tiny-v1`, the tiny suite's): the same task with the `tiny-rnnt` model trained by
`podium train tiny-speech` on generated LibriSpeech-layout audio (`podium.workloads.tiny_speech`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import PREDICTORS, TASKS, GraphForm, Predictor, Task
from podium.inference.tasks.stepwise import driven

if TYPE_CHECKING:
    from podium.inference.backends.base import LoadedModel

# One int64 symbol id per emitted character, as many as decoded (the reference's array.array("q", ...)).
SYMBOL_IDS = ResponseEncoding("int64", (-1,))


def greedy_transcripts(model: LoadedModel, samples: Any, indices: Sequence[int]) -> list[np.ndarray]:
    """Waveforms (1-D float32 arrays) -> each one's greedy symbol ids, int64: features, encoder, decoding, all
    inside the call (the timed path), under the backend's inference mode and precision."""
    import torch

    from podium.models.rnnt import FRAME_SPLICING, greedy_decode

    module, device, context = driven(model, "rnnt", "encode")
    waves = [np.asarray(s, dtype=np.float32).reshape(-1) for s in samples]
    # the STFT's reflect padding needs over half a frame; the normalization's std, two feature frames
    featurizer = module.audio_preprocessor.featurizer
    least = max(featurizer.n_fft // 2 + 1, featurizer.hop * FRAME_SPLICING + 1)
    short = [k for k, w in enumerate(waves) if len(w) < least]
    if short:
        raise SUTError(f"rnnt: sample {indices[short[0]]} has {len(waves[short[0]])} audio samples; the features "
                       f"need at least {least} ({least / 16000:.3f} s)")
    with context:
        tensors = [torch.from_numpy(w.copy()).to(device) for w in waves]
        encoded, lengths = module.encode(tensors)
        decoded = greedy_decode(module, encoded.float(), lengths)
    return [np.asarray(ids, dtype=np.int64) for ids in decoded]




@PREDICTORS.register("rnnt-greedy")
def _greedy() -> Predictor:
    return greedy_transcripts


@TASKS.register("rnnt")
def _rnnt() -> Task:
    return Task("rnnt", dataset="librispeech", encoding=SYMBOL_IDS, metric="word_accuracy", model="rnnt",
                predictor="rnnt-greedy", backends=("pytorch",),
                forms=(GraphForm("reference-checkpoint", "decoded-by-predictor", outputs=("encoded",)),))


@TASKS.register("tiny-speech")
def _tiny_speech() -> Task:
    return Task("tiny-speech", dataset="librispeech", encoding=SYMBOL_IDS, metric="word_accuracy", model="tiny-rnnt",
                predictor="rnnt-greedy", backends=("pytorch",),
                forms=(GraphForm("podium-state-dict", "decoded-by-predictor", outputs=("encoded",)),))
