"""The `librispeech` layout: generated utterances read back from the reference's manifest layout (the 15 s filter,
waveforms of their own lengths, normalized transcripts), the raw FLAC layout, the reference's transcript
normalization, and one-line errors naming the path and the layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError, SUTError
from podium.datasets import DATASETS
from podium.datasets.librispeech import (
    MANIFEST,
    SAMPLE_RATE,
    LibriSpeechDataset,
    generate,
    normalize_transcript,
    render,
    tone_hz,
)

soundfile = pytest.importorskip("soundfile")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("librispeech"), 3, seed=1, long_count=1)


def test_registered() -> None:
    assert DATASETS.get("librispeech") is LibriSpeechDataset


def test_generated_manifest_is_the_reference_layout(data: Path) -> None:
    entries = json.loads((data / MANIFEST).read_text())
    assert len(entries) == 4
    first = entries[0]
    assert set(first) == {"files", "original_duration", "original_num_samples", "transcript"}
    file = first["files"][0]
    assert file["speed"] == 1 and file["fname"].startswith("dev-clean-wav/") and file["fname"].endswith(".wav")
    info = soundfile.info(str(data / file["fname"]))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, 1, "PCM_16",
                                                                            first["original_num_samples"])
    assert entries[3]["original_duration"] > 15.0


def test_utterances_over_15_s_are_left_out_and_samples_are_waveforms(data: Path, cache: Path) -> None:
    entries = json.loads((data / MANIFEST).read_text())
    ds = LibriSpeechDataset(data, cache_dir=cache)
    assert ds.total_sample_count == 3 and ds.variable_shape
    assert list(ds.labels()) == [e["transcript"] for e in entries[:3]]
    ds.load_samples([0, 1, 2])
    samples = ds.get_samples([2, 0])
    assert isinstance(samples, list)
    assert [s.shape for s in samples] == [(entries[2]["original_num_samples"],), (entries[0]["original_num_samples"],)]
    assert all(s.dtype == np.float32 and np.abs(s).max() < 1.0 for s in samples)
    # 16-bit PCM read back as float32 / 32768, as soundfile and the reference's AudioSegment read it
    pcm, _ = soundfile.read(str(data / entries[0]["files"][0]["fname"]), dtype="int16")
    np.testing.assert_array_equal(samples[1], pcm.astype(np.float32) / 32768)
    ds.unload_samples([0])
    with pytest.raises(SUTError, match="sample 0 is not loaded"):
        ds.get_samples([0])
    assert LibriSpeechDataset(data, cache_dir=cache, max_duration_s=60).total_sample_count == 4
    assert LibriSpeechDataset(data, cache_dir=cache, count=2).labels().shape == (2,)


def test_transcripts_are_normalized_as_the_reference_does() -> None:
    assert normalize_transcript("Hello, World!  It's   ME.") == "hello world it's me"
    assert normalize_transcript("rock&roll a+b") == "rock and roll a plus b"
    assert normalize_transcript("café-au-lait") == "cafe au lait"
    # digits are dropped by the label filter, after the strip (the reference keeps the space before them)
    assert normalize_transcript("room 101") == "room "
    assert normalize_transcript("  ") == ""


def test_the_raw_flac_layout_is_read_too(tmp_path: Path, cache: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for n, text in enumerate(["A CAT", "THE DOG'S MAT"]):
        soundfile.write(str(chapter / f"84-121123-{n:04d}.flac"), render(text.lower(), rng), SAMPLE_RATE)
        lines.append(f"84-121123-{n:04d} {text}")
    soundfile.write(str(chapter / "84-121123-0002.flac"), np.zeros(16 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    lines.append("84-121123-0002 TOO LONG")
    (chapter / "84-121123.trans.txt").write_text("\n".join(lines) + "\n")
    ds = LibriSpeechDataset(tmp_path, cache_dir=cache)
    assert list(ds.labels()) == ["a cat", "the dog's mat"]
    ds.load_samples([1])
    assert ds.get_samples([1])[0].dtype == np.float32


def test_characters_have_distinct_tones() -> None:
    pitches = [tone_hz(c) for c in "abcdefghijklmnopqrstuvwxyz'"]
    assert len(set(pitches)) == 27 and min(pitches) == 300.0 and max(pitches) < SAMPLE_RATE / 2
    audio = render("a b", np.random.default_rng(0))
    assert audio.dtype == np.float32 and len(audio) == int(0.03 * SAMPLE_RATE) * 4 + int(0.12 * SAMPLE_RATE) * 3


def test_errors_name_the_path_and_the_layout(tmp_path: Path, data: Path, cache: Path) -> None:
    with pytest.raises(ConfigError, match=f"missing {MANIFEST}.*dev-clean-wav.json") as info:
        LibriSpeechDataset(tmp_path, cache_dir=cache)
    assert str(tmp_path) in str(info.value)
    (tmp_path / MANIFEST).write_text('{"not": "a list"}')
    with pytest.raises(ConfigError, match="not a list of utterances"):
        LibriSpeechDataset(tmp_path, cache_dir=cache)
    (tmp_path / MANIFEST).write_text('[{"files": []}]')
    with pytest.raises(ConfigError, match="entry 0 lacks"):
        LibriSpeechDataset(tmp_path, cache_dir=cache)
    entries = json.loads((data / MANIFEST).read_text())[:1]
    (tmp_path / MANIFEST).write_text(json.dumps(entries))
    with pytest.raises(ConfigError, match="1 of 1 utterances have no audio file") as info:
        LibriSpeechDataset(tmp_path, cache_dir=cache)
    assert entries[0]["files"][0]["fname"] in str(info.value)
    wav = tmp_path / entries[0]["files"][0]["fname"]
    wav.parent.mkdir(parents=True)
    soundfile.write(str(wav), np.zeros(800, np.float32), 8000)
    ds = LibriSpeechDataset(tmp_path, cache_dir=cache)  # the audio is read when loaded
    with pytest.raises(ConfigError, match="sampled at 8000 Hz"):
        ds.load_samples([0])
    wav.write_bytes(b"not audio")
    with pytest.raises(ConfigError, match="not a readable audio file"):
        ds.load_samples([0])
    with pytest.raises(ConfigError, match="no such dataset directory"):
        LibriSpeechDataset(tmp_path / "absent", cache_dir=cache)
