"""The `bleu` metric: BLEU on pairs worked out by hand (n-gram precisions as fractions, the brevity penalty), the
official script's zero for an order without matches, batches adding up to the whole corpus, responses as UTF-8
bytes, and the line process_accuracy.py prints, matched by the submission checker's regular expression."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from podium.metrics import METRICS, MetricInputError
from podium.metrics.bleu import Bleu

pytest.importorskip("sacrebleu")

# tools/submission/submission_checker.py (v0.5 to v4.1), ACC_PATTERN["bleu"], copied as a fact.
CHECKER_BLEU = r"^BLEU\:\s*([\d\.]+).*"


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _score(hypotheses: list[str], references: list[str]) -> float:
    metric = Bleu()
    metric.update([_utf8(h) for h in hypotheses], np.array(references, dtype=object))
    return metric.compute().value


def test_registered_with_its_units() -> None:
    metric = METRICS.get("bleu")
    assert isinstance(metric, Bleu) and metric.units == "" and metric.higher_is_better


def test_one_sentence_worked_out_by_hand() -> None:
    # hypothesis "the cat sat on the mat" against "the cat sat on a mat" (6 tokens each, no brevity penalty):
    # 1-grams 5/6 ("the" counted once: clipped), 2-grams 3/5, 3-grams 2/4, 4-grams 1/3 -> (1/12) ** (1/4)
    value = _score(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert value == pytest.approx(100 * (1 / 12) ** 0.25, rel=1e-12)
    assert f"{value:.1f}" == "53.7"


def test_a_corpus_with_a_brevity_penalty_worked_out_by_hand() -> None:
    # sentence 1: "a b c d" vs "a b c d e": 4/4, 3/3, 2/2, 1/1; sentence 2: "x y z w" vs "x y z w": all match.
    # corpus: 8/8, 6/6, 4/4, 2/2 -> precision 1; lengths c = 8, r = 9 -> BP = exp(1 - 9/8)
    value = _score(["a b c d", "x y z w"], ["a b c d e", "x y z w"])
    assert value == pytest.approx(100 * math.exp(1 - 9 / 8), rel=1e-12)


def test_an_order_without_any_match_scores_zero_unsmoothed() -> None:
    # 1-, 2-, 3-grams match, but the only 4-gram does not: the official scorer (no smoothing) gives 0
    assert _score(["a b c e"], ["a b c d"]) == 0.0
    assert _score(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)


def test_tokenized_text_is_not_tokenized_again_nor_lowercased() -> None:
    # 13a would split "Haus." into "Haus ."; here "Haus." and "Haus" differ, as in the official script
    assert _score(["das ist ein Haus ."], ["das ist ein Haus ."]) == pytest.approx(100.0)
    assert _score(["Das ist ein Haus ."], ["das ist ein Haus ."]) < 100.0


def test_batches_add_up_to_the_corpus_and_merge() -> None:
    hyps = ["the cat sat on the mat", "a b c d", "x y z w", "one two three four five"]
    refs = ["the cat sat on a mat", "a b c d e", "x y z w", "one two three four six"]
    whole = _score(hyps, refs)
    first, second = Bleu(), Bleu()
    first.update([_utf8(h) for h in hyps[:2]], np.array(refs[:2], dtype=object))
    second.update([_utf8(h) for h in hyps[2:]], np.array(refs[2:], dtype=object))
    first.merge(second)
    assert first.compute().value == pytest.approx(whole, rel=1e-12)
    assert first.compute().total == 4


def test_responses_as_bytes_arrays_or_text() -> None:
    metric = Bleu()
    metric.update(["der Hund", b"die Katze".decode(), _utf8("größer als")],
                  np.array(["der Hund", "die Katze", "größer als"], dtype=object))
    assert metric.compute().value == 0.0  # 2-token sentences have no 3-grams: an order with no n-gram at all
    with pytest.raises(MetricInputError, match="not UTF-8") as bad:
        metric.update([_utf8("ok"), np.array([0xFF, 0xFE], dtype=np.uint8)], np.array(["ok", "x"], dtype=object))
    assert bad.value.sample == 1
    with pytest.raises(MetricInputError, match="UTF-8 bytes"):
        metric.update([np.zeros(3, dtype=np.float32)], np.array(["x"], dtype=object))
    with pytest.raises(MetricInputError, match="2 translations for 1 references"):
        metric.update(["a", "b"], np.array(["a"], dtype=object))


def test_summary_line_is_the_official_scripts_and_the_checker_reads_it() -> None:
    metric = Bleu()
    metric.update(["the cat sat on the mat"], np.array(["the cat sat on a mat"], dtype=object))
    line = metric.summary_line(metric.compute())
    assert line == "BLEU: 53.7"
    match = re.match(CHECKER_BLEU, line)
    assert match is not None and float(match.group(1)) == 53.7
    assert metric.summary_line(Bleu().compute()) == "BLEU: 0.0"
