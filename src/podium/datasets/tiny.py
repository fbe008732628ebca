"""The tiny suite's data: train and eval splits of small generated sets, written once into the cache.

`podium run` trains and serves its tiny benchmarks on data Podium generates with the layouts' own generators, in the
official layouts, read back by the layouts' own loaders: the same code as the full benchmarks.
- `tiny-detection`: COCO 2017-layout images of drawn shapes of a few COCO categories, with their instances file
  (`podium.datasets.coco`), served as SSD-MobileNet's `coco-300`;
- `tiny-segmentation`: KiTS 2019 volumes in the 3D U-Net reference's preprocessed layout (`podium.datasets.kits19`),
  32 voxels a side (every other case 48 deep), kidneys with a tumour drawn in;
- `tiny-qa`: SQuAD v1.1 files (`podium.datasets.squad`): one generated person's facts per paragraph, each asked
  about, with the vocab.txt covering them;
- `tiny-ctr`: Criteo Terabyte day-23 click logs in the DLRM reference's preprocessed layout
  (`podium.datasets.criteo`, with its aggregation trace) drawn from a known logistic model;
- `tiny-translation`: a synthetic English-German pair in the WMT16 newstest2014 layout GNMT reads
  (`podium.datasets.wmt16`): BPE-segmented sentences, their references and the vocabulary;
- `tiny-speech`: LibriSpeech dev-clean in the RNN-T reference's manifest layout (`podium.datasets.librispeech`):
  utterances of 1-4 words, each character rendered as a tone of its own pitch, with their transcripts.

A split is generated on first use under `<cache>/datasets/tiny/<set>/<version>/<split>/` (the cache root of
`podium.datasets.cache`), into a temporary folder renamed into place when whole, so that a crash or a second
process never leaves half a split; later uses read it as it is. The seeds are fixed: every machine gets the same
data. Generation is cheap (well under a second per split).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podium.core.errors import ConfigError
from podium.core.files import output_error
from podium.datasets.cache import cache_root

SPLITS = ("train", "eval")
DONE = ".complete"  # written last into a split's folder: the folder is whole


@dataclass(frozen=True)
class GeneratedSet:
    """A small data set made by a layout's `generate(root, count, seed=...)`: how many samples and which seed
    each split has. `version` changes whenever what is generated changes (it names the cache folder)."""

    name: str
    version: str
    generate: Callable[[Path, int, int], Path]  # (root, count, seed) -> root
    counts: tuple[int, int]  # train, eval
    seeds: tuple[int, int] = (1, 2)

    def split(self, split: str, cache_dir: Path | str | None = None) -> Path:
        """The folder of `split` ("train" or "eval"), generated first when missing."""
        if split not in SPLITS:
            raise ConfigError(f"no split {split!r} of {self.name}; the splits are {', '.join(SPLITS)}", key="split")
        k = SPLITS.index(split)
        folder = cache_root(cache_dir) / "datasets" / "tiny" / self.name / self.version / split
        if not (folder / DONE).is_file():
            self._write(folder, self.counts[k], self.seeds[k])
        return folder

    def _write(self, folder: Path, count: int, seed: int) -> None:
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            self.generate(tmp, count, seed)
            (tmp / DONE).write_text(f"{self.name} {self.version}: {count} samples, seed {seed}\n", "utf-8")
            shutil.rmtree(folder, ignore_errors=True)  # an incomplete folder left by a killed run
            try:
                os.replace(tmp, folder)
            except OSError:
                if not (folder / DONE).is_file():  # not another process's whole split, renamed in first
                    raise
        except OSError as e:
            raise output_error(e, folder, "write") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _coco_shapes(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import coco

    return coco.generate(root, count, seed=seed)


def _kits19_volumes(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import kits19

    return kits19.generate(root, count, seed=seed, shape=SEGMENTATION_SHAPE)


def _squad_passages(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import squad

    return squad.generate_tiny(root, count, seed=seed)


def _wmt16_pairs(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import wmt16

    return wmt16.generate(root, count, seed=seed)


def _librispeech_tones(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import librispeech

    return librispeech.generate(root, count, seed=seed)


def _criteo_logs(root: Path, count: int, seed: int) -> Path:
    from podium.datasets import criteo

    return criteo.generate(root, count, seed=seed, raw=False)


SEGMENTATION_SHAPE = (32, 32, 32)
SEGMENTATION = GeneratedSet("tiny-segmentation", "kits19-32-v1", _kits19_volumes, counts=(16, 8))
DETECTION = GeneratedSet("tiny-detection", "coco-shapes-v1", _coco_shapes, counts=(256, 64))
QA = GeneratedSet("tiny-qa", "squad-one-person-v1", _squad_passages, counts=(4096, 128))
TRANSLATION = GeneratedSet("tiny-translation", "wmt16-synthetic-v1", _wmt16_pairs, counts=(2048, 64))
SPEECH = GeneratedSet("tiny-speech", "librispeech-tones-v1", _librispeech_tones, counts=(256, 64))
CTR = GeneratedSet("tiny-ctr", "criteo-logistic-v1", _criteo_logs, counts=(400, 16))  # aggregated samples
GENERATED = {s.name: s for s in (DETECTION, SEGMENTATION, QA, CTR, SPEECH, TRANSLATION)}

__all__ = ["CTR", "DETECTION", "GENERATED", "QA", "SEGMENTATION", "SPEECH", "SPLITS", "TRANSLATION", "GeneratedSet"]
