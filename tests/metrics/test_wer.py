"""`word_accuracy`: WER summed over utterances as the RNN-T reference's accuracy_eval.py computes it, on known pairs
and against a word-level Levenshtein written as the reference's metrics.py defines it; its printed line is the one
the submission checker's pattern reads."""

from __future__ import annotations

import re

import numpy as np
import pytest

from podium.metrics import METRICS, MetricInputError
from podium.metrics.wer import LABELS, WordAccuracy, hypothesis_text, word_errors

pytest.importorskip("jiwer")

# tools/submission/submission_checker.py ACC_PATTERN["WER"] (renamed "ACCURACY" in 2025), used with re.match
CHECKER_PATTERN = r"Word Error Rate\:.*, accuracy=([0-9\.]+)%"


def ids(text: str) -> np.ndarray:
    return np.array([LABELS.index(c) for c in text], dtype=np.int64)


def levenshtein(a: list[str], b: list[str]) -> int:
    """Word edit distance, by the textbook dynamic programme (the reference's __levenshtein)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row = row, [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y))
    return row[-1]


def test_known_pairs_give_the_wer_summed_over_utterances() -> None:
    metric = METRICS.get("word_accuracy")
    refs = np.array(["the cat sat on the mat", "hello world"], dtype=object)
    hyps = [ids("the cat sat on mat"), ids("hello big world")]  # one deletion; one insertion
    metric.update(hyps, refs)
    score = metric.compute()
    assert score.details["wer"] == 25.0 and score.value == 75.0  # 2 errors / 8 reference words
    assert score.total == 2


def test_jiwers_published_example() -> None:
    # jiwer's README: wer("hello world", "hello duck") == 0.5
    assert word_errors(["hello world"], ["hello duck"]) == (1, 2)


def test_matches_the_references_levenshtein_on_random_pairs() -> None:
    rng = np.random.default_rng(0)
    vocab = ["a", "cat", "sat", "on", "the", "mat", "it's"]
    refs, hyps = [], []
    for _ in range(50):
        refs.append(" ".join(rng.choice(vocab, size=int(rng.integers(1, 9)))))
        hyps.append(" ".join(rng.choice(vocab, size=int(rng.integers(0, 9)))))
    errors = sum(levenshtein(h.split(), r.split()) for r, h in zip(refs, hyps))
    words = sum(len(r.split()) for r in refs)
    metric = WordAccuracy()
    for k in range(0, 50, 7):  # several updates: the counts add up
        metric.update([ids(h) for h in hyps[k:k + 7]], refs[k:k + 7])
    assert (metric.errors, metric.words) == (errors, words)
    assert metric.compute().value == (1 - errors / words) * 100


def test_empty_hypotheses_and_references_count_as_the_reference_counts_them() -> None:
    # an empty hypothesis: every reference word deleted; an empty reference: every hypothesis word inserted
    assert word_errors(["one two three"], [""]) == (3, 3)
    assert word_errors([""], ["a b"]) == (2, 0)
    # runs of spaces split like str.split()
    assert word_errors(["a  cat"], [" a cat "]) == (0, 2)


def test_summary_line_is_accuracy_evals_and_the_checker_reads_it() -> None:
    metric = WordAccuracy()
    metric.update([ids("a cat sat"), ids("the")], np.array(["a cat sat on", "the mat"], dtype=object))
    score = metric.compute()
    line = metric.summary_line(score)
    wer = 2 / 6
    assert line == "Word Error Rate: {:}%, accuracy={:}%".format(wer * 100, (1 - wer) * 100)
    match = re.match(CHECKER_PATTERN, line)
    assert match is not None and float(match.group(1)) == score.value


def test_merge_adds_the_counts() -> None:
    a, b = WordAccuracy(), WordAccuracy()
    a.update([ids("a cat")], ["a cat"])
    b.update([ids("a")], ["a dog"])
    a.merge(b)
    assert (a.errors, a.words, a.utterances) == (1, 4, 2)


def test_bad_inputs_name_the_sample() -> None:
    metric = WordAccuracy()
    with pytest.raises(MetricInputError, match="symbol ids must be integers 0..27") as info:
        metric.update([ids("a"), np.array([28])], ["a", "b"])  # the blank is never an answer
    assert info.value.sample == 1
    with pytest.raises(MetricInputError, match="predictions for"):
        metric.update([ids("a")], ["a", "b"])
    with pytest.raises(MetricInputError, match="not a transcript"):
        metric.update([ids("a")], [np.array([1])])
    assert hypothesis_text(np.array([], dtype=np.int64)) == ""
