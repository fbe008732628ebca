"""The `squad` layout: generated SQuAD files read back as the reference's features (WordPiece tokens, [CLS] question
[SEP] span [SEP], segments, mask, zero padding, sliding spans and their max-context flags), cached once, with the
INT8 graph's input names over the same arrays; one-line errors naming the path and the layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from podium.core.errors import ConfigError  # noqa: E402
from podium.datasets import DATASETS  # noqa: E402
from podium.datasets.squad import (  # noqa: E402
    DEV_FILE,
    VOCAB_FILE,
    SquadDataset,
    doc_spans,
    generate,
    max_context_flags,
    record_dtype,
    split_words,
    wordpiece_tokenizer,
)

SEQ = 64  # short features, so the first generated paragraph needs several spans
STRIDE = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("squad"), 10, seed=3)


def _open(data: Path, cache: Path, **options) -> SquadDataset:
    return SquadDataset(data, cache_dir=cache, max_seq_length=SEQ, doc_stride=STRIDE, max_query_length=16,
                        **options)


def test_registered_and_the_reference_constants() -> None:
    from podium.datasets import squad

    assert DATASETS.get("squad") is SquadDataset
    assert (squad.MAX_SEQ_LENGTH, squad.DOC_STRIDE, squad.MAX_QUERY_LENGTH) == (384, 128, 64)
    assert (squad.QUESTIONS_IN_DEV, squad.FEATURES_IN_DEV) == (10570, 10833)


def test_generated_file_is_squad_json_with_answers_at_their_offsets(data: Path) -> None:
    content = json.loads((data / DEV_FILE).read_text())
    assert content["version"] == "1.1"
    questions = [(p["context"], qa) for a in content["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert len(questions) == 10 and len({qa["id"] for _, qa in questions}) == 10
    for context, qa in questions:
        assert qa["answers"]
        for answer in qa["answers"]:
            start = answer["answer_start"]
            assert context[start:start + len(answer["text"])] == answer["text"]
    vocab = (data / VOCAB_FILE).read_text().split("\n")
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and "##ka" in vocab


def test_words_split_on_squad_whitespace_only() -> None:
    assert split_words("  a\u202fb\tc\r\nd  e\u00a0f ") == ["a", "b", "c", "d", "e\u00a0f"]
    assert split_words("") == []


def test_wordpiece_is_uncased_bert_tokenization(data: Path) -> None:
    tok = wordpiece_tokenizer(data / VOCAB_FILE)
    pieces = tok.encode("Renée met Qxy (1895-1943).", add_special_tokens=False).tokens
    # lower-cased, accent stripped, punctuation split off, digits as "##" continuations, unknown letters [UNK]
    assert pieces == ["re", "##ne", "##e", "met", "[UNK]", "(", "1", "##8", "##9", "##5", "-", "1", "##9", "##4",
                      "##3", ")", "."]


def test_doc_spans_slide_as_the_reference() -> None:
    assert doc_spans(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert doc_spans(10, 4, 8) == [(0, 4), (4, 4), (8, 2)]  # the stride never skips past a span's end
    assert doc_spans(3, 4, 2) == [(0, 3)]
    assert doc_spans(0, 4, 2) == []


def test_max_context_is_the_span_with_the_most_context_on_both_sides() -> None:
    spans = [(0, 5), (2, 5), (4, 5)]
    # piece 4: span 0 scores min(4, 0) + .05, span 1 min(2, 2) + .05, span 2 min(0, 4) + .05: span 1 wins;
    # piece 3 scores min(3, 1) + .05 in span 0 and min(1, 3) + .05 in span 1: a tie, which the first span wins
    assert max_context_flags(spans, 0).tolist() == [True, True, True, True, False]
    assert max_context_flags(spans, 1).tolist() == [False, False, True, True, False]
    assert max_context_flags(spans, 2).tolist() == [False, False, True, True, True]
    # the length counts too (0.01 each): piece 3 scores min(1, 1) + .03 in (2, 3) but 1.05 in (0, 5)
    assert max_context_flags([(0, 5), (2, 3)], 1).tolist() == [False, False, False]


def test_features_are_cls_question_sep_span_sep(data: Path, cache: Path) -> None:
    ds = _open(data, cache)
    tok = wordpiece_tokenizer(data / VOCAB_FILE)
    labels = ds.labels()
    assert ds.question_count == 10 and ds.total_sample_count == len(labels) > 10
    ds.load_samples(range(ds.total_sample_count))
    batch = ds.get_samples(range(ds.total_sample_count))
    assert batch.dtype.names == ("input_ids", "input_mask", "segment_ids", "attention_mask", "token_type_ids")
    ds.load_samples([0])
    assert ds._loaded[0].dtype == record_dtype(SEQ) and record_dtype(SEQ).itemsize == 3 * 8 * SEQ  # held once
    for n, label in enumerate(labels):
        ids, mask, seg = (batch[name][n] for name in ("input_ids", "input_mask", "segment_ids"))
        assert ids.dtype == np.int64 and ids.shape == (SEQ,)
        real = label.token_count
        tokens = [tok.id_to_token(int(i)) for i in ids[:real]]
        assert tokens[0] == "[CLS]" and tokens[label.doc_offset - 1] == "[SEP]" and tokens[-1] == "[SEP]"
        assert tokens[label.doc_offset:real - 1] == list(label.pieces(label.doc_offset, real - 2))
        assert mask.tolist() == [1] * real + [0] * (SEQ - real)
        assert seg.tolist() == [0] * label.doc_offset + [1] * (real - label.doc_offset) + [0] * (SEQ - real)
        assert not ids[real:].any()
        np.testing.assert_array_equal(batch["attention_mask"][n], mask)  # the INT8 graph's names, same bytes
        np.testing.assert_array_equal(batch["token_type_ids"][n], seg)
        for position in range(label.doc_offset, real - 1):  # each piece comes from the word it maps to
            word = label.doc_words[label.word_of(position)]
            assert label.pieces(position, position)[0] in tok.encode(word, add_special_tokens=False).tokens
        assert label.word_of(0) is None and label.word_of(real - 1) is None


def test_a_long_paragraph_slides_with_every_piece_scored_once(data: Path, cache: Path) -> None:
    labels = _open(data, cache).labels()
    first = [lb for lb in labels if lb.example_id == labels[0].example_id]
    assert len(first) >= 3 and [lb.span_index for lb in first] == list(range(len(first)))
    assert [lb.span_start for lb in first[1:]] == [STRIDE * k for k in range(1, len(first))]
    scored = [lb.span_start + k for lb in first for k in range(lb.span_length) if lb.max_context[k]]
    assert sorted(scored) == list(range(len(first[0].passage.pieces)))  # each piece has one max-context span
    assert first[0].answers and all(lb.answers == first[0].answers for lb in first)


def test_features_are_cached_once_and_keyed_by_the_files(data: Path, cache: Path, tmp_path: Path) -> None:
    first = _open(data, cache)
    assert first.cache_stats.computed == 1 and first.cache_path.is_relative_to(cache)
    again = _open(data, cache)
    assert (again.cache_stats.hits, again.cache_stats.computed) == (1, 0)
    assert [lb.example_id for lb in again.labels()] == [lb.example_id for lb in first.labels()]
    other = generate(tmp_path / "other", 4, seed=9)
    changed = _open(other, cache)
    assert changed.cache_stats.computed == 1 and changed.question_count == 4
    longer = SquadDataset(data, cache_dir=cache)  # other lengths: another entry
    assert longer.cache_stats.computed == 1 and longer.total_sample_count < first.total_sample_count
    assert not any(Path.cwd().iterdir())


def test_count_keeps_the_first_features(data: Path, cache: Path) -> None:
    ds = _open(data, cache, count=3)
    assert ds.total_sample_count == 3 and len(ds.labels()) == 3


@pytest.mark.parametrize("missing", [DEV_FILE, VOCAB_FILE])
def test_a_missing_file_names_the_path_and_the_layout(data: Path, tmp_path: Path, cache: Path, missing: str) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    for name in (DEV_FILE, VOCAB_FILE):
        if name != missing:
            (root / name).write_bytes((data / name).read_bytes())
    with pytest.raises(ConfigError, match=f"missing {missing}.*dev-v1.1.json .*vocab.txt") as e:
        SquadDataset(root, cache_dir=cache)
    assert str(root / missing) in str(e.value)


def test_bad_files_and_options_are_config_errors(data: Path, tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / VOCAB_FILE).write_bytes((data / VOCAB_FILE).read_bytes())
    (root / DEV_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable SQuAD JSON"):
        SquadDataset(root, cache_dir=cache)
    (root / DEV_FILE).write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}))
    with pytest.raises(ConfigError, match="lacks 'context'"):
        SquadDataset(root, cache_dir=cache)
    (root / VOCAB_FILE).write_text("a\nb\n")
    with pytest.raises(ConfigError, match=r"no \[UNK\] token"):
        wordpiece_tokenizer(root / VOCAB_FILE)
    with pytest.raises(ConfigError, match="max_seq_length"):
        SquadDataset(data, cache_dir=cache, max_seq_length=40, max_query_length=64)
    with pytest.raises(ConfigError, match="doc_stride"):
        SquadDataset(data, cache_dir=cache, doc_stride=0)
