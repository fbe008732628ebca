"""`3d-unet`: the 3D U-Net of MLPerf's KiTS 2019 benchmark, whose state dict loads the reference checkpoint's keys.

The network is MLPerf Training's v1.0 U-Net3D, as the inference reference rebuilds it to load the published
checkpoint (vision/medical_imaging/3d-unet-kits19/pytorch_checkpoint_SUT.py, `Unet3D`): an input block, four
downsampling blocks and a bottleneck (filters 32, 64, 128, 256, 320, 320; each a stride-2 then a stride-1 3x3x3
convolution), five upsampling blocks (a 2x2x2 transposed convolution, concatenation with the skip, two 3x3x3
convolutions) and a 1x1x1 output convolution to 3 classes (background, kidney, tumour). Every 3x3x3 convolution is
followed by an affine instance norm and a ReLU, and has no bias; the transposed and output convolutions have one.
Each convolution sits in an `nn.Sequential(conv, norm, activation)`, which names the keys: `input_block.conv1.0.weight`,
`downsample.0.conv1.1.bias`, `upsample.0.upsample_conv.0.weight`, `output.conv.0.weight` (78 tensors).

The forward answers the logits (N, 3, D, H, W) for (N, 1, D, H, W) inputs, as the official ONNX graph
(`3dunet_kits19_128x128x128.onnx`: input "input", output "output", exported from this network by
unet_pytorch_to_onnx.py); any D, H, W divisible by 32 fits (five stride-2 stages), provided the bottleneck keeps
more than one voxel for its instance norm (not 32^3; 32x64x64 does). The published checkpoint
(`3dunet_kits19_pytorch_checkpoint.pth`) keeps the weights under "best_model_state_dict"; `state_dict_from` unwraps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Model

FILTERS = (32, 64, 128, 256, 320)
IN_CHANNELS = 1
CLASSES = 3  # background, kidney, tumour
ROI_VOXELS = 128  # the reference's patch edge (global_vars.ROI_SHAPE): what the official ONNX graph takes
INPUT_SHAPE = (IN_CHANNELS, ROI_VOXELS, ROI_VOXELS, ROI_VOXELS)
DOWNSAMPLING = 2 ** len(FILTERS)  # every spatial size must be a multiple of this
# Where checkpoints keep the state dict, tried in order (the reference's callbacks save "best_model_state_dict").
CHECKPOINT_KEYS = ("best_model_state_dict", "state_dict", "model", "last_model_state_dict")
# MLPerf Training after v1.0 made the output layer a bare Conv3d ("output.conv.weight"); the published inference
# checkpoint has the Sequential form ("output.conv.0.weight"). Both load.
_BARE_OUTPUT = {"output.conv.weight": "output.conv.0.weight", "output.conv.bias": "output.conv.0.bias"}


def conv_block(cin: int, cout: int, *, kernel: int = 3, stride: int = 1, padding: int = 1,
               transpose: bool = False, norm: bool = True) -> Any:
    """Sequential(convolution, instance norm or identity, ReLU or identity): the reference's conv_block_factory.

    A normalized block is a bias-free convolution, an affine InstanceNorm3d and a ReLU; an unnormalized one is a
    convolution with bias alone (the transposed upsampling and the output layer)."""
    from torch import nn

    conv = (nn.ConvTranspose3d if transpose else nn.Conv3d)(cin, cout, kernel_size=kernel, stride=stride,
                                                            padding=padding, bias=not norm)
    if not norm:
        return nn.Sequential(conv, nn.Identity(), nn.Identity())
    return nn.Sequential(conv, nn.InstanceNorm3d(cout, affine=True), nn.ReLU())


def unet3d(in_channels: int = IN_CHANNELS, classes: int = CLASSES, filters: Sequence[int] = FILTERS) -> Any:
    """The network, untrained: (N, 1, D, H, W) float32 -> (N, 3, D, H, W) logits (D, H, W multiples of 32).

    `filters` are the widths of the input block and the four downsampling blocks (the bottleneck keeps the last):
    the reference's by default; narrower ones give a small network of the same shape (the tiny suite's)."""
    import torch
    from torch import nn

    class Pair(nn.Module):
        """Two normalized 3x3x3 convolutions, the first with `stride` (input, downsampling and bottleneck blocks)."""

        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = conv_block(cin, cout, stride=stride)
            self.conv2 = conv_block(cout, cout)

        def forward(self, x: Any) -> Any:
            return self.conv2(self.conv1(x))

    class Up(nn.Module):
        """Transposed 2x2x2 convolution, concatenation with the skip (upsampled first), two 3x3x3 convolutions."""

        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.upsample_conv = conv_block(cin, cout, kernel=2, stride=2, padding=0, transpose=True, norm=False)
            self.conv1 = conv_block(2 * cout, cout)
            self.conv2 = conv_block(cout, cout)

        def forward(self, x: Any, skip: Any) -> Any:
            return self.conv2(self.conv1(torch.cat((self.upsample_conv(x), skip), dim=1)))

    class Output(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv = conv_block(cin, cout, kernel=1, padding=0, norm=False)

        def forward(self, x: Any) -> Any:
            return self.conv(x)

    class Unet3D(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = tuple(filters)
            ins, outs = widths[:-1], widths[1:]
            self.input_block = Pair(in_channels, widths[0], 1)
            self.downsample = nn.ModuleList(Pair(i, o, 2) for i, o in zip(ins, outs))
            self.bottleneck = Pair(widths[-1], widths[-1], 2)
            self.upsample = nn.ModuleList([Up(widths[-1], widths[-1]),
                                           *(Up(i, o) for i, o in zip(reversed(outs), reversed(ins)))])
            self.output = Output(widths[0], classes)

        def forward(self, x: Any) -> Any:
            skips = [self.input_block(x)]
            for down in self.downsample:
                skips.append(down(skips[-1]))
            x = self.bottleneck(skips[-1])
            for up, skip in zip(self.upsample, reversed(skips)):
                x = up(x, skip)
            return self.output(x)

    return Unet3D()


def state_dict_from(checkpoint: Any) -> dict[str, Any]:
    """The network's state dict from a loaded checkpoint: the reference's {"best_model_state_dict": ...} (or a
    "state_dict"/"model" wrapper, or a bare state dict), with a DistributedDataParallel "module." prefix removed
    and a later training release's bare output convolution renamed to the published keys."""
    state = checkpoint
    while isinstance(state, Mapping):
        inner = next((state[k] for k in CHECKPOINT_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, Mapping) or not state:
        raise ConfigError(f"3d-unet checkpoint holds no state dict (expected a mapping of tensors, or one under "
                          f"{', '.join(CHECKPOINT_KEYS)})", key="state_dict")
    keys = [str(k) for k in state]
    strip = "module." if all(k.startswith("module.") for k in keys) else ""
    renamed = {k[len(strip):]: v for k, v in zip(keys, state.values())}
    return {_BARE_OUTPUT.get(k, k): v for k, v in renamed.items()}


@MODELS.register("3d-unet")
def _unet3d() -> Model:
    return Model("3d-unet", build=unet3d, input_shape=INPUT_SHAPE, classes=CLASSES, input_name="input",
                 output_names=("output",), layout="NCDHW")
