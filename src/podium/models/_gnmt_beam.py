"""Beam search over `gnmt` as the reference's SequenceGenerator.beam_search does it (rnn_translator/pytorch/seq2seq/
inference/beam_search.py), imported only when translating; the constants are podium.models.gnmt's BEAM_* ones.

Per decoding step, for the sentences still running: every beam proposes its `beam` best next tokens; a beam that
ended (its last token EOS) proposes EOS alone, at no cost, so finished hypotheses stay in the beam and compete;
the `beam` best sums of log-probabilities over the beam x beam proposals survive (at the first step, those of the
first beam only). A sentence ends when all its beams have ended: its scores are then divided by the length
normalization ((c + length) / (c + 1)) ** alpha and added the coverage penalty beta * sum(log(min(1, coverage)))
over source positions (log 0 counted as 0), and the best beam wins. A sentence still running after `max_length`
steps keeps its raw scores. Three of the reference's ways are kept so that a checkpoint translates as it did
there: the length counts <s> and the final EOS; the coverage (the attention summed over the steps, zero after EOS)
is kept per beam slot and not reordered with the hypotheses; and the last token is dropped as if it were EOS when a
translation hits `max_length` (the answer is tokens 1 .. length - 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from podium.models._gnmt_net import GNMT, Context


@dataclass(frozen=True)
class BeamSearch:
    """The search's settings: beam size, steps at most (the reference counts <s> in its 80), length
    normalization factor and constant, coverage penalty factor, and the special token ids."""

    beam: int
    max_length: int
    alpha: float
    norm_const: float
    coverage: float
    bos: int
    eos: int
    pad: int

    def translate(self, model: GNMT, sentences: Sequence[np.ndarray], device: torch.device) -> list[np.ndarray]:
        """The best translation of each sentence (1-D token ids, <s> and EOS included as the reference feeds
        them), as token ids without <s> and EOS, int64."""
        src, lengths = self._batch(sentences, device)
        context = model.encode(src, lengths)
        tokens, lengths_out = self._search(model, context, len(sentences), lengths)
        return [tokens[i, 1:max(1, int(lengths_out[i]) - 1)].cpu().numpy().astype(np.int64)
                for i in range(len(sentences))]

    def _batch(self, sentences: Sequence[np.ndarray], device: torch.device) -> tuple[Tensor, Tensor]:
        lengths = [len(s) for s in sentences]
        src = np.full((len(sentences), max(lengths)), self.pad, dtype=np.int64)
        for i, s in enumerate(sentences):
            src[i, :len(s)] = s
        return torch.from_numpy(src).to(device), torch.tensor(lengths, dtype=torch.int64)

    def _search(self, model: GNMT, context: Context, n: int, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(tokens (n, max_length), lengths (n,)) of each sentence's best beam."""
        beam, device = self.beam, context.outputs.device
        rows = torch.arange(n, device=device).repeat_interleave(beam)
        context = context.select(rows)
        slots = torch.arange(n * beam, device=device)  # the beam slots still running, sentence-major
        tokens = torch.full((n * beam, self.max_length), self.pad, dtype=torch.int64, device=device)
        tokens[:, 0] = self.bos
        lengths = torch.ones(n * beam, dtype=torch.int64, device=device)
        scores = torch.zeros(n * beam, dtype=torch.float32, device=device)
        coverage = torch.zeros(n * beam, context.outputs.shape[1], dtype=torch.float32, device=device)
        words = torch.full((n * beam,), self.bos, dtype=torch.int64, device=device)
        ended_fill = torch.full((beam,), float("-inf"), device=device)
        ended_fill[0] = 0.0
        for step in range(1, self.max_length):
            if len(slots) == 0:
                break
            running = len(slots) // beam
            ended = (words == self.eos).view(running, beam)
            finishing = ended.all(dim=1)
            lengths[slots[~ended.view(-1)]] += 1
            logits, attention, context = model.decode(words.view(-1, 1), context)
            logprobs, candidates = torch.log_softmax(logits[:, 0].float(), dim=-1).topk(beam, dim=-1)
            coverage[slots] += attention[:, 0].float().masked_fill(ended.view(-1, 1), 0.0)
            candidates = candidates.view(running, beam, beam).masked_fill(ended.unsqueeze(2), self.eos)
            logprobs = logprobs.view(running, beam, beam)
            logprobs[ended] = ended_fill
            totals = scores[slots].view(running, beam, 1) + logprobs
            if step == 1:
                totals[:, 1:, :] = float("-inf")
            best, index = totals.view(running, beam * beam).topk(beam, dim=1)
            source = index // beam + torch.arange(0, running * beam, beam, device=device).unsqueeze(1)
            scores[slots] = best.view(-1)
            words = candidates.view(running, beam * beam).gather(1, index).view(-1)
            origin = slots[source.view(-1)]
            tokens[slots] = tokens[origin]
            tokens[slots, step] = words
            lengths[slots] = lengths[origin]
            context = context.select(source.view(-1))
            if finishing.any():
                self._finish(slots.view(running, beam)[finishing].view(-1), lengths, scores, coverage)
                keep = (~finishing).repeat_interleave(beam)
                kept = keep.nonzero().view(-1)
                words, slots, context = words[kept], slots[kept], context.select(kept)
        best_beam = scores.view(n, beam).argmax(dim=1) + torch.arange(0, n * beam, beam, device=device)
        return tokens[best_beam], lengths[best_beam]

    def _finish(self, done: Tensor, lengths: Tensor, scores: Tensor, coverage: Tensor) -> None:
        """Length normalization and coverage penalty of the beam slots `done` (their sentences ended)."""
        norm = ((self.norm_const + lengths[done].float()) / (self.norm_const + 1.0)) ** self.alpha
        scores[done] /= norm
        penalty = coverage[done].clamp(0.0, 1.0).log()
        penalty[penalty == float("-inf")] = 0.0
        scores[done] += self.coverage * penalty.sum(dim=-1)
