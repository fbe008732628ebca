"""`squad`: SQuAD v1.1 F1 and exact match of answer spans, as MLPerf's BERT accuracy script computes them.

language/bert/accuracy-squad.py reads each feature's response as float32 (384, 2) — start logits in column 0, end
logits in column 1 (`reshape(-1, 2)`; `--output_transposed` reads (2, 384) instead, which Podium does not write) —
and turns them into one answer per question (`write_predictions`, n_best_size 20, max_answer_length 30,
do_lower_case): for each feature of the question, the 20 best start positions and the 20 best end positions
(highest logits, the lower position first on a tie) make candidate spans, kept when both ends lie on the
paragraph's pieces, the start is at a piece this feature gives the most context, end >= start and the span has
at most 30 pieces; candidates are ranked by start + end logit (ties: the earlier feature, start rank, end rank).
The best one's pieces are joined and de-"##"-ed, and projected back onto the paragraph's words by
`get_final_text`'s character alignment (the words' text tokenized by BERT's basic tokenizer, spaces dropped on
both sides; on any mismatch the words' text is kept). A question with no valid candidate answers "empty".
Only the best candidate decides the answer, so the state is one candidate per question, never the logits.

The answers are then scored by SQuAD's official evaluate-v1.1.py (evaluate_v1.1.py in the reference): answers
normalized (lower case, punctuation removed, articles a/an/the removed, whitespace collapsed), exact match and
token-overlap F1, the best over the ground truths, averaged and times 100. The script prints
`{"exact_match": <EM>, "f1": <F1>}` (json.dumps), which the submission checker reads with
ACC_PATTERN["F1"] = r'^{["\']exact_match["\']\\:\\s*[\\d\\.]+,\\s*["\']f1["\']\\:\\s*([\\d\\.]+)}'; F1 is the
value (the reference reached 90.874), exact match is in the details. Questions are averaged over those with a
scored feature (all of them in a whole accuracy run; the script would count a question it has no response for as
0). BERT's basic tokenizer is the `tokenizers` library's BertNormalizer(lowercase) and BertPreTokenizer.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from podium.metrics import METRICS
from podium.metrics.base import Metric, MetricInputError, Score

if TYPE_CHECKING:
    import numpy.typing as npt

N_BEST_SIZE = 20
MAX_ANSWER_LENGTH = 30
NO_ANSWER = "empty"  # write_predictions' nonce prediction for a question without a valid span
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


class SquadFeature(Protocol):
    """What the metric reads off a feature's label (`podium.datasets.squad.FeatureLabel` is one)."""

    example_id: str
    answers: tuple[str, ...]
    span_index: int

    @property
    def token_count(self) -> int: ...

    @property
    def doc_words(self) -> Sequence[str]: ...

    def word_of(self, position: int) -> int | None: ...

    def is_max_context(self, position: int) -> bool: ...

    def pieces(self, first: int, last: int) -> Sequence[str]: ...


# --- the official evaluation (evaluate-v1.1.py) --------------------------------------------------------------

def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, articles removed, whitespace collapsed (in that order)."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, truth: str) -> float:
    """Token-overlap F1 of two answers, normalized."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def evaluate(questions: Iterable[tuple[str, Sequence[str]]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent over (prediction, ground truths) pairs, each scored against its best
    ground truth, as evaluate-v1.1.py (a question without ground truths scores 0)."""
    exact = f1 = 0.0
    total = 0
    for prediction, truths in questions:
        total += 1
        if truths:
            exact += max(exact_match_score(prediction, t) for t in truths)
            f1 += max(f1_score(prediction, t) for t in truths)
    if total == 0:
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


# --- post-processing (accuracy-squad.py's write_predictions) --------------------------------------------------

def best_indexes(logits: np.ndarray, n_best: int = N_BEST_SIZE) -> list[int]:
    """The positions of the `n_best` highest logits, highest first; the lower position first on a tie."""
    order = np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")
    return [int(i) for i in order[:n_best]]


def span_candidates(logits: np.ndarray, feature: SquadFeature, *, n_best: int = N_BEST_SIZE,
                    max_answer_length: int = MAX_ANSWER_LENGTH) -> list[tuple[float, int, int, int, int]]:
    """The valid spans of one feature's logits (L, 2), best first: (start + end logit, start, end, start rank,
    end rank), positions in the feature; ties keep the reference's order (start rank, then end rank)."""
    start_logits = np.asarray(logits[:, 0], dtype=np.float64)
    end_logits = np.asarray(logits[:, 1], dtype=np.float64)
    found = []
    ends = best_indexes(end_logits, n_best)
    for i, start in enumerate(best_indexes(start_logits, n_best)):
        if start >= feature.token_count or feature.word_of(start) is None or not feature.is_max_context(start):
            continue
        for j, end in enumerate(ends):
            if end >= feature.token_count or feature.word_of(end) is None or end < start:
                continue
            if end - start + 1 > max_answer_length:
                continue
            found.append((float(start_logits[start]) + float(end_logits[end]), start, end, i, j))
    found.sort(key=lambda c: -c[0])  # stable: equal scores stay in insertion order
    return found


@functools.cache
def _basic_tokenizer() -> tuple[Any, Any]:
    from tokenizers import normalizers, pre_tokenizers

    return (normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                       lowercase=True), pre_tokenizers.BertPreTokenizer())


def basic_tokenize(text: str) -> list[str]:
    """BERT's uncased basic tokenization: cleaned, lower-cased, accents stripped, split on whitespace and
    punctuation (the reference's `tokenization.BasicTokenizer(do_lower_case=True)`)."""
    normalizer, pre_tokenizer = _basic_tokenizer()
    return [token for token, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]


def _without_spaces(text: str) -> tuple[str, list[int]]:
    """`text` with its spaces dropped, and where each kept character was in `text`."""
    kept = [i for i, c in enumerate(text) if c != " "]
    return "".join(text[i] for i in kept), kept


def final_text(predicted: str, original: str) -> str:
    """The part of `original` (the words the span covers) that `predicted` (its de-tokenized pieces) stands for,
    by get_final_text's character alignment; `original` whole when the alignment fails."""
    tokenized = " ".join(basic_tokenize(original))
    first = tokenized.find(predicted)
    if first == -1:
        return original
    last = first + len(predicted) - 1
    original_kept, original_at = _without_spaces(original)
    tokenized_kept, tokenized_at = _without_spaces(tokenized)
    if len(original_kept) != len(tokenized_kept):
        return original
    kept_index = {at: k for k, at in enumerate(tokenized_at)}
    if first not in kept_index or last not in kept_index:
        return original
    return original[original_at[kept_index[first]]:original_at[kept_index[last]] + 1]


def answer_text(feature: SquadFeature, start: int, end: int) -> str:
    """The answer a span of a feature gives: its pieces joined and de-"##"-ed, projected onto the words."""
    pieces = " ".join(feature.pieces(start, end)).replace(" ##", "").replace("##", "")
    predicted = " ".join(pieces.strip().split())
    first, last = feature.word_of(start), feature.word_of(end)
    assert first is not None and last is not None  # span_candidates keeps positions on the paragraph only
    return final_text(predicted, " ".join(feature.doc_words[first:last + 1]))


@dataclass
class _Question:
    """One question's state: its ground truths and its best candidate so far (ranking key and answer text)."""

    answers: tuple[str, ...]
    key: tuple[float, int, int, int] | None = None
    text: str = NO_ANSWER


class SquadF1(Metric):
    """SQuAD v1.1 F1 (the value, in %) and exact match (details), over questions; see the module docstring."""

    name = "squad"
    units = "%"
    higher_is_better = True

    def __init__(self, n_best: int = N_BEST_SIZE, max_answer_length: int = MAX_ANSWER_LENGTH) -> None:
        self.n_best, self.max_answer_length = n_best, max_answer_length
        super().__init__()

    def reset(self) -> None:
        self.questions: dict[str, _Question] = {}  # in the order first seen (qsl order: the file's)

    def update(self, predictions: npt.ArrayLike, targets: npt.ArrayLike) -> None:
        """Add features: `predictions[i]` the start and end logits (L, 2) of the feature `targets[i]`."""
        responses, features = _items(predictions), _items(targets)
        if len(responses) != len(features):
            raise MetricInputError(f"squad: {len(responses)} responses for {len(features)} features")
        for k, (response, feature) in enumerate(zip(responses, features)):
            logits = np.asarray(response)
            if logits.ndim != 2 or logits.shape[1] != 2:
                raise MetricInputError(f"squad: a response of shape {logits.shape}; expected start and end logits "
                                       f"(sequence length, 2)", sample=k)
            if not hasattr(feature, "word_of"):
                raise MetricInputError(f"squad: the label is a {type(feature).__name__}, not a SQuAD feature",
                                       sample=k)
            self._add(logits, feature)

    def _add(self, logits: np.ndarray, feature: SquadFeature) -> None:
        question = self.questions.setdefault(feature.example_id, _Question(tuple(feature.answers)))
        candidates = span_candidates(logits, feature, n_best=self.n_best, max_answer_length=self.max_answer_length)
        if not candidates:
            return
        score, start, end, i, j = candidates[0]
        key = (score, -feature.span_index, -i, -j)
        if question.key is None or key > question.key:
            question.key, question.text = key, answer_text(feature, start, end)

    def compute(self) -> Score:
        scores = evaluate((q.text, q.answers) for q in self.questions.values())
        return Score(self.name, scores["f1"], self.units, good=None, total=len(self.questions),
                     details={"exact_match": scores["exact_match"]})

    def predictions(self) -> dict[str, str]:
        """Question id -> answer: what write_predictions writes to predictions.json."""
        return {qid: q.text for qid, q in self.questions.items()}

    def merge(self, other: SquadF1) -> None:
        for qid, theirs in other.questions.items():
            mine = self.questions.setdefault(qid, _Question(theirs.answers))
            if theirs.key is not None and (mine.key is None or theirs.key > mine.key):
                mine.key, mine.text = theirs.key, theirs.text

    def summary_line(self, score: Score) -> str:
        # evaluate-v1.1.py's print(json.dumps({"exact_match": ..., "f1": ...}))
        return json.dumps({"exact_match": float(score.details.get("exact_match", 0.0)), "f1": float(score.value)})


def _items(batch: Any) -> list[Any]:
    """The items of a batch: of a sequence, or of an array along its first axis (labels: an object array)."""
    if isinstance(batch, (str, bytes)) or not isinstance(batch, (np.ndarray, Sequence)):
        raise MetricInputError(f"squad: expected a sequence of responses or labels, got {type(batch).__name__}")
    return list(batch)


@METRICS.register("squad")
def _squad() -> Metric:
    return SquadF1()
