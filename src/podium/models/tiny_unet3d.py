"""`tiny-unet3d`: the tiny suite's 3D U-Net, for the small KiTS-layout volumes `podium.datasets.kits19` generates.

The shape of MLPerf's 3D U-Net (`podium.models.unet3d`) cut down to what a 2-core CPU trains in seconds: one
full-resolution block, one stride-2 block, a transposed 2x2x2 convolution back up, the skip concatenated, and
1x1x1 convolutions to the 3 classes (background, kidney, tumour). No normalization layer: the network is fully
convolutional with nothing computed over a whole patch, so the 16-voxel crops it trains on and the 32-voxel patches
it serves see the same function (an instance norm, as in the full model, would normalize each by its own
statistics). Input and output are named as the official graph's ("input" (N, 1, D, H, W), "output" logits
(N, 3, D, H, W)), so the 3D U-Net's graph forms and sliding window serve it; D, H, W must be even.
"""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models.base import Model

CLASSES = 3  # background, kidney, tumour
PATCH_VOXELS = 32  # the patch edge it is served with (the sliding window's)
INPUT_SHAPE = (1, PATCH_VOXELS, PATCH_VOXELS, PATCH_VOXELS)
WIDTH = 8  # channels at full resolution; twice that at half resolution


def tiny_unet3d(width: int = WIDTH, classes: int = CLASSES) -> Any:
    """The network, untrained: (N, 1, D, H, W) float32 -> (N, classes, D, H, W) logits (D, H, W even)."""
    import torch
    from torch import nn

    class TinyUNet3D(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv3d(1, width, 3, padding=1), nn.ReLU())
            self.down = nn.Sequential(nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv3d(2 * width, 2 * width, 3, padding=1), nn.ReLU())
            self.up = nn.ConvTranspose3d(2 * width, width, kernel_size=2, stride=2)
            self.decoder = nn.Sequential(nn.Conv3d(2 * width, width, 1), nn.ReLU())
            self.output = nn.Conv3d(width, classes, 1)

        def forward(self, x: Any) -> Any:
            skip = self.encoder(x)
            return self.output(self.decoder(torch.cat((self.up(self.down(skip)), skip), dim=1)))

    return TinyUNet3D()


@MODELS.register("tiny-unet3d")
def _tiny_unet3d() -> Model:
    return Model("tiny-unet3d", build=tiny_unet3d, input_shape=INPUT_SHAPE, classes=CLASSES, input_name="input",
                 output_names=("output",), layout="NCDHW")
