"""`digits`: a small ResNet for 8x8 single-channel images (scikit-learn's digits): stem, two residual stages
(8x8 then 4x4), global pooling, linear head. Trained by the `digits` workload, served by the `digits` task."""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models.base import Model

INPUT_SHAPE = (1, 8, 8)
CLASSES = 10


def small_resnet(width: int = 32, classes: int = CLASSES) -> Any:
    """The network, untrained: torch.nn.Sequential, (N, 1, 8, 8) float32 -> (N, classes) logits."""
    from torch import nn

    class Block(nn.Module):
        """Two 3x3 convolutions with batch norm, plus a (projected) skip connection."""

        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x: Any) -> Any:
            return (self.body(x) + self.skip(x)).relu()

    return nn.Sequential(
        nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        Block(width, width, 1), Block(width, 2 * width, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


@MODELS.register("digits")
def _digits() -> Model:
    return Model("digits", build=small_resnet, input_shape=INPUT_SHAPE, classes=CLASSES)
