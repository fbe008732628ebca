"""The `squad` metric: SQuAD v1.1's official evaluation on a hand-made prediction file (exact match and F1 worked out
by hand), the reference's n-best span selection on hand-made logits, get_final_text's alignment, and the printed
line the submission checker parses."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from podium.core.errors import PodiumError  # noqa: E402
from podium.metrics import METRICS  # noqa: E402
from podium.metrics.squad import (  # noqa: E402
    NO_ANSWER,
    SquadF1,
    best_indexes,
    evaluate,
    f1_score,
    final_text,
    normalize_answer,
    span_candidates,
)

# tools/submission/submission_checker/constants.py (mlcommons/inference), ACC_PATTERN["F1"], copied as a fact
ACC_PATTERN_F1 = r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}"


def test_normalize_answer_as_evaluate_v1_1() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("Levi's Stadium, a place") == "levis stadium place"
    assert normalize_answer("theatre an-other") == "theatre another"  # whole words only; '-' is punctuation


def test_official_evaluation_of_a_hand_made_prediction_file() -> None:
    dataset = {"data": [{"title": "t", "paragraphs": [{"context": "...", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0},
                                                  {"text": "The Denver Broncos", "answer_start": 0}]},
        {"id": "q2", "question": "?", "answers": [{"text": "Santa Clara, California", "answer_start": 0},
                                                  {"text": "Levi's Stadium", "answer_start": 0}]},
        {"id": "q3", "question": "?", "answers": [{"text": "gold", "answer_start": 0}]},
    ]}]}]}
    predictions = json.loads('{"q1": "the Denver Broncos", "q2": "Levi\'s Stadium in Santa Clara", "q3": "golden"}')
    qas = [qa for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]]
    scores = evaluate((predictions[qa["id"]], [a["text"] for a in qa["answers"]]) for qa in qas)
    # q1: exact after normalization. q2: "levis stadium in santa clara" (5 tokens) shares 2 with "levis stadium"
    # (P 2/5, R 2/2, F1 4/7) and 2 with "santa clara california" (P 2/5, R 2/3, F1 1/2): the best is 4/7.
    # q3: nothing in common.
    assert f1_score("Levi's Stadium in Santa Clara", "Levi's Stadium") == pytest.approx(4 / 7)
    assert f1_score("Levi's Stadium in Santa Clara", "Santa Clara, California") == pytest.approx(1 / 2)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 4 / 7 + 0) / 3)
    assert evaluate([]) == {"exact_match": 0.0, "f1": 0.0}


@dataclass
class Feature:
    """A hand-made feature: 3 question tokens after [CLS], [SEP] at 4, the span's pieces at 5..5+len-1, [SEP]."""

    example_id: str
    pieces_: Sequence[str]
    words: Sequence[str]
    piece_word: Sequence[int]
    answers: tuple[str, ...] = ("x",)
    span_index: int = 0
    not_max_context: tuple[int, ...] = ()
    doc_offset: int = 5

    @property
    def token_count(self) -> int:
        return self.doc_offset + len(self.pieces_) + 1

    @property
    def doc_words(self) -> Sequence[str]:
        return self.words

    def word_of(self, position: int) -> int | None:
        k = position - self.doc_offset
        return self.piece_word[k] if 0 <= k < len(self.pieces_) else None

    def is_max_context(self, position: int) -> bool:
        return self.word_of(position) is not None and position not in self.not_max_context

    def pieces(self, first: int, last: int) -> Sequence[str]:
        return self.pieces_[first - self.doc_offset:last - self.doc_offset + 1]


WORDS = ["John", "Smith's", "house", "(1895-1943)."]
PIECES = ["john", "smith", "'", "s", "house", "(", "1895", "-", "1943", ")", "."]
PIECE_WORD = [0, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3]


def _logits(starts: dict[int, float], ends: dict[int, float], length: int = 24) -> np.ndarray:
    logits = np.full((length, 2), -5.0, dtype=np.float32)
    for p, v in starts.items():
        logits[p, 0] = v
    for p, v in ends.items():
        logits[p, 1] = v
    return logits


def test_best_indexes_are_highest_first_lower_position_on_ties() -> None:
    assert best_indexes(np.array([1.0, 3.0, 3.0, 2.0]), 3) == [1, 2, 3]


def test_span_selection_skips_question_positions_ends_before_starts_and_long_spans() -> None:
    feature = Feature("e", PIECES, WORDS, PIECE_WORD, not_max_context=(7,))
    # the best start is in the question (2), then a start without max context (7), then 5 ("john"); the best end
    # (4) is before any start, then 6 ("smith")
    # (ends at 16, the closing [SEP], and 17, padding, are off the paragraph)
    logits = _logits({2: 9.0, 7: 8.0, 5: 7.0}, {4: 9.0, 6: 6.0, 16: 5.8, 17: 5.7, 15: 5.5})
    candidates = span_candidates(logits, feature)
    assert candidates[0][:3] == (7.0 + 6.0, 5, 6) and candidates[1][:3] == (12.5, 5, 15)  # 11 pieces: within 30
    assert all(c[2] < 16 for c in candidates)
    assert (12.5, 5, 15) not in [c[:3] for c in span_candidates(logits, feature, max_answer_length=10)]
    # with n_best 1 only position 2 can start a span: nothing is valid
    assert span_candidates(logits, feature, n_best=1) == []


def test_final_text_aligns_pieces_with_the_original_words() -> None:
    assert final_text("steve smith", "Steve Smith's") == "Steve Smith"
    assert final_text("1895", "(1895-1943).") == "1895"
    assert final_text("renee", "Renée") == "Renée"  # accents stripped by the tokenizer, kept in the answer
    assert final_text("nowhere", "Steve Smith's") == "Steve Smith's"


def test_metric_answers_each_question_from_its_best_feature() -> None:
    metric = METRICS.get("squad")
    assert isinstance(metric, SquadF1) and metric.units == "%" and metric.higher_is_better
    first = Feature("q1", PIECES, WORDS, PIECE_WORD, answers=("John Smith",), span_index=0)
    second = Feature("q1", PIECES, WORDS, PIECE_WORD, answers=("John Smith",), span_index=1)
    other = Feature("q2", PIECES, WORDS, PIECE_WORD, answers=("1895",))
    # q1: span 0 says "house" (score 2), span 1 says "john smith's" -> "John Smith" (score 10)
    metric.update([_logits({9: 1.0}, {9: 1.0}), _logits({5: 5.0}, {8: 5.0})], np.array([first, second]))
    metric.update([_logits({11: 4.0}, {11: 4.0})], [other])  # "1895" out of "(1895-1943)."
    assert metric.predictions() == {"q1": "John Smith's", "q2": "1895"}
    score = metric.compute()
    # "john smiths" vs "john smith": 1 of 2 tokens each way -> F1 1/2, not exact; q2 exact
    assert score.total == 2 and score.value == pytest.approx(100 * (0.5 + 1) / 2)
    assert score.details["exact_match"] == pytest.approx(50.0)


def test_equal_scores_go_to_the_earlier_span_and_no_valid_span_answers_empty() -> None:
    metric = SquadF1()
    later = Feature("q", PIECES, WORDS, PIECE_WORD, span_index=1)
    earlier = Feature("q", PIECES, WORDS, PIECE_WORD, span_index=0)
    metric.update([_logits({9: 3.0}, {9: 3.0}), _logits({5: 3.0}, {5: 3.0})], [later, earlier])
    assert metric.predictions() == {"q": "John"}
    metric.update([_logits({1: 9.0}, {1: 9.0}, length=6)], [Feature("none", PIECES[:0], [], [])])
    assert metric.predictions()["none"] == NO_ANSWER


def test_merge_is_the_same_as_one_metric() -> None:
    features = [Feature(f"q{k}", PIECES, WORDS, PIECE_WORD, answers=("house",)) for k in range(3)]
    logits = [_logits({5 + k: 2.0}, {9: 2.0}) for k in range(3)]
    whole, a, b = SquadF1(), SquadF1(), SquadF1()
    whole.update(logits, features)
    a.update(logits[:2], features[:2])
    b.update(logits[2:], features[2:])
    a.merge(b)
    assert a.compute() == whole.compute() and a.predictions() == whole.predictions()


def test_summary_line_is_the_scripts_and_the_checker_reads_f1() -> None:
    metric = SquadF1()
    metric.update([_logits({9: 1.0}, {9: 1.0})], [Feature("q", PIECES, WORDS, PIECE_WORD, answers=("house",))])
    score = metric.compute()
    line = metric.summary_line(score)
    assert line == json.dumps({"exact_match": 100.0, "f1": 100.0}) == '{"exact_match": 100.0, "f1": 100.0}'
    found = re.match(ACC_PATTERN_F1, line)
    assert found is not None and float(found.group(1)) == score.value
    odd = SquadF1().summary_line(type(score)("squad", 90.87412345, "%", None, 10, {"exact_match": 83.1}))
    assert re.match(ACC_PATTERN_F1, odd).group(1) == "90.87412345"


def test_responses_that_are_not_start_end_logits_are_refused() -> None:
    metric = SquadF1()
    with pytest.raises(PodiumError, match=r"shape \(384,\)"):
        metric.update([np.zeros(384, np.float32)], [Feature("q", PIECES, WORDS, PIECE_WORD)])
    with pytest.raises(PodiumError, match="not a SQuAD feature"):
        metric.update([np.zeros((384, 2), np.float32)], ["label"])
