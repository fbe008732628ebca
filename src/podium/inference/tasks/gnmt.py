"""Translation: MLPerf's GNMT on WMT16 English-German newstest2014 (round v0.5), served by beam search; and the
tiny suite's `tiny-translation`, served alike.

One sample is one BPE-segmented English sentence as token ids (`wmt16`); one translation is many decoder steps,
so the task has a predictor (`BeamTranslator`) rather than a post-processor: it encodes the batch's sentences at
once and runs the reference's beam search over the decoder (podium.models.gnmt: beam 10, at most 80 steps, length
normalization ((5 + length) / 6) ** 0.6, coverage penalty 0.1), driving the PyTorch module itself (hence
`backends=("pytorch",)`: the reference publishes a PyTorch checkpoint, and no graph of a whole translation).
The answer is what the v0.5 reference SUT returns (translation/gnmt/tensorflow/loadgen_gnmt.py: nmt_utils's
`get_translation`, cut at the end of sentence, BPE pieces joined): the translation as UTF-8 text, tokens separated
by spaces, BPE removed, still Moses-tokenized — uint8 bytes of any length, which the official process_accuracy.py
decodes and scores with `BLEU: %.1f` (the `bleu` metric). Turning ids into text happens inside the timed path, as
in the reference SUT, with the vocabulary the samples name (`SourceSentence.vocabulary`).

The model's own forward (the first target token's log-probabilities, "logprobs") is what the harness warms up
on; the declared graph form names it, but its post-processor refuses: a translation is never one graph run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.core.errors import SUTError
from podium.inference.encoding import ResponseEncoding
from podium.inference.tasks import PREDICTORS, TASKS, GraphForm, Predictor, Task
from podium.inference.tasks.stepwise import driven
from podium.models import gnmt

if TYPE_CHECKING:
    from podium.inference.backends.base import LoadedModel

# The translation's text, UTF-8, as the reference SUT answers it (array.array('B', translation)).
TRANSLATION = ResponseEncoding("uint8", (-1,))
FORMS = (GraphForm("pytorch-gnmt", "decoded-by-predictor", outputs=("logprobs",)),)


@dataclass(frozen=True)
class BeamTranslator:
    """The reference's beam search as a predictor: source sentences (SourceSentence) -> UTF-8 translations."""

    beam: int = gnmt.BEAM_SIZE
    max_length: int = gnmt.MAX_LENGTH
    alpha: float = gnmt.LENGTH_NORM_FACTOR
    norm_const: float = gnmt.LENGTH_NORM_CONST
    coverage: float = gnmt.COVERAGE_PENALTY

    def __call__(self, model: LoadedModel, samples: Any, indices: Sequence[int]) -> list[np.ndarray]:
        module, device, context = driven(model, "gnmt", "encode")
        sentences = [np.asarray(s, dtype=np.int64) for s in samples]
        vocabulary = _vocabulary(samples)
        _check_ids(sentences, int(module.vocab_size))
        search = gnmt.beam_search(self.beam, self.max_length, alpha=self.alpha, norm_const=self.norm_const,
                                  coverage=self.coverage)
        with context:
            translations = search.translate(module, sentences, device)
        return [np.frombuffer(vocabulary.decode(ids).encode("utf-8"), dtype=np.uint8) for ids in translations]



def _vocabulary(samples: Any) -> Any:
    """The vocabulary the samples' ids index (every wmt16 sample names it)."""
    vocabulary = getattr(samples[0], "vocabulary", None) if len(samples) else None
    if vocabulary is None:
        raise SUTError("gnmt: the samples carry no vocabulary to turn translations into text; they come from the "
                       "wmt16 dataset, which gives each sentence its vocabulary")
    return vocabulary


def _check_ids(sentences: list[np.ndarray], vocab_size: int) -> None:
    largest = max((int(s.max()) for s in sentences if s.size), default=0)
    if largest >= vocab_size:
        raise SUTError(f"gnmt: a sentence has token id {largest}, beyond the model's vocabulary of {vocab_size}: "
                       f"the dataset's vocabulary file and the checkpoint do not belong together")



@PREDICTORS.register("gnmt-beam-search")
def _beam_search() -> Predictor:
    return BeamTranslator()


@TASKS.register("gnmt")
def _gnmt() -> Task:
    return Task("gnmt", dataset="wmt16", encoding=TRANSLATION, metric="bleu", model="gnmt",
                predictor="gnmt-beam-search", forms=FORMS, backends=("pytorch",))


@TASKS.register("tiny-translation")
def _tiny_translation() -> Task:
    """The tiny suite's translation: the `tiny-gnmt` model trained by `podium train tiny-translation` on the
    generated language pair (wmt16 layout), served as GNMT is: the same beam search, responses and BLEU."""
    return Task("tiny-translation", dataset="wmt16", encoding=TRANSLATION, metric="bleu", model="tiny-gnmt",
                predictor="gnmt-beam-search", forms=FORMS, backends=("pytorch",))
