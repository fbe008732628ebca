"""`wmt16`: WMT16 English-German newstest2014 as MLPerf's GNMT reads it: BPE-segmented sentences and their vocabulary.

The layout is the folder the v0.5 reference reads (translation/gnmt/tensorflow: `nmt/data/` of
gnmt_inference_data.zip; MLPerf Training's rnn_translator `data/` holds the same files):
- `newstest2014.tok.bpe.32000.en`: the 3,003 source sentences, one a line, Moses-tokenized (tokenizer.perl -l en)
  and segmented by subword-nmt's apply_bpe.py with `bpe.32000` (32,000 merges): a word cut in pieces carries "@@"
  at the end of every piece but its last ("Gut@@ achten");
- `newstest2014.tok.bpe.32000.de`: the German references, processed alike; the official accuracy script
  (process_accuracy.py) compares translations with these lines, stripped and with "@@ " removed: tokenized text;
- `vocab.bpe.32000`: the joint BPE vocabulary, one token a line (the TensorFlow reference reads the same file as
  `vocab.bpe.32000.en` and `vocab.bpe.32000.de`; either is read here, `vocab.bpe.32000` first).
`bpe.32000` (the merges) and the raw `newstest2014.en`/`.de` are not needed to serve: the sources come
segmented. The reference's performance runs read `newstest2014.tok.bpe.32000.en.large` (3,903,900 lines, the
registry's performance sample count); Podium draws its performance samples from the 3,003 (a QSL holds at most
the samples it has).

Sample i is line i as token ids, as the PyTorch reference's Tokenizer makes them (seq2seq/data/tokenizer.py,
config.py): ids 0-3 are <pad>, <unk>, <s>, <\\s>, then the vocabulary file's tokens in order (32,313 entries make
the model's 32,317); a line's whitespace-separated tokens become their ids (<unk> for unknown ones), between <s>
and <\\s>. Samples differ in length (`variable_shape`); each is a `SourceSentence`, an int64 array that also
names its `Vocabulary`, so that whoever translates it can turn the ids answered back into text. Labels are the
references as the official script reads them (str). `generate` writes a small synthetic language pair in this
layout: a fixed lexicon of made-up words, some of them cut into BPE pieces, each English word with one German
translation, and German word order swapping each pair of adjacent words, so that a small model can learn it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset

SOURCE_FILE = "newstest2014.tok.bpe.32000.en"
REFERENCE_FILE = "newstest2014.tok.bpe.32000.de"
VOCABULARY_FILES = ("vocab.bpe.32000", "vocab.bpe.32000.en")  # PyTorch reference's name, then the TF reference's
MERGES_FILE = "bpe.32000"
RAW_FILES = ("newstest2014.en", "newstest2014.de")
SEPARATOR = "@@"
# The PyTorch reference's special tokens and their ids (seq2seq/data/config.py: the EOS token is spelled "<\s>").
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "<\\s>")
PAD, UNK, BOS, EOS = range(4)


def remove_bpe(line: str) -> str:
    """A reference line as process_accuracy.py scores it (nmt's `_clean` with "bpe"): stripped, "@@ " removed."""
    return re.sub(f"{SEPARATOR} ", "", line.strip())


class Vocabulary:
    """The reference Tokenizer's mapping: the 4 special tokens, then the vocabulary file's tokens."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens: tuple[str, ...] = (*SPECIAL_TOKENS, *tokens)
        self.index: dict[str, int] = {}
        for i, token in enumerate(self.tokens):  # a token listed twice keeps its last id, as the reference's dict
            self.index[token] = i

    @classmethod
    def read(cls, path: Path, expected: str) -> Vocabulary:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the vocabulary ({e}); {expected}", path=str(path)) from None
        if not lines:
            raise ConfigError(f"the vocabulary is empty; {expected}", path=str(path))
        return cls([line.strip() for line in lines])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, line: str) -> np.ndarray:
        """A segmented line -> int64 ids: <s>, each token's id (<unk> if unknown), <\\s>."""
        ids = [self.index.get(token, UNK) for token in line.split()]
        return np.array([BOS, *ids, EOS], dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Token ids -> text as the reference's Tokenizer.detokenize: tokens joined by spaces, "@@ " then "@@"
        removed (ids beyond the vocabulary read as <unk>)."""
        size = len(self.tokens)
        text = " ".join(self.tokens[i] if 0 <= i < size else SPECIAL_TOKENS[UNK] for i in (int(k) for k in ids))
        return text.replace(f"{SEPARATOR} ", "").replace(SEPARATOR, "")


class SourceSentence(np.ndarray):
    """One source sentence's token ids (int64, 1-D) and the `Vocabulary` they index."""

    vocabulary: Vocabulary | None

    def __new__(cls, ids: np.ndarray, vocabulary: Vocabulary) -> SourceSentence:
        sentence = np.asarray(ids, dtype=np.int64).view(cls)
        sentence.vocabulary = vocabulary
        return sentence

    def __array_finalize__(self, obj: Any) -> None:
        self.vocabulary = getattr(obj, "vocabulary", None)


class Wmt16Dataset(Dataset):
    """The sentences of newstest2014.tok.bpe.32000.en, in file order; each sample a SourceSentence."""

    layout = "wmt16"
    preprocessing_version = "gnmt-tokenizer-ids-v1"  # the PyTorch reference's Tokenizer.segment; cheap, not cached
    expected_layout = (f"expected {{path}}/{SOURCE_FILE} and {{path}}/{REFERENCE_FILE} (BPE-segmented sentences, "
                       f"one a line, as many in each) and {{path}}/{VOCABULARY_FILES[0]} (or "
                       f"{VOCABULARY_FILES[1]}: the BPE vocabulary, one token a line), as MLPerf's GNMT reference "
                       f"reads them (gnmt_inference_data.zip's nmt/data)")
    variable_shape: ClassVar[bool] = True  # sentences differ in length: get_samples answers a list

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        self._sources = _lines(self.path / SOURCE_FILE, expected)
        self._references = _lines(self.path / REFERENCE_FILE, expected)
        if len(self._sources) != len(self._references):
            raise ConfigError(f"{len(self._sources)} source sentences but {len(self._references)} references in "
                              f"{REFERENCE_FILE}; {expected}", path=str(self.path / SOURCE_FILE))
        if not self._sources:
            raise ConfigError(f"no sentences; {expected}", path=str(self.path / SOURCE_FILE))
        found = [self.path / name for name in VOCABULARY_FILES if (self.path / name).is_file()]
        if not found:
            raise ConfigError(f"missing {VOCABULARY_FILES[0]}; {expected}", path=str(self.path / VOCABULARY_FILES[0]))
        self.vocabulary = Vocabulary.read(found[0], expected)
        return len(self._sources)

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        return [SourceSentence(self.vocabulary.encode(self._sources[i]), self.vocabulary) for i in indices]

    def _all_labels(self) -> np.ndarray:
        labels = np.empty(len(self._references), dtype=object)
        labels[:] = [remove_bpe(line) for line in self._references]
        return labels


def _lines(path: Path, expected: str) -> list[str]:
    """The lines of a UTF-8 text file (without their line ends); a ConfigError naming it otherwise."""
    try:
        with open(path, encoding="utf-8", newline="\n") as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name}; {expected}", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read ({e}); {expected}", path=str(path)) from None


@DATASETS.register("wmt16")
def _wmt16() -> type[Wmt16Dataset]:
    return Wmt16Dataset


# --- a small synthetic language pair in the layout -------------------------------------------------------------

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u")
LEXICON_SIZE = 24  # English words, each with one German translation
LEXICON_SEED = 20160  # the lexicon is the same for every generated set: train and eval splits share it
MIN_WORDS, MAX_WORDS = 3, 7  # per sentence, before the final "."


def lexicon() -> tuple[tuple[list[str], list[str]], ...]:
    """(English pieces, German pieces) of each word: made-up words of two syllables, every third cut in two BPE
    pieces ("ka@@", "lo"), the same on every call."""
    rng = np.random.default_rng(LEXICON_SEED)
    syllables = [o + v for o in _ONSETS for v in _VOWELS]
    chosen = rng.choice(len(syllables) ** 2, size=2 * LEXICON_SIZE, replace=False)
    words: list[list[str]] = []
    for k, pair in enumerate(chosen):
        first, second = (syllables[i] for i in divmod(int(pair), len(syllables)))
        words.append([first + SEPARATOR, second] if k % 3 == 0 else [first + second])
    return tuple((words[i], words[LEXICON_SIZE + i]) for i in range(LEXICON_SIZE))


def translate_words(words: Sequence[int]) -> list[int]:
    """The German word order of English words `words` (lexicon indices): each adjacent pair swapped."""
    out = list(words)
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def generate(root: Path, count: int = 16, *, seed: int = 0) -> Path:
    """`count` sentence pairs of the synthetic language pair at `root`, in the layout (segmented sources and
    references, the raw text, the vocabulary under both names, merges). Returns `root`."""
    rng = np.random.default_rng(seed)
    pairs = lexicon()
    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {name: [] for name in (SOURCE_FILE, REFERENCE_FILE, *RAW_FILES)}
    for _ in range(count):
        words = [int(w) for w in rng.integers(0, LEXICON_SIZE, size=int(rng.integers(MIN_WORDS, MAX_WORDS + 1)))]
        english = [pairs[w][0] for w in words]
        german = [pairs[w][1] for w in translate_words(words)]
        rows[SOURCE_FILE].append(" ".join(p for pieces in english for p in pieces) + " .")
        rows[REFERENCE_FILE].append(" ".join(p for pieces in german for p in pieces) + " .")
        rows[RAW_FILES[0]].append(" ".join("".join(p).replace(SEPARATOR, "") for p in english).capitalize() + ".")
        rows[RAW_FILES[1]].append(" ".join("".join(p).replace(SEPARATOR, "") for p in german).capitalize() + ".")
    for name, lines in rows.items():
        (root / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tokens = [".", *dict.fromkeys(p for pair in pairs for side in pair for p in side)]
    for name in (VOCABULARY_FILES[0], f"{VOCABULARY_FILES[0]}.en", f"{VOCABULARY_FILES[0]}.de"):
        (root / name).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    (root / MERGES_FILE).write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in _merges(tokens)), encoding="utf-8")
    return root


def _merges(tokens: Sequence[str]) -> list[str]:
    """subword-nmt merge operations that build each token from its characters, left to right (a token ending a
    word ends in "</w>"; one followed by "@@" does not)."""
    merges: dict[str, None] = {}
    for token in tokens:
        inner = token.endswith(SEPARATOR)
        chars = list(token[:-len(SEPARATOR)] if inner else token)
        if not inner:
            chars[-1] += "</w>"
        built = chars[0]
        for c in chars[1:]:
            merges[f"{built} {c}"] = None
            built += c
    return list(merges)
