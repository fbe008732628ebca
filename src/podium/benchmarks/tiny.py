"""Podium's tiny round "tiny-v1": MLPerf rules scaled to a 2-core CPU, with the three benchmarks `podium run` trains
and serves: "digits" (image classification), "tiny-detection" (object detection) and "tiny-segmentation" (3D
segmentation).

"digits" is the small ResNet that `podium train digits` trains, run on the 355-image eval split of scikit-learn's
digits; "tiny-detection" the small SSD of `podium train tiny-detection`, on 64 generated COCO-layout images of
drawn shapes (COCO mAP); "tiny-segmentation" the small 3D U-Net of `podium train tiny-segmentation`, on 8
generated KiTS-layout volumes (mean composite DICE). Each one's reference accuracy is the trained model's own
FP32 score, measured at run time, so the targets are relative: `accuracy_threshold(reference=measured)` gives 99 %
of it. Durations are one second per scenario; query counts are the smallest that early stopping can pass at each
percentile (p99 needs 662 MultiStream queries, as in MLPerf; Server keeps a margin with 1000); the Offline queries
of the slower detection and segmentation models are the samples of their second. Seeds are the v6.1 round's (those
mlcommons-loadgen 6.0.17 embeds). The data is in rounds/tiny-v1.toml.
"""

from __future__ import annotations

from podium.benchmarks.benchmark import Benchmark
from podium.benchmarks.catalogue import TINY_ROUND, get_round

__all__ = ["DETECTION", "DIGITS", "SEGMENTATION", "TINY_ROUND", "detection", "digits", "segmentation"]

DIGITS = "digits"
DETECTION = "tiny-detection"
SEGMENTATION = "tiny-segmentation"


def digits() -> Benchmark:
    """The tiny round's image classification benchmark."""
    return get_round(TINY_ROUND).benchmark(DIGITS)


def detection() -> Benchmark:
    """The tiny round's object detection benchmark."""
    return get_round(TINY_ROUND).benchmark(DETECTION)


def segmentation() -> Benchmark:
    """The tiny round's 3D segmentation benchmark."""
    return get_round(TINY_ROUND).benchmark(SEGMENTATION)
