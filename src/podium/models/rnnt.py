"""`rnnt`: MLPerf Inference's RNN-T (LibriSpeech), whose state dict loads the reference checkpoint's keys as published.

Facts from the reference (mlcommons/inference retired_benchmarks/speech_recognition/rnnt/pytorch: configs/rnnt.toml,
parts/features.py, model_separable_rnnt.py, rnn.py, decoders.py, and the SUT's `load_and_migrate_checkpoint`):

Features (`[input_eval]` of rnnt.toml; FilterbankFeatures' defaults where the config is silent): 16 kHz audio,
pre-emphasis x[0], x[t] - 0.97 x[t-1]; an STFT of n_fft 512, window 0.02 s (320 samples: a symmetric Hann window,
`periodic=False`, centred in the 512-point frame), hop 0.01 s (160 samples), `center=True` with reflect padding;
the power spectrum plus dither² (dither 1e-5 in "deterministic" mode: a constant 1e-10 added, no noise); 80 mel
filters (librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=0, fmax=8000): the Slaney mel scale and Slaney
area normalization, rebuilt here in numpy, `mel_filterbank`); log(x + 1e-20); frame splicing 3 (each frame stacked
with the next two, zeros past the end, then every third frame kept: 240 features); per-feature normalization over
the utterance's first ceil(ceil(samples / 160) / 3) frames (mean, unbiased std + 1e-5; the reference adds 1e-5 once
per row of its batch inside its loop, and its SUT runs batches of one: added once here), then cut to that length.

Network (`[rnnt]`): encoder pre_rnn, a 2-layer LSTM 240 -> 1024; StackTime factor 2 (pairs of frames concatenated,
a zero frame after an odd count: lengths ceil(T / 2)); post_rnn, a 3-layer LSTM 2048 -> 1024. Prediction network: an
embedding of the 28 characters (the blank has none) to 320, a 2-layer LSTM 320 -> 320; the start symbol feeds a zero
vector and the zero state. Joint: concat(encoder 1024, prediction 320) -> Linear 512 -> ReLU -> Dropout(0.32, off in
eval) -> Linear 29. Vocabulary: space, a-z, apostrophe (ids 0-27) and the blank (28), `LABELS`.

Keys: the published `rnnt.pt` (DistributedDataParallel_1576581068.9962234-epoch-100.pt) keeps them under
"state_dict", without "module." prefixes: `audio_preprocessor.featurizer.fb` (1, 80, 257) and `.window` (320),
`encoder.pre_rnn.lstm.weight_ih_l0` ... `encoder.post_rnn.lstm.bias_hh_l2`, `prediction.embed.weight` (28, 320),
`prediction.dec_rnn.lstm.*_l0/_l1`, `joint_net.0.weight` (512, 1344), `joint_net.3.weight` (29, 512) and biases.
This module carries exactly those keys, so the checkpoint loads strictly as published (the reference SUT renames
joint_net to joint.net and drops the two feature buffers, recomputing the same filterbank with librosa; loading
the checkpoint's copies here gives the same values). `build(state_dict=...)` sizes every part by the state dict's
shapes (mel filters, FFT size, window, widths, layer counts, vocabulary), so a small configuration under the same
keys serves too (tests, the tiny suite).

`greedy_decode` is the reference's ScriptGreedyDecoder: per encoder frame, up to 30 symbols; the joint's argmax;
a blank ends the frame, a symbol is emitted and only then does the prediction network's state advance. It decodes
a batch of utterances together, each exactly as the reference decodes it alone. torch is imported inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Model

SAMPLE_RATE = 16000
WINDOW_S = 0.02
HOP_S = 0.01
N_FFT = 512
MEL_FILTERS = 80
PREEMPHASIS = 0.97
DITHER = 1e-5  # deterministic: dither**2 is added to the power spectrum
LOG_GUARD = 1e-20
NORM_GUARD = 1e-5
FRAME_SPLICING = 3
ENCODER_HIDDEN = 1024
PRE_RNN_LAYERS = 2
STACK_TIME = 2
POST_RNN_LAYERS = 3
PRED_HIDDEN = 320
PRED_RNN_LAYERS = 2
JOINT_HIDDEN = 512
DROPOUT = 0.32
FORGET_GATE_BIAS = 1.0
MAX_SYMBOLS_PER_STEP = 30
LABELS = (" ", *"abcdefghijklmnopqrstuvwxyz", "'")  # rnnt.toml [labels]; the blank comes after them
BLANK = len(LABELS)  # 28
CLASSES = len(LABELS) + 1  # 29
WARM_UP_SAMPLES = SAMPLE_RATE  # the definition's input shape: one second (utterances have any length)


# --- the mel filterbank (librosa.filters.mel's defaults: Slaney scale, Slaney normalization) ------------------

def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic (27 mel per factor 6.4) above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.asarray(np.where(hz >= 1000.0, log_part, linear))


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.asarray(np.where(mel >= 15.0, log_part, linear))


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = MEL_FILTERS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, each of unit area in Hz (librosa's norm="slaney")."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


# --- the network ----------------------------------------------------------------------------------------------

def _lstm(torch: Any, inputs: int, hidden: int, layers: int) -> Any:
    """The reference's LstmDrop: an nn.LSTM under `.lstm`, forget-gate bias 1 on the input side, 0 on the hidden."""
    from torch import nn

    class LstmDrop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(input_size=inputs, hidden_size=hidden, num_layers=layers, dropout=DROPOUT
                                if layers > 1 else 0.0)
            with torch.no_grad():
                for name, value in self.lstm.named_parameters():
                    if name.startswith("bias_ih"):
                        value[hidden:2 * hidden].fill_(FORGET_GATE_BIAS)
                    elif name.startswith("bias_hh"):
                        value[hidden:2 * hidden].fill_(0.0)

        def forward(self, x: Any, state: Any = None) -> Any:
            return self.lstm(x, state)

    return LstmDrop()


def rnnt(*, mel_filters: int = MEL_FILTERS, n_fft: int = N_FFT, window_samples: int = int(SAMPLE_RATE * WINDOW_S),
         encoder_hidden: int = ENCODER_HIDDEN, pre_layers: int = PRE_RNN_LAYERS, post_layers: int = POST_RNN_LAYERS,
         pred_hidden: int = PRED_HIDDEN, pred_layers: int = PRED_RNN_LAYERS, joint_hidden: int = JOINT_HIDDEN,
         classes: int = CLASSES) -> Any:
    """The network, untrained, at the reference's size by default. Its forward takes waveforms (B, samples) float32
    of equal length and answers the encoder's output (B, T', encoder_hidden); the predictor drives the parts."""
    import torch
    from torch import nn

    class FilterbankFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hop = int(SAMPLE_RATE * HOP_S)
            self.n_fft = n_fft
            self.fb: Any
            self.window: Any
            fb = torch.from_numpy(mel_filterbank(SAMPLE_RATE, n_fft, mel_filters)).unsqueeze(0)
            self.register_buffer("fb", fb)
            self.register_buffer("window", torch.hann_window(window_samples, periodic=False))

        def frames(self, samples: Any) -> Any:
            """Feature frames kept of utterances of `samples` (the reference's get_seq_len)."""
            return ((samples + self.hop - 1) // self.hop + FRAME_SPLICING - 1) // FRAME_SPLICING

        def forward(self, waveform: Any, samples: Any) -> tuple[Any, Any]:
            """(B, S) waveforms (rows of `samples` samples) -> (features (B, F * 3, T), frames (B,))."""
            lengths = self.frames(samples)
            x = torch.cat((waveform[:, :1], waveform[:, 1:] - PREEMPHASIS * waveform[:, :-1]), dim=1)
            spectrum = torch.stft(x, n_fft=self.n_fft, hop_length=self.hop, win_length=self.window.shape[0],
                                  center=True, window=self.window, return_complex=True)
            power = torch.view_as_real(spectrum).pow(2).sum(-1) + DITHER ** 2
            x = torch.log(torch.matmul(self.fb, power) + LOG_GUARD)
            stacked = [x]
            for n in range(1, FRAME_SPLICING):
                shifted = torch.zeros_like(x)
                shifted[:, :, :-n] = x[:, :, n:]
                stacked.append(shifted)
            x = torch.cat(stacked, dim=1)[:, :, ::FRAME_SPLICING]
            mean = torch.stack([x[i, :, :int(n)].mean(dim=1) for i, n in enumerate(lengths)])
            std = torch.stack([x[i, :, :int(n)].std(dim=1) for i, n in enumerate(lengths)]) + NORM_GUARD
            x = (x - mean.unsqueeze(2)) / std.unsqueeze(2)
            return x[:, :, :int(lengths.max())], lengths

    class AudioPreprocessing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.featurizer = FilterbankFeatures()

        def forward(self, waveform: Any, samples: Any) -> tuple[Any, Any]:
            return self.featurizer(waveform, samples)  # type: ignore[no-any-return]

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre_rnn = _lstm(torch, mel_filters * FRAME_SPLICING, encoder_hidden, pre_layers)
            self.post_rnn = _lstm(torch, STACK_TIME * encoder_hidden, encoder_hidden, post_layers)

        def forward(self, features: Any, lengths: Any) -> tuple[Any, Any]:
            """(T, B, F) features, (B,) frames -> ((B, T', H) encoded, (B,) lengths ceil(frames / 2)).

            Outputs of the pre-rnn past each row's length are zeroed before frames are stacked, so that each row's
            valid outputs are those it has alone (the reference pads an odd count with a zero frame)."""
            x, _ = self.pre_rnn(features)
            steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
            x = x * (steps < lengths.to(x.device).unsqueeze(0)).unsqueeze(2).to(x.dtype)
            if x.shape[0] % STACK_TIME:
                x = torch.cat([x, x.new_zeros(STACK_TIME - x.shape[0] % STACK_TIME, *x.shape[1:])])
            t, b, h = x.shape
            x = x.transpose(0, 1).reshape(b, t // STACK_TIME, h * STACK_TIME).transpose(0, 1)
            x, _ = self.post_rnn(x)
            return x.transpose(0, 1), (lengths + STACK_TIME - 1) // STACK_TIME

    class Prediction(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(classes - 1, pred_hidden)
            self.dec_rnn = _lstm(torch, pred_hidden, pred_hidden, pred_layers)

        def forward(self, symbols: Any, state: Any = None) -> tuple[Any, Any]:
            """(B,) last symbols (-1: the start symbol, a zero vector) and the (h, c) state -> ((B, H), state);
            or (B, U) symbol sequences (training: the start symbol then the targets) -> ((B, U, H), state)."""
            steps = symbols if symbols.dim() == 2 else symbols.unsqueeze(1)
            start = (steps < 0).unsqueeze(2)
            y = self.embed(steps.clamp(min=0)) * (~start).to(self.embed.weight.dtype)
            out, state = self.dec_rnn(y.transpose(0, 1), state)
            return (out.transpose(0, 1) if symbols.dim() == 2 else out[0]), state

    class RNNT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.audio_preprocessor = AudioPreprocessing()
            self.encoder = Encoder()
            self.prediction = Prediction()
            self.joint_net = nn.Sequential(nn.Linear(encoder_hidden + pred_hidden, joint_hidden), nn.ReLU(),
                                           nn.Dropout(DROPOUT), nn.Linear(joint_hidden, classes))

        def joint(self, encoded: Any, predicted: Any) -> Any:
            """(B, H_enc) and (B, H_pred) -> (B, classes) logits (the encoder's state first, as the reference)."""
            return self.joint_net(torch.cat([encoded, predicted], dim=-1))

        def encode(self, waveforms: Sequence[Any]) -> tuple[Any, Any]:
            """Utterances (1-D float32 tensors of any lengths) -> ((B, T', H) encoded, (B,) lengths): features of
            each alone (the reference's batches of one), the encoder over them padded together."""
            feats, lengths = [], []
            for wave in waveforms:
                f, n = self.audio_preprocessor(wave.unsqueeze(0), torch.tensor([wave.shape[0]], device=wave.device))
                feats.append(f[0].transpose(0, 1))
                lengths.append(n[0])
            padded = nn.utils.rnn.pad_sequence(feats)  # (T, B, F)
            return self.encoder(padded, torch.stack(lengths))  # type: ignore[no-any-return]

        def forward(self, waveform: Any) -> Any:
            samples = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.int64, device=waveform.device)
            features, lengths = self.audio_preprocessor(waveform, samples)
            encoded, _ = self.encoder(features.permute(2, 0, 1), lengths)
            return encoded

    return RNNT()


def greedy_decode(module: Any, encoded: Any, lengths: Any, max_symbols: int = MAX_SYMBOLS_PER_STEP
                  ) -> list[list[int]]:
    """The reference's greedy transducer decoding of a batch: (B, T, H) encoder output and (B,) lengths -> each
    utterance's symbol ids. Per frame, the joint of the frame and the prediction network's output is taken up to
    `max_symbols` times: its argmax, when not the blank, is emitted and fed to the prediction network (whose state
    advances only then); a blank, or the limit, moves to the next frame."""
    import torch

    batch, device = encoded.shape[0], encoded.device
    blank = module.joint_net[-1].out_features - 1
    lengths = lengths.to(device)
    out: list[list[int]] = [[] for _ in range(batch)]
    predicted, state = module.prediction(torch.full((batch,), -1, dtype=torch.int64, device=device))
    for t in range(int(lengths.max()) if batch else 0):
        active = lengths > t
        emitted = torch.zeros(batch, dtype=torch.int64, device=device)
        while bool(active.any()):
            symbols = module.joint(encoded[:, t], predicted).argmax(dim=-1)
            emit = active & (symbols != blank)
            emitted += active.to(torch.int64)
            rows = emit.nonzero().flatten()
            if len(rows):
                for row, symbol in zip(rows.tolist(), symbols[rows].tolist()):
                    out[row].append(int(symbol))
                new_out, (h, c) = module.prediction(symbols[rows], (state[0][:, rows], state[1][:, rows]))
                predicted = predicted.index_copy(0, rows, new_out)
                state = (state[0].index_copy(1, rows, h), state[1].index_copy(1, rows, c))
            active = emit & (emitted < max_symbols)
    return out


def transcript(ids: Sequence[int]) -> str:
    """Symbol ids -> text (the reference's labels map); a ValueError for an id outside the 28 characters."""
    values = [int(i) for i in ids]
    bad = [i for i in values if not 0 <= i < len(LABELS)]
    if bad:
        raise ValueError(f"symbol ids must be 0..{len(LABELS) - 1} (the blank, {BLANK}, is never emitted); got "
                         f"{bad[:3]}")
    return "".join(LABELS[i] for i in values)


def symbol_ids(text: str) -> list[int]:
    """Text -> symbol ids, characters outside the vocabulary dropped (the reference's parse_transcript)."""
    index = {c: i for i, c in enumerate(LABELS)}
    return [index[c] for c in text if c in index]


def transducer_loss(logits: Any, targets: Any, frames: Any, target_lengths: Any, blank: int) -> Any:
    """The RNN-T loss (Graves 2012): -log P(y | x) summed over every alignment, per utterance, in log space.

    `logits` (B, T, U + 1, V) are the joint's for each encoder frame and each prefix of the targets, `targets`
    (B, U) int64 symbol ids (padded), `frames` (B,) and `target_lengths` (B,) the valid sizes. The forward variable
    alpha(t, u) = logaddexp(alpha(t - 1, u) + blank(t - 1, u), alpha(t, u - 1) + y(t, u - 1)) is computed a frame
    at a time: within a frame the symbol steps form a linear recurrence, solved with a cumulative sum and
    `logcumsumexp`, so autograd differentiates it. Returns (B,) losses (torchaudio is not required)."""
    import torch

    logp = logits.float().log_softmax(dim=-1)
    batch, steps, prefixes, _ = logp.shape
    blank_lp = logp[..., blank]  # (B, T, U + 1)
    index = targets.clamp(min=0)[:, None, :, None].expand(batch, steps, prefixes - 1, 1)
    symbol_lp = torch.gather(logp[:, :, :-1, :], 3, index).squeeze(3)  # (B, T, U)
    zero = logp.new_zeros(batch, 1)
    impossible = torch.finfo(logp.dtype).min / 4
    carried = torch.cat([zero, logp.new_full((batch, prefixes - 1), impossible)], dim=1)
    rows: list[Any] = []
    for t in range(steps):
        if t:
            carried = rows[-1] + blank_lp[:, t - 1]
        cumulative = torch.cat([zero, symbol_lp[:, t].cumsum(dim=1)], dim=1)
        rows.append(cumulative + torch.logcumsumexp(carried - cumulative, dim=1))
    alpha = torch.stack(rows, dim=1)  # (B, T, U + 1)
    rows_b = torch.arange(batch, device=logp.device)
    last, length = frames.to(logp.device).long() - 1, target_lengths.to(logp.device).long()
    return -(alpha[rows_b, last, length] + blank_lp[rows_b, last, length])


# --- sizing by a state dict --------------------------------------------------------------------------------------

def _layers(state: Mapping[str, Any], prefix: str) -> int:
    return sum(1 for k in state if k.startswith(f"{prefix}.lstm.weight_ih_l"))


def sizes_from(state: Mapping[str, Any]) -> dict[str, int]:
    """The `rnnt()` keyword arguments a state dict's shapes imply; a ConfigError naming a missing key."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ConfigError(f"rnnt state dict has no {key!r} (the reference checkpoint's keys)", key=key)
        return tuple(int(n) for n in state[key].shape)

    fb = shape("audio_preprocessor.featurizer.fb")
    return {"mel_filters": fb[1], "n_fft": (fb[2] - 1) * 2,
            "window_samples": shape("audio_preprocessor.featurizer.window")[0],
            "encoder_hidden": shape("encoder.pre_rnn.lstm.weight_hh_l0")[1],
            "pre_layers": _layers(state, "encoder.pre_rnn"), "post_layers": _layers(state, "encoder.post_rnn"),
            "pred_hidden": shape("prediction.embed.weight")[1],
            "pred_layers": _layers(state, "prediction.dec_rnn"),
            "joint_hidden": shape("joint_net.0.weight")[0], "classes": shape("joint_net.3.weight")[0]}


def build(state_dict: Mapping[str, Any] | None = None) -> Any:
    """The reference's RNN-T untrained, or sized by `state_dict`'s shapes (the same keys, smaller widths)."""
    return rnnt(**sizes_from(state_dict)) if state_dict is not None else rnnt()


# The tiny suite's RNN-T (`tiny-speech`): the reference's architecture and features, narrower and shallower.
TINY = {"encoder_hidden": 64, "pre_layers": 1, "post_layers": 1, "pred_hidden": 32, "pred_layers": 1,
        "joint_hidden": 64}


def build_tiny(state_dict: Mapping[str, Any] | None = None) -> Any:
    """The tiny suite's RNN-T untrained (`TINY`), or sized by `state_dict`'s shapes."""
    return rnnt(**sizes_from(state_dict)) if state_dict is not None else rnnt(**TINY)


@MODELS.register("tiny-rnnt")
def _tiny_rnnt() -> Model:
    return Model("tiny-rnnt", build=build_tiny, input_shape=(WARM_UP_SAMPLES,), input_name="waveform",
                 output_names=("encoded",))


@MODELS.register("rnnt")
def _rnnt() -> Model:
    return Model("rnnt", build=build, input_shape=(WARM_UP_SAMPLES,), input_name="waveform",
                 output_names=("encoded",))
