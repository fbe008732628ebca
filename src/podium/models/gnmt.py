"""`gnmt`: the GNMT of MLPerf's translation benchmark, whose state dict loads the reference checkpoint's keys.

Which network. MLPerf Inference v0.5's reference (translation/gnmt/tensorflow) serves a TensorFlow checkpoint of
TensorFlow NMT's GNMT trained as `wmt16_gnmt_4_layer.json` says: 4 encoder and 4 decoder LSTM layers of 1024 units,
"normed_bahdanau" attention in the "gnmt_v2" architecture. Podium loads PyTorch state dicts, so it loads the same
architecture as MLPerf Training's PyTorch GNMT (rnn_translator/pytorch/seq2seq/models, the code the v0.5 tree's
others/cloud/translation/gnmt/pytorch runs on its published `model_best.pth`): a TensorFlow checkpoint needs
converting to these keys. The training reference builds it with `{'hidden_size': 1024, 'num_layers': 4,
'dropout': 0.2, 'share_embedding': True}` (train.py's --model-config default); the GNMT paper's 8 layers are the
class's default argument only.

The network (batch first, as the inference reference runs it):
- encoder: an embedding (`encoder.embedder`, padding index 0), a bidirectional LSTM (`encoder.rnn_layers.0`, run
  on the packed sequences), a unidirectional LSTM taking its 2 x hidden outputs (`rnn_layers.1`), then
  `num_layers - 2` unidirectional LSTMs with residual connections (`rnn_layers.2` ...);
- decoder: an embedding (`decoder.embedder`; the same tensor as the encoder's when shared), a first LSTM whose
  output queries a normalized Bahdanau attention over the encoder's outputs (`decoder.att_rnn.rnn`,
  `decoder.att_rnn.attn.{linear_q.weight, linear_k.weight, linear_att, normalize_scalar, normalize_bias}`), then
  `num_layers - 1` LSTMs each fed the previous layer's output concatenated with that attention context
  (`decoder.rnn_layers.0` ...; residual from the second on), and a classifier (`decoder.classifier.classifier`,
  whose rows may be padded to a multiple of 8 when trained in fp16: its outputs are cut to the vocabulary).
The attention scores are v . tanh(W_q q + W_k k + b) with v = g * a / |a| (a: `linear_att`, g:
`normalize_scalar`, b: `normalize_bias`); source positions beyond a sentence's length are masked with -65504
before the softmax, and the context is the scores' weighted sum of the encoder outputs. The decoder's LSTMs start
from zeros (no encoder state is passed on). 4 + 4 LSTM layers of 1024, vocabulary 32,317 (the 4 special tokens
<pad>, <unk>, <s>, <\\s> then `vocab.bpe.32000`): 45 tensors.

The published checkpoint keeps the weights under "state_dict" (with "module." prefixes when trained distributed),
beside a pickled `Tokenizer` object and an argparse `config`: Podium reads weights only, so extract the state dict
once (`torch.save(torch.load(p, weights_only=False)["state_dict"], "gnmt.pt")`, in the reference's environment).

`forward(src)` — what `--model random`'s warm-up and `LoadedModel.run` call — encodes token ids (N, S) (any
dtype; every position counts) and answers the log-probabilities (N, vocab) of the first target token. Translating
is beam search over `encode` and `decode` (podium.models._gnmt_beam, the reference's SequenceGenerator).
`tiny-gnmt` is the same network cut down for the tiny suite's `tiny-translation` (2 + 2 layers of 64).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Model

# The reference's special tokens (seq2seq/data/config.py), before the vocabulary file's entries; its EOS token is
# spelled "<\s>" there.
PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "<\\s>")
VOCAB_SIZE = 32317
HIDDEN = 1024
LAYERS = 4  # of the encoder and of the decoder (train.py's model_config)
WARM_UP_TOKENS = 8  # the length of the (zeros) sentence the harness warms the model up with
# The tiny suite's GNMT: the shape above, cut to what a CPU trains in seconds. Its vocabulary is that of the
# synthetic language pair podium.datasets.wmt16 generates (4 special tokens and 62 BPE tokens; a test checks it).
TINY_VOCAB_SIZE = 66
TINY_HIDDEN = 64
TINY_LAYERS = 2
# Beam search as the v0.5 tree's PyTorch GNMT runs it (others/cloud/translation/gnmt/pytorch: README's commands
# pass --beam-size 10; translate.py's defaults: --max-seq-len 80, --len-norm-factor 0.6, --len-norm-const 5.0,
# --cov-penalty-factor 0.1). The TensorFlow reference's hparams say beam_width 10, length_penalty_weight 1.0.
BEAM_SIZE = 10
MAX_LENGTH = 80
LENGTH_NORM_FACTOR = 0.6
LENGTH_NORM_CONST = 5.0
COVERAGE_PENALTY = 0.1


def gnmt(vocab_size: int = VOCAB_SIZE, hidden: int = HIDDEN, encoder_layers: int = LAYERS,
         decoder_layers: int = LAYERS, *, share_embedding: bool = True, classifier_rows: int | None = None) -> Any:
    """The network, untrained (`reset_parameters` of each torch module; the reference's attention init)."""
    from podium.models._gnmt_net import GNMT

    if encoder_layers < 2 or decoder_layers < 1:
        raise ConfigError(f"gnmt needs at least 2 encoder layers and 1 decoder layer, got {encoder_layers} and "
                          f"{decoder_layers}")
    return GNMT(vocab_size, hidden, encoder_layers, decoder_layers, share_embedding=share_embedding,
                classifier_rows=classifier_rows or vocab_size, pad=PAD, bos=BOS)


def beam_search(beam: int = BEAM_SIZE, max_length: int = MAX_LENGTH, *, alpha: float = LENGTH_NORM_FACTOR,
                norm_const: float = LENGTH_NORM_CONST, coverage: float = COVERAGE_PENALTY, bos: int = BOS,
                eos: int = EOS, pad: int = PAD) -> Any:
    """The reference's beam search (`.translate(module, sentences, device)` -> token ids per sentence); torch is
    imported then. podium.models._gnmt_beam says what it does."""
    from podium.models._gnmt_beam import BeamSearch

    if beam < 1 or max_length < 1:
        raise ConfigError(f"beam search needs a beam and a maximum length of at least 1, got {beam} and {max_length}")
    return BeamSearch(beam, max_length, alpha, norm_const, coverage, bos, eos, pad)


def build(state_dict: Mapping[str, Any] | None = None) -> Any:
    """The full-size network, or one sized by `state_dict`'s shapes (vocabulary, width, layers), its embeddings
    shared when the state dict's two are the same values."""
    if state_dict is None:
        return gnmt()
    return gnmt(**config_from(state_dict))


def config_from(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """gnmt()'s arguments for a state dict under the reference's keys (a ConfigError naming a missing key)."""
    import torch

    def get(key: str) -> Any:
        if key not in state_dict:
            raise ConfigError(f"not a GNMT state dict: no {key!r} (the reference checkpoint's keys are "
                              f"encoder.embedder.weight, encoder.rnn_layers.N.*, decoder.att_rnn.*, decoder.rnn_layers"
                              f".N.*, decoder.classifier.classifier.*)", key=key)
        return state_dict[key]

    embedding = get("encoder.embedder.weight")
    vocab, hidden = (int(n) for n in embedding.shape)
    encoder = _layer_count(state_dict, "encoder.rnn_layers")
    decoder = _layer_count(state_dict, "decoder.rnn_layers") + 1
    rows = int(get("decoder.classifier.classifier.weight").shape[0])
    other = state_dict.get("decoder.embedder.weight")
    shared = other is None or other is embedding or (other.shape == embedding.shape and torch.equal(other, embedding))
    return {"vocab_size": vocab, "hidden": hidden, "encoder_layers": encoder, "decoder_layers": decoder,
            "share_embedding": shared, "classifier_rows": rows}


def _layer_count(state_dict: Mapping[str, Any], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.weight_ih_l0$")
    found = {int(m.group(1)) for k in state_dict if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def build_tiny(state_dict: Mapping[str, Any] | None = None) -> Any:
    """The tiny suite's GNMT (`tiny-translation`): 2 + 2 LSTM layers of 64 over the generated language pair's
    vocabulary (TINY_VOCAB_SIZE), or sized by `state_dict` as `build`."""
    if state_dict is not None:
        return build(state_dict)
    return gnmt(TINY_VOCAB_SIZE, TINY_HIDDEN, TINY_LAYERS, TINY_LAYERS)


@MODELS.register("gnmt")
def _gnmt() -> Model:
    return Model("gnmt", build, (WARM_UP_TOKENS,), input_name="src", output_names=("logprobs",))


@MODELS.register("tiny-gnmt")
def _tiny_gnmt() -> Model:
    return Model("tiny-gnmt", build_tiny, (WARM_UP_TOKENS,), input_name="src", output_names=("logprobs",))
