"""The `rnnt` model: the reference checkpoint's keys and shapes, sizing by a state dict, the log-mel features against
an independent numpy computation of the reference's pipeline, the encoder's time stacking and batching, and the
batched greedy decoding against a per-utterance loop written as the reference's ScriptGreedyDecoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.rnnt import (
    BLANK,
    CLASSES,
    LABELS,
    build,
    greedy_decode,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    rnnt,
    sizes_from,
    symbol_ids,
    transcript,
)

torch = pytest.importorskip("torch")


def lstm_keys(prefix: str, inputs: int, hidden: int, layers: int) -> dict[str, tuple[int, ...]]:
    keys = {}
    for n in range(layers):
        keys |= {f"{prefix}.lstm.weight_ih_l{n}": (4 * hidden, inputs if n == 0 else hidden),
                 f"{prefix}.lstm.weight_hh_l{n}": (4 * hidden, hidden),
                 f"{prefix}.lstm.bias_ih_l{n}": (4 * hidden,), f"{prefix}.lstm.bias_hh_l{n}": (4 * hidden,)}
    return keys


# The published rnnt.pt's checkpoint["state_dict"] (DistributedDataParallel_1576581068.9962234-epoch-100.pt).
REFERENCE_KEYS = {
    "audio_preprocessor.featurizer.fb": (1, 80, 257), "audio_preprocessor.featurizer.window": (320,),
    **lstm_keys("encoder.pre_rnn", 240, 1024, 2), **lstm_keys("encoder.post_rnn", 2048, 1024, 3),
    "prediction.embed.weight": (28, 320), **lstm_keys("prediction.dec_rnn", 320, 320, 2),
    "joint_net.0.weight": (512, 1344), "joint_net.0.bias": (512,), "joint_net.3.weight": (29, 512),
    "joint_net.3.bias": (29,),
}
SMALL = {"mel_filters": 16, "encoder_hidden": 24, "pre_layers": 1, "post_layers": 2, "pred_hidden": 12,
         "pred_layers": 1, "joint_hidden": 20}


def small(seed: int = 0, **sizes: Any) -> Any:
    torch.manual_seed(seed)
    return rnnt(**(SMALL | sizes)).eval()


def test_full_size_has_the_reference_checkpoints_keys_and_shapes() -> None:
    definition = MODELS.get("rnnt")
    assert definition.reference == "podium.models.rnnt:build"
    state = build().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == REFERENCE_KEYS
    assert LABELS[0] == " " and LABELS[27] == "'" and (BLANK, CLASSES) == (28, 29)
    # the reference's forget-gate initialization: 1 on the input bias, 0 on the hidden bias
    assert float(state["encoder.pre_rnn.lstm.bias_ih_l0"][1024:2048].min()) == 1.0
    assert float(state["encoder.pre_rnn.lstm.bias_hh_l0"][1024:2048].abs().max()) == 0.0


def test_build_is_sized_by_a_state_dict() -> None:
    state = small().state_dict()
    assert sizes_from(state) == SMALL | {"n_fft": 512, "window_samples": 320, "classes": 29}
    sized = build(state_dict=state)
    sized.load_state_dict(state, strict=True)
    with pytest.raises(ConfigError, match="no 'joint_net.3.weight'"):
        sizes_from({k: v for k, v in state.items() if k != "joint_net.3.weight"})


def test_mel_scale_and_filterbank_are_librosas_slaney_defaults() -> None:
    assert float(hz_to_mel(np.array(1000.0))) == pytest.approx(15.0)
    assert float(hz_to_mel(np.array(6400.0))) == pytest.approx(42.0)  # 27 mel per factor 6.4 above 1 kHz
    assert float(hz_to_mel(np.array(200.0))) == pytest.approx(3.0)
    hz = np.array([0.0, 300.0, 999.0, 1000.0, 4321.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-9)
    fb = mel_filterbank()
    assert fb.shape == (80, 257) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, independent_filterbank(), rtol=1e-5, atol=1e-9)
    # Slaney normalization: each triangle has unit area over frequency (Hz), up to the bin sampling (coarse for
    # the narrow low filters)
    areas = fb.sum(axis=1) * (16000 / 512)
    assert np.abs(areas[40:] - 1.0).max() < 0.02 and abs(areas.mean() - 1.0) < 0.02


def independent_filterbank() -> np.ndarray:
    """Triangles between consecutive points of 82 equally spaced Slaney mels from 0 to 8000 Hz, height 2/(hi - lo)."""
    def to_hz(m: float) -> float:
        return 200.0 * m / 3 if m < 15 else 1000.0 * 6.4 ** ((m - 15) / 27)

    top = 15 + 27 * np.log(8.0) / np.log(6.4)
    points = [to_hz(top * k / 81) for k in range(82)]
    freqs = np.arange(257) * 16000 / 512
    fb = np.zeros((80, 257))
    for m in range(80):
        lo, mid, hi = points[m], points[m + 1], points[m + 2]
        for b, f in enumerate(freqs):
            if lo < f <= mid:
                fb[m, b] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                fb[m, b] = (hi - f) / (hi - mid)
        fb[m] *= 2.0 / (hi - lo)
    return fb


def numpy_features(wave: np.ndarray) -> np.ndarray:
    """The reference's FilterbankFeatures on one utterance, in float64 numpy: pre-emphasis 0.97, a centred STFT
    (reflect padding of 256) of 512 points with a symmetric 320-point Hann window in its middle, hop 160, power +
    (1e-5)^2, 80 Slaney mel filters, log(x + 1e-20), frames stacked by 3 and every third kept, per-feature
    normalization over ceil(ceil(n / 160) / 3) frames with the unbiased std + 1e-5."""
    x = np.concatenate([wave[:1], wave[1:] - 0.97 * wave[:-1]]).astype(np.float64)
    padded = np.pad(x, 256, mode="reflect")
    window = np.zeros(512)
    window[96:416] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(320) / 319)
    frames = np.stack([padded[f * 160:f * 160 + 512] * window for f in range(1 + len(x) // 160)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10
    logmel = np.log(independent_filterbank() @ power.T + 1e-20)  # (80, frames)
    count = logmel.shape[1]
    stacked = np.concatenate([np.pad(logmel[:, n:], ((0, 0), (0, n))) for n in range(3)])[:, ::3]
    keep = -(-(-(-len(x) // 160)) // 3)
    mean = stacked[:, :keep].mean(axis=1, keepdims=True)
    std = stacked[:, :keep].std(axis=1, ddof=1, keepdims=True) + 1e-5
    assert stacked.shape[1] == -(-count // 3)
    return ((stacked - mean) / std)[:, :keep]


@pytest.mark.parametrize("samples", [16000, 12345, 4321])
def test_features_match_an_independent_computation(samples: int) -> None:
    rng = np.random.default_rng(samples)
    t = np.arange(samples) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=samples)).astype(np.float32)
    featurizer = build().audio_preprocessor.featurizer.eval()
    with torch.no_grad():
        got, frames = featurizer(torch.from_numpy(wave)[None], torch.tensor([samples]))
    expected = numpy_features(wave)
    assert got.shape == (1, 240, expected.shape[1]) and int(frames[0]) == expected.shape[1]
    np.testing.assert_allclose(got[0].numpy(), expected, atol=2e-3, rtol=1e-3)


def test_stack_time_pairs_frames_and_pads_an_odd_count_with_zeros() -> None:
    model = small()
    feats = torch.randn(7, 1, 48)  # 7 frames: the 4th stacked frame is (frame 6, zeros)
    with torch.no_grad():
        encoded, lengths = model.encoder(feats, torch.tensor([7]))
        pre, _ = model.encoder.pre_rnn.lstm(feats)
        pre = torch.cat([pre, torch.zeros(1, 1, 24)])
        pairs = torch.cat([pre[0::2], pre[1::2]], dim=2)  # (4, 1, 48): [x_2i, x_2i+1]
        post, _ = model.encoder.post_rnn.lstm(pairs)
    assert int(lengths[0]) == 4 and encoded.shape == (1, 4, 24)
    torch.testing.assert_close(encoded[0], post[:, 0])


def test_a_batch_encodes_each_utterance_as_it_encodes_alone() -> None:
    model = small()
    rng = np.random.default_rng(1)
    waves = [torch.from_numpy(rng.normal(0, 0.1, n).astype(np.float32)) for n in (8000, 3000, 5123)]
    with torch.no_grad():
        encoded, lengths = model.encode(waves)
        for k, wave in enumerate(waves):
            alone, n = model.encode([wave])
            assert int(lengths[k]) == int(n[0])
            torch.testing.assert_close(encoded[k, :int(n[0])], alone[0], rtol=1e-5, atol=1e-6)


def reference_greedy(model: Any, encoded: Any, length: int, max_symbols: int = 30) -> list[int]:
    """One utterance, as decoders.py's _greedy_decode: the prediction step recomputed from the last emitted symbol
    (a zero vector at the start) and the state before it; the state moves on only when a symbol is emitted."""
    hidden = None
    labels: list[int] = []
    blank = model.joint_net[-1].out_features - 1
    for t in range(length):
        f = encoded[t]
        symbols = 0
        while symbols < max_symbols:
            y = torch.zeros(1, 1, model.prediction.embed.embedding_dim) if not labels else \
                model.prediction.embed(torch.tensor([[labels[-1]]])).transpose(0, 1)
            g, hidden_prime = model.prediction.dec_rnn.lstm(y, hidden)
            k = int(model.joint_net(torch.cat([f, g[0, 0]])).argmax())
            symbols += 1
            if k == blank:
                break
            labels.append(k)
            hidden = hidden_prime
    return labels


@pytest.mark.parametrize(("seed", "blank_bias", "lengths"), [(3, 2.0, [180, 0, 90, 30]), (5, 0.0, [13] * 4)])
def test_batched_greedy_decoding_is_the_references_per_utterance(seed: int, blank_bias: float,
                                                                 lengths: list[int]) -> None:
    """Two sharpened random networks: one whose utterances differ (whole frames of 30 symbols or of none), one that
    emits 13 symbols in the first frame, reaches a state whose argmax is the blank and stays there."""
    model = small(seed=seed, pred_hidden=64, joint_hidden=64)
    with torch.no_grad():
        model.prediction.embed.weight.mul_(10)  # each symbol moves the prediction network's state far
        model.prediction.dec_rnn.lstm.weight_ih_l0.mul_(5)
        model.joint_net[0].weight.mul_(5)
        model.joint_net[-1].weight.mul_(5)
        model.joint_net[-1].bias[-1] += blank_bias
        rng = np.random.default_rng(2)
        waves = [torch.from_numpy(rng.normal(0, 0.1, n).astype(np.float32)) for n in (9000, 2500, 6000, 4000)]
        encoded, frames = model.encode(waves)
        got = greedy_decode(model, encoded, frames)
        expected = [reference_greedy(model, encoded[k], int(frames[k])) for k in range(len(waves))]
    assert got == expected
    assert [len(g) for g in got] == lengths and all(0 <= s < BLANK for g in got for s in g)


def test_at_most_30_symbols_per_frame() -> None:
    model = small(seed=4)
    with torch.no_grad():
        model.joint_net[-1].bias[-1] -= 100.0  # never blank
        encoded, lengths = model.encode([torch.zeros(3200)])
        out = greedy_decode(model, encoded, lengths)
        assert len(out[0]) == 30 * int(lengths[0])
        assert len(greedy_decode(model, encoded, lengths, max_symbols=2)[0]) == 2 * int(lengths[0])


def test_forward_answers_the_encoder_output_of_whole_waveforms() -> None:
    model = small()
    with torch.no_grad():
        out = model(torch.zeros(2, 16000))
        alone, _ = model.encode([torch.zeros(16000)])
    assert out.shape == (2, alone.shape[1], 24)
    torch.testing.assert_close(out[1], alone[0])


def test_transcripts_and_symbol_ids() -> None:
    assert transcript(symbol_ids("it's a cat!")) == "it's a cat"
    with pytest.raises(ValueError, match="symbol ids must be 0..27"):
        transcript([1, 28])


def brute_force_loss(logp: Any, targets: list[int], blank: int) -> float:
    """-log of the sum over every monotonic path through the (T, U + 1) lattice: at (t, u) a blank moves to t + 1
    (ending after the last frame's blank at u = U), a symbol y_u moves to u + 1."""
    steps, prefixes = logp.shape[0], len(targets) + 1

    def paths(t: int, u: int) -> list[float]:
        if t == steps - 1 and u == prefixes - 1:
            return [float(logp[t, u, blank])]
        out = []
        if u < prefixes - 1:
            out += [float(logp[t, u, targets[u]]) + p for p in paths(t, u + 1)]
        if t < steps - 1:
            out += [float(logp[t, u, blank]) + p for p in paths(t + 1, u)]
        return out

    return -float(np.logaddexp.reduce(paths(0, 0)))


def test_transducer_loss_sums_every_alignment() -> None:
    from podium.models.rnnt import transducer_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 4, 4, 5, requires_grad=True)  # T = 4, U = 3 (second utterance: T 3, U 2), V = 5
    targets = torch.tensor([[1, 3, 2], [2, 2, 0]])
    losses = transducer_loss(logits, targets, torch.tensor([4, 3]), torch.tensor([3, 2]), blank=4)
    logp = logits.detach().log_softmax(-1).double()
    assert losses[0].item() == pytest.approx(brute_force_loss(logp[0], [1, 3, 2], 4), rel=1e-5)
    assert losses[1].item() == pytest.approx(brute_force_loss(logp[1, :3, :3], [2, 2], 4), rel=1e-5)
    losses.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[1, 3].abs().max() == 0 and logits.grad[1, :, 3].abs().max() == 0  # padding has no say


def test_teacher_forced_prediction_is_the_decoders_step_by_step() -> None:
    """Training feeds the start symbol and the targets as one sequence; decoding feeds them one at a time: the same
    outputs, so a network trained one way is served the other."""
    model = small(seed=5)
    symbols = torch.tensor([[-1, 3, 0, 27], [-1, 1, 1, 2]])
    with torch.no_grad():
        whole, _ = model.prediction(symbols)
        state = None
        for u in range(symbols.shape[1]):
            step, state = model.prediction(symbols[:, u], state)
            torch.testing.assert_close(step, whole[:, u])


def test_the_tiny_suites_model_has_the_reference_keys() -> None:
    from podium.models.rnnt import TINY, build_tiny

    tiny = MODELS.get("tiny-rnnt")
    assert tiny.reference == "podium.models.rnnt:build_tiny"
    state = build_tiny().state_dict()
    expected = {k for k in REFERENCE_KEYS if ".lstm." not in k or k.endswith("_l0")}
    assert set(state) == expected  # one layer per LSTM: the reference's _l0 keys
    assert sizes_from(state) == TINY | {"mel_filters": 80, "n_fft": 512, "window_samples": 320, "classes": 29}
