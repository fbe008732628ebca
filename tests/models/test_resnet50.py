"""`resnet50`: ResNet-50 v1.5 whose state dict is torchvision's (the MLPerf PyTorch reference checkpoint), the
official ONNX form wrapper, and strict checkpoint loading with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.checkpoints import load_reference_state_dict
from podium.models.resnet50 import mlperf_onnx_form, resnet50

torch = pytest.importorskip("torch")


def batch_norm(prefix: str, channels: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.{k}", (channels,)) for k in ("weight", "bias", "running_mean", "running_var")] + [
        (f"{prefix}.num_batches_tracked", ())]


def torchvision_resnet50_keys() -> list[tuple[str, tuple[int, ...]]]:
    """torchvision's resnet50 state dict, written from the architecture: a 7x7 stem of 64; stages of 3, 4, 6, 3
    bottlenecks of widths 64..512 (1x1, 3x3, 1x1 to 4x the width); a projection on each stage's first block."""
    keys = [("conv1.weight", (64, 3, 7, 7)), *batch_norm("bn1", 64)]
    cin = 64
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], 1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            keys += [(f"{p}.conv1.weight", (width, cin, 1, 1)), *batch_norm(f"{p}.bn1", width),
                     (f"{p}.conv2.weight", (width, width, 3, 3)), *batch_norm(f"{p}.bn2", width),
                     (f"{p}.conv3.weight", (4 * width, width, 1, 1)), *batch_norm(f"{p}.bn3", 4 * width)]
            if b == 0:
                keys += [(f"{p}.downsample.0.weight", (4 * width, cin, 1, 1)),
                         *batch_norm(f"{p}.downsample.1", 4 * width)]
            cin = 4 * width
    return keys + [("fc.weight", (1000, 2048)), ("fc.bias", (1000,))]


def test_state_dict_is_torchvisions() -> None:
    expected = torchvision_resnet50_keys()
    assert len(expected) == 320
    got = [(k, tuple(v.shape)) for k, v in resnet50().state_dict().items()]
    assert got == expected


def test_v1_5_strides_in_the_3x3_convolution() -> None:
    model = resnet50()
    for stage in (2, 3, 4):
        block = getattr(model, f"layer{stage}")[0]
        assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
        assert block.downsample[0].stride == (2, 2)
    assert model.layer1[0].conv2.stride == (1, 1)


def test_registered_with_the_official_input_name() -> None:
    spec = MODELS.get("resnet50")
    assert (spec.input_shape, spec.classes, spec.layout) == ((3, 224, 224), 1000, "NCHW")
    assert spec.input_name == "input_tensor:0" and spec.output_names == ("output",)
    model = spec.build().eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


def save(path: Path, obj: Any) -> Path:
    torch.save(obj, path)
    return path


def test_loads_wrapped_checkpoints(tmp_path: Path) -> None:
    source = resnet50().eval()
    with torch.no_grad():  # non-default statistics, so that a load that skipped them would show
        for m in source.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = source.state_dict()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = source(x)
    for name, obj in [("bare", state), ("wrapped", {"state_dict": {f"module.{k}": v for k, v in state.items()},
                                                    "epoch": 90}), ("model", {"model": state})]:
        target = load_reference_state_dict(resnet50(), save(tmp_path / f"{name}.pth", obj)).eval()
        with torch.no_grad():
            torch.testing.assert_close(target(x), expected)


def test_checkpoint_faults_name_the_file_and_keys(tmp_path: Path) -> None:
    state = resnet50().state_dict()
    missing = save(tmp_path / "missing.pth", {k: v for k, v in state.items() if not k.startswith("fc.")})
    with pytest.raises(ConfigError, match=r"missing fc.weight, fc.bias \(2 in all\)") as err:
        load_reference_state_dict(resnet50(), missing)
    assert str(missing) in str(err.value)
    extra = save(tmp_path / "extra.pth", {**state, "aux.weight": torch.zeros(1)})
    with pytest.raises(ConfigError, match=r"unexpected aux.weight \(1 in all\)"):
        load_reference_state_dict(resnet50(), extra)
    wide = save(tmp_path / "wide.pth", {**state, "fc.weight": torch.zeros(1001, 2048)})
    with pytest.raises(ConfigError, match=r"shapes do not match .*fc.weight \(1001, 2048\) \(model: \(1000, 2048\)\)"):
        load_reference_state_dict(resnet50(), wide)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read as a PyTorch checkpoint") as err:
        load_reference_state_dict(resnet50(), tmp_path / "junk.pth")
    assert str(tmp_path / "junk.pth") in str(err.value)
    with pytest.raises(ConfigError, match="holds no state dict"):
        load_reference_state_dict(resnet50(), save(tmp_path / "list.pth", [1, 2]))


def test_mlperf_onnx_form_answers_argmax_first_with_a_background_class(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    logits_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1000)).eval()
    form = mlperf_onnx_form(logits_model).eval()
    x = torch.randn(3, 3, 2, 2)
    with torch.no_grad():
        class_ids, softmax = form(x)
        logits = logits_model(x)
    assert class_ids.dtype == torch.int64 and softmax.shape == (3, 1001)
    assert class_ids.tolist() == (logits.argmax(1) + 1).tolist()
    assert softmax[:, 0].max().item() == 0.0
    torch.testing.assert_close(softmax[:, 1:], logits.softmax(1))
    path = tmp_path / "form.onnx"
    torch.onnx.export(form, (x,), str(path), input_names=["input_tensor:0"],
                      output_names=["ArgMax:0", "softmax_tensor:0"], dynamo=False,
                      dynamic_axes={"input_tensor:0": {0: "n"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, probs = session.run(["ArgMax:0", "softmax_tensor:0"], {"input_tensor:0": x.numpy()})
    assert ids.dtype == np.int64 and ids.tolist() == class_ids.tolist() and probs.shape == (3, 1001)
