"""The `digits` model: built by name from the registry, untrained, with the declared input and output shapes;
found again by reference (as a worker process finds it); the model registry's "did you mean"."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from podium.core.errors import UnknownNameError
from podium.models import MODELS, Model

PROBE = "import sys; from podium.models import MODELS; MODELS.get('digits'); print('torch' in sys.modules)"


def test_declared_as_data() -> None:
    model = MODELS.get("digits")
    assert isinstance(model, Model) and (model.input_shape, model.classes) == ((1, 8, 8), 10)
    assert model.reference == "podium.models.digits:small_resnet"


def test_lookup_imports_no_torch() -> None:
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_forward_pass_shape() -> None:
    torch = pytest.importorskip("torch")
    model = MODELS.get("digits")
    net = model.build().eval()
    with torch.no_grad():
        logits = net(torch.zeros((4, *model.input_shape)))
    assert tuple(logits.shape) == (4, model.classes) and logits.dtype == torch.float32


def test_reference_finds_the_builder() -> None:
    model = MODELS.get("digits")
    module, _, name = model.reference.partition(":")
    assert getattr(importlib.import_module(module), name) is model.build


def test_did_you_mean() -> None:
    assert "digits" in MODELS.names() and MODELS.names() == sorted(MODELS.names())
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        MODELS.get("digit")
