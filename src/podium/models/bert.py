"""`bert`: BERT-Large for SQuAD question answering, whose state dict loads the MLPerf reference checkpoint's keys.

The network is Hugging Face's `BertForQuestionAnswering`, which the reference builds from language/bert/
bert_config.json (pytorch_SUT.py: 24 layers, hidden size 1024, 16 attention heads, intermediate size 4096, GELU,
vocabulary 30,522, 512 positions, 2 token types; layer norm epsilon 1e-12, the library's) and whose state dict is
the published `model.pytorch` (bert_tf_to_pytorch.py, transformers 2.4.0): `bert.embeddings.{word,position,
token_type}_embeddings.weight`, `bert.embeddings.LayerNorm.{weight,bias}`, per layer N
`bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}`, `...attention.output.dense`,
`...attention.output.LayerNorm`, `...intermediate.dense`, `...output.dense`, `...output.LayerNorm`, then
`bert.pooler.dense.{weight,bias}` (unused by question answering, present in that checkpoint) and
`qa_outputs.{weight,bias}` (2 x hidden: start and end). Later transformers releases save no pooler for this head
and may save a `bert.embeddings.position_ids` buffer: a build given a state dict follows it on both.

The forward takes (input_ids, input_mask, segment_ids), int64 (N, 384) each, in that order (the official ONNX
graph's inputs, exported from this module by bert_tf_to_pytorch.py with the same positional order), and answers
(output_start_logits, output_end_logits), float32 (N, 384) each: the official graph's outputs. Padding is masked
as the library does: -10000 added to the attention scores of masked keys. Written here (no transformers
dependency); `build(state_dict)` sizes the network by the state dict (layers counted from the keys, widths and
vocabulary from the shapes, heads = hidden / 64 as in every BERT configuration) so that a small configuration
under the same keys loads too (tests, the tiny suite).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Input, Model

SEQ_LENGTH = 384
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
OUTPUT_NAMES = ("output_start_logits", "output_end_logits")
HEAD_SIZE = 64  # hidden size per attention head in every BERT configuration (1024 / 16)
LAYER_NORM_EPS = 1e-12
MASKED_SCORE = -10000.0  # what transformers adds to the attention scores of padding
_LAYER_KEY = re.compile(r"^bert\.encoder\.layer\.(\d+)\.")


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT network (bert_config.json's fields); the default is BERT-Large's."""

    vocab_size: int = 30522
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    pooler: bool = True  # the reference checkpoint has one; question answering does not use it
    position_ids: bool = False  # a persistent `bert.embeddings.position_ids` buffer (some transformers releases)

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"bert: hidden size {self.hidden_size} is not a multiple of "
                              f"{self.num_attention_heads} heads", key="hidden_size")


LARGE = BertConfig()
SMALL = BertConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                   intermediate_size=128)  # a network of the same keys for tests
# The tiny suite's question answering (`tiny-qa`): the same architecture and keys, 2 layers of width 64 (one head),
# over features of 64 tokens and a vocabulary of 256 (the generated SQuAD data's vocab.txt has 204 lines).
TINY_SEQ_LENGTH = 64
TINY = BertConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=1, intermediate_size=128,
                  max_position_embeddings=TINY_SEQ_LENGTH, pooler=False)


def config_from_state_dict(state: Mapping[str, Any]) -> BertConfig:
    """The configuration whose network has `state`'s keys and shapes; a ConfigError naming the key it lacks."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ConfigError(f"bert: the state dict has no {key!r} (not a BertForQuestionAnswering state dict)",
                              key=key)
        return tuple(state[key].shape)

    vocab, hidden = shape("bert.embeddings.word_embeddings.weight")
    layers = {int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k))}
    if not layers or layers != set(range(len(layers))):
        raise ConfigError("bert: the state dict's encoder layers are not numbered 0..N-1", key="bert.encoder.layer")
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=len(layers),
                      num_attention_heads=max(1, hidden // HEAD_SIZE),
                      intermediate_size=shape("bert.encoder.layer.0.intermediate.dense.weight")[0],
                      max_position_embeddings=shape("bert.embeddings.position_embeddings.weight")[0],
                      type_vocab_size=shape("bert.embeddings.token_type_embeddings.weight")[0],
                      pooler="bert.pooler.dense.weight" in state,
                      position_ids="bert.embeddings.position_ids" in state)


def bert_for_question_answering(config: BertConfig = LARGE) -> Any:
    """The network, untrained: (input_ids, input_mask, segment_ids) int64 (N, L) -> start and end logits (N, L)."""
    import torch
    from torch import nn

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=LAYER_NORM_EPS)
            self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).unsqueeze(0),
                                 persistent=config.position_ids)

        def forward(self, input_ids: Any, segment_ids: Any) -> Any:
            table: Any = self.position_ids
            positions = table[:, :input_ids.shape[1]]
            x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + \
                self.token_type_embeddings(segment_ids)
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(config.hidden_size, config.hidden_size)
            self.key = nn.Linear(config.hidden_size, config.hidden_size)
            self.value = nn.Linear(config.hidden_size, config.hidden_size)

        def _heads(self, x: Any) -> Any:  # (N, L, H) -> (N, heads, L, H / heads)
            n, length, _ = x.shape
            return x.view(n, length, config.num_attention_heads, -1).transpose(1, 2)

        def forward(self, x: Any, mask_bias: Any) -> Any:
            q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
            scores = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5) + mask_bias
            context = torch.softmax(scores, dim=-1) @ v
            return context.transpose(1, 2).reshape(x.shape)

    class DenseNorm(nn.Module):
        """A dense layer whose output is added to the residual, then layer-normalized (BertSelfOutput,
        BertOutput)."""

        def __init__(self, width_in: int) -> None:
            super().__init__()
            self.dense = nn.Linear(width_in, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=LAYER_NORM_EPS)

        def forward(self, x: Any, residual: Any) -> Any:
            return self.LayerNorm(self.dense(x) + residual)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self = SelfAttention()
            self.output = DenseNorm(config.hidden_size)

        def forward(self, x: Any, mask_bias: Any) -> Any:
            return self.output(self.self(x, mask_bias), x)

    class Intermediate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

        def forward(self, x: Any) -> Any:
            return nn.functional.gelu(self.dense(x))  # the exact (erf) GELU: bert_config.json's "gelu"

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(config.intermediate_size)

        def forward(self, x: Any, mask_bias: Any) -> Any:
            attended = self.attention(x, mask_bias)
            return self.output(self.intermediate(attended), attended)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(config.num_hidden_layers))

        def forward(self, x: Any, mask_bias: Any) -> Any:
            for layer in self.layer:
                x = layer(x, mask_bias)
            return x

    class Pooler(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()
            if config.pooler:
                self.pooler = Pooler()

    class BertForQuestionAnswering(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.bert = Bert()
            self.qa_outputs = nn.Linear(config.hidden_size, 2)

        def forward(self, input_ids: Any, input_mask: Any, segment_ids: Any) -> tuple[Any, Any]:
            hidden = self.bert.embeddings(input_ids, segment_ids)
            # (N, 1, 1, L): 0 for tokens, -10000 for padding, added to every head's scores
            mask_bias = (1.0 - input_mask[:, None, None, :].to(hidden.dtype)) * MASKED_SCORE
            logits = self.qa_outputs(self.bert.encoder(hidden, mask_bias))
            start, end = logits.split(1, dim=-1)
            return start.squeeze(-1), end.squeeze(-1)

    return BertForQuestionAnswering()


def build(state_dict: Mapping[str, Any] | None = None) -> Any:
    """BERT-Large for question answering, untrained; given a state dict, the network of its keys and shapes."""
    return bert_for_question_answering(LARGE if state_dict is None else config_from_state_dict(state_dict))


def build_tiny(state_dict: Mapping[str, Any] | None = None) -> Any:
    """The tiny suite's BERT (TINY); given a state dict, the network of its keys and shapes."""
    return bert_for_question_answering(TINY if state_dict is None else config_from_state_dict(state_dict))


def build_small() -> Any:
    """A small network of the same keys (SMALL: 2 layers, hidden size 64), for tests."""
    return bert_for_question_answering(SMALL)


def _definition(name: str, factory: Any, length: int) -> Model:
    """A BERT question-answering definition over features of `length` tokens, named as the official graph."""
    return Model(name, build=factory, input_shape=(length,), input_name=INPUT_NAMES[0], output_names=OUTPUT_NAMES,
                 inputs=tuple(Input(n, (length,), "int64") for n in INPUT_NAMES))


@MODELS.register("bert")
def _bert() -> Model:
    return _definition("bert", build, SEQ_LENGTH)


@MODELS.register("tiny-bert")
def _tiny_bert() -> Model:
    return _definition("tiny-bert", build_tiny, TINY_SEQ_LENGTH)
