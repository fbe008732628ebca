"""`mobilenet`: MobileNet v1 1.0 224 for ImageNet, as the TensorFlow graph MLPerf's MobileNet benchmark publishes.

The reference model is TensorFlow-slim's `mobilenet_v1_1.0_224` (vision/classification_and_detection README), 1001
classes with a background class 0, converted to ONNX by tools/convert-to-onnx.sh (`--inputs-as-nchw input:0
--inputs input:0 --outputs MobilenetV1/Predictions/Reshape_1:0`): input `input:0` (N, 3, 224, 224) after that
conversion (the TensorFlow graph takes NHWC), output `MobilenetV1/Predictions/Reshape_1:0`, the softmax (N, 1001).
This definition answers the same: (N, 3, 224, 224) NCHW float32, preprocessed as the `imagenet-mobilenet` dataset
does -> softmax probabilities (N, 1001), background class first.

It computes what the TensorFlow graph computes: a 3x3 stride-2 convolution, then 13 depthwise-separable blocks
(3x3 depthwise, 1x1 pointwise), each convolution followed by batch norm (epsilon 0.001) and ReLU6; TensorFlow's
"SAME" padding, which pads a stride-2 convolution of an even-sized input only at the bottom and right; a 7x7 average
pool and a 1x1 convolution to the 1001 logits. Module names follow the TensorFlow scopes (`Conv2d_0`,
`Conv2d_1_depthwise`, `Conv2d_1_pointwise`, ..., `Logits.Conv2d_1c_1x1`) so that `state_dict_from_tf` maps the
checkpoint's variables one to one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Model

if TYPE_CHECKING:
    import numpy as np

INPUT_SHAPE = (3, 224, 224)
CLASSES = 1001  # background class 0, then ImageNet's 1000
BATCH_NORM_EPSILON = 1e-3  # TensorFlow-slim's mobilenet_v1_arg_scope
# (stride, output channels) of the first convolution, then of the 13 depthwise-separable blocks
FIRST_CONV = (2, 32)
SEPARABLE_BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512), (1, 512), (1, 512), (1, 512),
                    (1, 512), (1, 512), (2, 1024), (1, 1024))
INPUT_NAME = "input:0"
OUTPUT_NAME = "MobilenetV1/Predictions/Reshape_1:0"
TF_SCOPE = "MobilenetV1/"
# TensorFlow batch-norm variable -> PyTorch BatchNorm2d entry
TF_BATCH_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                 "moving_variance": "running_var"}


def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> Any:
    """A convolution with TensorFlow's SAME padding, then batch norm and ReLU6, as one named Sequential."""
    from torch import nn

    layers: OrderedDict[str, Any] = OrderedDict()
    if kernel == 3:  # SAME: stride 1 pads 1 all round; stride 2 on an even size pads 1 at the bottom and right
        layers["pad"] = nn.ZeroPad2d((1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1))
    layers["conv"] = nn.Conv2d(cin, cout, kernel, stride, groups=groups, bias=False)
    layers["bn"] = nn.BatchNorm2d(cout, eps=BATCH_NORM_EPSILON)
    layers["relu"] = nn.ReLU6(inplace=True)
    return nn.Sequential(layers)


def mobilenet_v1(classes: int = CLASSES) -> Any:
    """The network, untrained: (N, 3, 224, 224) float32 -> softmax (N, classes)."""
    from torch import nn

    class MobileNetV1(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            stride, cin = FIRST_CONV
            self.Conv2d_0 = conv_bn(3, cin, 3, stride)
            for i, (stride, cout) in enumerate(SEPARABLE_BLOCKS, 1):
                setattr(self, f"Conv2d_{i}_depthwise", conv_bn(cin, cin, 3, stride, groups=cin))
                setattr(self, f"Conv2d_{i}_pointwise", conv_bn(cin, cout, 1, 1))
                cin = cout
            self.Logits = nn.Module()
            self.Logits.Conv2d_1c_1x1 = nn.Conv2d(cin, classes, 1)

        def forward(self, x: Any) -> Any:
            x = self.Conv2d_0(x)
            for i in range(1, len(SEPARABLE_BLOCKS) + 1):
                x = getattr(self, f"Conv2d_{i}_pointwise")(getattr(self, f"Conv2d_{i}_depthwise")(x))
            x = x.mean(dim=(2, 3), keepdim=True)  # the 7x7 VALID average pool of a 224 input
            return getattr(self.Logits, "Conv2d_1c_1x1")(x).flatten(1).softmax(dim=1)

    return MobileNetV1()


def tf_variable_name(key: str) -> str:
    """The TensorFlow checkpoint variable holding PyTorch state-dict entry `key` (num_batches_tracked has none:
    "")."""
    parts = key.split(".")
    if parts[0] == "Logits":
        return f"{TF_SCOPE}Logits/Conv2d_1c_1x1/{'weights' if parts[-1] == 'weight' else 'biases'}"
    scope, layer, entry = parts
    if layer == "conv":
        return f"{TF_SCOPE}{scope}/{'depthwise_weights' if scope.endswith('_depthwise') else 'weights'}"
    by_entry = {v: k for k, v in TF_BATCH_NORM.items()}
    return f"{TF_SCOPE}{scope}/BatchNorm/{by_entry[entry]}" if entry in by_entry else ""


def tf_to_torch_layout(key: str, value: np.ndarray) -> np.ndarray:
    """A TensorFlow kernel (HWIO; depthwise: H, W, C, 1) in PyTorch's layout (OIHW; depthwise: C, 1, H, W)."""
    if value.ndim != 4:
        return value
    return value.transpose(2, 3, 0, 1) if key.endswith("depthwise.conv.weight") else value.transpose(3, 2, 0, 1)


def state_dict_from_tf(variables: Mapping[str, np.ndarray], module: Any) -> dict[str, Any]:
    """`module`'s state dict from the TensorFlow checkpoint's variables (name -> array, as
    `tf.train.load_checkpoint(...).get_tensor` gives them); a ConfigError naming the first missing variable."""
    import numpy as np
    import torch

    state: dict[str, Any] = {}
    for key, tensor in module.state_dict().items():
        name = tf_variable_name(key)
        if not name:
            state[key] = tensor.clone()
            continue
        if name not in variables:
            raise ConfigError(f"TensorFlow checkpoint has no variable {name!r} (for {key})", key=name)
        state[key] = torch.from_numpy(np.ascontiguousarray(tf_to_torch_layout(key, np.asarray(variables[name]))))
    return state


@MODELS.register("mobilenet")
def _mobilenet() -> Model:
    return Model("mobilenet", build=mobilenet_v1, input_shape=INPUT_SHAPE, classes=CLASSES,
                 input_name=INPUT_NAME, output_names=(OUTPUT_NAME,), layout="NCHW")
