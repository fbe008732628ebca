"""The torch side of `gnmt` (imported only when the network is built): encoder, attention, decoder, and the
decoder's state between steps. Names of modules and parameters are the reference's (podium.models.gnmt says
which); the computation is its, batch first, with the attention's key projection computed once per sentence
instead of once per step (the same numbers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ATTENTION_MASK = -65504.0  # the reference's score of a masked source position (fp16's lowest)

LSTMState = tuple[Tensor, Tensor]


@dataclass
class Context:
    """What the decoder attends to, for a batch of rows (sentences, or sentences x beams): the encoder's outputs
    (N, S, H), their key projection (N, S, H), the mask of positions beyond each length (N, S), and the decoder
    LSTMs' states (one (h, c) per layer, each (1, N, H); None before the first step)."""

    outputs: Tensor
    keys: Tensor
    padding: Tensor
    states: list[LSTMState] | None = None

    def select(self, rows: Tensor) -> Context:
        """The rows `rows` (an index tensor) of everything, in that order (beams reordered, sentences dropped)."""
        states = None if self.states is None else [(h.index_select(1, rows), c.index_select(1, rows))
                                                   for h, c in self.states]
        return Context(self.outputs.index_select(0, rows), self.keys.index_select(0, rows),
                       self.padding.index_select(0, rows), states)


class BahdanauAttention(nn.Module):
    """Normalized Bahdanau attention: scores g * a/|a| . tanh(W_q q + W_k k + b), masked, softmax over the source."""

    def __init__(self, query_size: int, key_size: int, units: int) -> None:
        super().__init__()
        self.linear_q = nn.Linear(query_size, units, bias=False)
        self.linear_k = nn.Linear(key_size, units, bias=False)
        self.linear_att = nn.Parameter(torch.empty(units))
        self.normalize_scalar = nn.Parameter(torch.empty(1))
        self.normalize_bias = nn.Parameter(torch.empty(units))
        bound = 1.0 / math.sqrt(units)  # the reference's reset_parameters
        with torch.no_grad():
            self.linear_att.uniform_(-bound, bound)
            self.normalize_scalar.fill_(bound)
            self.normalize_bias.zero_()

    def forward(self, query: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        """query (N, T, Hq) -> (attention context (N, T, H), scores (N, T, S))."""
        q = self.linear_q(query).unsqueeze(2)  # (N, T, 1, U)
        k = context.keys.unsqueeze(1)  # (N, 1, S, U)
        direction = self.linear_att.float()
        v = (direction / direction.norm()).to(self.normalize_scalar.dtype) * self.normalize_scalar
        scores = torch.tanh(q + k + self.normalize_bias).matmul(v.to(q.dtype))  # (N, T, S)
        scores = scores.masked_fill(context.padding.unsqueeze(1), ATTENTION_MASK)
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights, context.outputs.to(weights.dtype)), weights


class RecurrentAttention(nn.Module):
    """The decoder's first LSTM and the attention its outputs query."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.attn = BahdanauAttention(hidden, hidden, hidden)


class Classifier(nn.Module):
    """A linear layer to the vocabulary; rows beyond it (fp16 training pads to a multiple of 8) are cut off."""

    def __init__(self, hidden: int, vocab_size: int, rows: int) -> None:
        super().__init__()
        self.out_features = vocab_size
        self.classifier = nn.Linear(hidden, rows)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(x)
        return out[..., :self.out_features]


class Encoder(nn.Module):
    """Embedding, a bidirectional LSTM, a unidirectional one, then residual unidirectional ones."""

    def __init__(self, embedder: nn.Embedding, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn_layers = nn.ModuleList([nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True),
                                         nn.LSTM(2 * hidden, hidden, batch_first=True)])
        self.rnn_layers.extend(nn.LSTM(hidden, hidden, batch_first=True) for _ in range(layers - 2))
        self.dropout = nn.Dropout(dropout)
        self.embedder = embedder

    def forward(self, src: Tensor, lengths: Tensor) -> Tensor:
        """src (N, S) token ids, lengths (N,) -> outputs (N, S, H) (positions beyond a length: see the mask)."""
        x = self.embedder(src)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = pad_packed_sequence(self.rnn_layers[0](packed)[0], batch_first=True, total_length=src.shape[1])
        x, _ = self.rnn_layers[1](self.dropout(x))
        for layer in self.rnn_layers[2:]:
            x = x + layer(self.dropout(x))[0]
        out: Tensor = x
        return out


class Decoder(nn.Module):
    """The attention LSTM, LSTMs fed [output, attention context] (residual from the second), the classifier."""

    def __init__(self, embedder: nn.Embedding, vocab_size: int, hidden: int, layers: int, classifier_rows: int,
                 dropout: float) -> None:
        super().__init__()
        self.att_rnn = RecurrentAttention(hidden)
        self.rnn_layers = nn.ModuleList(nn.LSTM(2 * hidden, hidden, batch_first=True) for _ in range(layers - 1))
        self.embedder = embedder
        self.classifier = Classifier(hidden, vocab_size, classifier_rows)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: Tensor, context: Context) -> tuple[Tensor, Tensor, Context]:
        """tokens (N, T) -> (logits (N, T, vocab), attention scores (N, T, S), the context with the new states).
        T is the whole target when teacher-forced, 1 per step when decoding."""
        states: list[LSTMState | None] = list(context.states) if context.states else [None] * (1 + len(self.rnn_layers))
        new: list[LSTMState] = []
        x, state = self.att_rnn.rnn(self.embedder(tokens), states[0])
        new.append(state)
        attention, scores = self.att_rnn.attn(x, context)
        x = self.dropout(x)
        for i, layer in enumerate(self.rnn_layers):
            out, state = layer(torch.cat((x if i == 0 else self.dropout(x), attention.to(x.dtype)), dim=2),
                               states[i + 1])
            new.append(state)
            x = out if i == 0 else out + x
        logits = self.classifier(x)
        return logits, scores, Context(context.outputs, context.keys, context.padding, new)


class GNMT(nn.Module):
    """Encoder and decoder; see podium.models.gnmt."""

    def __init__(self, vocab_size: int, hidden: int, encoder_layers: int, decoder_layers: int, *,
                 share_embedding: bool, classifier_rows: int, pad: int, bos: int, dropout: float = 0.2) -> None:
        super().__init__()
        shared = nn.Embedding(vocab_size, hidden, padding_idx=pad)
        self.encoder = Encoder(shared, hidden, encoder_layers, dropout)
        self.decoder = Decoder(shared if share_embedding else nn.Embedding(vocab_size, hidden, padding_idx=pad),
                               vocab_size, hidden, decoder_layers, classifier_rows, dropout)
        self.vocab_size, self.bos = vocab_size, bos

    def encode(self, src: Tensor, lengths: Tensor) -> Context:
        """The decoder's context for sentences src (N, S) of `lengths` (N,)."""
        outputs = self.encoder(src, lengths)
        keys = self.decoder.att_rnn.attn.linear_k(outputs)
        positions = torch.arange(src.shape[1], device=src.device)
        return Context(outputs, keys, positions.unsqueeze(0) >= lengths.to(src.device).unsqueeze(1))

    def decode(self, tokens: Tensor, context: Context) -> tuple[Tensor, Tensor, Context]:
        result: tuple[Tensor, Tensor, Context] = self.decoder(tokens, context)
        return result

    def teacher_forced(self, src: Tensor, lengths: Tensor, target_in: Tensor) -> Tensor:
        """Logits (N, T, vocab) of each next target token, given the target so far (training)."""
        return self.decode(target_in, self.encode(src, lengths))[0]

    def forward(self, src: Tensor, lengths: Tensor | None = None, target_in: Tensor | None = None) -> Tensor:
        """Log-probabilities (N, vocab) of the first target token of sentences src (N, S), every position counted;
        with `lengths` and `target_in` (training, through a data-parallel wrapper too): the teacher-forced
        logits (N, T, vocab)."""
        if lengths is not None and target_in is not None:
            return self.teacher_forced(src, lengths, target_in)
        src = src.long()
        lengths = torch.full((src.shape[0],), src.shape[1], dtype=torch.int64)
        bos = torch.full((src.shape[0], 1), self.bos, dtype=torch.int64, device=src.device)
        logits = self.decode(bos, self.encode(src, lengths))[0]
        return torch.log_softmax(logits[:, 0].float(), dim=-1)
