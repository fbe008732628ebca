"""The `gnmt` model: its state dict has the reference checkpoint's keys (MLPerf Training's rnn_translator GNMT:
encoder.rnn_layers.N, decoder.att_rnn.{rnn, attn}, decoder.rnn_layers.N, decoder.classifier.classifier, the
embedders) and shapes; a build is sized by a state dict; the published checkpoint's wrapping loads; and the
beam search decodes as the reference's (greedy at beam 1, step by step; batched alike; normalization and
coverage penalty as written)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.checkpoints import unwrap_state_dict
from podium.models.gnmt import BOS, EOS, PAD, beam_search, build, config_from, gnmt

torch = pytest.importorskip("torch")

# The reference's GNMT at hidden 1024, 4 layers, vocabulary 32,317 (train.py's model_config): a sample of keys.
REFERENCE_SHAPES = {
    "encoder.embedder.weight": (32317, 1024),
    "encoder.rnn_layers.0.weight_ih_l0": (4096, 1024),
    "encoder.rnn_layers.0.weight_hh_l0_reverse": (4096, 1024),
    "encoder.rnn_layers.1.weight_ih_l0": (4096, 2048),
    "encoder.rnn_layers.3.bias_hh_l0": (4096,),
    "decoder.embedder.weight": (32317, 1024),
    "decoder.att_rnn.rnn.weight_ih_l0": (4096, 1024),
    "decoder.att_rnn.attn.linear_q.weight": (1024, 1024),
    "decoder.att_rnn.attn.linear_k.weight": (1024, 1024),
    "decoder.att_rnn.attn.linear_att": (1024,),
    "decoder.att_rnn.attn.normalize_scalar": (1,),
    "decoder.att_rnn.attn.normalize_bias": (1024,),
    "decoder.rnn_layers.0.weight_ih_l0": (4096, 2048),
    "decoder.rnn_layers.2.weight_hh_l0": (4096, 1024),
    "decoder.classifier.classifier.weight": (32317, 1024),
    "decoder.classifier.classifier.bias": (32317,),
}
# encoder: embedder 1 + bidirectional 8 + 3 x 4; decoder: att_rnn 4 + attention 5 + 3 x 4 + embedder 1 + classifier 2
REFERENCE_TENSORS = 45
VOCAB, HIDDEN = 40, 16


def small(seed: int = 0, **kwargs: object) -> object:
    torch.manual_seed(seed)
    return gnmt(VOCAB, HIDDEN, 4, 4, **kwargs).eval()  # type: ignore[arg-type]


def test_declared() -> None:
    model = MODELS.get("gnmt")
    assert model.reference == "podium.models.gnmt:build"
    assert (model.input_name, model.output_names) == ("src", ("logprobs",))
    assert (PAD, BOS, EOS) == (0, 2, 3)


def test_full_size_state_dict_has_the_reference_keys_and_shapes() -> None:
    with torch.device("meta"):  # shapes only: no 640 MB of weights
        net = gnmt()
    state = net.state_dict()
    assert len(state) == REFERENCE_TENSORS
    assert {k: tuple(state[k].shape) for k in REFERENCE_SHAPES} == REFERENCE_SHAPES
    # the reference's default shares one embedding between encoder and decoder
    assert net.encoder.embedder is net.decoder.embedder


def test_a_build_is_sized_by_the_state_dict() -> None:
    net = small(share_embedding=False)
    state = net.state_dict()
    assert config_from(state) == {"vocab_size": VOCAB, "hidden": HIDDEN, "encoder_layers": 4, "decoder_layers": 4,
                                  "share_embedding": False, "classifier_rows": VOCAB}
    fresh = build(state)
    fresh.load_state_dict(state, strict=True)
    shallow = gnmt(VOCAB, 8, 3, 2).state_dict()
    assert {k: v for k, v in config_from(shallow).items() if k != "share_embedding"} == {
        "vocab_size": VOCAB, "hidden": 8, "encoder_layers": 3, "decoder_layers": 2, "classifier_rows": VOCAB}
    with pytest.raises(ConfigError, match="no 'encoder.embedder.weight'"):
        build({"decoder.embedder.weight": torch.zeros(2, 2)})


def test_fp16_padded_classifier_rows_are_cut_to_the_vocabulary() -> None:
    net = gnmt(VOCAB - 3, HIDDEN, 2, 1, classifier_rows=VOCAB).eval()  # 37 tokens, rows padded to 40
    state = net.state_dict()
    assert tuple(state["decoder.classifier.classifier.weight"].shape) == (VOCAB, HIDDEN)
    assert config_from(state)["classifier_rows"] == VOCAB
    with torch.no_grad():
        assert tuple(build(state)(torch.zeros(2, 5)).shape) == (2, VOCAB - 3)


def test_published_checkpoint_wrapping_loads() -> None:
    state = small().state_dict()
    published = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 6, "loss": 2.3}
    fresh = build(unwrap_state_dict(published, "model_best.pth"))
    fresh.load_state_dict(unwrap_state_dict(published, "model_best.pth"), strict=True)
    assert torch.equal(fresh.state_dict()["decoder.att_rnn.attn.linear_att"], state["decoder.att_rnn.attn.linear_att"])


def test_forward_answers_the_first_tokens_log_probabilities() -> None:
    net = small()
    with torch.no_grad():
        out = net(torch.zeros(3, 7))
    assert tuple(out.shape) == (3, VOCAB)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3), atol=1e-5)


def test_attention_is_normalized_and_masked() -> None:
    net = small()
    src = torch.tensor([[BOS, 5, 6, 7, EOS], [BOS, 8, EOS, PAD, PAD]])
    with torch.no_grad():
        context = net.encode(src, torch.tensor([5, 3]))
        _, scores, _ = net.decode(torch.full((2, 1), BOS), context)
    assert torch.allclose(scores.sum(-1), torch.ones(2, 1), atol=1e-6)
    assert float(scores[1, 0, 3:].abs().max()) == 0.0  # padding gets no attention


def _greedy(net: object, sentence: list[int], steps: int) -> list[int]:
    """Greedy decoding one token at a time (beam 1), written out: argmax until EOS, at most `steps` tokens."""
    with torch.no_grad():
        context = net.encode(torch.tensor([sentence]), torch.tensor([len(sentence)]))  # type: ignore[attr-defined]
        word, out = BOS, []
        for _ in range(steps):
            logits, _, context = net.decode(torch.tensor([[word]]), context)  # type: ignore[attr-defined]
            word = int(logits[0, 0].argmax())
            out.append(word)
            if word == EOS:
                break
    return out


def test_beam_one_is_greedy_decoding() -> None:
    net = small(seed=3)
    sentence = [BOS, 11, 12, 13, 14, EOS]
    with torch.no_grad():
        [found] = beam_search(1, 12).translate(net, [np.array(sentence)], torch.device("cpu"))
    greedy = _greedy(net, sentence, 11)
    # the answer drops the final EOS, or (cut at max_length: 11 tokens) the last token, as the reference does
    assert len(greedy) > 1 and found.tolist() == greedy[:-1]


def test_a_batch_translates_as_each_sentence_alone() -> None:
    net = small(seed=1)
    sentences = [np.array([BOS, 5, 6, 7, 8, 9, EOS]), np.array([BOS, 20, EOS]), np.array([BOS, 30, 31, 32, EOS])]
    search = beam_search(4, 10)
    with torch.no_grad():
        together = search.translate(net, sentences, torch.device("cpu"))
        alone = [search.translate(net, [s], torch.device("cpu"))[0] for s in sentences]
    assert [t.tolist() for t in together] == [a.tolist() for a in alone]


def test_length_normalization_and_coverage_penalty() -> None:
    search = beam_search(2, 5, alpha=0.6, norm_const=5.0, coverage=0.1)
    lengths = torch.tensor([4, 7])
    scores = torch.tensor([-2.0, -3.0])
    coverage = torch.tensor([[0.5, 1.5, 0.0], [1.0, 0.25, 0.25]])
    search._finish(torch.tensor([0, 1]), lengths, scores, coverage)
    expected = [-2.0 / ((5 + 4) / 6) ** 0.6 + 0.1 * math.log(0.5),  # log(min(1, 1.5)) = 0; log 0 counts 0
                -3.0 / ((5 + 7) / 6) ** 0.6 + 0.1 * (2 * math.log(0.25))]
    assert scores.tolist() == pytest.approx(expected, rel=1e-6)


def test_search_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        beam_search(0)
