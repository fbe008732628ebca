"""podium.workloads: training workload plugins, one small file each, found through the `WORKLOADS` registry.

Built-in plugins: `digits` (scikit-learn's 8x8 digits, a small ResNet; converges on a CPU in seconds), the tiny
suite's `tiny-detection`, `tiny-segmentation`, `tiny-qa`, `tiny-ctr`, `tiny-speech` and `tiny-translation`
(generated data in the COCO, KiTS19, SQuAD, Criteo, LibriSpeech and WMT16 layouts; seconds each), MLPerf's vision
training benchmarks (`resnet50`, `ssd`, `retinanet`, `maskrcnn`, `3d-unet`), and the scripted workloads
(`scripted-resnet50`, `scripted-llama31-8b`: no training, the eval metric follows a given curve) that drive the
harness through closed ResNet-50 and Llama 3.1 8B logs. Third-party workloads register through the
`podium.workloads` entry-point group. Modules named `_private` are not scanned.
"""

from __future__ import annotations

from podium.workloads.base import Workload
from podium.core.registry import Registry

# Every module of this package is imported on the first lookup: a new workload is one file, listed nowhere.
WORKLOADS: Registry[Workload] = Registry("workload", "podium.workloads", package="podium.workloads")

__all__ = ["WORKLOADS", "Workload"]
