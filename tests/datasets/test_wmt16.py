"""The `wmt16` layout: generated sentence pairs read back as the GNMT reference reads newstest2014 (BPE-segmented
lines, the vocabulary after the 4 special tokens, <s> ... <\\s> around each sentence's ids; references with BPE
removed as the accuracy script cleans them), one-line errors naming the path and the layout, and the synthetic
language pair's rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, SUTError
from podium.datasets import DATASETS
from podium.datasets.wmt16 import (
    BOS,
    EOS,
    REFERENCE_FILE,
    SOURCE_FILE,
    SPECIAL_TOKENS,
    UNK,
    SourceSentence,
    Vocabulary,
    Wmt16Dataset,
    generate,
    lexicon,
    remove_bpe,
    translate_words,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("wmt16"), 6, seed=1)


def _write(root: Path, source: str, reference: str, vocabulary: str | None, vocab_name: str = "vocab.bpe.32000"
           ) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / SOURCE_FILE).write_text(source, encoding="utf-8")
    (root / REFERENCE_FILE).write_text(reference, encoding="utf-8")
    if vocabulary is not None:
        (root / vocab_name).write_text(vocabulary, encoding="utf-8")
    return root


def test_registered() -> None:
    assert DATASETS.get("wmt16") is Wmt16Dataset
    assert SPECIAL_TOKENS == ("<pad>", "<unk>", "<s>", "<\\s>") and (UNK, BOS, EOS) == (1, 2, 3)


def test_sentences_become_the_reference_tokenizers_ids(tmp_path: Path) -> None:
    root = _write(tmp_path / "d", "Gut@@ achten zu@@ m Haus .\nein unbekannt@@ es Wort\n",
                  "Gut@@ achten für das Haus .\nein unbekannt@@ es Wort\n", "Gut@@\nachten\nzu@@\nm\nHaus\n.\nein\n")
    ds = Wmt16Dataset(root)
    assert ds.total_sample_count == 2 and ds.variable_shape and len(ds.vocabulary) == 4 + 7
    ds.load_samples([0, 1])
    first, second = ds.get_samples([0, 1])
    assert isinstance(first, SourceSentence) and first.vocabulary is ds.vocabulary
    assert first.dtype == np.int64 and first.tolist() == [BOS, 4, 5, 6, 7, 8, 9, EOS]
    assert second.tolist() == [BOS, 10, UNK, UNK, UNK, EOS]
    assert ds.labels().tolist() == ["Gutachten für das Haus .", "ein unbekanntes Wort"]
    ds.unload_samples([0])
    with pytest.raises(SUTError, match="sample 0 is not loaded"):
        ds.get_samples([0])


def test_the_tensorflow_references_vocabulary_name_is_read_too(tmp_path: Path) -> None:
    root = _write(tmp_path / "tf", "a b\n", "a b\n", "a\nb\n", vocab_name="vocab.bpe.32000.en")
    assert Wmt16Dataset(root).vocabulary.tokens == (*SPECIAL_TOKENS, "a", "b")


def test_decoding_removes_bpe_as_the_reference_tokenizer() -> None:
    vocabulary = Vocabulary(["Gut@@", "achten", "Haus", "."])
    assert vocabulary.decode([4, 5, 6, 7]) == "Gutachten Haus ."
    assert vocabulary.decode([6, 4]) == "Haus Gut"  # a dangling "@@" is dropped too
    assert vocabulary.decode([6, 99]) == "Haus <unk>"
    assert remove_bpe("  Gut@@ achten Haus .\n") == "Gutachten Haus ."


@pytest.mark.parametrize("missing", [SOURCE_FILE, REFERENCE_FILE, "vocab.bpe.32000"])
def test_a_missing_file_is_named_with_the_layout(tmp_path: Path, missing: str) -> None:
    root = _write(tmp_path / "m", "a\n", "a\n", "a\n")
    (root / missing).unlink()
    with pytest.raises(ConfigError, match=f"missing {missing}") as e:
        Wmt16Dataset(root)
    assert "expected" in str(e.value) and str(root) in str(e.value) and "\n" not in str(e.value)


def test_mismatched_line_counts_and_no_directory(tmp_path: Path) -> None:
    root = _write(tmp_path / "n", "a\nb\n", "a\n", "a\n")
    with pytest.raises(ConfigError, match="2 source sentences but 1 references"):
        Wmt16Dataset(root)
    with pytest.raises(ConfigError, match="no such dataset directory"):
        Wmt16Dataset(tmp_path / "nowhere")


def test_generated_pairs_follow_the_language_rules(data: Path) -> None:
    for name in (SOURCE_FILE, REFERENCE_FILE, "newstest2014.en", "newstest2014.de", "vocab.bpe.32000",
                 "vocab.bpe.32000.en", "vocab.bpe.32000.de", "bpe.32000"):
        assert (data / name).is_file(), name
    pairs = lexicon()
    english = {"".join(e).replace("@@", ""): "".join(g).replace("@@", "") for e, g in pairs}
    ds = Wmt16Dataset(data)
    ds.load_samples(range(6))
    samples = ds.get_samples(list(range(6)))
    for sample, label in zip(samples, ds.labels()):
        words = ds.vocabulary.decode(sample[1:-1]).split()
        assert words[-1] == "." and label.endswith(" .")
        indices = [list(english).index(w) for w in words[:-1]]
        assert label.split()[:-1] == [list(english.values())[i] for i in translate_words(indices)]
    assert any("@@" in line for line in (data / SOURCE_FILE).read_text().splitlines())
    assert not any(int(s.min()) == UNK for s in samples)  # every generated token is in the vocabulary


def test_generation_is_seeded_and_the_lexicon_fixed(tmp_path: Path) -> None:
    a, b, c = (generate(tmp_path / n, 5, seed=s) for n, s in (("a", 3), ("b", 3), ("c", 4)))
    assert (a / SOURCE_FILE).read_text() == (b / SOURCE_FILE).read_text() != (c / SOURCE_FILE).read_text()
    assert (a / "vocab.bpe.32000").read_text() == (c / "vocab.bpe.32000").read_text()
    assert translate_words([1, 2, 3, 4, 5]) == [2, 1, 4, 3, 5]
