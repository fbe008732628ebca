"""`librispeech`: LibriSpeech dev-clean as MLPerf's RNN-T reads it — utterances of at most 15 s, 2,513 of them.

The layout is what the reference's scripts leave (mlcommons/inference retired_benchmarks/speech_recognition/rnnt:
run.sh, pytorch/utils/convert_librispeech.py, QSL.py, parts/manifest.py): in the dataset directory, the manifest
`dev-clean-wav.json` and the WAV files it names, `dev-clean-wav/<speaker>/<chapter>/<speaker>-<chapter>-<n>.wav`
(16 kHz, 16-bit mono, converted from the FLAC originals by sox). The manifest is a JSON list, one entry per
utterance: {"files": [{"fname": path relative to the dataset directory, "speed": 1, "duration", "num_samples",
"sample_rate", ...}], "original_duration": seconds, "original_num_samples", "transcript": lower-case text}. The QSL
keeps the entries of `original_duration` <= 15.0 (Manifest's max_duration), in manifest order, each read from its
speed-1 file: sample i is the i-th kept entry. Its ground truth is the transcript normalized as the reference does
(lower case, punctuation other than the apostrophe turned to spaces, whitespace collapsed, stripped, characters
outside the 28 labels dropped; numbers are not spelled out: LibriSpeech transcripts have none).

Also read, when there is no manifest: the raw LibriSpeech layout, `LibriSpeech/dev-clean/<speaker>/<chapter>/`
with `<speaker>-<chapter>.trans.txt` ("<utterance id> <TRANSCRIPT>" lines) and `<utterance id>.flac` (or the
`dev-clean/` folder itself): utterances in sorted order, durations read from the files, the same 15 s filter.

A sample is one utterance's waveform, float32 in [-1, 1) at 16 kHz, of its own length (`variable_shape`): read
with soundfile, channels averaged. Feature extraction is the SUT's (timed), as in the reference, where the QSL
holds waveforms and pytorch_SUT.py computes the features per query. `generate` writes small data in the manifest
layout: each character of a transcript rendered as a tone of its own pitch (so a small model can learn them).
"""

from __future__ import annotations

import json
import string
import unicodedata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from podium.core.errors import ConfigError
from podium.datasets import DATASETS
from podium.datasets.base import Dataset

MANIFEST = "dev-clean-wav.json"
AUDIO_DIR = "dev-clean-wav"
RAW_DIRS = ("LibriSpeech/dev-clean", "dev-clean")
SAMPLE_RATE = 16000
MAX_DURATION_S = 15.0
LABELS = " abcdefghijklmnopqrstuvwxyz'"  # rnnt.toml [labels]
# Manifest.__init__: punctuation except "+", "&" and the labels' own characters becomes whitespace.
_PUNCTUATION = "".join(c for c in string.punctuation if c not in "+&" and c not in LABELS)
_TO_SPACE = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))


def normalize_transcript(text: str) -> str:
    """The reference's transcript normalization (english_cleaners with punctuation removal, then the label filter),
    without number and abbreviation expansion (no LibriSpeech transcript needs them)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = ascii_text.lower().translate(_TO_SPACE).replace("&", " and ").replace("+", " plus ")
    return "".join(c for c in " ".join(cleaned.split()) if c in LABELS)


def read_audio(path: Path, expected: str) -> np.ndarray:
    """One utterance's samples, float32 mono at 16 kHz; a ConfigError naming the file otherwise."""
    import soundfile  # type: ignore[import-untyped]

    if not path.is_file():
        raise ConfigError(f"missing audio file; {expected}", path=str(path))
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as e:
        raise ConfigError(f"not a readable audio file ({e}); {expected}", path=str(path)) from None
    if rate != SAMPLE_RATE:
        raise ConfigError(f"sampled at {rate} Hz; the RNN-T reference reads {SAMPLE_RATE} Hz audio (convert it as "
                          f"convert_librispeech.py does)", path=str(path))
    return np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32)


class LibriSpeechDataset(Dataset):
    """The utterances of at most 15 s of the manifest (or the raw layout), in order; each sample a float32
    waveform, each label its normalized transcript."""

    layout = "librispeech"
    preprocessing_version = "waveform-float32-16k"
    expected_layout = (f"expected {{path}}/{MANIFEST} (a JSON list of {{{{'files': [{{{{'fname', 'speed'}}}}], "
                       f"'original_duration', 'transcript'}}}}) and the WAV files it names, e.g. "
                       f"{{path}}/{AUDIO_DIR}/<speaker>/<chapter>/<id>.wav, as the MLPerf RNN-T reference's "
                       f"convert_librispeech.py writes them; or {{path}}/LibriSpeech/dev-clean/<speaker>/<chapter>/"
                       f"<id>.flac with <speaker>-<chapter>.trans.txt")
    variable_shape: ClassVar[bool] = True  # utterances differ in length: get_samples answers a list

    def __init__(self, path: Path | str | None = None, *, max_duration_s: float = MAX_DURATION_S,
                 **kwargs: Any) -> None:
        self.max_duration_s = float(max_duration_s)
        super().__init__(path, **kwargs)

    def _open(self) -> int:
        assert self.path is not None
        expected = self.expected(self.path)
        manifest = self.path / MANIFEST
        raw = next((self.path / d for d in RAW_DIRS if (self.path / d).is_dir()), None)
        if manifest.is_file() or raw is None:
            entries = self._manifest_entries(manifest, expected)
        else:
            entries = self._raw_entries(raw)
        kept = [(f, t) for f, t, seconds in entries if seconds <= self.max_duration_s]
        if not kept:
            raise ConfigError(f"no utterance of at most {self.max_duration_s} s; {expected}", path=str(self.path))
        missing = [f for f, _ in kept if not f.is_file()]
        if missing:
            raise ConfigError(f"{len(missing)} of {len(kept)} utterances have no audio file (first: {missing[0]}); "
                              f"{expected}", path=str(missing[0]))
        self._files = [f for f, _ in kept]
        self._transcripts = [t for _, t in kept]
        return len(kept)

    def _manifest_entries(self, manifest: Path, expected: str) -> list[tuple[Path, str, float]]:
        assert self.path is not None
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"missing {MANIFEST}; {expected}", path=str(manifest)) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"not a readable JSON manifest ({e}); {expected}", path=str(manifest)) from None
        if not isinstance(data, list):
            raise ConfigError(f"holds a {type(data).__name__}, not a list of utterances; {expected}",
                              path=str(manifest))
        entries = []
        for k, entry in enumerate(data):
            try:
                fname = next(f["fname"] for f in entry["files"] if float(f.get("speed", 1)) == 1.0)
                entries.append((self.path / str(fname), normalize_transcript(str(entry["transcript"])),
                                float(entry["original_duration"])))
            except (KeyError, TypeError, ValueError, StopIteration, AttributeError):
                raise ConfigError(f"entry {k} lacks 'files' (with a speed-1 'fname'), 'original_duration' or "
                                  f"'transcript'; {expected}", path=str(manifest)) from None
        return entries

    def _raw_entries(self, root: Path) -> list[tuple[Path, str, float]]:
        """The raw LibriSpeech layout: transcripts from the .trans.txt files (sorted), durations from the audio."""
        import soundfile

        assert self.path is not None
        entries = []
        for listing in sorted(root.glob("*/*/*.trans.txt")):
            for line in listing.read_text(encoding="utf-8").splitlines():
                utterance, _, text = line.strip().partition(" ")
                if not utterance:
                    continue
                audio = listing.parent / f"{utterance}.flac"
                try:
                    seconds = soundfile.info(str(audio)).duration
                except (RuntimeError, OSError) as e:
                    raise ConfigError(f"cannot read the utterance's audio ({e}); {self.expected(self.path)}",
                                      path=str(audio)) from None
                entries.append((audio, normalize_transcript(text.lower().strip()), float(seconds)))
        return entries

    def _read(self, indices: list[int]) -> list[np.ndarray]:
        assert self.path is not None
        expected = self.expected(self.path)
        return [read_audio(self._files[i], expected) for i in indices]

    def _all_labels(self) -> np.ndarray:
        labels = np.empty(len(self._transcripts), dtype=object)
        labels[:] = self._transcripts
        return labels

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_duration_s": self.max_duration_s}


@DATASETS.register("librispeech")
def _librispeech() -> type[LibriSpeechDataset]:
    return LibriSpeechDataset


# --- small data in the layout ------------------------------------------------------------------------------------

WORDS = ("a", "cat", "sat", "on", "the", "mat", "dog", "ran", "to", "it", "is", "red", "we", "go", "sun", "up")
CHARACTER_S = 0.12  # each character's tone: two encoder frames (the encoder sees one frame per 60 ms)
GAP_S = 0.03  # silence between characters (a space is CHARACTER_S of silence)


def tone_hz(character: str) -> float:
    """The pitch of a character: the 27 non-space labels spread over 300-5000 Hz on a log scale."""
    k = LABELS.index(character) - 1
    return float(300.0 * (5000.0 / 300.0) ** (k / 26.0))


def render(text: str, rng: np.random.Generator, *, character_s: float = CHARACTER_S, gap_s: float = GAP_S,
           noise: float = 0.003) -> np.ndarray:
    """`text` as audio: each character a Hann-shaped tone of its pitch, each space silence; float32, 16 kHz."""
    n, gap = int(character_s * SAMPLE_RATE), int(gap_s * SAMPLE_RATE)
    envelope = np.hanning(n)
    t = np.arange(n) / SAMPLE_RATE
    parts = [np.zeros(gap)]
    for c in text:
        if c == " ":
            parts.append(np.zeros(n))
        else:
            phase = rng.uniform(0, 2 * np.pi)
            parts.append(0.3 * envelope * np.sin(2 * np.pi * tone_hz(c) * t + phase))
        parts.append(np.zeros(gap))
    audio = np.concatenate(parts)
    return (audio + rng.normal(0.0, noise, audio.shape)).astype(np.float32)


def sentence(rng: np.random.Generator, words: tuple[str, ...] = WORDS, most: int = 4) -> str:
    return " ".join(rng.choice(words, size=int(rng.integers(1, most + 1))))


def generate(root: Path, count: int = 4, *, seed: int = 0, words: tuple[str, ...] = WORDS, most_words: int = 4,
             long_count: int = 0) -> Path:
    """Small data in the manifest layout at `root`: `count` utterances of 1 to `most_words` words drawn from
    `words`, rendered as tones (`render`), as 16-bit WAV files under dev-clean-wav/<speaker>/<chapter>/, and
    `dev-clean-wav.json`; then `long_count` utterances over 15 s, which the loader leaves out. Returns `root`."""
    import soundfile

    rng = np.random.default_rng(seed)
    entries = []
    for i in range(count + long_count):
        speaker, chapter = 1000 + i % 3, 100 + i % 2
        text = sentence(rng, words, most_words)
        if i >= count:  # longer than the 15 s filter
            while len(text) * (CHARACTER_S + GAP_S) <= MAX_DURATION_S + 1:
                text = f"{text} {text}"
        audio = render(text, rng)
        rel = f"{AUDIO_DIR}/{speaker}/{chapter}/{speaker}-{chapter}-{i:04d}.wav"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(root / rel), audio, SAMPLE_RATE, subtype="PCM_16")
        seconds = len(audio) / SAMPLE_RATE
        info = {"channels": 1, "sample_rate": float(SAMPLE_RATE), "bitrate": 16, "duration": seconds,
                "num_samples": len(audio), "encoding": "Signed Integer PCM", "silent": False, "fname": rel,
                "speed": 1}
        entries.append({"files": [info], "original_duration": seconds, "original_num_samples": len(audio),
                        "transcript": text})
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return root
