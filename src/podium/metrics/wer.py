"""`word_accuracy`: 100 - WER in percent, MLPerf RNN-T's accuracy, as its accuracy script computes it.

retired_benchmarks/speech_recognition/rnnt/accuracy_eval.py reads each response as int64 symbol ids
(`array.array("q", ...)`: the reference SUT answers `array.array("q", transcript)`), maps them to characters with the
28 labels (space, a-z, apostrophe), and scores the hypotheses against the normalized manifest transcripts with
helpers.process_evaluation_epoch: word_error_rate sums the word-level Levenshtein distances over every utterance and
divides by the total number of reference words (words split on whitespace). It prints
"Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%" with Python's default float formatting, and the
submission checker reads the accuracy with r"Word Error Rate\\:.*, accuracy=([0-9\\.]+)%" (key "WER" until 2025,
"ACCURACY" since; tools/submission/submission_checker.py `ACC_PATTERN`). The reference reached WER 7.452 %, word
accuracy 92.548; the closed target is 99 % of that.

Here the distances are `jiwer`'s (substitutions + deletions + insertions of its minimum alignment, which is the
Levenshtein distance over words); an utterance with no reference word counts its hypothesis' words as errors, as
the reference's Levenshtein does. A prediction is one response (symbol ids, any integer array); a target is the
utterance's transcript (a string). The state is three counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

LABELS = " abcdefghijklmnopqrstuvwxyz'"  # accuracy_eval.py's labels: symbol id i is LABELS[i]


def hypothesis_text(ids: Any, *, sample: int = 0) -> str:
    """A response's symbol ids -> its text; a MetricInputError naming `sample` for an id outside the labels."""
    values = np.asarray(ids).reshape(-1)
    if values.size and (values.dtype.kind not in "iu" or values.min() < 0 or values.max() >= len(LABELS)):
        raise MetricInputError(f"word_accuracy: symbol ids must be integers 0..{len(LABELS) - 1}, got "
                               f"{values[:5].tolist()}...", sample=sample)
    return "".join(LABELS[int(i)] for i in values)


def word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[int, int]:
    """(word edits summed over the utterances, reference words in all): the reference's word_error_rate terms."""
    import jiwer

    words = sum(len(r.split()) for r in references)
    pairs = [(r, h) for r, h in zip(references, hypotheses) if r.split()]
    errors = sum(len(h.split()) for r, h in zip(references, hypotheses) if not r.split())
    if pairs:
        refs, hyps = [" ".join(r.split()) for r, _ in pairs], [" ".join(h.split()) for _, h in pairs]
        out = jiwer.process_words(refs, hyps)
        errors += int(out.substitutions + out.deletions + out.insertions)
    return errors, words


class WordAccuracy(Metric):
    """Word accuracy in percent, (1 - WER) x 100, over every utterance so far; `details["wer"]` is the WER in %."""

    name = "word_accuracy"
    units = "%"
    higher_is_better = True

    def reset(self) -> None:
        self.errors = 0
        self.words = 0
        self.utterances = 0

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add utterances: `predictions[i]` the symbol ids answered, `targets[i]` the transcript."""
        preds, truths = _items(predictions), _items(targets)
        if len(preds) != len(truths):
            raise MetricInputError(f"word_accuracy: {len(preds)} predictions for {len(truths)} targets")
        for k, truth in enumerate(truths):
            if not isinstance(truth, str):
                raise MetricInputError(f"word_accuracy: the target is a {type(truth).__name__}, not a transcript",
                                       sample=k)
        hypotheses = [hypothesis_text(p, sample=k) for k, p in enumerate(preds)]
        errors, words = word_errors([str(t) for t in truths], hypotheses)
        self.errors += errors
        self.words += words
        self.utterances += len(truths)

    def compute(self) -> Score:
        wer = self.errors / self.words if self.words else float("inf")  # the reference's choice for no words
        return Score(self.name, (1 - wer) * 100, self.units, good=None, total=self.utterances,
                     details={"wer": wer * 100, "word_errors": float(self.errors), "words": float(self.words)})

    def merge(self, other: WordAccuracy) -> None:
        self.errors += other.errors
        self.words += other.words
        self.utterances += other.utterances

    def summary_line(self, score: Score) -> str:
        # accuracy_eval.py's line: "{:}" formatting of wer * 100 and (1 - wer) * 100
        return f"Word Error Rate: {score.details.get('wer', 100 - score.value)}%, accuracy={score.value}%"


def _items(batch: Any) -> list[Any]:
    if isinstance(batch, np.ndarray) or (isinstance(batch, Sequence) and not isinstance(batch, (str, bytes))):
        return list(batch)
    raise MetricInputError(f"word_accuracy: expected a sequence, got {type(batch).__name__}")


@METRICS.register("word_accuracy")
def _word_accuracy() -> Metric:
    return WordAccuracy()
