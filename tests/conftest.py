"""Fixtures shared by the test packages: an untrained digits model (state dict and ONNX), a private cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"onnx": model.onnx, "pt": model.pt} of an untrained (seeded) digits ResNet; top-1 near chance."""
    torch = pytest.importorskip("torch")
    from podium.workloads.classification import export_onnx
    from podium.workloads.digits import small_resnet

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("digits-model")
    model = small_resnet().eval()
    torch.save(model.state_dict(), d / "model.pt")
    export_onnx(model, torch.zeros(1, 1, 8, 8), d / "model.onnx")
    return {"onnx": d / "model.onnx", "pt": d / "model.pt", "dir": d}


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Preprocessing caches of these tests go to a temporary directory."""
    d = tmp_path / "cache"
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(d))
    return d
