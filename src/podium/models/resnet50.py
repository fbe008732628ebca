"""`resnet50`: ResNet-50 v1.5 for ImageNet, as MLPerf's PyTorch reference checkpoint defines it.

v1.5 puts the stride-2 of a downsampling bottleneck in its 3x3 convolution (v1 put it in the first 1x1). The
module names follow torchvision's `resnet50` (conv1, bn1, layer1..layer4 of Bottleneck blocks with conv1-3, bn1-3
and `downsample` = [1x1 conv, batch norm], fc), so that the reference checkpoint `resnet50-19c8e357.pth`
(vision/classification_and_detection README: "from TorchVision") loads with `load_state_dict(strict=True)`.

What the definition answers: 1000 logits, (N, 1000) float32 for (N, 3, 224, 224) NCHW input preprocessed as the
`imagenet` dataset does. The official ONNX graph `resnet50_v1.onnx` (converted from TensorFlow by
tools/convert-to-onnx.sh: `--inputs-as-nchw input_tensor:0 --inputs input_tensor:0 --outputs
ArgMax:0,softmax_tensor:0`) has another form: input `input_tensor:0` (N, 3, 224, 224), outputs `ArgMax:0` (N,)
int64 then `softmax_tensor:0` (N, 1001), both counting a background class 0. `mlperf_onnx_form` wraps a 1000-class
definition in that form (for tests, and to export a graph that reads as the official one).
"""

from __future__ import annotations

from typing import Any

from podium.models import MODELS
from podium.models.base import Model

INPUT_SHAPE = (3, 224, 224)
CLASSES = 1000
BLOCKS_PER_STAGE = (3, 4, 6, 3)
STAGE_WIDTHS = (64, 128, 256, 512)  # the bottleneck width; a block's output is 4 times as wide
EXPANSION = 4
OUTPUT_NAME = "output"
# The official ONNX graph (tools/convert-to-onnx.sh), classes counting a background class 0.
MLPERF_INPUT_NAME = "input_tensor:0"
MLPERF_OUTPUT_NAMES = ("ArgMax:0", "softmax_tensor:0")
MLPERF_CLASSES = CLASSES + 1


def bottleneck(cin: int, width: int, stride: int) -> Any:
    """One v1.5 bottleneck block: 1x1 (width), 3x3 with `stride`, 1x1 (4 * width), plus a projected skip
    (`downsample`) where the shape changes."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cout = width * EXPANSION
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # v1.5: the stride is here
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                               if stride != 1 or cin != cout else None)

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            skip = x if self.downsample is None else self.downsample(x)
            return self.relu(out + skip)

    return Bottleneck()


def resnet50(classes: int = CLASSES, width: int = STAGE_WIDTHS[0]) -> Any:
    """The network, untrained (torchvision's initialization: He-normal convolutions, unit batch norms):
    (N, 3, 224, 224) float32 -> (N, classes) logits. `width` is the stem's and first stage's width (64); the
    stages keep their ratios (1, 2, 4, 8): a narrower `width` is the same 50-layer network with fewer channels,
    which the tiny training tests use. Any input side of 32 pixels or more works (the pooling is global)."""
    from torch import nn

    widths = tuple(w * width // STAGE_WIDTHS[0] for w in STAGE_WIDTHS)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = widths[0]
            for stage, (blocks, stage_width) in enumerate(zip(BLOCKS_PER_STAGE, widths, strict=True), 1):
                layer = []
                for i in range(blocks):
                    layer.append(bottleneck(cin, stage_width, 2 if i == 0 and stage > 1 else 1))
                    cin = stage_width * EXPANSION
                setattr(self, f"layer{stage}", nn.Sequential(*layer))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for stage in range(1, len(BLOCKS_PER_STAGE) + 1):
                x = getattr(self, f"layer{stage}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet50()


def mlperf_onnx_form(model: Any) -> Any:
    """`model` (1000 logits) answering as the official `resnet50_v1.onnx`: (ArgMax (N,) int64, softmax (N, 1001)),
    class 0 being the background class, which never wins."""
    import torch
    from torch import nn

    class MlperfOnnxForm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            logits = self.model(x)
            background = torch.full_like(logits[:, :1], torch.finfo(logits.dtype).min)
            softmax = torch.cat([background, logits], dim=1).softmax(dim=1)
            return softmax.argmax(dim=1), softmax

    return MlperfOnnxForm()


@MODELS.register("resnet50")
def _resnet50() -> Model:
    return Model("resnet50", build=resnet50, input_shape=INPUT_SHAPE, classes=CLASSES,
                 input_name=MLPERF_INPUT_NAME, output_names=(OUTPUT_NAME,), layout="NCHW")
