"""`squad`: SQuAD v1.1 dev as MLPerf's BERT reads it: WordPiece features of 384 tokens, one sample per feature.

The layout is what the reference reads (language/bert: squad_QSL.py, accuracy-squad.py, `DATASET_FILE` and
`VOCAB_FILE`): a directory holding `dev-v1.1.json` (the official file: {"data": [{"title", "paragraphs":
[{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}], "version": "1.1"}) and the
model's `vocab.txt` (one WordPiece per line, the line number its id; BERT-Large uncased, 30,522 lines).

Features are built as the reference's `read_squad_examples` and `convert_examples_to_features` build them
(create_squad_data.py), with the reference's constants (max_seq_length 384, doc_stride 128, max_query_length 64):
- a paragraph's words are its runs of characters other than space, tab, CR, LF and U+202F;
- each word is cut into WordPieces by the uncased BERT tokenizer (the reference's `BertTokenizer(vocab_file)`,
  lower-casing and accent stripping), here the `tokenizers` library's: BertNormalizer (clean text, CJK spacing,
  lower case, accents stripped), BertPreTokenizer (whitespace and punctuation) and WordPiece ("[UNK]", "##",
  100 characters a word at most); the question is cut the same way and kept to its first 64 pieces;
- the paragraph's pieces are cut into spans of at most 384 - len(question) - 3 pieces, a new span starting
  min(length, 128) pieces after the previous one, until one reaches the end;
- each span is one feature: [CLS] question [SEP] span [SEP], segment ids 0 up to the first [SEP] and 1 after,
  mask 1 on real tokens, then zeros (ids, mask and segments) up to 384;
- a span's token is scored only where that span gives it the most context: min(left, right) + 0.01 x span
  length is largest (`_check_is_max_context`).
On the real file this gives 10,833 features from 10,570 questions (the count MLPerf's registry carries; Podium's
tests cannot check it without the file).

One sample is one feature: a 0-d numpy record of `input_ids`, `input_mask` and `segment_ids` (int64, 384 each,
the official FP32 graph's input names). The record also answers the INT8 graph's names for the same arrays
(`attention_mask` = input_mask, `token_type_ids` = segment_ids, as onnxruntime_SUT.py feeds the quantized graph),
so that each graph is fed by its own input names: in a loaded record they are fields over the same bytes (no
array is held twice); numpy lays a stacked batch's fields out one after the other, copies of equal values.

Tokenizing happens once: the features (int32 ids, .npy, memory-mapped) and what the metric needs (JSON) are cached
under `podium.datasets.cache`, keyed by both files' content and the three lengths; the reference pre-tokenizes
too (`eval_features.pickle`), so none of it is on the timed path. The ground truth of a sample is a
`FeatureLabel`: the question's id and answers, the paragraph's words and pieces, where the span lies in the
feature and its max-context flags: what the reference's `write_predictions` reads off a feature.
`generate` writes a small dev-v1.1.json and a vocab.txt that covers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.core.files import atomic_write
from podium.datasets import DATASETS
from podium.datasets.base import Dataset
from podium.datasets.cache import dataset_cache_dir, fingerprint, load_npy, save_npy_atomic

DEV_FILE = "dev-v1.1.json"
VOCAB_FILE = "vocab.txt"
# The reference's constants (squad_QSL.py, accuracy-squad.py).
MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
QUESTIONS_IN_DEV = 10570
FEATURES_IN_DEV = 10833
INPUT_FIELDS = ("input_ids", "input_mask", "segment_ids")  # the FP32 graph's input names, in its order
# The INT8 graph (bert_large_v1_1_fake_quant.onnx) takes the same arrays under Hugging Face's names.
FIELD_ALIASES = {"attention_mask": "input_mask", "token_type_ids": "segment_ids"}
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_CHARS_PER_WORD = 100  # the BERT WordPiece tokenizer's max_input_chars_per_word
# Bump when feature building changes: it names the cache directory.
PREPROCESSING_VERSION = "bert-wordpiece-features-v1"
_SQUAD_WHITESPACE = frozenset(" \t\r\n\u202f")  # read_squad_examples' is_whitespace


def record_dtype(max_seq_length: int = MAX_SEQ_LENGTH) -> np.dtype:
    """One feature's record: input_ids, input_mask, segment_ids (int64, `max_seq_length` each), and the INT8
    graph's names as fields over the same bytes."""
    field = (np.int64, (max_seq_length,))
    width = np.dtype(field).itemsize
    offsets = {name: k * width for k, name in enumerate(INPUT_FIELDS)}
    names = [*INPUT_FIELDS, *FIELD_ALIASES]
    return np.dtype({"names": names, "formats": [field] * len(names),
                     "offsets": [offsets[FIELD_ALIASES.get(n, n)] for n in names], "itemsize": 3 * width})


def split_words(text: str) -> list[str]:
    """A paragraph's words: the runs of characters between SQuAD's whitespace (space, tab, CR, LF, U+202F)."""
    words: list[str] = []
    start = None
    for i, c in enumerate(text):
        if c in _SQUAD_WHITESPACE:
            if start is not None:
                words.append(text[start:i])
                start = None
        elif start is None:
            start = i
    if start is not None:
        words.append(text[start:])
    return words


def wordpiece_tokenizer(vocab: Path) -> Any:
    """The uncased BERT WordPiece tokenizer of `vocab` (a `tokenizers.Tokenizer`); a ConfigError naming the file
    when it cannot be read or lacks a special token the features need."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    try:
        model = models.WordPiece.from_file(str(vocab), unk_token="[UNK]",
                                           max_input_chars_per_word=MAX_CHARS_PER_WORD)
    except Exception as exc:  # tokenizers raises its own exception type for unreadable files
        raise ConfigError(f"cannot read the WordPiece vocabulary: {exc}", path=str(vocab)) from exc
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    missing = [t for t in ("[UNK]", "[CLS]", "[SEP]") if tokenizer.token_to_id(t) is None]
    if missing:
        raise ConfigError(f"the vocabulary has no {missing[0]} token", path=str(vocab))
    return tokenizer


def doc_spans(pieces: int, max_tokens_for_doc: int, stride: int = DOC_STRIDE) -> list[tuple[int, int]]:
    """(start, length) of each span over a paragraph of `pieces` WordPieces (the reference's sliding window)."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < pieces:
        length = min(pieces - start, max_tokens_for_doc)
        spans.append((start, length))
        if start + length == pieces:
            break
        start += min(length, stride)
    return spans


def max_context_flags(spans: Sequence[tuple[int, int]], index: int) -> np.ndarray:
    """For each piece of span `index`: whether that span is the one giving it the most context (the reference's
    `_check_is_max_context`: the highest min(left, right) + 0.01 x length; the first such span on a tie)."""
    start, length = spans[index]
    positions = np.arange(start, start + length)
    best_score = np.full(length, -np.inf)
    best_span = np.full(length, -1)
    for k, (s, n) in enumerate(spans):
        inside = (positions >= s) & (positions <= s + n - 1)
        score = np.minimum(positions - s, s + n - 1 - positions) + 0.01 * n
        better = inside & (score > best_score)
        best_score[better], best_span[better] = score[better], k
    flags: np.ndarray = best_span == index
    return flags


@dataclass(frozen=True, eq=False)
class Passage:
    """A paragraph as the features see it: its words, their WordPieces, and the word each piece belongs to."""

    words: tuple[str, ...]
    pieces: tuple[str, ...]
    piece_word: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class FeatureLabel:
    """The ground truth of one feature, and what post-processing reads off it (the reference's InputFeatures
    fields `tokens`, `token_to_orig_map`, `token_is_max_context`, with the example's doc tokens and answers).

    Positions are the feature's (0 is [CLS]); the span's pieces sit at `doc_offset` ... `doc_offset +
    span_length - 1` (`doc_offset` = question pieces + 2)."""

    example_id: str
    answers: tuple[str, ...]
    passage: Passage
    span_index: int
    doc_offset: int
    span_start: int
    span_length: int
    max_context: np.ndarray  # bool, one per piece of the span

    @property
    def token_count(self) -> int:
        """len(feature.tokens): [CLS], the question, [SEP], the span, [SEP]."""
        return self.doc_offset + self.span_length + 1

    @property
    def doc_words(self) -> tuple[str, ...]:
        """The example's whitespace words (the reference's `example.doc_tokens`)."""
        return self.passage.words

    def word_of(self, position: int) -> int | None:
        """The word of the paragraph at feature position `position` (token_to_orig_map), None off the span."""
        k = position - self.doc_offset
        return self.passage.piece_word[self.span_start + k] if 0 <= k < self.span_length else None

    def is_max_context(self, position: int) -> bool:
        k = position - self.doc_offset
        return 0 <= k < self.span_length and bool(self.max_context[k])

    def pieces(self, first: int, last: int) -> tuple[str, ...]:
        """The feature's tokens at positions first..last, inside the span."""
        a = self.span_start + first - self.doc_offset
        return self.passage.pieces[a:a + last - first + 1]


@dataclass
class Features:
    """Every feature of a SQuAD file: the inputs, int32 (N, 3, max_seq_length), and the JSON-able label data."""

    inputs: np.ndarray
    passages: list[dict[str, Any]]  # {"words", "pieces", "piece_word"}
    examples: list[dict[str, Any]]  # {"id", "passage", "answers"}
    features: list[list[int]]  # [example, span index, doc offset, span start, span length]

    def labels(self) -> np.ndarray:
        """One FeatureLabel per feature (an object array), passages shared between their features."""
        passages = [Passage(tuple(p["words"]), tuple(p["pieces"]), tuple(p["piece_word"])) for p in self.passages]
        spans_of: dict[int, list[tuple[int, int]]] = {}
        for example, _, _, start, length in self.features:  # spans of an example, in order
            spans_of.setdefault(example, []).append((start, length))
        labels = np.empty(len(self.features), dtype=object)
        for n, (example, span, offset, start, length) in enumerate(self.features):
            ex = self.examples[example]
            flags = max_context_flags(spans_of[example], span)
            labels[n] = FeatureLabel(ex["id"], tuple(ex["answers"]), passages[ex["passage"]], span, offset, start,
                                     length, flags)
        return labels


def read_squad(path: Path, expected: str) -> list[dict[str, Any]]:
    """The "data" list of a SQuAD JSON file; a ConfigError naming the file when it is not one."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"not a readable SQuAD JSON file ({e}); {expected}", path=str(path)) from None
    data = content.get("data") if isinstance(content, dict) else None
    if not isinstance(data, list):
        raise ConfigError(f"has no 'data' list of articles; {expected}", path=str(path))
    return data


def build_features(data: list[dict[str, Any]], tokenizer: Any, *, max_seq_length: int = MAX_SEQ_LENGTH,
                   doc_stride: int = DOC_STRIDE, max_query_length: int = MAX_QUERY_LENGTH,
                   source: str = DEV_FILE) -> Features:
    """The features of SQuAD `data` (the file's "data" list), as convert_examples_to_features builds them."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    try:
        paragraphs = [p for article in data for p in article["paragraphs"]]
        words = [split_words(p["context"]) for p in paragraphs]
        questions = [(k, qa) for k, p in enumerate(paragraphs) for qa in p["qas"]]
        texts = [str(qa["question"]) for _, qa in questions]
        answers = [[str(a["text"]) for a in qa["answers"]] for _, qa in questions]
        ids = [str(qa["id"]) for _, qa in questions]
    except (KeyError, TypeError) as e:
        raise ConfigError(f"{source}: an article, paragraph or question lacks {e} (SQuAD v1.1 JSON expected)",
                          key=str(e)) from None
    docs = tokenizer.encode_batch(words, is_pretokenized=True, add_special_tokens=False)
    queries = tokenizer.encode_batch(texts, add_special_tokens=False)
    passages = [{"words": w, "pieces": d.tokens, "piece_word": [int(i) for i in d.word_ids]}
                for w, d in zip(words, docs)]
    rows: list[np.ndarray] = []
    features: list[list[int]] = []
    for example, ((paragraph, _), query) in enumerate(zip(questions, queries)):
        q_ids = query.ids[:max_query_length]
        doc_ids = docs[paragraph].ids
        for span, (start, length) in enumerate(doc_spans(len(doc_ids), max_seq_length - len(q_ids) - 3,
                                                         doc_stride)):
            tokens = [cls, *q_ids, sep, *doc_ids[start:start + length], sep]
            row = np.zeros((3, max_seq_length), dtype=np.int32)
            row[0, :len(tokens)] = tokens
            row[1, :len(tokens)] = 1
            row[2, len(q_ids) + 2:len(tokens)] = 1
            rows.append(row)
            features.append([example, span, len(q_ids) + 2, start, length])
    examples = [{"id": i, "passage": p, "answers": a} for i, (p, _), a in zip(ids, questions, answers)]
    inputs = np.stack(rows) if rows else np.zeros((0, 3, max_seq_length), dtype=np.int32)
    return Features(inputs, passages, examples, features)


class SquadDataset(Dataset):
    """SQuAD v1.1 features in the reference's order (questions in file order, spans in paragraph order)."""

    layout = "squad"
    preprocessing_version = PREPROCESSING_VERSION
    expected_layout = (f"expected {{path}}/{DEV_FILE} (SQuAD v1.1 JSON) and {{path}}/{VOCAB_FILE} (the BERT "
                       f"model's WordPiece vocabulary, one piece per line), as MLPerf's BERT reference reads them")

    def __init__(self, path: Path | str | None = None, *, max_seq_length: int = MAX_SEQ_LENGTH,
                 doc_stride: int = DOC_STRIDE, max_query_length: int = MAX_QUERY_LENGTH, **options: Any) -> None:
        for key, value in (("max_seq_length", max_seq_length), ("doc_stride", doc_stride),
                           ("max_query_length", max_query_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"dataset squad: {key} must be a positive integer, not {value!r}", key=key)
        if max_seq_length - max_query_length - 3 < 1:
            raise ConfigError(f"dataset squad: max_seq_length {max_seq_length} leaves no room for a paragraph "
                              f"after a question of {max_query_length} pieces", key="max_seq_length")
        self.max_seq_length, self.doc_stride, self.max_query_length = max_seq_length, doc_stride, max_query_length
        self.dtype = "int64"
        self._labels: np.ndarray | None = None
        super().__init__(path, **options)

    @property
    def cache_path(self) -> Path:
        return dataset_cache_dir(self.cache_root, self.layout, self.preprocessing_version)

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        for name in (DEV_FILE, VOCAB_FILE):
            if not (self.path / name).is_file():
                raise ConfigError(f"missing {name}; {expected}", path=str(self.path / name))
        key = fingerprint(self.path / DEV_FILE, fingerprint(self.path / VOCAB_FILE),
                          f"{self.max_seq_length}-{self.doc_stride}-{self.max_query_length}")
        self._inputs_file, self._labels_file = self.cache_path / f"{key}.npy", self.cache_path / f"{key}.json"
        inputs = load_npy(self._inputs_file, mmap=True)
        data = self._read_label_data()
        if inputs is None or data is None or len(inputs) != len(data["features"]):
            self.cache_stats.computed += 1
            built = build_features(read_squad(self.path / DEV_FILE, expected),
                                   wordpiece_tokenizer(self.path / VOCAB_FILE), max_seq_length=self.max_seq_length,
                                   doc_stride=self.doc_stride, max_query_length=self.max_query_length,
                                   source=str(self.path / DEV_FILE))
            if not built.features:
                raise ConfigError(f"holds no question; {expected}", path=str(self.path / DEV_FILE))
            save_npy_atomic(self._inputs_file, built.inputs)
            atomic_write(self._labels_file, json.dumps({"passages": built.passages, "examples": built.examples,
                                                        "features": built.features}), durable=False)
            self._features = built
        else:
            self.cache_stats.hits += 1
            self._features = Features(inputs, data["passages"], data["examples"], data["features"])
        return len(self._features.features)

    def _read_label_data(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self._labels_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and {"passages", "examples", "features"} <= set(data) else None

    @property
    def question_count(self) -> int:
        return len(self._features.examples)

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        dtype = record_dtype(self.max_seq_length)
        out = []
        for i in indices:
            record = np.zeros((), dtype=dtype)
            row = self._features.inputs[i]
            for k, name in enumerate(INPUT_FIELDS):
                record[name] = row[k]
            out.append(record)
        return out

    def _all_labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = self._features.labels()
        return self._labels


@DATASETS.register("squad")
def _squad() -> type[SquadDataset]:
    return SquadDataset


# --- small data in the layout ------------------------------------------------------------------------------------

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = tuple(c + v for c in _CONSONANTS for v in _VOWELS)
_WORDS = ("the", "a", "of", "in", "as", "and", "is", "was", "lives", "live", "works", "work", "born", "does",
          "where", "what", "when", "who", "city", "year", "met", "there")
_PUNCTUATION = tuple(".,?()-'")
# What the generated passages say, and the question each fact answers: (sentence, question, answers); {n} is the
# person's name, {v} the fact's value (its first answer).
_FACTS = (
    ("{n} lives in the city of {v} .", "Where does {n} live?", ("{v}", "the city of {v}")),
    ("{n} works as a {v} .", "What does {n} work as?", ("{v}", "a {v}")),
    ("{n} was born in {v} .", "When was {n} born?", ("{v}",)),
)


def _name(rng: np.random.Generator, syllables: int) -> str:
    return "".join(_SYLLABLES[int(k)] for k in rng.integers(0, len(_SYLLABLES), syllables))


def generated_vocabulary() -> list[str]:
    """The WordPiece vocabulary of generated data: the special tokens, words, punctuation, digits, and every
    consonant-vowel syllable as a word start and as a "##" continuation (so any generated name is covered)."""
    pieces = [*SPECIAL_TOKENS, *_WORDS, *_PUNCTUATION]
    pieces += [d for d in "0123456789"] + [f"##{d}" for d in "0123456789"]
    pieces += [*_SYLLABLES, *_VOWELS] + [f"##{s}" for s in (*_SYLLABLES, *_VOWELS)]
    return pieces


def generate_passage(rng: np.random.Generator, people: int, *, question_id: int = 0
                     ) -> tuple[str, list[dict[str, Any]]]:
    """One paragraph of `people` persons' facts (where they live, their work, their birth year) in sentences, and
    a question per fact, in SQuAD's form ({"id", "question", "answers": [{"text", "answer_start"}]})."""
    names = [_name(rng, int(rng.integers(2, 4))).capitalize() for _ in range(people)]
    facts = [(n, kind) for n in names for kind in range(len(_FACTS))]
    order = rng.permutation(len(facts))
    context = ""
    qas: list[dict[str, Any]] = []
    for k in order:
        name, kind = facts[int(k)]
        value = str(int(rng.integers(1700, 2000))) if kind == 2 else _name(rng, int(rng.integers(2, 4)))
        if kind == 0:
            value = value.capitalize()
        sentence, question, answers = _FACTS[kind]
        start = len(context) + sentence.index("{v}") + len(name) - len("{n}")
        context += sentence.format(n=name, v=value) + " "
        texts = [a.format(v=value) for a in answers]
        found = [context.rfind(t, 0, start + len(value) + 1) for t in texts]
        qas.append({"id": f"{question_id + len(qas):024x}", "question": question.format(n=name),
                    "answers": [{"text": t, "answer_start": s} for t, s in zip(texts, found) if s >= 0]})
    return context.strip(), qas


# The tiny suite's question answering (`tiny-qa`): one person's three facts a paragraph (features of 64 tokens
# hold a whole paragraph and its question: one feature a question), no long paragraph.
TINY_MAX_SEQ_LENGTH = 64
TINY_MAX_QUERY_LENGTH = 16
TINY_DOC_STRIDE = 32


def generate_tiny(root: Path, count: int, seed: int = 0) -> Path:
    """`generate` as the tiny suite's question answering reads it: one person per paragraph, no long one."""
    return generate(root, count, seed=seed, long_people=0, people=(1, 1))


def generate(root: Path, count: int = 8, *, seed: int = 0, long_people: int = 12,
             people: tuple[int, int] = (2, 3)) -> Path:
    """Small data in the official layout at `root`: a dev-v1.1.json of `count` questions over generated
    paragraphs and a vocab.txt covering them. The first paragraph tells of `long_people` persons (12: some 250
    WordPieces, two spans or more at max_seq_length 128 and below; 0: no such paragraph), the others of `people`
    persons (a range, both ends included); each person lives somewhere, works as something and was born in a year,
    and each fact is asked about once ("Where does X live?": the answer is its city, or "the city of" it). Names
    are drawn from syllables (several WordPieces each, capitalized: lower-casing is exercised); every paragraph
    ends with a word whose accent the tokenizer strips and one with a letter the vocabulary lacks ([UNK]).
    Every answer is written in its paragraph, so reading it back exactly scores 100. Returns `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paragraphs: list[dict[str, Any]] = []
    total = 0
    while total < count:
        persons = long_people if not paragraphs and long_people else int(rng.integers(people[0], people[1] + 1))
        context, qas = generate_passage(rng, persons, question_id=total)
        context += " Renée met Qxy there."  # an accent the tokenizer strips, a letter the vocabulary lacks
        qas = qas[:count - total]
        paragraphs.append({"context": context, "qas": qas})
        total += len(qas)
    articles = [{"title": f"Generated_{k}", "paragraphs": [p]} for k, p in enumerate(paragraphs)]
    (root / DEV_FILE).write_text(json.dumps({"data": articles, "version": "1.1"}), encoding="utf-8")
    (root / VOCAB_FILE).write_text("\n".join(generated_vocabulary()) + "\n", encoding="utf-8")
    return root
