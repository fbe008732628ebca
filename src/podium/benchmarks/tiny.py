"""Podium's tiny round "tiny-v1": MLPerf rules scaled to a 2-core CPU, with the benchmarks `podium run` trains and
serves, one per task type: "digits" (image classification), "tiny-detection" (object detection),
"tiny-segmentation" (3D segmentation), "tiny-qa" (question answering), "tiny-ctr" (click-through prediction),
"tiny-speech" (speech recognition) and "tiny-translation" (translation).

"digits" is the small ResNet that `podium train digits` trains, run on the 355-image eval split of scikit-learn's
digits; the others are small versions of MLPerf's models, trained by `podium train <name>` on data Podium generates
in the official layouts: SSD on 64 COCO-layout images of drawn shapes (COCO mAP), 3D U-Net on 8 KiTS-layout
volumes (mean composite DICE), BERT on 128 SQuAD-layout questions (F1), DLRM on 16 aggregated samples of
Criteo-layout click logs from a known logistic model (AUC), RNN-T on 64 LibriSpeech-layout utterances whose
characters are tones (word accuracy), GNMT on 64 sentences of a synthetic English-German pair in the WMT16 layout
(BLEU). Each one's reference accuracy is the trained model's own FP32 score, measured at run time, so the targets
are relative: `accuracy_threshold(reference=measured)` gives 99 % of it. Durations are one second per scenario;
query counts are the smallest that early stopping can pass at each percentile (p99 needs 662 MultiStream queries,
as in MLPerf; Server keeps a margin with 1000); the Offline queries of the slower models are the samples of their
second. Seeds are the v6.1 round's (those mlcommons-loadgen 6.0.17 embeds). The data is in rounds/tiny-v1.toml.
"""

from __future__ import annotations

from podium.benchmarks.benchmark import Benchmark
from podium.benchmarks.catalogue import TINY_ROUND, get_round

__all__ = ["CTR", "DETECTION", "DIGITS", "QA", "SEGMENTATION", "SPEECH", "TINY_ROUND", "TRANSLATION", "benchmark",
           "detection", "digits", "segmentation"]

DIGITS = "digits"
DETECTION = "tiny-detection"
SEGMENTATION = "tiny-segmentation"
QA = "tiny-qa"
CTR = "tiny-ctr"
SPEECH = "tiny-speech"
TRANSLATION = "tiny-translation"


def benchmark(name: str) -> Benchmark:
    """The tiny round's benchmark called `name` (one of the names above)."""
    return get_round(TINY_ROUND).benchmark(name)


def digits() -> Benchmark:
    """The tiny round's image classification benchmark."""
    return benchmark(DIGITS)


def detection() -> Benchmark:
    """The tiny round's object detection benchmark."""
    return benchmark(DETECTION)


def segmentation() -> Benchmark:
    """The tiny round's 3D segmentation benchmark."""
    return benchmark(SEGMENTATION)
