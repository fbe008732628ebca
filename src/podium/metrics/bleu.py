"""`bleu`: corpus BLEU as MLPerf's GNMT accuracy script scores it, counted with sacrebleu, in BLEU points (0-100).

The v0.5 reference's process_accuracy.py (translation/gnmt/tensorflow) reads each response as UTF-8 text (the
translation, BPE removed, still Moses-tokenized), splits it on spaces, and scores it against the matching line of
`newstest2014.tok.bpe.32000.de` stripped and with "@@ " removed, with TensorFlow NMT's RunningBLEUScorer: 4-gram
corpus BLEU, one reference, no smoothing, clipped n-gram matches summed over the corpus, brevity penalty
exp(1 - r/c) when the translations are shorter (r, c: reference and translation lengths summed), 0 when any
n-gram order has no match. It prints `BLEU: %.1f` of 100 x BLEU, which the submission checker reads with its
ACC_PATTERN "bleu": `^BLEU\\:\\s*([\\d\\.]+).*` and compares with 99 % of 23.9.

Here sacrebleu counts the same statistics — `tokenize="none"` (the text is already tokenized: no 13a or intl
tokenization on top, no lowercasing), `smooth_method="none"` — a batch at a time (`corpus_score` of the batch:
its counts and lengths, which add up across batches), and `BLEU.compute_bleu` scores their sums: the state is
ten integers whatever the corpus size. (sacrebleu splits on any whitespace where the script splits on single
spaces: the two differ only on lines with repeated or stray whitespace, which the reference's tokenizer never
writes.) A prediction is the response's bytes (uint8) or a str; a target is the reference text (str).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_ORDER = 4


class Bleu(Metric):
    """Corpus BLEU over tokenized text, in points: sacrebleu's statistics, without tokenization or smoothing."""

    name = "bleu"
    units = ""
    higher_is_better = True

    def reset(self) -> None:
        self.correct = [0] * MAX_ORDER
        self.totals = [0] * MAX_ORDER
        self.sys_len = 0
        self.ref_len = 0
        self.sentences = 0

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add a batch: `predictions` one translation each (UTF-8 bytes as a uint8 array, bytes, or str),
        `targets` the references (str), as many."""
        hypotheses = [_text(k, p) for k, p in enumerate(predictions)]  # type: ignore[arg-type]
        references = [str(t) for t in np.asarray(targets, dtype=object).reshape(-1)]
        if len(hypotheses) != len(references):
            raise MetricInputError(f"bleu: {len(hypotheses)} translations for {len(references)} references")
        if not hypotheses:
            return
        stats = _scorer().corpus_score(hypotheses, [references])
        self.correct = [a + int(b) for a, b in zip(self.correct, stats.counts)]
        self.totals = [a + int(b) for a, b in zip(self.totals, stats.totals)]
        self.sys_len += int(stats.sys_len)
        self.ref_len += int(stats.ref_len)
        self.sentences += len(hypotheses)

    def compute(self) -> Score:
        from sacrebleu.metrics.bleu import BLEU

        if not self.sentences:
            return Score(self.name, 0.0, self.units, good=None, total=0)
        score = BLEU.compute_bleu(list(self.correct), list(self.totals), self.sys_len, self.ref_len,
                                  smooth_method="none", max_ngram_order=MAX_ORDER)
        details = {f"precision_{n + 1}": float(p) for n, p in enumerate(score.precisions)}
        details |= {"brevity_penalty": float(score.bp), "translation_length": float(self.sys_len),
                    "reference_length": float(self.ref_len)}
        return Score(self.name, float(score.score), self.units, good=None, total=self.sentences, details=details)

    def merge(self, other: Bleu) -> None:
        self.correct = [a + b for a, b in zip(self.correct, other.correct)]
        self.totals = [a + b for a, b in zip(self.totals, other.totals)]
        self.sys_len += other.sys_len
        self.ref_len += other.ref_len
        self.sentences += other.sentences

    def summary_line(self, score: Score) -> str:
        # The line of translation/gnmt/tensorflow/process_accuracy.py: print("BLEU: %.1f" % (bleu * 100)).
        return f"BLEU: {score.value:.1f}"


def _scorer() -> Any:
    from sacrebleu.metrics.bleu import BLEU

    return BLEU(tokenize="none", smooth_method="none", force=True, max_ngram_order=MAX_ORDER)


def _text(sample: int, prediction: Any) -> str:
    """One translation's text: a str as it is, bytes or a uint8 array decoded as UTF-8 (MetricInputError
    otherwise)."""
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, bytes):
        data = prediction
    else:
        array = np.asarray(prediction)
        if array.dtype not in (np.uint8, np.int8) or array.ndim > 1:
            raise MetricInputError(f"bleu expects a translation as UTF-8 bytes (uint8, 1-D) or text, got "
                                   f"{array.dtype} of shape {array.shape}", sample=sample)
        data = array.tobytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MetricInputError(f"bleu: the translation is not UTF-8 text ({e.reason} at byte {e.start})",
                               sample=sample) from None


@METRICS.register("bleu")
def _bleu() -> Metric:
    return Bleu()
